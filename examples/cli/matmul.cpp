// lowbit matmul (cli.md): loads codes and scales, checks that the mode takes them, and calls
// the library's function for the mode. One table (`rules`) says, per mode, which formats, scale
// arrays, group size and output types it takes; each mode's runner instantiates only the
// format pairs its rule admits.
#include "cli.hpp"

namespace cli {

namespace {

const command_spec matmul_spec{
    "matmul",
    {"mode", "x1", "x2", "x1-dtype", "x2-dtype", "x1-scale", "x2-scale", "y-scale", "x2-offset", "bias",
     "group-size", "out-dtype", "out"},
    {"bf16", "packed", "cann-layout", "transpose-x2"},
    0,
    0,
    "usage: lowbit matmul --mode MODE --x1 X1.npy --x2 X2.npy --x1-dtype F --x2-dtype F\n"
    "                     [--x1-scale S1.npy] [--x2-scale S2.npy] [--y-scale YS.npy]\n"
    "                     [--x2-offset O2.npy] [--bias B.npy] [--group-size GS]\n"
    "                     [--out-dtype fp32|bf16|fp16|int8|int32] [--bf16] [--packed] [--cann-layout]\n"
    "                     [--transpose-x2] --out Y.npy\n"
    "  MODE: T-C T-T K-C K-T G-B B-B MX T-CG K-G weight-only int32 NVFP4 (lowbit help modes prints what\n"
    "  each takes, its scales, default group size and output types; --out-dtype defaults to fp32,\n"
    "  int32 for mode int32)\n"
    "  x1 is (m, k), x2 is (k, n) (or (n, k) with --transpose-x2, an extension of cli.md).\n"
    "  --packed: 4-bit operands are two per byte along their last axis.\n" +
        formats_help};

enum class mode { tc, kc, gb, bb, mx, tcg, kg, wo, i32, nvfp4 };

// ---- which formats a mode takes (cli.md's mode table): the one place for this rule ----------

template <class T, class... U>
constexpr bool one_of = (std::is_same_v<T, U> || ...);
template <class T>
constexpr bool fp8 = one_of<T, lowbit::float8_e4m3fn, lowbit::float8_e5m2>;
template <class T>
constexpr bool mx_element = lowbit::float_code<T> && !std::is_same_v<T, lowbit::hifloat8>;

template <class T1, class T2>
constexpr bool takes(mode md) {
  constexpr bool i1 = std::is_same_v<T1, std::int8_t>, i2 = std::is_same_v<T2, std::int8_t>;
  constexpr bool family =
      (i1 && i2) || (fp8<T1> && fp8<T2>) || (one_of<T1, lowbit::hifloat8> && one_of<T2, lowbit::hifloat8>);
  switch (md) {
    case mode::tc:
    case mode::gb:
      return family;
    case mode::kc:
      return family || (lowbit::integer_code<T1> && lowbit::integer_code<T2>);
    case mode::bb:
      return family && !i1;
    case mode::mx:
      return mx_element<T1> && mx_element<T2>;
    case mode::tcg:
      return std::is_same_v<T1, lowbit::float8_e4m3fn> && std::is_same_v<T2, lowbit::float4_e2m1fn>;
    case mode::kg:
      return i1 && std::is_same_v<T2, lowbit::int4>;
    case mode::wo:
      return one_of<T1, float, lowbit::bfloat16, lowbit::float16> && lowbit::matmul_code<T2>;
    case mode::i32:
      return i1 && i2;
    case mode::nvfp4:
      return std::is_same_v<T1, lowbit::float4_e2m1fn> && std::is_same_v<T2, lowbit::float4_e2m1fn>;
  }
  return false;
}

bool takes(mode md, lowbit::format f1, lowbit::format f2) {
  bool ok = false;
  lowbit::visit_format(f1, [&]<class T1>(std::type_identity<T1>) {
    lowbit::visit_format(f2, [&]<class T2>(std::type_identity<T2>) { ok = takes<T1, T2>(md); });
  });
  return ok;
}

/// fn(type_identity<T1>, type_identity<T2>) for the operand formats, instantiated only for the
/// pairs mode M takes (the caller has checked the formats with takes()).
template <mode M, class Fn>
void visit_pair(lowbit::format f1, lowbit::format f2, Fn&& fn) {
  lowbit::visit_format(f1, [&]<class T1>(std::type_identity<T1> t1) {
    lowbit::visit_format(f2, [&]<class T2>(std::type_identity<T2> t2) {
      if constexpr (takes<T1, T2>(M)) fn(t1, t2);
    });
  });
}

// ---- one matmul run: the flags, the arrays, the output ---------------------------------------

struct loaded {
  lowbit::npy::array raw;
  std::string path;
  bool present = false;
};

namespace out {
enum : unsigned { fp32 = 1, bf16 = 2, fp16 = 4, int8 = 8, int32 = 16 };  // --out-dtype bits
}

struct job {
  const args& a;
  lowbit::format f1, f2;
  std::string out_name;
  bool packed, transposed, cann;
  std::size_t gs;
  loaded s1, s2, ys, off, bias;
  std::vector<std::size_t> sh1, sh2;
  lowbit::matmul_dims d;
  std::vector<std::int32_t> bias_i;
  std::vector<float> bias_f;
  std::vector<std::pair<std::string, lowbit::npy::array>> outs;

  /// x1 (m, k) and x2 (k, n) (or (n, k) transposed) as codes; sets d.
  template <class T1, class T2>
  void operands(std::vector<T1>& x1, std::vector<T2>& x2) {
    x1 = load_codes<T1>(a.get("x1"), packed && is_4bit<T1>(), sh1);
    x2 = load_codes<T2>(a.get("x2"), packed && is_4bit<T2>(), sh2);
    set_dims();
  }
  void set_dims() {
    const auto m1 = as_matrix(sh1, a.get("x1")), m2 = as_matrix(sh2, a.get("x2"));
    const std::size_t k2 = transposed ? m2.cols : m2.rows, n = transposed ? m2.rows : m2.cols;
    if (m1.cols != k2)
      throw input_error("k differs: x1 " + a.get("x1") + " is " + shape_str(sh1) + " (m, k) but x2 " +
                        a.get("x2") + " is " + shape_str(sh2) + (transposed ? " (n, k)" : " (k, n)"));
    d = {m1.rows, m1.cols, n, transposed};
    check_alloc(d.m, d.n, sizeof(float), "the output " + shape_str({d.m, d.n}));
  }

  /// A float32 scale array of the given shape.
  std::vector<float> f32(const loaded& s, const std::vector<std::size_t>& want,
                         const std::string& what) const {
    if (s.raw.type != lowbit::npy::dtype::f4)
      throw input_error(s.path + ": " + what + " must be float32, the file holds " +
                        std::string(lowbit::npy::name(s.raw.type)));
    check_shape(s.raw.shape, want, s.path, what);
    return s.raw.values<float>();
  }
  /// A per-tensor (1,) or per-channel (n,) x2 scale.
  std::vector<float> channel_scale(const loaded& s, const std::string& what) const {
    return s.raw.size() == 1 && s.raw.shape.size() <= 1 ? f32(s, {1}, what) : f32(s, {d.n}, what);
  }

  /// Bias (n,): int32 is added before scaling (integer modes), a float bias after (cli.md). A
  /// float bias is float32, or where spec §4.3 / §4.6 / §5 lists it, float16 (`half`) or bf16
  /// written as uint16 bit patterns (`bf16`); both widen to fp32 exactly, so the mode's formula
  /// is the float32 one.
  struct bias_kinds {
    bool i32 = false, f32 = false, half = false, bf16 = false;
  };
  lowbit::matmul_bias load_bias(bias_kinds ok) {
    using lowbit::npy::dtype;
    lowbit::matmul_bias b;
    if (!bias.present) return b;
    check_shape(bias.raw.shape, {d.n}, bias.path, "bias");
    const auto t = bias.raw.type;
    if (t == dtype::i4 && ok.i32) {
      b.i32 = bias_i = bias.raw.values<std::int32_t>();
    } else if (t == dtype::f4 && ok.f32) {
      b.f32 = bias_f = bias.raw.values<float>();
    } else if ((t == dtype::f2 && ok.half) || (t == dtype::u2 && ok.bf16)) {
      std::vector<std::uint16_t> bits(bias.raw.size());
      if (!bits.empty()) std::memcpy(bits.data(), bias.raw.data.data(), bias.raw.data.size());
      bias_f.resize(bits.size());
      for (std::size_t i = 0; i < bits.size(); ++i)
        bias_f[i] = t == dtype::f2 ? static_cast<float>(lowbit::float16::from_bits(bits[i]))
                                   : static_cast<float>(lowbit::bfloat16::from_bits(bits[i]));
      b.f32 = bias_f;
    } else {
      std::string want;
      for (const auto& [on, name] : {std::pair{ok.i32, "int32"}, std::pair{ok.f32, "float32"},
                                     std::pair{ok.half, "float16"}, std::pair{ok.bf16, "uint16 (bf16)"}})
        if (on) want += (want.empty() ? "" : ", ") + std::string(name);
      throw input_error(bias.path + ": bias of dtype " + std::string(lowbit::npy::name(t)) +
                        " does not apply here (" + want + " expected)");
    }
    return b;
  }

  /// fn(std::span<float>) computes the fp32 result; the output queued is that, or for --out-dtype
  /// bf16 / fp16 the fp32 result cast by lowbit::cast_output: every float mode's Out result is
  /// defined as exactly that cast (matmul.hpp), so the runners are compiled for fp32 alone (a
  /// third of the matmuls to instantiate: this file's compile time).
  template <class Fn>
  void float_out(const Fn& fn) {
    std::vector<float> y(d.m * d.n);
    fn(std::span<float>(y));
    queue_float(y);
  }
  void queue_float(const std::vector<float>& y) {
    if (out_name == "fp32") return outs.push_back({a.get("out"), f32_array({d.m, d.n}, y)});
    const auto cast = [&]<class Out>(std::type_identity<Out>) {
      std::vector<Out> yo(y.size());
      for (std::size_t i = 0; i < y.size(); ++i) yo[i] = lowbit::cast_output<Out>(y[i]);
      outs.push_back(
          {a.get("out"), codes_array<Out>({d.m, d.n}, std::span<const Out>(yo), false, a.get("out"))});
    };
    if (out_name == "bf16")
      cast(std::type_identity<lowbit::bfloat16>{});
    else
      cast(std::type_identity<lowbit::float16>{});
  }
  /// fn(std::span<Out>) for the integer outputs (int8 requantization, int32); the result is queued.
  template <class Out, class Fn>
  void emit(const Fn& fn) {
    std::vector<Out> y(d.m * d.n);
    fn(std::span<Out>(y));
    outs.push_back({a.get("out"), lowbit::npy::array::from<Out>({d.m, d.n}, y)});
  }

  /// MX e8m0 scales of one operand, natural (grid) or CANN pair-interleaved layout.
  std::vector<lowbit::float8_e8m0fnu> e8m0(const loaded& s, lowbit::operand side,
                                           lowbit::matrix_shape grid) const {
    if (s.raw.type != lowbit::npy::dtype::u1)
      throw input_error(s.path + ": MX scales must be uint8 e8m0 codes");
    const bool left = side == lowbit::operand::left;
    const std::vector<std::size_t> natural = {grid.rows, grid.cols},
                                   interleaved =
                                       left ? std::vector<std::size_t>{grid.rows,
                                                                       lowbit::ceil_div(grid.cols, 2), 2}
                                            : std::vector<std::size_t>{lowbit::ceil_div(grid.rows, 2),
                                                                       grid.cols, 2};
    check_shape(s.raw.shape, cann ? interleaved : natural, s.path, left ? "x1 e8m0 scale" : "x2 e8m0 scale");
    auto bytes = s.raw.values<std::uint8_t>();
    if (cann) bytes = lowbit::mx_scales_from_cann(bytes, side, grid);
    std::vector<lowbit::float8_e8m0fnu> e(bytes.size());
    for (std::size_t i = 0; i < e.size(); ++i) e[i] = lowbit::float8_e8m0fnu::from_bits(bytes[i]);
    return e;
  }
};

/// fn(x1, x2) with the codes of the operands, for the format pairs mode M takes (sets j.d).
template <mode M, class Fn>
void with_operands(job& j, Fn&& fn) {
  visit_pair<M>(j.f1, j.f2, [&]<class T1, class T2>(std::type_identity<T1>, std::type_identity<T2>) {
    std::vector<T1> x1;
    std::vector<T2> x2;
    j.operands(x1, x2);
    fn(x1, x2);
  });
}

// ---- the runners, one per mode (spec §4 for each formula) -------------------------------------

template <class T1, class T2>
void int32_result(job& j, const std::vector<T1>& x1, const std::vector<T2>& x2) {
  const auto b = j.load_bias({.i32 = true});
  j.emit<std::int32_t>(
      [&](std::span<std::int32_t> y) { lowbit::matmul_int32<T1, T2>(x1, x2, j.d, b.i32, y); });
}

void run_i32(job& j) {
  with_operands<mode::i32>(j, [&]<class T1, class T2>(const std::vector<T1>& x1, const std::vector<T2>& x2) {
    int32_result(j, x1, x2);
  });
}

void run_tc(job& j) {
  with_operands<mode::tc>(j, [&]<class T1, class T2>(const std::vector<T1>& x1, const std::vector<T2>& x2) {
    constexpr bool integer = lowbit::integer_code<T1>;
    if (j.out_name == "int32") {  // CANN ignores the scales (checked: int8 inputs only)
      if constexpr (takes<T1, T2>(mode::i32)) int32_result(j, x1, x2);
      return;
    }
    const bool u64 = j.s2.raw.type == lowbit::npy::dtype::u8;
    std::optional<float> x1s;
    if (j.s1.present) {
      if (u64) throw usage_error("--x1-scale does not combine with a uint64 x2 scale");
      x1s = j.f32(j.s1, {1}, "x1 scale (per tensor)")[0];
    }
    std::vector<std::uint64_t> fixpipe;  // packed scale (+ offset) words
    if (u64) {
      if (j.off.present)
        throw usage_error("a uint64 x2 scale carries its own offset (bits 37-45); drop --x2-offset");
      fixpipe = j.s2.raw.values<std::uint64_t>();
      if (fixpipe.size() != 1) check_shape(j.s2.raw.shape, {j.d.n}, j.s2.path, "x2 scale");
    } else if (j.out_name == "int8") {
      if (!j.off.present) throw usage_error("--out-dtype int8 needs a uint64 x2 scale or --x2-offset");
      // aclnnTransQuantParamV2 broadcasts scale and offset against each other: (1,) with (n,)
      // packs n words (per-channel requantization).
      const auto sv = j.channel_scale(j.s2, "x2 scale");
      const auto ov = j.channel_scale(j.off, "x2 offset");
      const std::size_t words = std::max(sv.size(), ov.size());
      for (std::size_t i = 0; i < words; ++i)
        fixpipe.push_back(lowbit::fixpipe::pack(sv[sv.size() == 1 ? 0 : i], ov[ov.size() == 1 ? 0 : i]));
    } else if (j.off.present) {
      throw usage_error("--x2-offset applies to --out-dtype int8 (requantization)");
    }
    if (!fixpipe.empty()) {
      const auto b = j.load_bias({.i32 = integer, .f32 = !integer});
      const std::span<const std::uint64_t> s(fixpipe);
      if (j.out_name != "int8")
        return j.float_out(
            [&](std::span<float> y) { lowbit::matmul_tc<float, T1, T2>(x1, x2, j.d, s, b, y); });
      if constexpr (!integer)
        throw usage_error("--out-dtype int8 needs int8 inputs");
      else
        j.emit<std::int8_t>(
            [&](std::span<std::int8_t> y) { lowbit::matmul_tc<std::int8_t, T1, T2>(x1, x2, j.d, s, b, y); });
      return;
    }
    const auto sv = j.channel_scale(j.s2, "x2 scale");
    // §4.2: int8 with an fp32/bf16 x2 scale also takes a BF16 bias.
    const auto b = j.load_bias({.i32 = integer, .f32 = true, .bf16 = integer});
    j.float_out([&](std::span<float> y) {
      lowbit::matmul_tc<float, T1, T2>(x1, x2, j.d, std::span<const float>(sv), x1s, b, y);
    });
  });
}

void run_kc(job& j) {
  with_operands<mode::kc>(j, [&]<class T1, class T2>(const std::vector<T1>& x1, const std::vector<T2>& x2) {
    const auto v1 = j.f32(j.s1, {j.d.m}, "x1 scale (per token)");
    const auto v2 = j.channel_scale(j.s2, "x2 scale");
    // §4.3: int8/int4 take INT32, FP32, BF16 and FP16 biases; fp8/HiFloat8 FP32 only.
    constexpr bool integer = lowbit::integer_code<T1>;
    const auto b = j.load_bias({.i32 = integer, .f32 = true, .half = integer, .bf16 = integer});
    j.float_out([&](std::span<float> y) { lowbit::matmul_kc<float, T1, T2>(x1, x2, j.d, v1, v2, b, y); });
  });
}

template <mode M>
void run_blocks(job& j) {  // G-B and B-B
  with_operands<M>(j, [&]<class T1, class T2>(const std::vector<T1>& x1, const std::vector<T2>& x2) {
    const std::size_t kb = lowbit::ceil_div(j.d.k, j.gs), nb = lowbit::ceil_div(j.d.n, j.gs);
    const auto v1 =
        M == mode::gb ? j.f32(j.s1, {j.d.m, kb}, "x1 scale (m, ceil(k/GS))")
                      : j.f32(j.s1, {lowbit::ceil_div(j.d.m, j.gs), kb}, "x1 scale (ceil(m/GS), ceil(k/GS))");
    const auto v2 = j.f32(j.s2, {kb, nb}, "x2 scale (ceil(k/GS), ceil(n/GS))");
    const auto b = j.load_bias({.f32 = true});
    j.float_out([&](std::span<float> y) {
      if constexpr (M == mode::gb)
        lowbit::matmul_gb<float, T1, T2>(x1, x2, j.d, j.gs, v1, v2, b.f32, y);
      else
        lowbit::matmul_bb<float, T1, T2>(x1, x2, j.d, j.gs, v1, v2, b.f32, y);
    });
  });
}

void run_mx(job& j) {
  with_operands<mode::mx>(j, [&]<class T1, class T2>(const std::vector<T1>& x1, const std::vector<T2>& x2) {
    const std::size_t nb = lowbit::ceil_div(j.d.k, 32);
    const auto e1 = j.e8m0(j.s1, lowbit::operand::left, {j.d.m, nb});
    const auto e2 = j.e8m0(j.s2, lowbit::operand::right, {nb, j.d.n});
    // §4.6: the "MX pseudo-quant" pair (e4m3 x e2m1) takes a BF16 or FP16 bias.
    constexpr bool pseudo =
        std::is_same_v<T1, lowbit::float8_e4m3fn> && std::is_same_v<T2, lowbit::float4_e2m1fn>;
    const auto b = j.load_bias({.f32 = true, .half = pseudo, .bf16 = pseudo});
    j.float_out([&](std::span<float> y) { lowbit::matmul_mx<float, T1, T2>(x1, x2, j.d, e1, e2, b.f32, y); });
  });
}

void run_nvfp4(job& j) {
  with_operands<mode::nvfp4>(j, [&]<class T1, class T2>(const std::vector<T1>& x1,
                                                        const std::vector<T2>& x2) {
    if constexpr (std::is_same_v<T1, lowbit::float4_e2m1fn> && std::is_same_v<T2, lowbit::float4_e2m1fn>) {
      const std::size_t nb = lowbit::ceil_div(j.d.k, 16);
      const auto e4m3 = [&](const loaded& s, std::vector<std::size_t> shape, const char* what) {
        if (s.raw.type != lowbit::npy::dtype::u1)
          throw input_error(s.path + ": NVFP4 scales must be uint8 e4m3 codes");
        check_shape(s.raw.shape, shape, s.path, what);
        std::vector<lowbit::float8_e4m3fn> v;
        for (auto b : s.raw.values<std::uint8_t>()) v.push_back(lowbit::float8_e4m3fn::from_bits(b));
        return v;
      };
      const auto s1 = e4m3(j.s1, {j.d.m, nb}, "x1 e4m3 scale (m, ceil(k/16))");
      const auto s2 = e4m3(j.s2, {nb, j.d.n}, "x2 e4m3 scale (ceil(k/16), n)");
      const float alpha =
          j.ys.present ? j.f32(j.ys, {1}, "y scale (alpha, the per-tensor decode scales' product)")[0] : 1.0f;
      const auto b = j.load_bias({.f32 = true});
      j.float_out(
          [&](std::span<float> y) { lowbit::matmul_nvfp4<float>(x1, x2, j.d, s1, s2, alpha, b.f32, y); });
    }
  });
}

void run_kg(job& j) {
  with_operands<mode::kg>(j, [&]<class T1, class T2>(const std::vector<T1>& x1, const std::vector<T2>& x2) {
    const auto v1 = j.f32(j.s1, {j.d.m}, "x1 scale (per token)");
    const auto v2 = j.f32(j.s2, {lowbit::ceil_div(j.d.k, j.gs), j.d.n}, "x2 group scale (ceil(k/GS), n)");
    const auto b = j.load_bias({.f32 = true});
    j.float_out(
        [&](std::span<float> y) { lowbit::matmul_kg<float, T1, T2>(x1, x2, j.d, j.gs, v1, v2, b.f32, y); });
  });
}

void run_tcg(job& j) {
  with_operands<mode::tcg>(j, [&]<class T1, class T2>(const std::vector<T1>& x1, const std::vector<T2>& x2) {
    check_shape(j.s2.raw.shape, {lowbit::ceil_div(j.d.k, 32), j.d.n}, j.s2.path, "T-CG x2 group scale");
    std::vector<std::uint64_t> yv;
    if (j.ys.raw.type == lowbit::npy::dtype::u8) {
      check_shape(j.ys.raw.shape, {j.d.n}, j.ys.path, "y scale");
      yv = j.ys.raw.values<std::uint64_t>();
    } else {
      for (float v : j.f32(j.ys, {j.d.n}, "y scale (float32 or uint64)"))
        yv.push_back(lowbit::fixpipe::pack(v));
    }
    const auto run = [&]<class S>(std::type_identity<S>) {
      std::vector<S> sv(j.s2.raw.size());
      if (!sv.empty()) std::memcpy(sv.data(), j.s2.raw.data.data(), j.s2.raw.data.size());
      j.float_out([&](std::span<float> y) { lowbit::matmul_tcg<float, S>(x1, x2, j.d, sv, yv, y); });
    };
    if (j.s2.raw.type == lowbit::npy::dtype::u2)
      run(std::type_identity<lowbit::bfloat16>{});
    else if (j.s2.raw.type == lowbit::npy::dtype::f2)
      run(std::type_identity<lowbit::float16>{});
    else
      throw input_error(j.s2.path + ": T-CG group scales must be bf16 (uint16) or float16");
  });
}

/// Weight-only x2 scales: e8m0 (MX, group 32), or float32 per tensor (1,), per channel (n,) or
/// per group (ceil(k/GS), n), with an optional offset of the same shape.
template <class T2>
lowbit::weight_scales weight_scales(const job& j, std::vector<float>& sv, std::vector<float>& ov,
                                    std::vector<lowbit::float8_e8m0fnu>& ev) {
  lowbit::weight_scales ws;
  if (j.s2.raw.type == lowbit::npy::dtype::u1) {
    if constexpr (!lowbit::float_code<T2>) throw usage_error("e8m0 (MX) scales need a float x2 format");
    if (j.off.present) throw usage_error("--x2-offset does not apply to MX (e8m0) scales");
    if (j.a.has("group-size") && j.gs != 32) throw usage_error("MX weight scales have group size 32");
    ws.gran = lowbit::granularity::mx();
    const auto map = lowbit::make_scale_map(ws.gran, lowbit::operand::right, {j.d.k, j.d.n});
    ws.mx_scale = ev = j.e8m0(j.s2, lowbit::operand::right, map.grid);
    return ws;
  }
  if (j.cann) throw usage_error("--cann-layout applies to MX scales only");
  const auto& sh = j.s2.raw.shape;
  const std::size_t ng = lowbit::ceil_div(j.d.k, j.gs);
  if (sh.size() == 2 && sh[0] != 1) {
    if (sh[0] != ng || sh[1] != j.d.n)
      throw input_error(j.s2.path + ": per-group x2 scale has shape " + shape_str(sh) + ", expected " +
                        shape_str({ng, j.d.n}) + " for k = " + std::to_string(j.d.k) + " and group size " +
                        std::to_string(j.gs));
    ws.gran = lowbit::granularity::group(j.gs);
  } else if (j.s2.raw.size() == 1) {  // (1,) is per tensor even when n = 1 (cli.md)
    ws.gran = lowbit::granularity::tensor();
  } else {
    ws.gran = lowbit::granularity::channel();
  }
  const auto map = lowbit::make_scale_map(ws.gran, lowbit::operand::right, {j.d.k, j.d.n});
  ws.scale = sv = j.f32(j.s2, map.scale_shape(), "x2 scale");
  if (j.off.present) ws.offset = ov = j.f32(j.off, map.scale_shape(), "x2 offset");
  return ws;
}

void run_wo(job& j) {
  visit_pair<mode::wo>(j.f1, j.f2, [&]<class In, class T2>(std::type_identity<In>, std::type_identity<T2>) {
    using lowbit::npy::dtype;
    const auto xa = read_npy(j.a.get("x1"));
    j.sh1 = xa.shape;
    const dtype want = std::is_same_v<In, float>             ? dtype::f4
                       : std::is_same_v<In, lowbit::float16> ? dtype::f2
                                                             : dtype::u2;
    if (xa.type != want)
      throw input_error(j.a.get("x1") + ": x1 of dtype " + j.a.get("x1-dtype") + " must be " +
                        std::string(lowbit::npy::name(want)) +
                        (want == dtype::u2 ? " bf16 bit patterns" : "") + ", the file holds " +
                        std::string(lowbit::npy::name(xa.type)));
    std::vector<In> x(xa.size());
    if (!x.empty()) std::memcpy(x.data(), xa.data.data(), xa.data.size());
    const auto w = load_codes<T2>(j.a.get("x2"), j.packed && is_4bit<T2>(), j.sh2);
    j.set_dims();
    std::vector<float> sv, ov;
    std::vector<lowbit::float8_e8m0fnu> ev;
    const auto ws = weight_scales<T2>(j, sv, ov, ev);
    // §5: FP16 bias with fp16 x, BF16 (950) with bf16 x.
    const auto b = j.load_bias({.f32 = true,
                                .half = std::is_same_v<In, lowbit::float16>,
                                .bf16 = std::is_same_v<In, lowbit::bfloat16>});
    j.float_out(
        [&](std::span<float> y) { lowbit::matmul_weight_only<float, In, T2>(x, w, j.d, ws, b.f32, y); });
  });
}

// ---- the table --------------------------------------------------------------------------------

enum class need : unsigned char { no, optional, required };

struct mode_rule {
  mode md;
  const char* names[2];  // cli.md's spellings
  const char* formats;   // what the mode takes, for the error when takes() says no
  std::size_t group;     // default --group-size; 0 when the flag does not apply
  const char* group_note;
  const char* scales;  // the scale shapes (cli.md's table), for `lowbit help modes`
  need x1_scale, x2_scale, y_scale, x2_offset, bias;
  unsigned outs;  // out:: bits; the lowest is the default
  void (*run)(job&);
};

constexpr unsigned floats = out::fp32 | out::bf16 | out::fp16;
constexpr need N = need::no, O = need::optional, R = need::required;

// clang-format off
const mode_rule rules[] = {
    {mode::tc, {"T-C", "T-T"}, "T-C/T-T takes int8 x int8, fp8 x fp8 or hifloat8 x hifloat8",
     0, "", "x2 (n,) or (1,) float32, or uint64 fixpipe words; x1 (1,) optional; offset (n,) or (1,)",
     O, R, N, O, O, floats | out::int8 | out::int32, run_tc},
    {mode::kc, {"K-C", "K-T"}, "K-C/K-T takes int8/int4 x int8/int4, fp8 x fp8 or hifloat8 x hifloat8",
     0, "", "x1 (m,), x2 (n,) or (1,) float32", R, R, N, N, O, floats, run_kc},
    {mode::gb, {"G-B", ""}, "G-B takes int8 x int8, fp8 x fp8 or hifloat8 x hifloat8",
     128, "", "x1 (m, ceil(k/GS)), x2 (ceil(k/GS), ceil(n/GS)) float32", R, R, N, N, O, floats,
     run_blocks<mode::gb>},
    {mode::bb, {"B-B", ""}, "B-B takes fp8 x fp8 or hifloat8 x hifloat8",
     128, "", "x1 (ceil(m/GS), ceil(k/GS)), x2 (ceil(k/GS), ceil(n/GS)) float32", R, R, N, N, O, floats,
     run_blocks<mode::bb>},
    {mode::mx, {"MX", ""}, "MX takes fp8_e4m3fn, fp8_e5m2, fp6 or fp4 element formats",
     0, " (fixed at 32)", "e8m0 uint8 x1 (m, ceil(k/32)), x2 (ceil(k/32), n) (--cann-layout: pairs)",
     R, R, N, N, O, floats, run_mx},
    {mode::tcg, {"T-CG", ""}, "T-CG takes x1 fp8_e4m3fn and x2 fp4_e2m1fn",
     0, " (fixed at 32)", "x2 (ceil(k/32), n) bf16 (uint16) or float16; y (n,) float32 or uint64",
     N, R, R, N, N, floats, run_tcg},
    {mode::kg, {"K-G", ""}, "K-G takes x1 int8 and x2 int4",
     256, "", "x1 (m,), x2 (ceil(k/GS), n) float32", R, R, N, N, O, floats, run_kg},
    {mode::wo, {"weight-only", ""}, "weight-only takes x1 fp32/fp16/bf16 and x2 int8, int4, fp8, hifloat8, fp6 or fp4",
     128, "", "x2 (1,), (n,) or (ceil(k/GS), n) float32 (+ offset alike), or e8m0 uint8 (ceil(k/32), n)",
     N, R, N, O, O, floats, run_wo},
    {mode::nvfp4, {"NVFP4", ""}, "NVFP4 takes fp4_e2m1fn x fp4_e2m1fn",
     0, " (fixed at 16)", "e4m3 uint8 x1 (m, ceil(k/16)), x2 (ceil(k/16), n); y (1,) float32 alpha (default 1)",
     R, R, O, N, O, floats, run_nvfp4},
    {mode::i32, {"int32", ""}, "int32 takes int8 x int8",
     0, "", "none (bias int32 optional)", N, N, N, N, O, out::int32, run_i32},
};
// clang-format on

const mode_rule& parse_mode(const std::string& s) {
  for (const auto& r : rules)
    if (s == r.names[0] || (*r.names[1] && s == r.names[1])) return r;
  throw usage_error("--mode: unknown mode '" + s +
                    "' (T-C, T-T, K-C, K-T, G-B, B-B, MX, T-CG, K-G, weight-only, int32, NVFP4)");
}

unsigned parse_out(const std::string& s) {
  const std::pair<const char*, unsigned> names[] = {{"fp32", out::fp32},
                                                    {"bf16", out::bf16},
                                                    {"fp16", out::fp16},
                                                    {"int8", out::int8},
                                                    {"int32", out::int32}};
  for (const auto& [n, bit] : names)
    if (s == n) return bit;
  throw usage_error("--out-dtype: '" + s + "' is not one of fp32, bf16, fp16, int8, int32");
}

}  // namespace

void print_mode_table() {
  std::puts("lowbit matmul modes (x1 is (m, k), x2 is (k, n); formulas: cann-semantics.md §4-5):");
  for (const auto& r : rules) {
    std::string name = r.names[0];
    if (*r.names[1]) name += " / " + std::string(r.names[1]);
    std::string takes_what = r.formats;
    takes_what = takes_what.substr(takes_what.find("takes ") + 6);
    std::string required, optional;
    const std::pair<const char*, need> arrays[] = {{"--x1-scale", r.x1_scale},
                                                   {"--x2-scale", r.x2_scale},
                                                   {"--y-scale", r.y_scale},
                                                   {"--x2-offset", r.x2_offset},
                                                   {"--bias", r.bias}};
    for (const auto& [flag, n] : arrays) {
      std::string& list = n == need::required ? required : optional;
      if (n == need::no) continue;
      if (!list.empty()) list += ' ';
      list += flag;
    }
    std::string outs;
    for (const auto& [bit, o] :
         {std::pair{out::fp32, "fp32"}, std::pair{out::bf16, "bf16"}, std::pair{out::fp16, "fp16"},
          std::pair{out::int8, "int8"}, std::pair{out::int32, "int32"}})
      if (r.outs & bit) {
        const bool first = outs.empty();
        if (!first) outs += ' ';
        outs += o;
        if (first) outs += " (default)";
      }
    std::printf(
        "\n%s\n  takes     %s\n  scales    %s\n  required  %s\n  optional  %s\n  group     %s\n"
        "  out       %s\n",
        name.c_str(), takes_what.c_str(), r.scales, required.empty() ? "-" : required.c_str(),
        optional.empty() ? "-" : optional.c_str(),
        r.group ? ("--group-size, default " + std::to_string(r.group)).c_str()
                : (*r.group_note ? std::string(r.group_note).substr(2, std::strlen(r.group_note) - 3).c_str()
                                 : "-"),
        outs.c_str());
  }
}

int run_matmul(int argc, char** argv) {
  const args a = parse_args(matmul_spec, argc, argv, 2);
  if (a.help) return std::fputs(matmul_spec.usage.c_str(), stdout), 0;
  for (const char* f : {"mode", "x1", "x2", "x1-dtype", "x2-dtype", "out"})
    if (!a.has(f)) throw usage_error(std::string("--") + f + " is required");
  const mode_rule& rule = parse_mode(a.get("mode"));
  const std::string mode_name = a.get("mode");
  const lowbit::format f1 = parse_format_flag("x1-dtype", a.get("x1-dtype"));
  const lowbit::format f2 = parse_format_flag("x2-dtype", a.get("x2-dtype"));
  if (!takes(rule.md, f1, f2))
    throw usage_error(std::string(rule.formats) + ", not " + a.get("x1-dtype") + " x " + a.get("x2-dtype"));

  const unsigned default_out = rule.outs & (~rule.outs + 1);
  const std::string out_name = a.get("out-dtype", default_out == out::int32 ? "int32" : "fp32");
  const unsigned out_bit = parse_out(out_name);
  if (!(rule.outs & out_bit) ||
      (out_bit == out::int32 && rule.md == mode::tc && f1 != lowbit::format::int8)) {
    if (out_bit == out::int32)
      throw usage_error(
          "--out-dtype int32 is for mode int32 (or T-C with int8 inputs, whose scales CANN then ignores)");
    if (rule.md == mode::i32) throw usage_error("mode int32 writes int32 only");
    if (out_bit == out::int8)
      throw usage_error("--out-dtype int8 is for mode T-C/T-T (fixpipe requantization)");
    throw usage_error("--out-dtype " + out_name + " does not apply to mode " + mode_name);
  }
  if (a.has("cann-layout") && rule.md != mode::mx && rule.md != mode::wo)
    throw usage_error("--cann-layout applies to MX scales only");
  if (a.has("bf16") && !(rule.md == mode::wo && f1 == lowbit::format::bf16) && !a.has("bias"))
    throw usage_error(
        "--bf16 applies to a uint16 (bf16) bias, or to x1 of weight-only matmul with --x1-dtype bf16");

  std::size_t gs = rule.group;
  if (a.has("group-size")) {
    if (rule.group == 0)
      throw usage_error("--group-size does not apply to mode " + mode_name + rule.group_note);
    gs = parse_size_flag("group-size", a.get("group-size"));
    if (gs == 0) throw usage_error("--group-size must be at least 1");
  }
  const std::pair<const char*, need> arrays[] = {{"x1-scale", rule.x1_scale},
                                                 {"x2-scale", rule.x2_scale},
                                                 {"y-scale", rule.y_scale},
                                                 {"x2-offset", rule.x2_offset},
                                                 {"bias", rule.bias}};
  for (const auto& [flag, n] : arrays) {
    if (n == need::no && a.has(flag))
      throw usage_error(std::string("--") + flag + " does not apply to mode " + mode_name);
    if (n == need::required && !a.has(flag))
      throw usage_error(std::string("--") + flag + " is required for mode " + mode_name);
  }

  const auto array = [&](const char* flag) {
    return a.has(flag) ? loaded{read_npy(a.get(flag)), a.get(flag), true} : loaded{};
  };
  job j{a,
        f1,
        f2,
        out_name,
        a.has("packed"),
        a.has("transpose-x2"),
        a.has("cann-layout"),
        gs,
        array("x1-scale"),
        array("x2-scale"),
        array("y-scale"),
        array("x2-offset"),
        array("bias"),
        {},
        {},
        {},
        {},
        {},
        {}};
  {
    const progress shown("matmul " + mode_name);
    rule.run(j);
  }
  if (j.outs.empty())
    throw usage_error("mode " + mode_name + " does not take " + a.get("x1-dtype") + " x " +
                      a.get("x2-dtype"));
  write_outputs(j.outs);
  return 0;
}

}  // namespace cli

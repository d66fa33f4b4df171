// lowbit matmul (cli.md): loads codes and scales, checks that the mode takes them, and calls
// the library's reference for the mode. Only the format combinations a mode accepts are
// instantiated.
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
    "  MODE: T-C T-T K-C K-T G-B B-B MX T-CG K-G weight-only int32 (see the README's mode table)\n"
    "  x1 is (m, k), x2 is (k, n) (or (n, k) with --transpose-x2, an extension of cli.md).\n"
    "  --packed: 4-bit operands are two per byte along their last axis.\n"};

enum class mode { tc, kc, gb, bb, mx, tcg, kg, wo, i32 };

mode parse_mode(const std::string& s) {
  if (s == "T-C" || s == "T-T") return mode::tc;
  if (s == "K-C" || s == "K-T") return mode::kc;
  if (s == "G-B") return mode::gb;
  if (s == "B-B") return mode::bb;
  if (s == "MX") return mode::mx;
  if (s == "T-CG") return mode::tcg;
  if (s == "K-G") return mode::kg;
  if (s == "weight-only") return mode::wo;
  if (s == "int32") return mode::i32;
  throw usage_error("--mode: unknown mode '" + s +
                    "' (T-C, T-T, K-C, K-T, G-B, B-B, MX, T-CG, K-G, weight-only, int32)");
}

using lowbit::format;
bool is_fp8(format f) {
  return f == format::fp8_e4m3fn || f == format::fp8_e5m2;
}
bool is_int(format f) {
  return f == format::int8 || f == format::int4;
}
bool is_mx_elem(format f) {
  return is_fp8(f) || f == format::fp6_e2m3fn || f == format::fp6_e3m2fn || f == format::fp4_e2m1fn ||
         f == format::fp4_e1m2fn;
}
bool same_family(format a, format b) {
  return (a == format::int8 && b == format::int8) || (is_fp8(a) && is_fp8(b)) ||
         (a == format::hifloat8 && b == format::hifloat8);
}

/// The formats each mode takes (cli.md table); returns an error text or "".
std::string check_formats(mode md, format f1, format f2) {
  const auto both = [&](bool ok, const char* what) { return ok ? std::string() : std::string(what); };
  switch (md) {
    case mode::tc:
      return both(same_family(f1, f2), "T-C/T-T takes int8 x int8, fp8 x fp8 or hifloat8 x hifloat8");
    case mode::kc:
      return both(same_family(f1, f2) || (is_int(f1) && is_int(f2)),
                  "K-C/K-T takes int8/int4 x int8/int4, fp8 x fp8 or hifloat8 x hifloat8");
    case mode::gb:
      return both(same_family(f1, f2), "G-B takes int8 x int8, fp8 x fp8 or hifloat8 x hifloat8");
    case mode::bb:
      return both(same_family(f1, f2) && f1 != format::int8, "B-B takes fp8 x fp8 or hifloat8 x hifloat8");
    case mode::mx:
      return both(is_mx_elem(f1) && is_mx_elem(f2),
                  "MX takes fp8_e4m3fn, fp8_e5m2, fp6 or fp4 element formats");
    case mode::tcg:
      return both(f1 == format::fp8_e4m3fn && f2 == format::fp4_e2m1fn,
                  "T-CG takes x1 fp8_e4m3fn and x2 fp4_e2m1fn");
    case mode::kg:
      return both(f1 == format::int8 && f2 == format::int4, "K-G takes x1 int8 and x2 int4");
    case mode::wo:
      return both((f1 == format::fp32 || f1 == format::fp16 || f1 == format::bf16) &&
                      (is_int(f2) || is_mx_elem(f2) || f2 == format::hifloat8),
                  "weight-only takes x1 fp32/fp16/bf16 and x2 int8, int4, fp8, hifloat8, fp6 or fp4");
    case mode::i32:
      return both(f1 == format::int8 && f2 == format::int8, "int32 takes int8 x int8");
  }
  return "";
}

template <class T>
constexpr bool is_code_type = lowbit::matmul_code<T>;

template <class T1, class T2>
constexpr bool allowed(mode md) {
  constexpr bool i1 = std::is_same_v<T1, std::int8_t>, i2 = std::is_same_v<T2, std::int8_t>;
  constexpr bool n1 = lowbit::integer_code<T1>, n2 = lowbit::integer_code<T2>;
  constexpr bool f81 = std::is_same_v<T1, lowbit::float8_e4m3fn> || std::is_same_v<T1, lowbit::float8_e5m2>;
  constexpr bool f82 = std::is_same_v<T2, lowbit::float8_e4m3fn> || std::is_same_v<T2, lowbit::float8_e5m2>;
  constexpr bool h = std::is_same_v<T1, lowbit::hifloat8> && std::is_same_v<T2, lowbit::hifloat8>;
  constexpr bool fam = (i1 && i2) || (f81 && f82) || h;
  constexpr bool mx1 = lowbit::float_code<T1> && !std::is_same_v<T1, lowbit::hifloat8>;
  constexpr bool mx2 = lowbit::float_code<T2> && !std::is_same_v<T2, lowbit::hifloat8>;
  switch (md) {
    case mode::tc:
    case mode::gb:
      return fam;
    case mode::kc:
      return fam || (n1 && n2);
    case mode::bb:
      return fam && !i1;
    case mode::mx:
      return mx1 && mx2;
    case mode::kg:
      return i1 && std::is_same_v<T2, lowbit::int4>;
    case mode::i32:
      return i1 && i2;
    default:
      return false;
  }
}

/// Calls fn(type_identity<T>) for a matmul code format.
template <class Fn>
void visit_code(format f, Fn&& fn) {
  lowbit::visit_format(f, [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (is_code_type<T>)
      fn(t);
    else
      throw usage_error(std::string(lowbit::to_string(f)) + " is not an operand format for matmul");
  });
}

struct loaded_scale {
  lowbit::npy::array raw;
  std::string path;
  bool present = false;
};

loaded_scale opt_array(const args& a, const std::string& flag) {
  loaded_scale s;
  if (a.has(flag)) s = {read_npy(a.get(flag)), a.get(flag), true};
  return s;
}

std::vector<float> f32_of(const loaded_scale& s, const std::vector<std::size_t>& want,
                          const std::string& what) {
  if (s.raw.type != lowbit::npy::dtype::f4)
    throw input_error(s.path + ": " + what + " must be float32, the file holds " +
                      std::string(lowbit::npy::name(s.raw.type)));
  check_shape(s.raw.shape, want, s.path, what);
  return s.raw.values<float>();
}

}  // namespace

int run_matmul(int argc, char** argv) {
  const args a = parse_args(matmul_spec, argc, argv, 2);
  if (a.help) return std::fputs(matmul_spec.usage.c_str(), stdout), 0;
  for (const char* f : {"mode", "x1", "x2", "x1-dtype", "x2-dtype", "out"})
    if (!a.has(f)) throw usage_error(std::string("--") + f + " is required");
  const mode md = parse_mode(a.get("mode"));
  const format f1 = parse_format_flag("x1-dtype", a.get("x1-dtype"));
  const format f2 = parse_format_flag("x2-dtype", a.get("x2-dtype"));
  if (auto e = check_formats(md, f1, f2); !e.empty())
    throw usage_error(e + ", not " + a.get("x1-dtype") + " x " + a.get("x2-dtype"));
  const std::string out_name = a.get("out-dtype", md == mode::i32 ? "int32" : "fp32");
  if (out_name != "fp32" && out_name != "bf16" && out_name != "fp16" && out_name != "int8" &&
      out_name != "int32")
    throw usage_error("--out-dtype: '" + out_name + "' is not one of fp32, bf16, fp16, int8, int32");
  const bool packed = a.has("packed"), transposed = a.has("transpose-x2"), cann = a.has("cann-layout");
  if (cann && md != mode::mx && md != mode::wo) throw usage_error("--cann-layout applies to MX scales only");
  if (a.has("bf16") && !(md == mode::wo && f1 == format::bf16))
    throw usage_error("--bf16 applies to x1 of weight-only matmul with --x1-dtype bf16");

  const loaded_scale s1 = opt_array(a, "x1-scale"), s2 = opt_array(a, "x2-scale"),
                     ys = opt_array(a, "y-scale"), off = opt_array(a, "x2-offset"),
                     bias = opt_array(a, "bias");
  const auto forbid = [&](const loaded_scale& s, const char* flag) {
    if (s.present) throw usage_error(std::string("--") + flag + " does not apply to mode " + a.get("mode"));
  };
  const auto require = [&](const loaded_scale& s, const char* flag) {
    if (!s.present) throw usage_error(std::string("--") + flag + " is required for mode " + a.get("mode"));
  };
  std::size_t gs = md == mode::tcg || md == mode::mx ? 32 : (md == mode::kg ? 256 : 128);
  if (a.has("group-size")) {
    if (md == mode::tc || md == mode::kc || md == mode::i32 || md == mode::mx || md == mode::tcg)
      throw usage_error("--group-size does not apply to mode " + a.get("mode") +
                        (md == mode::mx || md == mode::tcg ? " (fixed at 32)" : ""));
    gs = parse_size_flag("group-size", a.get("group-size"));
    if (gs == 0) throw usage_error("--group-size must be at least 1");
  }
  if (md != mode::tcg) forbid(ys, "y-scale");
  if (md != mode::tc && md != mode::wo) forbid(off, "x2-offset");
  switch (md) {
    case mode::i32:
      forbid(s1, "x1-scale");
      forbid(s2, "x2-scale");
      break;
    case mode::tc:
      require(s2, "x2-scale");
      break;
    case mode::tcg:
      forbid(s1, "x1-scale");
      require(s2, "x2-scale");
      require(ys, "y-scale");
      forbid(bias, "bias");
      break;
    case mode::wo:
      forbid(s1, "x1-scale");
      require(s2, "x2-scale");
      break;
    default:
      require(s1, "x1-scale");
      require(s2, "x2-scale");
      break;
  }
  const bool int_out = out_name == "int8" || out_name == "int32";
  if (out_name == "int32" && !(md == mode::i32 || (md == mode::tc && f1 == format::int8)))
    throw usage_error(
        "--out-dtype int32 is for mode int32 (or T-C with int8 inputs, whose scales CANN then ignores)");
  if (md == mode::i32 && out_name != "int32") throw usage_error("mode int32 writes int32 only");
  if (out_name == "int8" && md != mode::tc)
    throw usage_error("--out-dtype int8 is for mode T-C/T-T (fixpipe requantization)");

  std::vector<std::pair<std::string, lowbit::npy::array>> outs;
  std::vector<std::size_t> sh1, sh2;
  lowbit::matmul_dims d;
  const auto dims_of = [&] {
    const auto m1 = as_matrix(sh1, a.get("x1")), m2 = as_matrix(sh2, a.get("x2"));
    const std::size_t k2 = transposed ? m2.cols : m2.rows, n = transposed ? m2.rows : m2.cols;
    if (m1.cols != k2)
      throw input_error("k differs: x1 " + a.get("x1") + " is " + shape_str(sh1) + " (m, k) but x2 " +
                        a.get("x2") + " is " + shape_str(sh2) + (transposed ? " (n, k)" : " (k, n)"));
    return lowbit::matmul_dims{m1.rows, m1.cols, n, transposed};
  };
  // Bias: int32 goes before scaling (integer modes), float32 after (cli.md).
  std::vector<std::int32_t> bi;
  std::vector<float> bf;
  const auto load_bias = [&](bool int_ok, bool float_ok) {
    lowbit::matmul_bias b;
    if (!bias.present) return b;
    check_shape(bias.raw.shape, {d.n}, bias.path, "bias");
    if (bias.raw.type == lowbit::npy::dtype::i4 && int_ok)
      b.i32 = bi = bias.raw.values<std::int32_t>();
    else if (bias.raw.type == lowbit::npy::dtype::f4 && float_ok)
      b.f32 = bf = bias.raw.values<float>();
    else
      throw input_error(bias.path + ": bias of dtype " + std::string(lowbit::npy::name(bias.raw.type)) +
                        " does not apply here (" +
                        (int_ok && float_ok ? "int32 or float32"
                         : int_ok           ? "int32"
                                            : "float32") +
                        " expected)");
    return b;
  };
  const auto write_float = [&](auto tag, const auto& fn) {
    using Out = typename decltype(tag)::type;
    std::vector<Out> y(d.m * d.n);
    fn(std::span<Out>(y));
    outs.push_back(
        {a.get("out"), codes_array<Out>({d.m, d.n}, std::span<const Out>(y), false, a.get("out"))});
  };
  const auto with_out = [&](const auto& fn) {
    if (out_name == "fp32") {
      std::vector<float> y(d.m * d.n);
      fn(std::span<float>(y));
      outs.push_back({a.get("out"), f32_array({d.m, d.n}, y)});
    } else if (out_name == "bf16") {
      write_float(std::type_identity<lowbit::bfloat16>{}, fn);
    } else if (out_name == "fp16") {
      write_float(std::type_identity<lowbit::float16>{}, fn);
    }
  };

  if (md == mode::wo) {
    lowbit::visit_format(f1, [&](auto t1) {
      using In = typename decltype(t1)::type;
      if constexpr (std::is_same_v<In, float> || std::is_same_v<In, lowbit::bfloat16> ||
                    std::is_same_v<In, lowbit::float16>) {
        auto xa = read_npy(a.get("x1"));
        sh1 = xa.shape;
        std::vector<In> x;
        using lowbit::npy::dtype;
        const dtype want = std::is_same_v<In, float>             ? dtype::f4
                           : std::is_same_v<In, lowbit::float16> ? dtype::f2
                                                                 : dtype::u2;
        if (xa.type != want)
          throw input_error(a.get("x1") + ": x1 of dtype " + a.get("x1-dtype") + " must be " +
                            std::string(lowbit::npy::name(want)) +
                            (want == dtype::u2 ? " bf16 bit patterns" : "") + ", the file holds " +
                            std::string(lowbit::npy::name(xa.type)));
        x.resize(xa.size());
        if (!x.empty()) std::memcpy(x.data(), xa.data.data(), xa.data.size());
        visit_code(f2, [&](auto t2) {
          using T2 = typename decltype(t2)::type;
          auto w = load_codes<T2>(a.get("x2"), packed && is_4bit<T2>(), sh2);
          d = dims_of();
          lowbit::weight_scales ws;
          std::vector<float> sv, ov;
          std::vector<lowbit::float8_e8m0fnu> ev;
          const std::size_t ng = lowbit::ceil_div(d.k, gs);
          if (s2.raw.type == lowbit::npy::dtype::u1) {  // e8m0 MX scales
            if constexpr (!lowbit::float_code<T2>)
              throw usage_error("e8m0 (MX) scales need a float x2 format");
            if (off.present) throw usage_error("--x2-offset does not apply to MX (e8m0) scales");
            if (a.has("group-size") && gs != 32) throw usage_error("MX weight scales have group size 32");
            ws.gran = lowbit::granularity::mx();
            const auto map = lowbit::make_scale_map(ws.gran, lowbit::operand::right, {d.k, d.n});
            std::vector<std::uint8_t> bytes = s2.raw.values<std::uint8_t>();
            const std::vector<std::size_t> nat = {map.grid.rows, map.grid.cols},
                                           cl = {lowbit::ceil_div(map.grid.rows, 2), map.grid.cols, 2};
            check_shape(s2.raw.shape, cann ? cl : nat, s2.path, "x2 e8m0 scale");
            if (cann) bytes = lowbit::mx_scales_from_cann(bytes, lowbit::operand::right, map.grid);
            for (auto b : bytes) ev.push_back(lowbit::float8_e8m0fnu::from_bits(b));
            ws.mx_scale = ev;
          } else {
            if (cann) throw usage_error("--cann-layout applies to MX scales only");
            const auto& sh = s2.raw.shape;
            std::size_t cnt = 1;
            for (auto v : sh) cnt *= v;
            if (sh.size() == 2 && sh[0] != 1) {
              if (sh[0] != ng || sh[1] != d.n)
                throw input_error(s2.path + ": per-group x2 scale has shape " + shape_str(sh) +
                                  ", expected " + shape_str({ng, d.n}) + " for k = " + std::to_string(d.k) +
                                  " and group size " + std::to_string(gs));
              ws.gran = lowbit::granularity::group(gs);
            } else if (cnt == 1) {  // (1,) is per tensor even when n = 1 (cli.md)
              ws.gran = lowbit::granularity::tensor();
            } else {
              ws.gran = lowbit::granularity::channel();
            }
            const auto map = lowbit::make_scale_map(ws.gran, lowbit::operand::right, {d.k, d.n});
            sv = f32_of(s2, map.scale_shape(), "x2 scale");
            ws.scale = sv;
            if (off.present) ws.offset = ov = f32_of(off, map.scale_shape(), "x2 offset");
          }
          const auto b = load_bias(false, true);
          with_out([&](auto y) {
            using Out = typename decltype(y)::element_type;
            lowbit::matmul_weight_only<Out, In, T2>(x, w, d, ws, b.f32, y);
          });
        });
      }
    });
    write_outputs(outs);
    return 0;
  }

  visit_code(f1, [&](auto t1) {
    using T1 = typename decltype(t1)::type;
    visit_code(f2, [&](auto t2) {
      using T2 = typename decltype(t2)::type;
      if constexpr (std::is_same_v<T1, lowbit::float8_e4m3fn> && std::is_same_v<T2, lowbit::float4_e2m1fn>) {
        if (md == mode::tcg) {
          const auto x1 = load_codes<T1>(a.get("x1"), false, sh1);
          const auto x2 = load_codes<T2>(a.get("x2"), packed, sh2);
          d = dims_of();
          const std::vector<std::size_t> gshape = {lowbit::ceil_div(d.k, 32), d.n};
          check_shape(s2.raw.shape, gshape, s2.path, "T-CG x2 group scale");
          std::vector<std::uint64_t> yv;
          if (ys.raw.type == lowbit::npy::dtype::u8) {
            check_shape(ys.raw.shape, {d.n}, ys.path, "y scale");
            yv = ys.raw.values<std::uint64_t>();
          } else {
            for (float v : f32_of(ys, {d.n}, "y scale (float32 or uint64)"))
              yv.push_back(lowbit::fixpipe::pack(v));
          }
          const auto run = [&](auto stag) {
            using S = typename decltype(stag)::type;
            std::vector<S> sv(s2.raw.size());
            std::memcpy(sv.data(), s2.raw.data.data(), s2.raw.data.size());
            with_out([&](auto y) {
              using Out = typename decltype(y)::element_type;
              lowbit::matmul_tcg<Out, S>(x1, x2, d, sv, yv, y);
            });
          };
          if (s2.raw.type == lowbit::npy::dtype::u2)
            run(std::type_identity<lowbit::bfloat16>{});
          else if (s2.raw.type == lowbit::npy::dtype::f2)
            run(std::type_identity<lowbit::float16>{});
          else
            throw input_error(s2.path + ": T-CG group scales must be bf16 (uint16) or float16");
          return;
        }
      }
      if constexpr (allowed<T1, T2>(mode::tc) || allowed<T1, T2>(mode::kc) || allowed<T1, T2>(mode::mx) ||
                    allowed<T1, T2>(mode::kg)) {
        if (md == mode::tcg) return;
        const auto x1 = load_codes<T1>(a.get("x1"), packed && is_4bit<T1>(), sh1);
        const auto x2 = load_codes<T2>(a.get("x2"), packed && is_4bit<T2>(), sh2);
        d = dims_of();
        constexpr bool integer = lowbit::integer_code<T1>;
        if (md == mode::i32 || (md == mode::tc && out_name == "int32")) {
          if constexpr (allowed<T1, T2>(mode::i32)) {
            const auto b = load_bias(true, false);
            std::vector<std::int32_t> y(d.m * d.n);
            lowbit::matmul_int32<T1, T2>(x1, x2, d, b.i32, y);
            outs.push_back({a.get("out"), lowbit::npy::array::from<std::int32_t>({d.m, d.n}, y)});
          }
          return;
        }
        if (md == mode::tc) {
          if constexpr (allowed<T1, T2>(mode::tc)) {
            std::optional<float> x1s;
            if (s1.present) {
              if (s2.raw.type == lowbit::npy::dtype::u8)
                throw usage_error("--x1-scale does not combine with a uint64 x2 scale");
              x1s = f32_of(s1, {1}, "x1 scale (per tensor)")[0];
            }
            std::vector<std::uint64_t> packed_scale;
            if (s2.raw.type == lowbit::npy::dtype::u8) {
              if (off.present)
                throw usage_error("a uint64 x2 scale carries its own offset (bits 37-45); drop --x2-offset");
              const auto v = s2.raw.values<std::uint64_t>();
              if (v.size() != 1) check_shape(s2.raw.shape, {d.n}, s2.path, "x2 scale");
              packed_scale = v;
            } else if (out_name == "int8") {
              if (!off.present) throw usage_error("--out-dtype int8 needs a uint64 x2 scale or --x2-offset");
              const auto sv =
                  s2.raw.size() == 1 ? f32_of(s2, {1}, "x2 scale") : f32_of(s2, {d.n}, "x2 scale");
              const auto ov =
                  f32_of(off, sv.size() == 1 ? std::vector<std::size_t>{1} : std::vector<std::size_t>{d.n},
                         "x2 offset");
              for (std::size_t i = 0; i < sv.size(); ++i)
                packed_scale.push_back(lowbit::fixpipe::pack(sv[i], ov[i]));
            } else if (off.present) {
              throw usage_error("--x2-offset applies to --out-dtype int8 (requantization)");
            }
            if (!packed_scale.empty()) {
              const auto b = load_bias(integer, !integer);
              if (out_name == "int8") {
                if constexpr (integer) {
                  std::vector<std::int8_t> y(d.m * d.n);
                  lowbit::matmul_tc<std::int8_t, T1, T2>(x1, x2, d,
                                                         std::span<const std::uint64_t>(packed_scale), b, y);
                  outs.push_back({a.get("out"), lowbit::npy::array::from<std::int8_t>({d.m, d.n}, y)});
                } else {
                  throw usage_error("--out-dtype int8 needs int8 inputs");
                }
                return;
              }
              with_out([&](auto y) {
                using Out = typename decltype(y)::element_type;
                lowbit::matmul_tc<Out, T1, T2>(x1, x2, d, std::span<const std::uint64_t>(packed_scale), b, y);
              });
              return;
            }
            const auto sv = s2.raw.size() == 1 && s2.raw.shape.size() <= 1 ? f32_of(s2, {1}, "x2 scale")
                                                                           : f32_of(s2, {d.n}, "x2 scale");
            const auto b = load_bias(integer, true);
            with_out([&](auto y) {
              using Out = typename decltype(y)::element_type;
              lowbit::matmul_tc<Out, T1, T2>(x1, x2, d, std::span<const float>(sv), x1s, b, y);
            });
          }
          return;
        }
        if (int_out)
          throw usage_error("--out-dtype " + out_name + " does not apply to mode " + a.get("mode"));
        if (md == mode::kc) {
          if constexpr (allowed<T1, T2>(mode::kc)) {
            const auto v1 = f32_of(s1, {d.m}, "x1 scale (per token)");
            const auto v2 = s2.raw.size() == 1 && s2.raw.shape.size() <= 1 ? f32_of(s2, {1}, "x2 scale")
                                                                           : f32_of(s2, {d.n}, "x2 scale");
            const auto b = load_bias(integer, true);
            with_out([&](auto y) {
              using Out = typename decltype(y)::element_type;
              lowbit::matmul_kc<Out, T1, T2>(x1, x2, d, v1, v2, b, y);
            });
          }
        } else if (md == mode::gb || md == mode::bb) {
          if constexpr (allowed<T1, T2>(mode::gb)) {
            const std::size_t kb = lowbit::ceil_div(d.k, gs), nb = lowbit::ceil_div(d.n, gs);
            const auto v1 = md == mode::gb ? f32_of(s1, {d.m, kb}, "x1 scale (m, ceil(k/GS))")
                                           : f32_of(s1, {lowbit::ceil_div(d.m, gs), kb},
                                                    "x1 scale (ceil(m/GS), ceil(k/GS))");
            const auto v2 = f32_of(s2, {kb, nb}, "x2 scale (ceil(k/GS), ceil(n/GS))");
            const auto b = load_bias(false, true);
            with_out([&](auto y) {
              using Out = typename decltype(y)::element_type;
              if (md == mode::gb)
                lowbit::matmul_gb<Out, T1, T2>(x1, x2, d, gs, v1, v2, b.f32, y);
              else
                lowbit::matmul_bb<Out, T1, T2>(x1, x2, d, gs, v1, v2, b.f32, y);
            });
          }
        } else if (md == mode::mx) {
          if constexpr (allowed<T1, T2>(mode::mx)) {
            const std::size_t nb = lowbit::ceil_div(d.k, 32);
            const auto e8 = [&](const loaded_scale& s, lowbit::operand side, lowbit::matrix_shape grid) {
              if (s.raw.type != lowbit::npy::dtype::u1)
                throw input_error(s.path + ": MX scales must be uint8 e8m0 codes");
              const bool left = side == lowbit::operand::left;
              const std::vector<std::size_t> nat = {grid.rows, grid.cols},
                                             cl = left ? std::vector<std::size_t>{grid.rows,
                                                                                  lowbit::ceil_div(grid.cols,
                                                                                                   2),
                                                                                  2}
                                                       : std::vector<std::size_t>{
                                                             lowbit::ceil_div(grid.rows, 2), grid.cols, 2};
              check_shape(s.raw.shape, cann ? cl : nat, s.path, left ? "x1 e8m0 scale" : "x2 e8m0 scale");
              auto bytes = s.raw.values<std::uint8_t>();
              if (cann) bytes = lowbit::mx_scales_from_cann(bytes, side, grid);
              std::vector<lowbit::float8_e8m0fnu> e(bytes.size());
              for (std::size_t i = 0; i < e.size(); ++i) e[i] = lowbit::float8_e8m0fnu::from_bits(bytes[i]);
              return e;
            };
            const auto e1 = e8(s1, lowbit::operand::left, {d.m, nb});
            const auto e2 = e8(s2, lowbit::operand::right, {nb, d.n});
            const auto b = load_bias(false, true);
            with_out([&](auto y) {
              using Out = typename decltype(y)::element_type;
              lowbit::matmul_mx<Out, T1, T2>(x1, x2, d, e1, e2, b.f32, y);
            });
          }
        } else if (md == mode::kg) {
          if constexpr (allowed<T1, T2>(mode::kg)) {
            const auto v1 = f32_of(s1, {d.m}, "x1 scale (per token)");
            const auto v2 = f32_of(s2, {lowbit::ceil_div(d.k, gs), d.n}, "x2 group scale (ceil(k/GS), n)");
            const auto b = load_bias(false, true);
            with_out([&](auto y) {
              using Out = typename decltype(y)::element_type;
              lowbit::matmul_kg<Out, T1, T2>(x1, x2, d, gs, v1, v2, b.f32, y);
            });
          }
        }
      }
    });
  });
  if (outs.empty())
    throw usage_error("mode " + a.get("mode") + " does not take " + a.get("x1-dtype") + " x " +
                      a.get("x2-dtype"));
  write_outputs(outs);
  return 0;
}

}  // namespace cli

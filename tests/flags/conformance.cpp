// Bits independent of the build (issue "Compute core", README "Bits independent of the build").
// Runs every exact path -- quantize in every format and granularity (both operands, symmetric and
// asymmetric, smooth, static, MX), dequantize, every matmul mode and output type, and the numerics
// presets -- on fixed seeded inputs with odd shapes, tails, NaN, Inf and zero blocks, and prints
// one FNV-1a digest of the output bytes per case. tests/flags/run.sh builds this file with GCC
// and Clang under several flag sets (-O2 -march=x86-64, -O3 -march=native -ffp-contract=fast,
// ...) and with every backend, and requires every line to be identical: a fused multiply-add, a
// vectorized reduction or a backend that differs by one bit shows up as the name of the case.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <lowbit/lowbit.hpp>

using namespace lowbit;

namespace {

std::uint64_t digest(const void* p, std::size_t n, std::uint64_t h = 1469598103934665603ull) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}
template <class V>
std::uint64_t digest(const std::vector<V>& v, std::uint64_t h = 1469598103934665603ull) {
  return digest(v.data(), v.size() * sizeof(V), h);
}

void report(const std::string& name, std::uint64_t h) {
  std::printf("%-44s %016llx\n", name.c_str(), (unsigned long long)h);
}

/// Random values built from integers only (the generator itself must not depend on the flags:
/// std::normal_distribution does, under FMA contraction): 16-bit signed significands times
/// powers of two, larger in every seventh column; one all-zero row; NaN, +-Inf and a subnormal.
std::vector<float> sample(std::size_t rows, std::size_t cols, unsigned seed, bool specials = true) {
  std::mt19937 rng(seed);
  std::vector<float> x(rows * cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const int sig = static_cast<int>(rng() % 65536) - 32768;
      const int e = static_cast<int>(rng() % 6) - 17 + (c % 7 == 3 ? 5 : 0);
      x[r * cols + c] = std::ldexp(static_cast<float>(sig), e);
    }
  if (rows > 2)
    for (std::size_t c = 0; c < cols; ++c) x[2 * cols + c] = 0.0f;
  if (specials && rows > 3 && cols > 5) {
    x[3 * cols + 1] = std::numeric_limits<float>::quiet_NaN();
    x[3 * cols + 4] = std::numeric_limits<float>::infinity();
    x[(rows - 1) * cols + cols - 1] = -std::numeric_limits<float>::infinity();
    x[1 * cols + 5] = 0x1p-130f;  // subnormal
  }
  return x;
}

/// Positive scale-like values in [lo, 2 lo) (integers times a power of two: exact).
std::vector<float> scales(std::size_t n, unsigned seed, int lo_exp) {
  std::mt19937 rng(seed);
  std::vector<float> v(n);
  for (auto& s : v) s = std::ldexp(static_cast<float>(4096 + rng() % 4096), lo_exp - 12);
  return v;
}

template <class T>
std::vector<T> cast(const std::vector<float>& x) {
  std::vector<T> y;
  for (float v : x) y.push_back(T(v));
  return y;
}

template <class T>
std::vector<T> random_codes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<T> v(n);
  for (auto& c : v) {
    if constexpr (std::is_same_v<T, std::int8_t>)
      c = static_cast<std::int8_t>(static_cast<int>(rng() % 256) - 128);
    else if constexpr (std::is_same_v<T, int4>)
      c = int4(static_cast<float>(static_cast<int>(rng() % 16) - 8));
    else
      c = T::from_bits(static_cast<typename T::storage>(rng() & T::mask));
  }
  return v;
}

template <class T>
std::vector<T> finite_codes(std::size_t n, unsigned seed) {  // quantized Gaussian: no NaN codes
  std::vector<T> v;
  for (float f : sample(1, n, seed, false)) v.push_back(convert<T>(f / 8.0f));
  return v;
}

template <class T, class In>
void quantize_cases(const char* fmt, const std::vector<In>& x, matrix_shape s, const char* in) {
  struct g {
    const char* name;
    granularity gran;
    operand side;
  };
  const g grans[] = {{"tensor", granularity::tensor(), operand::left},
                     {"token", granularity::token(), operand::left},
                     {"channel", granularity::channel(), operand::right},
                     {"group32-left", granularity::group(32), operand::left},
                     {"group16-right", granularity::group(16), operand::right},
                     {"block4x32-left", granularity::block(4, 32), operand::left},
                     {"group8-left", granularity::group(8), operand::left}};
  std::vector<float> smooth(s.cols);
  for (std::size_t i = 0; i < s.cols; ++i) smooth[i] = std::ldexp(static_cast<float>(64 + i), -7);
  for (const auto& gr : grans)
    for (int variant = 0; variant < 4; ++variant) {
      quantize_params p{.gran = gr.gran, .side = gr.side};
      if (variant == 1) p.asymmetric = true;
      if (variant == 2) {
        if (gr.side != operand::left) continue;
        p.smooth = smooth;
      }
      if (variant == 3)
        p.policy = convert_policy{rounding::round, overflow::saturate, nan_policy::zero}, p.min_scale = 4.0f;
      const auto q = quantize<T, In>(std::span<const In>(x), s, p);
      std::uint64_t h = digest(q.values);
      h = digest(q.scales, h);
      h = digest(q.offsets, h);
      const auto y = dequantize(q);
      report(std::string("quantize/") + fmt + "/" + in + "/" + gr.name + "/v" + std::to_string(variant), h);
      report(std::string("dequantize/") + fmt + "/" + in + "/" + gr.name + "/v" + std::to_string(variant),
             digest(y));
    }
  // static, both forms, with offsets
  std::vector<float> sc(s.rows), off(s.rows);
  for (std::size_t i = 0; i < s.rows; ++i)
    sc[i] = 0.03f * static_cast<float>(i + 1), off[i] = 0.25f * static_cast<float>(i);
  for (auto form : {static_form::divide, static_form::multiply}) {
    const auto q =
        quantize_static<T, In>(std::span<const In>(x), s,
                               {.gran = granularity::token(), .scales = sc, .offsets = off, .form = form});
    report(std::string("static/") + fmt + "/" + in + (form == static_form::divide ? "/divide" : "/multiply"),
           digest(q.values));
    const auto y = dequantize(q, dequant_form::antiquant);
    report(
        std::string("antiquant/") + fmt + "/" + in + (form == static_form::divide ? "/divide" : "/multiply"),
        digest(y));
  }
}

template <class T>
void mx_cases(const char* fmt, const std::vector<float>& x, matrix_shape s) {
  for (auto side : {operand::left, operand::right})
    for (auto rule : {mx_scale_rule::ocp, mx_scale_rule::ceil})
      for (auto r : {rounding::rint, rounding::round}) {
        const auto q = quantize_mx<T, float>(x, s, {.side = side, .round = r, .rule = rule});
        const std::string name = std::string("mx/") + fmt + (side == operand::left ? "/left" : "/right") +
                                 (rule == mx_scale_rule::ocp ? "/ocp" : "/ceil") +
                                 (r == rounding::rint ? "/rint" : "/round");
        report(name, digest(q.scales, digest(q.values)));
        report("de" + name, digest(dequantize(q)));
      }
}

template <class Out, class T1, class T2>
void matmul_cases(const std::string& tag, std::size_t m, std::size_t k, std::size_t n, bool codes_random) {
  const auto x1 = codes_random ? random_codes<T1>(m * k, 11) : finite_codes<T1>(m * k, 11);
  const auto x2 = codes_random ? random_codes<T2>(k * n, 12) : finite_codes<T2>(k * n, 12);
  const auto x1s = scales(m, 13, -7), x2s = scales(n, 14, -6), fb = sample(1, n, 15, false);
  std::vector<std::int32_t> ib(n);
  for (std::size_t i = 0; i < n; ++i) ib[i] = static_cast<std::int32_t>(i * 37) - 300;
  std::vector<Out> y(m * n);
  constexpr bool integer = std::is_same_v<T1, std::int8_t> || std::is_same_v<T1, int4>;
  for (bool tr : {false, true}) {
    const matmul_dims d{m, k, n, tr};
    const std::string base = tag + (tr ? "/T" : "/N");
    // K-C
    matmul_kc<Out, T1, T2>(x1, x2, d, x1s, x2s, {}, y);
    report("matmul/K-C/" + base, digest(y));
    matmul_kc<Out, T1, T2>(x1, x2, d, x1s, x2s, {.f32 = fb}, y);
    report("matmul/K-C/" + base + "/fbias", digest(y));
    if constexpr (integer) {
      matmul_kc<Out, T1, T2>(x1, x2, d, x1s, x2s, {.i32 = ib}, y);
      report("matmul/K-C/" + base + "/ibias", digest(y));
      packed_weights<T2> pw(x2, k, n, tr);
      matmul_kc<Out, T1, T2>(x1, pw, m, x1s, x2s, {.f32 = fb}, y);
      report("matmul/K-C-packed/" + base + "/fbias", digest(y));
    }
    matmul_kc<Out, T1, T2>(x1, x2, d, x1s, std::span<const float>(x2s).first(1), {}, y);
    report("matmul/K-T/" + base, digest(y));
    // T-C / T-T
    matmul_tc<Out, T1, T2>(x1, x2, d, x2s, std::nullopt, {.f32 = fb}, y);
    report("matmul/T-C/" + base + "/fbias", digest(y));
    matmul_tc<Out, T1, T2>(x1, x2, d, x2s, 0.37f, {.f32 = fb}, y);
    report("matmul/T-C/" + base + "/x1s/fbias", digest(y));
    matmul_tc<Out, T1, T2>(x1, x2, d, std::span<const float>(x2s).first(1), 0.37f, {}, y);
    report("matmul/T-T/" + base + "/x1s", digest(y));
    matmul_tc<Out, T1, T2>(x1, x2, d, std::span<const float>(x2s).first(1), std::nullopt, {}, y);
    report("matmul/T-T/" + base, digest(y));
    std::vector<std::uint64_t> u(n);
    for (std::size_t i = 0; i < n; ++i)
      u[i] = fixpipe::pack(x2s[i] * 0.125f, static_cast<float>(i % 9) - 4.0f);
    if constexpr (integer) {
      matmul_tc<Out, T1, T2>(x1, x2, d, std::span<const std::uint64_t>(u), {.i32 = ib}, y);
      report("matmul/T-C-u64/" + base + "/ibias", digest(y));
      std::vector<std::int8_t> y8(m * n);
      matmul_tc<std::int8_t, T1, T2>(x1, x2, d, std::span<const std::uint64_t>(u), {.i32 = ib},
                                     std::span<std::int8_t>(y8));
      report("matmul/T-C-requant/" + base, digest(y8));
      std::vector<std::int32_t> y32(m * n);
      matmul_int32<T1, T2>(x1, x2, d, ib, y32);
      report("matmul/int32/" + base, digest(y32));
    } else {
      matmul_tc<Out, T1, T2>(x1, x2, d, std::span<const std::uint64_t>(u), {.f32 = fb}, y);
      report("matmul/T-C-u64/" + base + "/fbias", digest(y));
    }
    // G-B and B-B with a group size that leaves tails in k and n
    for (std::size_t gs : {std::size_t{32}, std::size_t{16}}) {
      const auto a = scales(m * ceil_div(k, gs), 21, -7),
                 b = scales(ceil_div(k, gs) * ceil_div(n, gs), 22, -5);
      const auto c = scales(ceil_div(m, gs) * ceil_div(k, gs), 23, -4);
      matmul_gb<Out, T1, T2>(x1, x2, d, gs, a, b, fb, y);
      report("matmul/G-B/" + base + "/gs" + std::to_string(gs), digest(y));
      matmul_bb<Out, T1, T2>(x1, x2, d, gs, c, b, {}, y);
      report("matmul/B-B/" + base + "/gs" + std::to_string(gs), digest(y));
    }
    if constexpr (integer) {  // K-G: per-token x1, group x2
      const std::size_t gs = 32, ng = ceil_div(k, gs);
      std::vector<float> b(ng * n);
      for (std::size_t i = 0; i < b.size(); ++i) b[i] = 0.01f * static_cast<float>(i % 13 + 1);
      matmul_kg<Out, T1, T2>(x1, x2, d, gs, x1s, b, fb, y);
      report("matmul/K-G/" + base, digest(y));
    }
  }
}

template <class Out, class T1, class T2>
void mx_matmul_cases(const std::string& tag, std::size_t m, std::size_t k, std::size_t n) {
  const auto x1 = random_codes<T1>(m * k, 31);
  const auto x2 = random_codes<T2>(k * n, 32);
  const std::size_t nb = ceil_div(k, 32);
  std::vector<float8_e8m0fnu> a(m * nb), b(nb * n);
  for (std::size_t i = 0; i < a.size(); ++i)
    a[i] = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(120 + i % 12));
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(i == 5 ? 0xff : 118 + i % 15));
  std::vector<float> bias = sample(1, n, 33, false);
  std::vector<Out> y(m * n);
  for (bool tr : {false, true}) {
    matmul_mx<Out, T1, T2>(x1, x2, {m, k, n, tr}, a, b, bias, y);
    report("matmul/MX/" + tag + (tr ? "/T" : "/N"), digest(y));
  }
}

template <class Out, class In, class T2>
void weight_only_cases(const std::string& tag, std::size_t m, std::size_t k, std::size_t n) {
  const auto xf = sample(m, k, 41, false);
  const auto x = cast<In>(xf);
  const auto w = finite_codes<T2>(k * n, 42);
  const auto sc = scales(n, 43, -7), gsc = scales(ceil_div(k, 16) * n, 44, -9);
  std::vector<float> off(n);
  for (std::size_t i = 0; i < n; ++i) off[i] = static_cast<float>(i % 5) - 2.0f;
  const auto bias = sample(1, n, 44, false);
  std::vector<Out> y(m * n);
  const std::span<const In> xs(x);
  const std::span<const T2> ws(w);
  for (bool tr : {false, true}) {
    const matmul_dims d{m, k, n, tr};
    const std::string base = tag + (tr ? "/T" : "/N");
    matmul_weight_only<Out, In, T2>(xs, ws, d, {granularity::channel(), sc}, bias, y);
    report("matmul/weight-only/" + base + "/channel", digest(y));
    matmul_weight_only<Out, In, T2>(xs, ws, d, {granularity::channel(), sc, off}, {}, y);
    report("matmul/weight-only/" + base + "/channel-offset", digest(y));
    matmul_weight_only<Out, In, T2>(xs, ws, d, {granularity::group(16), gsc}, bias, y);
    report("matmul/weight-only/" + base + "/group16", digest(y));
  }
}

}  // namespace

int main() {
  const matrix_shape s{7, 70};
  const auto x = sample(s.rows, s.cols, 1);
  const auto xb = cast<bfloat16>(x);
  const auto xh = cast<float16>(x);
  quantize_cases<std::int8_t>("int8", x, s, "f32");
  quantize_cases<std::int8_t>("int8", xb, s, "bf16");
  quantize_cases<std::int8_t>("int8", xh, s, "f16");
  quantize_cases<int4>("int4", x, s, "f32");
  quantize_cases<float8_e4m3fn>("e4m3", x, s, "f32");
  quantize_cases<float8_e4m3fn>("e4m3", xb, s, "bf16");
  quantize_cases<float8_e5m2>("e5m2", x, s, "f32");
  quantize_cases<hifloat8>("hif8", x, s, "f32");
  quantize_cases<float6_e2m3fn>("e2m3", x, s, "f32");
  quantize_cases<float6_e3m2fn>("e3m2", x, s, "f32");
  quantize_cases<float4_e2m1fn>("e2m1", x, s, "f32");
  quantize_cases<float4_e1m2fn>("e1m2", x, s, "f32");
  mx_cases<float8_e4m3fn>("e4m3", x, s);
  mx_cases<float8_e5m2>("e5m2", x, s);
  mx_cases<float6_e2m3fn>("e2m3", x, s);
  mx_cases<float6_e3m2fn>("e3m2", x, s);
  mx_cases<float4_e2m1fn>("e2m1", x, s);
  mx_cases<float4_e1m2fn>("e1m2", x, s);

  const std::size_t m = 13, k = 97, n = 70;  // tails everywhere: k and n not multiples of any block
  matmul_cases<float, std::int8_t, std::int8_t>("int8/f32", m, k, n, true);
  matmul_cases<bfloat16, std::int8_t, std::int8_t>("int8/bf16", m, k, n, true);
  matmul_cases<float16, std::int8_t, std::int8_t>("int8/f16", m, k, n, true);
  matmul_cases<float, std::int8_t, int4>("int8xint4/f32", m, k, n, true);
  matmul_cases<float, int4, int4>("int4/f32", m, k, n, true);
  matmul_cases<float, float8_e4m3fn, float8_e4m3fn>("e4m3/f32", m, k, n, false);
  matmul_cases<bfloat16, float8_e4m3fn, float8_e4m3fn>("e4m3/bf16", m, k, n, true);
  matmul_cases<float, float8_e5m2, float8_e5m2>("e5m2/f32", m, k, n, false);
  matmul_cases<float, hifloat8, hifloat8>("hif8/f32", m, k, n, false);
  matmul_cases<float, float4_e2m1fn, float4_e2m1fn>("e2m1/f32", m, k, n, true);
  mx_matmul_cases<float, float4_e2m1fn, float4_e2m1fn>("e2m1/f32", m, k, n);
  mx_matmul_cases<bfloat16, float8_e4m3fn, float8_e4m3fn>("e4m3/bf16", m, k, n);
  mx_matmul_cases<float, float6_e2m3fn, float6_e3m2fn>("e2m3xe3m2/f32", m, k, n);
  {  // T-CG
    const auto x1 = finite_codes<float8_e4m3fn>(m * k, 51);
    const auto x2 = random_codes<float4_e2m1fn>(k * n, 52);
    std::vector<bfloat16> gs(ceil_div(k, 32) * n);
    for (std::size_t i = 0; i < gs.size(); ++i)
      gs[i] = bfloat16(std::ldexp(static_cast<float>(64 + 47 * (i % 11)), -7));
    std::vector<std::uint64_t> ys(n);
    for (std::size_t i = 0; i < n; ++i) ys[i] = fixpipe::pack(0.013f * static_cast<float>(i + 1));
    std::vector<float> y(m * n);
    matmul_tcg<float, bfloat16>(x1, x2, {m, k, n, false}, gs, ys, y);
    report("matmul/T-CG/e4m3xe2m1/f32", digest(y));
  }
  weight_only_cases<float, float, std::int8_t>("f32xint8/f32", m, k, n);
  weight_only_cases<bfloat16, bfloat16, int4>("bf16xint4/bf16", m, k, n);
  weight_only_cases<float, float16, int4>("f16xint4/f32", m, k, n);
  weight_only_cases<float, bfloat16, float8_e4m3fn>("bf16xe4m3/f32", m, k, n);
  {  // NVFP4 matmul: e4m3 block scales per 16, alpha, bias
    const auto x1 = random_codes<float4_e2m1fn>(m * k, 71);
    const auto x2 = random_codes<float4_e2m1fn>(k * n, 72);
    std::vector<float8_e4m3fn> s1(m * ceil_div(k, 16)), s2(ceil_div(k, 16) * n);
    for (std::size_t i = 0; i < s1.size(); ++i)
      s1[i] = float8_e4m3fn::from_bits(static_cast<std::uint8_t>(0x28 + i % 37));
    for (std::size_t i = 0; i < s2.size(); ++i)
      s2[i] = float8_e4m3fn::from_bits(static_cast<std::uint8_t>(0x20 + i % 41));
    std::vector<float> bias(n);
    for (std::size_t i = 0; i < n; ++i) bias[i] = std::ldexp(static_cast<float>(i) - 30.0f, -3);
    std::vector<float> y(m * n);
    matmul_nvfp4<float>(x1, x2, {m, k, n, false}, s1, s2, 0.0371f, bias, y);
    report("matmul/NVFP4/e2m1/f32", digest(y));
    std::vector<bfloat16> yb(m * n);
    matmul_nvfp4<bfloat16>(x1, x2, {m, k, n, false}, s1, s2, 1.0f, {}, yb);
    report("matmul/NVFP4/e2m1/bf16", digest(yb));
  }
  {  // the numerics presets (presets.hpp): every preset and element format, computed and given globals
    const matrix_shape ps{21, 80};  // 21 rows: a partial 16x16 tile; 80 = 5 NVFP4 blocks, 2.5 MX blocks
    const auto px = sample(ps.rows, ps.cols, 61);
    for (const auto& i : preset_table)
      for (format f : {format::fp4_e2m1fn, format::fp8_e4m3fn, format::fp8_e5m2, format::fp6_e2m3fn,
                       format::fp6_e3m2fn}) {
        if (!preset_takes(i.id, f)) continue;
        for (bool given : {false, true}) {
          if (given && !is_nvfp4(i.id)) continue;
          const auto q = quantize_preset(i.id, px, ps, f, given ? std::optional<float>(0.73f) : std::nullopt);
          std::vector<float> y(ps.size());
          dequantize_preset(i.id, q.codes, q.scales, ps, f, q.global, y);
          report("preset/" + std::string(i.name) + "/" + std::string(to_string(f)) + (given ? "/given" : ""),
                 digest(y, digest(&q.global, sizeof(float), digest(q.scales, digest(q.codes)))));
        }
      }
  }
  const auto cmp =
      compare(std::vector<double>(x.begin(), x.end()), std::vector<double>(xb.begin(), xb.end()));
  report("compare/f32-vs-bf16", digest(&cmp.sqnr_db, sizeof(double), digest(&cmp.cosine, sizeof(double))));
  const auto calls = dispatch_counts();  // on stderr: the digests must not depend on the backend
  std::fprintf(stderr, "backend %s: %llu fast calls, %llu reference calls\n", backend_name(),
               static_cast<unsigned long long>(calls.fast), static_cast<unsigned long long>(calls.reference));
  return 0;
}

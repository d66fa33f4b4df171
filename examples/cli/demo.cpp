// lowbit demo (cli.md): a realistic sample -- activations with outlier channels, Gaussian
// weights -- quantized in every format and granularity, then every matmul mode, with the
// error against fp32 and the time of each step, in one table. `--markdown` prints the table
// the README shows.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>

#include "cli.hpp"

namespace cli {

namespace {

const command_spec demo_spec{
    "demo",
    {"m", "k", "n", "seed"},
    {"markdown"},
    0,
    0,
    "usage: lowbit demo [--m M] [--k K] [--n N] [--seed S] [--markdown]\n"
    "  Quantizes a sample activation x (m, k) with outlier channels and a Gaussian weight w (k, n)\n"
    "  in every format and granularity, runs every matmul mode, and prints SQNR, cosine and max\n"
    "  error against the fp32 result, with the time of each step. Default shape 64 x 1024 x 512.\n"};

using clock_type = std::chrono::steady_clock;
using namespace lowbit;

struct row {
  std::string step, formats, how;
  error_stats s;
  double ms;
};

template <class F>
double timed(F&& f) {
  const auto t0 = clock_type::now();
  f();
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

std::vector<double> widen(const std::vector<float>& v) {
  return {v.begin(), v.end()};
}

}  // namespace

int run_demo(int argc, char** argv) {
  const args a = parse_args(demo_spec, argc, argv, 2);
  if (a.help) return std::fputs(demo_spec.usage.c_str(), stdout), 0;
  const std::size_t M = a.has("m") ? parse_size_flag("m", a.get("m")) : 64;
  const std::size_t K = a.has("k") ? parse_size_flag("k", a.get("k")) : 1024;
  const std::size_t N = a.has("n") ? parse_size_flag("n", a.get("n")) : 512;
  if (M == 0 || K == 0 || N == 0) throw usage_error("--m, --k and --n must be at least 1");
  constexpr std::size_t max_elems = std::size_t{1} << 26, max_macs = std::size_t{1} << 34;
  if (M > max_elems / K || N > max_elems / K || M * K > max_macs / N)  // no product can wrap
    throw usage_error("shape too large for the scalar reference demo (at most 2^26 elements per matrix)");
  std::mt19937 rng(a.has("seed") ? static_cast<unsigned>(parse_size_flag("seed", a.get("seed"))) : 2026u);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(M * K), w(K * N);
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t k = 0; k < K; ++k)
      x[i * K + k] = g(rng) * (k % 97 == 5 ? 30.0f : 1.0f);  // outlier channels
  for (auto& v : w) v = g(rng) * 0.05f;
  std::vector<double> yref(M * N, 0.0);
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t j = 0; j < N; ++j) yref[i * N + j] += double(x[i * K + k]) * double(w[k * N + j]);
  const std::vector<double> xd = widen(x);
  std::vector<row> rows;
  const matmul_dims d{M, K, N};

  // 1. Quantize x (left operand) in every format and granularity.
  visit_format(format::int8, [](auto) {});
  for (format f : all_formats) {
    visit_format(f, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (matmul_code<T>) {
        for (auto gname : {"tensor", "token", "group:128", "block:128", "mx"}) {
          const granularity gr = *parse_granularity(gname);
          std::vector<float> dq;
          if (gr.kind == granularity_kind::mx) {
            if constexpr (mx_element<T>) {
              const double ms = timed([&] { dq = dequantize(quantize_mx<T, float>(x, {M, K}, {})); });
              rows.push_back({"quantize x", std::string(to_string(f)), gname, compare(xd, widen(dq)), ms});
            }
            continue;
          }
          const double ms = timed([&] { dq = dequantize(quantize<T, float>(x, {M, K}, {.gran = gr})); });
          rows.push_back({"quantize x", std::string(to_string(f)), gname, compare(xd, widen(dq)), ms});
        }
      }
    });
  }

  // 2. Every matmul mode, on dynamically quantized operands.
  const auto add = [&](const std::string& mode, const std::string& fmts, const std::string& how,
                       const std::function<void(std::vector<float>&)>& fn) {
    std::vector<float> y(M * N);
    const double ms = timed([&] { fn(y); });
    rows.push_back({"matmul " + mode, fmts, how, compare(yref, widen(y)), ms});
  };
  const auto tok = [&](auto tag, granularity gr = granularity::token()) {
    using T = typename decltype(tag)::type;
    return quantize<T, float>(x, {M, K}, {.gran = gr});
  };
  const auto wq = [&](auto tag, granularity gr = granularity::channel()) {
    using T = typename decltype(tag)::type;
    return quantize<T, float>(w, {K, N}, {.gran = gr, .side = operand::right});
  };
  using I8 = std::type_identity<std::int8_t>;
  using I4 = std::type_identity<int4>;
  using E4 = std::type_identity<float8_e4m3fn>;
  using H8 = std::type_identity<hifloat8>;
  add("int32", "int8 x int8", "exact int32, scales applied after", [&](auto& y) {
    const auto qx = tok(I8{}, granularity::tensor());
    const auto qw = wq(I8{});
    std::vector<std::int32_t> acc(M * N);
    matmul_int32<std::int8_t, std::int8_t>(qx.values, qw.values, d, {}, acc);
    for (std::size_t i = 0; i < M * N; ++i) y[i] = float(acc[i]) * qw.scales[i % N] * qx.scales[0];
  });
  add("T-C", "int8 x int8", "x tensor, w channel", [&](auto& y) {
    const auto qx = tok(I8{}, granularity::tensor());
    const auto qw = wq(I8{});
    matmul_tc<float, std::int8_t, std::int8_t>(qx.values, qw.values, d, std::span<const float>(qw.scales),
                                               qx.scales[0], {}, y);
  });
  const auto kc = [&](auto t1, const char* name) {
    using T = typename decltype(t1)::type;
    add("K-C", std::string(name) + " x " + name, "x token, w channel", [&](auto& y) {
      const auto qx = tok(t1);
      const auto qw = wq(t1);
      matmul_kc<float, T, T>(qx.values, qw.values, d, qx.scales, qw.scales, {}, y);
    });
  };
  kc(I8{}, "int8");
  kc(I4{}, "int4");
  kc(E4{}, "fp8_e4m3fn");
  kc(H8{}, "hifloat8");
  const auto gb = [&](auto t1, const char* name, bool bb) {
    using T = typename decltype(t1)::type;
    add(bb ? "B-B" : "G-B", std::string(name) + " x " + name,
        bb ? "x block 128, w block 128" : "x group 128, w block 128", [&](auto& y) {
          const auto qx = tok(t1, bb ? granularity::block(128, 128) : granularity::group(128));
          const auto qw = wq(t1, granularity::block(128, 128));
          if (bb)
            matmul_bb<float, T, T>(qx.values, qw.values, d, 128, qx.scales, qw.scales, {}, y);
          else
            matmul_gb<float, T, T>(qx.values, qw.values, d, 128, qx.scales, qw.scales, {}, y);
        });
  };
  gb(I8{}, "int8", false);
  gb(E4{}, "fp8_e4m3fn", false);
  gb(E4{}, "fp8_e4m3fn", true);
  gb(H8{}, "hifloat8", true);
  const auto mx = [&](auto t1, const char* name) {
    using T = typename decltype(t1)::type;
    add("MX", std::string(name) + " x " + name, "group 32, e8m0 scales", [&](auto& y) {
      const auto qx = quantize_mx<T, float>(x, {M, K}, {});
      const auto qw = quantize_mx<T, float>(w, {K, N}, {.side = operand::right});
      matmul_mx<float, T, T>(qx.values, qw.values, d, qx.scales, qw.scales, {}, y);
    });
  };
  mx(E4{}, "fp8_e4m3fn");
  mx(std::type_identity<float6_e2m3fn>{}, "fp6_e2m3fn");
  mx(std::type_identity<float4_e2m1fn>{}, "fp4_e2m1fn");
  add("T-CG", "fp8_e4m3fn x fp4_e2m1fn", "x tensor, w group 32 (bf16) + y channel", [&](auto& y) {
    const auto qx = tok(E4{}, granularity::tensor());
    // weights: fp4 codes with bf16 group-32 scales, amax / 6 rounded to bf16
    const auto map = make_scale_map(granularity::group(32), operand::right, {K, N});
    std::vector<float> amax(map.size(), 0.0f);
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t j = 0; j < N; ++j)
        amax[map(k, j)] = std::max(amax[map(k, j)], std::fabs(w[k * N + j]));
    std::vector<bfloat16> gs(map.size());
    for (std::size_t i = 0; i < gs.size(); ++i) gs[i] = bfloat16(amax[i] / 6.0f);
    std::vector<float4_e2m1fn> q(K * N);
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t j = 0; j < N; ++j) {
        const float s = float(gs[map(k, j)]);
        q[k * N + j] = float4_e2m1fn(s == 0 ? 0.0f : w[k * N + j] / s);
      }
    std::vector<std::uint64_t> ys(N, fixpipe::pack(qx.scales[0]));
    matmul_tcg<float, bfloat16>(qx.values, q, d, gs, ys, y);
  });
  add("K-G", "int8 x int4", "x token, w group 256", [&](auto& y) {
    const auto qx = tok(I8{});
    const auto qw = wq(I4{}, granularity::group(256));
    matmul_kg<float, std::int8_t, int4>(qx.values, qw.values, d, 256, qx.scales, qw.scales, {}, y);
  });
  std::vector<bfloat16> xb(x.size());
  std::vector<float16> xh(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xb[i] = bfloat16(x[i]), xh[i] = float16(x[i]);
  add("weight-only", "bf16 x int4", "w group 128", [&](auto& y) {
    const auto qw = wq(I4{}, granularity::group(128));
    matmul_weight_only<float, bfloat16, int4>(xb, qw.values, d, {granularity::group(128), qw.scales}, {}, y);
  });
  add("weight-only", "fp16 x int8", "w channel, asymmetric", [&](auto& y) {
    const auto qw = quantize<std::int8_t, float>(
        w, {K, N}, {.gran = granularity::channel(), .side = operand::right, .asymmetric = true});
    std::vector<float> neg(qw.offsets.size());
    for (std::size_t i = 0; i < neg.size(); ++i) neg[i] = -qw.offsets[i];  // antiquant adds the offset
    matmul_weight_only<float, float16, std::int8_t>(xh, qw.values, d,
                                                    {granularity::channel(), qw.scales, neg}, {}, y);
  });
  add("weight-only", "bf16 x fp4_e2m1fn", "w MX", [&](auto& y) {
    const auto qw = quantize_mx<float4_e2m1fn, float>(w, {K, N}, {.side = operand::right});
    matmul_weight_only<float, bfloat16, float4_e2m1fn>(xb, qw.values, d,
                                                       {granularity::mx(), {}, {}, qw.scales}, {}, y);
  });
  add("weight-only", "fp32 x hifloat8", "w channel", [&](auto& y) {
    const auto qw = wq(H8{});
    matmul_weight_only<float, float, hifloat8>(x, qw.values, d, {granularity::channel(), qw.scales}, {}, y);
  });

  const bool md = a.has("markdown");
  std::printf(
      "lowbit %s demo: x %zu x %zu (outlier channels), w %zu x %zu, errors against the fp32 product\n",
      LOWBIT_VERSION_STRING, M, K, K, N);
  const auto top = [](auto t) { return static_cast<double>(static_cast<float>(t)); };
  std::printf("format maxima: %g, %g, %g, %g, %g, %g, %g\n\n", top(std::numeric_limits<float8_e4m3fn>::max()),
              top(std::numeric_limits<float8_e5m2>::max()), top(std::numeric_limits<hifloat8>::max()),
              top(std::numeric_limits<float6_e2m3fn>::max()), top(std::numeric_limits<float6_e3m2fn>::max()),
              top(std::numeric_limits<float4_e2m1fn>::max()), top(std::numeric_limits<float4_e1m2fn>::max()));
  if (md)
    std::printf(
        "| step | formats | granularity / scales | SQNR dB | cosine | max abs err | ms |\n"
        "|---|---|---|---:|---:|---:|---:|\n");
  else
    std::printf("%-18s %-26s %-40s %8s %10s %12s %9s\n", "step", "formats", "granularity / scales", "SQNR dB",
                "cosine", "max abs err", "ms");
  for (const auto& r : rows) {
    if (md)
      std::printf("| %s | %s | %s | %.1f | %.6f | %.3g | %.1f |\n", r.step.c_str(), r.formats.c_str(),
                  r.how.c_str(), r.s.sqnr_db, r.s.cosine, r.s.max_abs, r.ms);
    else
      std::printf("%-18s %-26s %-40s %8.1f %10.6f %12.4g %9.1f\n", r.step.c_str(), r.formats.c_str(),
                  r.how.c_str(), r.s.sqnr_db, r.s.cosine, r.s.max_abs, r.ms);
  }
  return 0;
}

}  // namespace cli

// lowbit against its peers, in one run (issue "Fast paths"). Register names:
//   <op>/<format>/<granularity or mode>/<shape>/<lowbit|onednn>
// Counters: bytes_per_second for quantize / dequantize (4 B fp32 + 1 B code per element, the
// STREAM convention of shared/anchors), items_per_second = 2*M*K*N ops for matmul.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <dnnl.hpp>
#include <new>
#include <random>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "../examples/engine/thread_pool.hpp"

#include "../examples/engine/count_new.hpp"  // allocs_per_call of the engine benchmarks

using namespace lowbit;

namespace {

constexpr std::size_t R = 4096, C = 4096;

std::vector<float> gaussian(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = g(rng);
  return v;
}
std::vector<std::int8_t> random_int8(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::int8_t> v(n);
  for (auto& x : v) x = static_cast<std::int8_t>(static_cast<int>(rng() % 255) - 127);
  return v;
}

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

/// Writes 256 MiB so that the weights are no longer in any cache (outside the timed region).
void evict_caches() {
  static std::vector<char> junk(256u << 20);
  static char v = 0;
  std::memset(junk.data(), ++v, junk.size());
  benchmark::DoNotOptimize(junk.data());
}

void set_quantize_bytes(benchmark::State& s, std::size_t n, std::size_t out_bytes) {
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * n * (4 + out_bytes)));
}

// ---------------------------------------------------------------- quantize / dequantize

void quantize_int8_token_lowbit(benchmark::State& s) {
  const auto x = gaussian(R * C, 1);
  quantized<std::int8_t> q{std::vector<std::int8_t>(R * C), std::vector<float>(R), {}, {}};
  for (auto _ : s) {
    quantize_into<std::int8_t, float>(x, {R, C}, {.gran = granularity::token()}, q.span());
    benchmark::DoNotOptimize(q.values.data());
  }
  set_quantize_bytes(s, R * C, 1);
}

void quantize_int8_token_onednn(benchmark::State& s) {
  using namespace dnnl;
  const auto x = gaussian(R * C, 1);
  std::vector<float> inv(R);  // precomputed per-row scales: oneDNN multiplies by them
  for (std::size_t r = 0; r < R; ++r) {
    float amax = 0;
    for (std::size_t c = 0; c < C; ++c) amax = std::max(amax, std::fabs(x[r * C + c]));
    inv[r] = 127.0f / amax;
  }
  const memory::desc src({R, C}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc dst({R, C}, memory::data_type::s8, memory::format_tag::ab);
  primitive_attr attr;
  attr.set_output_scales(1 << 0, inv);
  const reorder::primitive_desc pd(engine(), src, engine(), dst, attr);
  reorder prim(pd);
  memory ms(src, engine(), const_cast<float*>(x.data())), md(dst, engine());
  stream st(engine());
  prim.execute(st, ms, md);  // untimed: oneDNN's first run pays the output's page faults (see below)
  st.wait();
  for (auto _ : s) {
    prim.execute(st, ms, md);
    st.wait();
  }
  s.SetLabel(pd.impl_info_str());
  set_quantize_bytes(s, R * C, 1);
}

/// bf16 activations (the "bf16 activations leave the fast path"): widened to fp32 for the
/// same kernels; bytes counted as read (2 per element) and written (1).
void quantize_int8_token_bf16_lowbit(benchmark::State& s) {
  const auto xf = gaussian(R * C, 1);
  std::vector<bfloat16> x(xf.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = bfloat16(xf[i]);
  quantized<std::int8_t> q{std::vector<std::int8_t>(R * C), std::vector<float>(R), {}, {}};
  for (auto _ : s) {
    quantize_into<std::int8_t, bfloat16>(x, {R, C}, {.gran = granularity::token()}, q.span());
    benchmark::DoNotOptimize(q.values.data());
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * R * C * 3));
}

template <class T>
void quantize_lowbit(benchmark::State& s, granularity g) {
  const auto x = gaussian(R * C, 2);
  const auto map = make_scale_map(g, operand::left, {R, C});
  quantized<T> q{std::vector<T>(R * C), std::vector<float>(map.size()), {}, map};
  for (auto _ : s) {
    quantize_into<T, float>(x, {R, C}, {.gran = g}, q.span());
    benchmark::DoNotOptimize(q.values.data());
  }
  set_quantize_bytes(s, R * C, 1);
}

void quantize_e4m3_block_lowbit(benchmark::State& s) {
  quantize_lowbit<float8_e4m3fn>(s, granularity::block(128, 128));
}
void quantize_int8_group_lowbit(benchmark::State& s) {
  quantize_lowbit<std::int8_t>(s, granularity::group(128));
}

void quantize_mxfp4_lowbit(benchmark::State& s) {
  const auto x = gaussian(R * C, 3);
  quantized<float4_e2m1fn, float8_e8m0fnu> q{
      std::vector<float4_e2m1fn>(R * C), std::vector<float8_e8m0fnu>(R * C / 32), {}, {}};
  for (auto _ : s) {  // into caller buffers, as the peer's reorder writes into its own
    quantize_mx_into<float4_e2m1fn, float>(x, {R, C}, {}, q.span());
    benchmark::DoNotOptimize(q.values.data());
  }
  set_quantize_bytes(s, R * C, 1);  // one byte per code as stored (unpacked)
}

/// The quantize variants of issue 11's table, each into caller buffers with its scales computed.
void quantize_mxfp8_lowbit(benchmark::State& s) {
  const auto x = gaussian(R * C, 3);
  quantized<float8_e4m3fn, float8_e8m0fnu> q{
      std::vector<float8_e4m3fn>(R * C), std::vector<float8_e8m0fnu>(R * C / 32), {}, {}};
  for (auto _ : s) {
    quantize_mx_into<float8_e4m3fn, float>(x, {R, C}, {}, q.span());
    benchmark::DoNotOptimize(q.values.data());
  }
  set_quantize_bytes(s, R * C, 1);
}

/// int4 per group of 128, then stored two codes per byte (low nibble first).
void quantize_int4_group_packed_lowbit(benchmark::State& s) {
  const auto x = gaussian(R * C, 2);
  const auto map = make_scale_map(granularity::group(128), operand::left, {R, C});
  std::vector<float> scales(map.size());
  std::vector<std::uint8_t> packed(R * C / 2);
  for (auto _ : s) {  // straight into storage: two codes per byte
    quantize_into<int4, float>(x, {R, C}, {.gran = granularity::group(128)}, std::span(packed), scales);
    benchmark::DoNotOptimize(packed.data());
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * R * C * 4 + s.iterations() * R * C / 2));
}

/// Per-token int8, asymmetric (offsets) or smoothed (SmoothQuant: x * smooth[k] first).
void quantize_int8_token_variant_lowbit(benchmark::State& s, bool asym) {
  const auto x = gaussian(R * C, 1);
  std::vector<float> smooth(C);
  for (std::size_t c = 0; c < C; ++c) smooth[c] = 0.5f + static_cast<float>(c % 7) * 0.25f;
  quantized<std::int8_t> q{
      std::vector<std::int8_t>(R * C), std::vector<float>(R), std::vector<float>(asym ? R : 0), {}};
  quantize_params p{.gran = granularity::token()};
  if (asym)
    p.asymmetric = true;
  else
    p.smooth = smooth;
  for (auto _ : s) {
    quantize_into<std::int8_t, float>(x, {R, C}, p, q.span());
    benchmark::DoNotOptimize(q.values.data());
  }
  set_quantize_bytes(s, R * C, 1);
}

/// fp8 e4m3 per 128 x 128 block and MXFP4 (e8m0 per 32) back to fp32.
void dequantize_e4m3_block_lowbit(benchmark::State& s) {
  const auto x = gaussian(R * C, 4);
  const auto q = quantize<float8_e4m3fn, float>(x, {R, C}, {.gran = granularity::block(128, 128)});
  std::vector<float> y(R * C);
  for (auto _ : s) {
    dequantize_into<float8_e4m3fn, float>(q.values, q.map, q.scales, {}, y);
    benchmark::DoNotOptimize(y.data());
  }
  set_quantize_bytes(s, R * C, 1);
}
void dequantize_mxfp4_lowbit(benchmark::State& s) {
  const auto x = gaussian(R * C, 4);
  const auto q = quantize_mx<float4_e2m1fn, float>(x, {R, C}, {});
  std::vector<float> y(R * C);
  for (auto _ : s) {
    dequantize_into<float4_e2m1fn, float8_e8m0fnu>(q.values, q.map, q.scales, {}, y);
    benchmark::DoNotOptimize(y.data());
  }
  set_quantize_bytes(s, R * C, 1);
}

/// A streaming copy of 4096 x 4096 fp32 (memcpy; bytes read + written): the memory limit the
/// quantize and dequantize rates are compared with.
void copy_memcpy(benchmark::State& s) {
  const auto x = gaussian(R * C, 5);
  std::vector<float> y(R * C);
  for (auto _ : s) {
    std::memcpy(y.data(), x.data(), x.size() * 4);
    benchmark::DoNotOptimize(y.data());
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * R * C * 8));
}

void dequantize_int8_channel_lowbit(benchmark::State& s) {
  const auto q = random_int8(R * C, 4);
  const auto sc = gaussian(C, 5);
  const auto map = make_scale_map(granularity::channel(), operand::right, {R, C});
  std::vector<float> y(R * C);
  for (auto _ : s) {
    dequantize_into<std::int8_t, float>(q, map, sc, {}, y);
    benchmark::DoNotOptimize(y.data());
  }
  set_quantize_bytes(s, R * C, 1);
}

void dequantize_int8_channel_onednn(benchmark::State& s) {
  using namespace dnnl;
  const auto q = random_int8(R * C, 4);
  const auto sc = gaussian(C, 5);
  const memory::desc src({R, C}, memory::data_type::s8, memory::format_tag::ab);
  const memory::desc dst({R, C}, memory::data_type::f32, memory::format_tag::ab);
  primitive_attr attr;
  attr.set_output_scales(1 << 1, sc);
  const reorder::primitive_desc pd(engine(), src, engine(), dst, attr);
  reorder prim(pd);
  memory ms(src, engine(), const_cast<std::int8_t*>(q.data())), md(dst, engine());
  stream st(engine());
  // untimed: the first run writes the 64 MiB output oneDNN allocated untouched (page faults,
  // about 170 ms), which a short run (ratios.py's 0.2 s) averaged into the peer's time: 20-62
  // ms against 2.5-4 ms once warm. lowbit's outputs are caller buffers, touched before the loop.
  prim.execute(st, ms, md);
  st.wait();
  for (auto _ : s) {
    prim.execute(st, ms, md);
    st.wait();
  }
  s.SetLabel(pd.impl_info_str());
  set_quantize_bytes(s, R * C, 1);
}

// ---------------------------------------------------------------- matmul

void set_ops(benchmark::State& s, std::size_t m, std::size_t k, std::size_t n) {
  s.counters["ops"] =
      benchmark::Counter(static_cast<double>(2 * m * k * n), benchmark::Counter::kIsIterationInvariantRate);
}

/// packed_bytes: what the packed-weights object holds; stored_bytes: the weights as stored
/// (codes at their width, fp32 scales).
void set_weight_bytes(benchmark::State& s, std::size_t packed, std::size_t stored) {
  s.counters["packed_bytes"] = static_cast<double>(packed);
  s.counters["stored_bytes"] = static_cast<double>(stored);
}

// ---------------------------------------------------------------- engine integration (issue 12)

/// The engine's pool: as many threads as the run's OpenMP setting (OMP_NUM_THREADS), so the 1-
/// and 2-thread tables compare like with like. Run without OMP_PROC_BIND: threads created by a
/// thread OpenMP has bound inherit its one-core mask and never run in parallel with it.
engine::thread_pool& pool() {
#if defined(_OPENMP)
  static engine::thread_pool p(static_cast<unsigned>(omp_get_max_threads()));
#else
  static engine::thread_pool p(1);
#endif
  return p;
}

/// Per-token int8 quantize of decode-size batches on the engine's pool (never forked at these
/// sizes); serial = exec_context{} (the kernel alone). Counter allocs_per_call.
void quantize_token_engine(benchmark::State& s, std::size_t m, bool serial) {
  const auto x = gaussian(m * C, 21);
  quantized<std::int8_t> q{std::vector<std::int8_t>(m * C), std::vector<float>(m), {}, {}};
  const exec_context ctx = serial ? exec_context{} : pool().context();
  quantize_into<std::int8_t, float>(ctx, x, {m, C}, {.gran = granularity::token()}, q.span());
  const long before = engine::allocations.load();
  for (auto _ : s) {
    quantize_into<std::int8_t, float>(ctx, x, {m, C}, {.gran = granularity::token()}, q.span());
    benchmark::DoNotOptimize(q.values.data());
  }
  s.counters["allocs_per_call"] =
      static_cast<double>(engine::allocations.load() - before) / static_cast<double>(s.iterations());
  set_quantize_bytes(s, m * C, 1);
}

/// K-C GEMV (M = 1) on the engine's pool (2 tasks) or serially, weights packed once.
void matmul_kc_engine(benchmark::State& s, bool serial) {
  const std::size_t m = 1, k = 4096, n = 4096;
  const auto a = random_int8(m * k, 6), b = random_int8(k * n, 7);
  const auto s1 = gaussian(m, 8), s2 = gaussian(n, 9);
  const packed_weights<std::int8_t> w(b, k, n);
  std::vector<float> y(m * n);
  const exec_context ctx = serial ? exec_context{} : pool().context();
  matmul_kc<float, std::int8_t, std::int8_t>(ctx, a, w, m, s1, s2, {}, y);
  const long before = engine::allocations.load();
  for (auto _ : s) {
    matmul_kc<float, std::int8_t, std::int8_t>(ctx, a, w, m, s1, s2, {}, y);
    benchmark::DoNotOptimize(y.data());
  }
  s.counters["allocs_per_call"] =
      static_cast<double>(engine::allocations.load() - before) / static_cast<double>(s.iterations());
  s.SetLabel(backend_name());
  set_ops(s, m, k, n);
  set_weight_bytes(s, w.memory_bytes(), k * n + n * 4);
}

template <class Out = float>
void matmul_int8_kc_lowbit(benchmark::State& s, std::size_t m, bool cold) {
  const std::size_t k = 4096, n = 4096;
  const auto a = random_int8(m * k, 6), b = random_int8(k * n, 7);
  const auto s1 = gaussian(m, 8), s2 = gaussian(n, 9);
  const packed_weights<std::int8_t> w(b, k, n);  // packed once, outside the timing (as oneDNN's)
  std::vector<Out> y(m * n);
  for (auto _ : s) {
    if (cold) {
      s.PauseTiming();
      evict_caches();
      s.ResumeTiming();
    }
    matmul_kc<Out, std::int8_t, std::int8_t>(a, w, m, s1, s2, {}, y);
    benchmark::DoNotOptimize(y.data());
  }
  s.SetLabel(backend_name());
  set_ops(s, m, k, n);
  set_weight_bytes(s, w.memory_bytes(), k * n + n * 4);
}

void matmul_int8_kc_f32(benchmark::State& s, std::size_t m, bool cold) {
  matmul_int8_kc_lowbit<float>(s, m, cold);
}
void matmul_int8_kc_bf16(benchmark::State& s, std::size_t m, bool cold) {  // bf16 output, same product
  matmul_int8_kc_lowbit<bfloat16>(s, m, cold);
}

/// The other integer modes on the same int8 128 x 4096 x 4096 product as K-C, weights packed once
/// (with the mode's k-blocks), to compare each mode's epilogue cost with K-C's (issue "Compute
/// core": each at >= 0.9x the speed of K-C). mode: 0 T-C, 1 T-C requant (int8 out), 2 G-B (group
/// 128), 3 K-G (int4 weights, group 128).
void matmul_int8_mode_lowbit(benchmark::State& s, int mode) {
  const std::size_t m = 128, k = 4096, n = 4096, gs = 128;
  const auto a = random_int8(m * k, 6), b = random_int8(k * n, 7);
  const auto s2 = gaussian(n, 9), gx = gaussian(m * (k / gs), 10), gw = gaussian((k / gs) * (n / gs), 11),
             gk = gaussian((k / gs) * n, 12), s1 = gaussian(m, 8);
  std::vector<int4> b4(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) b4[i] = int4(static_cast<float>(b[i] % 8));
  std::vector<std::uint64_t> u(n);
  for (std::size_t i = 0; i < n; ++i) u[i] = fixpipe::pack(std::abs(s2[i]) * 1e-4f, 3.0f);
  const packed_weights<std::int8_t> w(b, k, n, false, mode == 2 ? gs : 0);
  const packed_weights<int4> w4(b4, k, n, false, gs);
  if (mode == 3)
    set_weight_bytes(s, w4.memory_bytes(), k * n / 2 + gk.size() * 4);
  else
    set_weight_bytes(s, w.memory_bytes(), k * n + (mode == 2 ? gw.size() : n) * (mode == 1 ? 8 : 4));
  std::vector<float> y(m * n);
  std::vector<std::int8_t> y8(m * n);
  for (auto _ : s) {
    switch (mode) {
      case 0:
        matmul_tc<float, std::int8_t, std::int8_t>(a, w, m, s2, std::nullopt, {}, y);
        break;
      case 1:
        matmul_tc<std::int8_t, std::int8_t, std::int8_t>(a, w, m, std::span<const std::uint64_t>(u), {},
                                                         std::span<std::int8_t>(y8));
        break;
      case 2:
        matmul_gb<float, std::int8_t, std::int8_t>(a, w, m, gs, gx, gw, {}, y);
        break;
      default:
        matmul_kg<float, std::int8_t, int4>(a, w4, m, gs, s1, gk, {}, y);
        break;
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::DoNotOptimize(y8.data());
  }
  s.SetLabel(backend_name());
  set_ops(s, m, k, n);
}

/// oneDNN configured plainly, as shared/anchors/bench/onednn_bench.cpp: 2-D {M,K} x {K,N}, weights
/// reordered once to the primitive's layout outside the timing, primitive created once. int8:
/// s8 x s8 -> f32 with per-N output scales (s8s8f32_pc); with row_scale (K-C) the per-token scale
/// is then applied by a plain row-scale pass over the output, counted in the peer's time (oneDNN
/// 2.6 fuses it only as a binary post-op, measured 25-40% slower). bf16: bf16 x bf16 -> f32.
void matmul_onednn(benchmark::State& s, std::size_t m, std::size_t k, std::size_t n, bool bf16, bool cold,
                   bool row_scale) {
  using namespace dnnl;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  const memory::dim M = static_cast<memory::dim>(m), K = static_cast<memory::dim>(k),
                    N = static_cast<memory::dim>(n);
  const dt in = bf16 ? dt::bf16 : dt::s8;
  const memory::desc a_md({M, K}, in, tag::ab), b_any({K, N}, in, tag::any), b_plain({K, N}, in, tag::ab),
      c_md({M, N}, dt::f32, tag::ab);
  primitive_attr attr;
  const auto s2 = gaussian(n, 9), s1 = gaussian(m, 8);
  if (!bf16) attr.set_output_scales(1 << 1, s2);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_any, c_md), attr, engine());
  std::vector<std::uint8_t> abuf(m * k * (bf16 ? 2 : 1)), bbuf(k * n * (bf16 ? 2 : 1));
  {
    std::mt19937 rng(10);
    for (auto& v : abuf)
      v = static_cast<std::uint8_t>(bf16 ? (rng() % 64) : rng());  // bf16: small finite values
    for (auto& v : bbuf) v = static_cast<std::uint8_t>(bf16 ? (rng() % 64) : rng());
  }
  memory am(a_md, engine(), abuf.data()), bplain(b_plain, engine(), bbuf.data()),
      bm(pd.weights_desc(), engine()), cm(c_md, engine());
  stream st(engine());
  reorder(bplain, bm).execute(st, bplain, bm);
  st.wait();
  dnnl::matmul prim(pd);
  const std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
  auto* const y = static_cast<float*>(cm.get_data_handle());
  prim.execute(st, args);  // untimed, as the reorder peers: the output's first touch
  st.wait();
  for (auto _ : s) {
    if (cold) {
      s.PauseTiming();
      evict_caches();
      s.ResumeTiming();
    }
    prim.execute(st, args);
    st.wait();
    if (row_scale)
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) y[i * n + j] *= s1[i];
    benchmark::DoNotOptimize(y);
  }
  s.SetLabel(pd.impl_info_str());
  set_ops(s, m, k, n);
}

template <class T>
std::vector<T> random_codes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<T> v(n);
  for (auto& c : v) do
      c = T::from_bits(static_cast<typename T::storage>(rng() & T::mask));
    while (!std::isfinite(static_cast<float>(c)));
  return v;
}

/// fp8 G-B (x1 per 1x128 group, x2 per 128x128 block), the approx (BF16) path.
void matmul_fp8_gb_lowbit(benchmark::State& s) {
  const std::size_t m = 128, k = 4096, n = 4096, gs = 128;
  const auto a = random_codes<float8_e4m3fn>(m * k, 11), b = random_codes<float8_e4m3fn>(k * n, 12);
  const auto s1 = gaussian(m * (k / gs), 13), s2 = gaussian((k / gs) * (n / gs), 14);
  const packed_weights<float8_e4m3fn> w(b, k, n);  // packed once, outside the timing (as oneDNN's)
  std::vector<float> y(m * n);
  // once untimed: the first approx call builds the packed weights' bf16 panels (packed_weights::bf16,
  // kept for later calls), as an engine's first call does; a short run averaged it into the timed
  // loop (MXFP4, 2 threads: 190-200 ms at one iteration against 13 ms)
  matmul_gb<float, float8_e4m3fn, float8_e4m3fn>(approx, a, w, m, gs, s1, s2, {}, y);
  for (auto _ : s) {
    matmul_gb<float, float8_e4m3fn, float8_e4m3fn>(approx, a, w, m, gs, s1, s2, {}, y);
    benchmark::DoNotOptimize(y.data());
  }
  set_ops(s, m, k, n);
}

template <class T>
void matmul_mx_lowbit(benchmark::State& s) {
  const std::size_t m = 128, k = 4096, n = 4096;
  const auto a = random_codes<T>(m * k, 15), b = random_codes<T>(k * n, 16);
  std::vector<float8_e8m0fnu> e1(m * k / 32, float8_e8m0fnu::from_bits(127)),
      e2(k / 32 * n, float8_e8m0fnu::from_bits(120));
  const packed_weights<T> w(b, k, n);
  std::vector<float> y(m * n);
  // once untimed, as above
  matmul_mx<float, T, T>(approx, a, w, m, e1, e2, {}, y);
  for (auto _ : s) {
    matmul_mx<float, T, T>(approx, a, w, m, e1, e2, {}, y);
    benchmark::DoNotOptimize(y.data());
  }
  set_ops(s, m, k, n);
}
/// The exact MX matmul (no approx tag) on pre-packed weights: e2m1 / e2m3 codes run on the
/// integer kernels (issue 11). Scales around 2^0 as quantized activations and weights have.
template <class T>
void matmul_mx_exact_lowbit(benchmark::State& s) {
  const std::size_t m = 128, k = 4096, n = 4096;
  const auto a = random_codes<T>(m * k, 15), b = random_codes<T>(k * n, 16);
  std::mt19937 rng(17);
  std::vector<float8_e8m0fnu> e1(m * k / 32), e2(k / 32 * n);
  for (auto& e : e1) e = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(120 + rng() % 12));
  for (auto& e : e2) e = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(120 + rng() % 12));
  const packed_weights<T> w(b, k, n);
  std::vector<float> y(m * n);
  for (auto _ : s) {
    matmul_mx<float, T, T>(a, w, m, e1, e2, {}, y);
    benchmark::DoNotOptimize(y.data());
  }
  s.SetLabel(backend_name());
  set_ops(s, m, k, n);
  set_weight_bytes(s, w.memory_bytes(), k * n / (std::is_same_v<T, float4_e2m1fn> ? 2 : 1) + e2.size());
}

/// Codes as block quantization leaves them: gaussian values with the block's amax (about 3 sigma)
/// at the format's largest value, rounded to nearest even and saturated.
template <class T>
std::vector<T> quantized_codes(std::size_t n, unsigned seed) {
  const float top = static_cast<float>(std::numeric_limits<T>::max()) / 3.0f;
  std::vector<T> v(n);
  const auto g = gaussian(n, seed);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = T(g[i] * top, {rounding::rint, overflow::saturate, nan_policy::keep});
  return v;
}

/// The exact (reference-bit) matmuls of issue 11's table on 128 x 4096 x 4096: the fp8 / HiFloat8
/// / e5m2 block modes (double sums, float_sums.hpp), MXFP8, T-CG and int4 weight-only (bf16 x,
/// group 128). Data: quantized_codes; uniform: every finite bit pattern with equal chance (e5m2
/// blocks then span more than a double holds and take the fixed-point sum: the worst case).
template <class T>
void matmul_blocked_exact(benchmark::State& s, bool bb, bool uniform = false) {
  const std::size_t m = 128, k = 4096, n = 4096, gs = 128;
  const auto a = uniform ? random_codes<T>(m * k, 11) : quantized_codes<T>(m * k, 11),
             b = uniform ? random_codes<T>(k * n, 12) : quantized_codes<T>(k * n, 12);
  const auto s1 = gaussian((bb ? m / gs : m) * (k / gs), 13), s2 = gaussian((k / gs) * (n / gs), 14);
  std::vector<float> y(m * n);
  for (auto _ : s) {
    if (bb)
      matmul_bb<float, T, T>(a, b, {m, k, n}, gs, s1, s2, {}, y);
    else
      matmul_gb<float, T, T>(a, b, {m, k, n}, gs, s1, s2, {}, y);
    benchmark::DoNotOptimize(y.data());
  }
  set_ops(s, m, k, n);
}
void matmul_fp8_gb_exact(benchmark::State& s) {
  matmul_blocked_exact<float8_e4m3fn>(s, false);
}
void matmul_fp8_bb_exact(benchmark::State& s) {
  matmul_blocked_exact<float8_e4m3fn>(s, true);
}
void matmul_e5m2_gb_exact(benchmark::State& s) {
  matmul_blocked_exact<float8_e5m2>(s, false);
}
void matmul_e5m2_gb_exact_uniform(benchmark::State& s) {
  matmul_blocked_exact<float8_e5m2>(s, false, true);
}
void matmul_hif8_gb_exact(benchmark::State& s) {
  matmul_blocked_exact<hifloat8>(s, false);
}
void matmul_tcg_exact(benchmark::State& s) {
  const std::size_t m = 128, k = 4096, n = 4096;
  const auto a = quantized_codes<float8_e4m3fn>(m * k, 11);
  const auto b = random_codes<float4_e2m1fn>(k * n, 12);
  std::vector<bfloat16> gsc(k / 32 * n);  // group scales of weights: about a thousand distinct values
  const auto g = gaussian(gsc.size(), 13);
  for (std::size_t i = 0; i < gsc.size(); ++i) gsc[i] = bfloat16(0.001f + 0.01f * std::fabs(g[i]));
  std::vector<std::uint64_t> ys(n, fixpipe::pack(0.01f));
  std::vector<float> y(m * n);
  for (auto _ : s) {
    matmul_tcg<float, bfloat16>(a, b, {m, k, n}, gsc, ys, y);
    benchmark::DoNotOptimize(y.data());
  }
  set_ops(s, m, k, n);
}
void matmul_int4_weight_only_exact(benchmark::State& s) {
  const std::size_t m = 128, k = 4096, n = 4096;
  std::mt19937 rng(17);
  std::vector<int4> w(k * n);
  for (auto& v : w) v = int4::from_bits(static_cast<std::uint8_t>(rng() % 16));
  std::vector<bfloat16> x(m * k);
  for (auto& v : x) v = bfloat16(static_cast<float>(static_cast<int>(rng() % 200) - 100) / 50.0f);
  const auto sc = gaussian((k / 128) * n, 18);
  const packed_weights<int4> pw(w, k, n);
  std::vector<float> y(m * n);
  for (auto _ : s) {
    matmul_weight_only<float, bfloat16, int4>(x, pw, m, {granularity::group(128), sc}, {}, y);
    benchmark::DoNotOptimize(y.data());
  }
  s.SetLabel(backend_name());
  set_ops(s, m, k, n);
  set_weight_bytes(s, pw.memory_bytes(), k * n / 2 + sc.size() * 4);
}

void matmul_mxfp8_lowbit(benchmark::State& s) {
  matmul_mx_lowbit<float8_e4m3fn>(s);
}
void matmul_mxfp4_lowbit(benchmark::State& s) {
  matmul_mx_lowbit<float4_e2m1fn>(s);
}

/// int4 weight-only GEMV (bf16 x, per-group-128 scales), weights evicted from the caches before
/// every iteration; the approx path (fp32 accumulation) on pre-packed weights.
void gemv_int4_weight_only_lowbit(benchmark::State& s) {
  const std::size_t k = 4096, n = 4096;
  std::mt19937 rng(17);
  std::vector<int4> w(k * n);
  for (auto& v : w) v = int4::from_bits(static_cast<std::uint8_t>(rng() % 16));
  std::vector<bfloat16> x(k);
  for (auto& v : x) v = bfloat16(static_cast<float>(static_cast<int>(rng() % 200) - 100) / 50.0f);
  const auto sc = gaussian((k / 128) * n, 18);
  const packed_weights<int4> pw(w, k, n);
  std::vector<float> y(n);
  // once untimed: the first call lays the codes out column by column (packed_weights::columns)
  matmul_weight_only<float, bfloat16, int4>(approx, x, pw, 1, {granularity::group(128), sc}, {}, y);
  for (auto _ : s) {
    s.PauseTiming();
    evict_caches();
    s.ResumeTiming();
    matmul_weight_only<float, bfloat16, int4>(approx, x, pw, 1, {granularity::group(128), sc}, {}, y);
    benchmark::DoNotOptimize(y.data());
  }
  set_weight_bytes(s, pw.memory_bytes(), k * n / 2 + sc.size() * 4);
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * k * n / 2));  // weight bytes
  set_ops(s, 1, k, n);
}

}  // namespace

BENCHMARK(quantize_int8_token_lowbit)
    ->Name("quantize/int8/token/4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(quantize_int8_token_onednn)
    ->Name("quantize/int8/token/4096x4096/onednn")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(quantize_int8_token_bf16_lowbit)
    ->Name("quantize/int8/token/4096x4096-bf16/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(quantize_e4m3_block_lowbit)
    ->Name("quantize/fp8_e4m3fn/block128/4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(quantize_int8_group_lowbit)
    ->Name("quantize/int8/group128/4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(quantize_mxfp4_lowbit)->Name("quantize/mxfp4/4096x4096/lowbit")->Unit(benchmark::kMillisecond);
BENCHMARK(quantize_mxfp8_lowbit)->Name("quantize/mxfp8/4096x4096/lowbit")->Unit(benchmark::kMillisecond);
BENCHMARK(quantize_int4_group_packed_lowbit)
    ->Name("quantize/int4/group128-packed/4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(quantize_int8_token_variant_lowbit, asym, true)
    ->Name("quantize/int8/token-asym/4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(quantize_int8_token_variant_lowbit, smooth, false)
    ->Name("quantize/int8/token-smooth/4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(copy_memcpy)->Name("copy/4096x4096-fp32/memcpy")->Unit(benchmark::kMillisecond);
BENCHMARK(dequantize_e4m3_block_lowbit)
    ->Name("dequantize/fp8_e4m3fn/block128/4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(dequantize_mxfp4_lowbit)->Name("dequantize/mxfp4/4096x4096/lowbit")->Unit(benchmark::kMillisecond);
BENCHMARK(dequantize_int8_channel_lowbit)
    ->Name("dequantize/int8/channel/4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(dequantize_int8_channel_onednn)
    ->Name("dequantize/int8/channel/4096x4096/onednn")
    ->Unit(benchmark::kMillisecond);

#define LOWBIT_KC(M)                                                        \
  BENCHMARK_CAPTURE(matmul_int8_kc_f32, m##M, M, false)                     \
      ->Name("matmul/int8/K-C/" #M "x4096x4096/lowbit")                     \
      ->Unit(benchmark::kMillisecond);                                      \
  BENCHMARK_CAPTURE(matmul_onednn, m##M, M, 4096, 4096, false, false, true) \
      ->Name("matmul/int8/K-C/" #M "x4096x4096/onednn")                     \
      ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(matmul_onednn, m1, 1, 4096, 4096, false, false,
                  true)  // lowbit's M = 1: the engine rows below
    ->Name("matmul/int8/K-C/1x4096x4096/onednn")
    ->Unit(benchmark::kMillisecond);
LOWBIT_KC(16)
LOWBIT_KC(128)
LOWBIT_KC(1024)
BENCHMARK_CAPTURE(matmul_int8_kc_bf16, bf16out, 128, false)
    ->Name("matmul/int8/K-C/128x4096x4096-bf16out/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(matmul_int8_mode_lowbit, tc, 0)
    ->Name("matmul/int8/T-C/128x4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(matmul_int8_mode_lowbit, requant, 1)
    ->Name("matmul/int8/T-C-requant/128x4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(matmul_int8_mode_lowbit, gb, 2)
    ->Name("matmul/int8/G-B/128x4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(matmul_int8_mode_lowbit, kg, 3)
    ->Name("matmul/int8/K-G/128x4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);

BENCHMARK(matmul_fp8_gb_lowbit)->Name("matmul/fp8/G-B/128x4096x4096/lowbit")->Unit(benchmark::kMillisecond);
BENCHMARK(matmul_mxfp8_lowbit)->Name("matmul/mxfp8/MX/128x4096x4096/lowbit")->Unit(benchmark::kMillisecond);
BENCHMARK(matmul_mxfp4_lowbit)->Name("matmul/mxfp4/MX/128x4096x4096/lowbit")->Unit(benchmark::kMillisecond);
BENCHMARK(matmul_mx_exact_lowbit<float4_e2m1fn>)
    ->Name("matmul/mxfp4/MX/128x4096x4096/lowbit-exact")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(matmul_mx_exact_lowbit<float6_e2m3fn>)
    ->Name("matmul/mxfp6_e2m3/MX/128x4096x4096/lowbit-exact")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(matmul_fp8_gb_exact)
    ->Name("matmul/fp8/G-B/128x4096x4096/lowbit-exact")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(matmul_fp8_bb_exact)
    ->Name("matmul/fp8/B-B/128x4096x4096/lowbit-exact")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(matmul_mx_exact_lowbit<float8_e4m3fn>)
    ->Name("matmul/mxfp8/MX/128x4096x4096/lowbit-exact")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(matmul_tcg_exact)
    ->Name("matmul/fp8xfp4/T-CG/128x4096x4096/lowbit-exact")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(matmul_e5m2_gb_exact)
    ->Name("matmul/fp8_e5m2/G-B/128x4096x4096/lowbit-exact")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(matmul_hif8_gb_exact)
    ->Name("matmul/hifloat8/G-B/128x4096x4096/lowbit-exact")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(matmul_e5m2_gb_exact_uniform)
    ->Name("matmul/fp8_e5m2/G-B/128x4096x4096/lowbit-exact-uniform-codes")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(matmul_int4_weight_only_exact)
    ->Name("matmul/int4/weight-only/128x4096x4096/lowbit-exact")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(matmul_onednn, bf16, 128, 4096, 4096, true, false, false)
    ->Name("matmul/bf16/128x4096x4096/onednn")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(gemv_int4_weight_only_lowbit)
    ->Name("gemv/int4/weight-only/1x4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(matmul_onednn, gemv, 1, 4096, 4096, false, true, false)
    ->Name("gemv/int8/1x4096x4096/onednn")
    ->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(quantize_token_engine, m1, 1, false)->Name("quantize/int8/token/1x4096/lowbit");
BENCHMARK_CAPTURE(quantize_token_engine, m1s, 1, true)->Name("quantize/int8/token/1x4096/lowbit-serial");
BENCHMARK_CAPTURE(quantize_token_engine, m16, 16, false)->Name("quantize/int8/token/16x4096/lowbit");
BENCHMARK_CAPTURE(quantize_token_engine, m16s, 16, true)->Name("quantize/int8/token/16x4096/lowbit-serial");
BENCHMARK_CAPTURE(matmul_kc_engine, pool, false)
    ->Name("matmul/int8/K-C/1x4096x4096/lowbit")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(matmul_kc_engine, serial, true)
    ->Name("matmul/int8/K-C/1x4096x4096/lowbit-serial")
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

// Execution contexts (exec.hpp, issue 12): results identical for every thread count and pool, no
// heap allocation per call in steady state (counted by a replaced global operator new), the
// caller's workspace used and checked, small calls never forked.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "../../examples/engine/count_new.hpp"
#include "../../examples/engine/thread_pool.hpp"

namespace {

using namespace lowbit;

/// Allocations made by f() after one warm-up call (which may grow the scratch buffers).
template <class F>
long steady_allocs(F&& f) {
  f();
  const long before = engine::allocations.load();
  for (int i = 0; i < 3; ++i) f();
  return engine::allocations.load() - before;
}

/// Fast paths make no allocation in steady state; the reference (scalar backend, or a case
/// without a kernel on this backend) may. On avx512 every case here has its kernel.
template <class F>
void expect_no_alloc(F&& f, const char* what) {
  reset_dispatch_counts();
  f();
  const bool fast = dispatch_counts().reference == 0;
  const long n = steady_allocs(f);
  if (fast)
    EXPECT_EQ(n, 0) << what;
  else
    EXPECT_NE(active_backend(), backend::avx512) << what << " ran the reference on avx512";
}

std::vector<float> randoms(std::size_t n, unsigned seed, float lo = -4.0f, float hi = 4.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

template <class T>
std::vector<T> codes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<T> v(n);
  for (auto& x : v) {
    if constexpr (std::is_same_v<T, int4>)
      x = int4::from_bits(static_cast<std::uint8_t>(rng() & 0xf));
    else
      x = static_cast<T>(static_cast<int>(rng() % 255) - 127);
  }
  return v;
}

/// The contexts every case runs under: serial, the pool with 2 and 3 threads, the default
/// (OpenMP in this build when it has it), and the pool with a caller workspace.
struct contexts {
  engine::thread_pool two{2}, three{3};
  std::vector<std::byte> ws = std::vector<std::byte>(std::size_t{64} << 20);
  std::vector<exec_context> all() {
    return {exec_context{}, two.context(), three.context(), default_exec(), three.context(ws)};
  }
};

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

TEST(Exec, TaskCountsAndThresholds) {
  engine::thread_pool pool(4);
  const exec_context c = pool.context();
  // below min_task_elements of work: one task, the caller's thread
  EXPECT_EQ(detail::task_count(c, 16, 4096, detail::min_task_elements), 1u);
  EXPECT_EQ(detail::task_count(c, 1, 1u << 30, detail::min_task_elements), 1u);
  EXPECT_EQ(detail::task_count(c, 4096, 4096, detail::min_task_elements), 4u);
  EXPECT_EQ(detail::task_count(exec_context{}, 4096, 4096, detail::min_task_elements), 1u);
  // an M = 1 GEMV of 4096 x 4096 is cut in 2 (8M MACs per task at least); M = 16 in 4
  EXPECT_EQ(detail::task_count(c, 64, 1 * 4096 * 64, detail::min_task_macs), 2u);
  EXPECT_EQ(detail::task_count(c, 64, 16 * 4096 * 64, detail::min_task_macs), 4u);
  // ranges are contiguous and cover every item once
  for (std::size_t tasks : {1u, 2u, 3u, 7u})
    for (std::size_t items : {0u, 1u, 5u, 64u, 100u}) {
      std::size_t next = 0;
      for (std::size_t t = 0; t < tasks; ++t) {
        const auto [b, e] = detail::task_range(t, tasks, items);
        EXPECT_EQ(b, next);
        next = e;
      }
      EXPECT_EQ(next, items);
    }
}

// A parallel_for that counts its calls and runs the iterations serially.
struct counting {
  std::atomic<int> calls{0};
  std::atomic<std::size_t> tasks{0};
  static void run(void* self, std::size_t b, std::size_t e, lowbit::task_ref body) {
    auto* c = static_cast<counting*>(self);
    c->calls.fetch_add(1);
    c->tasks.fetch_add(e - b);
    for (std::size_t i = b; i < e; ++i) body(i);
  }
};

TEST(Exec, BigCallsForkSmallCallsDoNot) {
  if (active_backend() == backend::scalar) GTEST_SKIP() << "the reference runs serially";
  counting c;
  const exec_context ctx{&counting::run, &c, 3, {}};
  const auto x = randoms(96 * 4096, 20);
  quantize<std::int8_t, float>(x, {96, 4096}, {.gran = granularity::token()});  // grow nothing below
  quantized<std::int8_t> q;
  q.values.resize(x.size());
  q.scales.resize(96);
  quantize_into<std::int8_t, float>(ctx, x, {96, 4096}, {.gran = granularity::token()}, q.span());
  EXPECT_EQ(c.calls.load(), 1);
  EXPECT_EQ(c.tasks.load(), 3u);
  q.scales.resize(1);
  q.values.resize(4096);
  quantize_into<std::int8_t, float>(ctx, std::span<const float>(x).first(4096), {1, 4096},
                                    {.gran = granularity::token()}, q.span());  // decode size: 4096 elements
  EXPECT_EQ(c.calls.load(), 1);
  const auto a = codes<std::int8_t>(4096, 21), b = codes<std::int8_t>(4096 * 256, 22);
  const packed_weights<std::int8_t> w(b, 4096, 256);
  const auto s1 = randoms(1, 23, 0.001f, 0.01f), s2 = randoms(256, 24, 0.001f, 0.01f);
  std::vector<float> y(256);
  matmul_kc<float, std::int8_t, std::int8_t>(ctx, a, w, 1, s1, s2, {}, y);  // 4M MACs: one task
  EXPECT_EQ(c.calls.load(), 1);
}

TEST(Exec, TheCounterSeesAllocations) {
  // The span K-C packs its weights on every call: the counter must see it (else the zero
  // counts below would prove nothing).
  const auto a = codes<std::int8_t>(8 * 256, 25), b = codes<std::int8_t>(256 * 64, 26);
  const auto s1 = randoms(8, 27, 0.001f, 0.01f), s2 = randoms(64, 28, 0.001f, 0.01f);
  std::vector<float> y(8 * 64);
  const long n = steady_allocs([&] {
    matmul_kc<float, std::int8_t, std::int8_t>(a, b, {8, 256, 64}, s1, s2, {}, y);
  });
  EXPECT_GT(n, 0);
}

TEST(Exec, PoolRunsEveryIterationOnce) {
  engine::thread_pool pool(3);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::atomic<int>> hits(37);
    const auto body = [&](std::size_t i) { hits[i].fetch_add(1); };
    pool.run(0, hits.size(), lowbit::task_ref(body));
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
}

TEST(Exec, QuantizeSameBitsEveryContextNoAllocation) {
  contexts cs;
  const std::size_t m = 96, k = 4096;  // 384K elements: several tasks
  const auto x = randoms(m * k, 1);
  std::vector<bfloat16> xb(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xb[i] = bfloat16(x[i]);
  struct gcase {
    granularity g;
    operand side;
  };
  const gcase grans[] = {{granularity::token(), operand::left},
                         {granularity::group(128), operand::left},
                         {granularity::channel(), operand::right},
                         {granularity::block(128, 128), operand::right},
                         {granularity::tensor(), operand::left}};
  const auto run = [&](auto tag, const auto& input) {
    using T = decltype(tag);
    using In = typename std::remove_cvref_t<decltype(input)>::value_type;
    for (const auto& gc : grans) {
      const quantize_params p{.gran = gc.g, .side = gc.side};
      const auto ref = quantize<T, In>(std::span<const In>(input), {m, k}, p);
      for (const auto& ctx : cs.all()) {
        quantized<T> q;
        q.values.resize(m * k);
        q.scales.resize(ref.scales.size());
        const auto call = [&] { quantize_into<T, In>(ctx, std::span<const In>(input), {m, k}, p, q.span()); };
        expect_no_alloc(call, "quantize");
        EXPECT_TRUE(same_bits(q.values, ref.values));
        EXPECT_TRUE(same_bits(q.scales, ref.scales));
      }
    }
  };
  run(std::int8_t{}, x);
  run(int4{}, x);
  run(float8_e4m3fn{}, x);
  run(std::int8_t{}, xb);
}

TEST(Exec, QuantizeMxAndDequantizeNoAllocation) {
  contexts cs;
  const std::size_t m = 96, k = 4096;
  const auto x = randoms(m * k, 2);
  const auto ref = quantize_mx<float4_e2m1fn, float>(x, {m, k}, {});
  const auto q8 =
      quantize<std::int8_t, float>(x, {m, k}, {.gran = granularity::channel(), .side = operand::right});
  const auto d_ref = dequantize(q8);
  for (const auto& ctx : cs.all()) {
    quantized<float4_e2m1fn, float8_e8m0fnu> q;
    q.values.resize(m * k);
    q.scales.resize(ref.scales.size());
    expect_no_alloc(
        [&] {
          quantize_mx_into<float4_e2m1fn, float>(ctx, x, {m, k}, {}, q.span());
        },
        "MX quantize");
    EXPECT_TRUE(same_bits(q.values, ref.values));
    EXPECT_TRUE(same_bits(q.scales, ref.scales));
    std::vector<float> out(m * k);
    expect_no_alloc([&] { dequantize_into<std::int8_t, float>(ctx, q8.values, q8.map, q8.scales, {}, out); },
                    "dequantize");
    EXPECT_TRUE(same_bits(out, d_ref));
  }
}

TEST(Exec, PackedMatmulsSameBitsEveryContextNoAllocation) {
  contexts cs;
  const std::size_t m = 40, k = 1024, n = 1000, gs = 128;  // 40M MACs: several tasks; n has a tail panel
  const auto a = codes<std::int8_t>(m * k, 3);
  const auto b = codes<std::int8_t>(k * n, 4);
  const auto b4 = codes<int4>(k * n, 5);
  const auto s1 = randoms(m, 6, 0.001f, 0.01f), s2 = randoms(n, 7, 0.001f, 0.01f);
  const auto g1 = randoms(m * (k / gs), 8, 0.001f, 0.01f), g2 = randoms((k / gs) * ((n + gs - 1) / gs), 9);
  const auto kg2 = randoms((k / gs) * n, 10, 0.001f, 0.01f);
  const auto bias = randoms(n, 11);
  std::vector<std::uint64_t> u64(n);
  for (std::size_t j = 0; j < n; ++j) u64[j] = fixpipe::pack(s2[j] * 0.05f, float(int(j % 7) - 3));
  const packed_weights<std::int8_t> w(b, k, n, false, gs);
  const packed_weights<int4> w4(b4, k, n, false, gs);
  const matmul_dims d{m, k, n};
  // the references: the span entry points on the scalar backend
  const backend was = active_backend();
  set_backend(backend::scalar);
  std::vector<float> kc(m * n), gb(m * n), bb(m * n), kg(m * n), tc(m * n);
  std::vector<std::int8_t> rq(m * n);
  std::vector<std::int32_t> i32(m * n);
  matmul_kc<float, std::int8_t, std::int8_t>(a, b, d, s1, s2, {.f32 = bias}, kc);
  matmul_gb<float, std::int8_t, std::int8_t>(a, b, d, gs, g1, g2, bias, gb);
  const auto bbs1 = randoms(((m + gs - 1) / gs) * (k / gs), 12);
  matmul_bb<float, std::int8_t, std::int8_t>(a, b, d, gs, bbs1, g2, {}, bb);
  matmul_kg<float, std::int8_t, int4>(a, b4, d, gs, s1, kg2, bias, kg);
  matmul_tc<float, std::int8_t, std::int8_t>(a, b, d, s2, std::nullopt, {}, tc);
  matmul_tc<std::int8_t, std::int8_t, std::int8_t>(a, b, d, std::span<const std::uint64_t>(u64), {}, rq);
  matmul_int32<std::int8_t, std::int8_t>(a, b, d, {}, i32);
  std::vector<bfloat16> xb(m * k);  // weight-only's x: the int8 codes / 8, exact in bf16
  for (std::size_t i = 0; i < xb.size(); ++i) xb[i] = bfloat16(float(a[i]) / 8.0f);
  const weight_scales wos{.gran = granularity::group(gs), .scale = kg2};
  std::vector<float> wo(m * n);
  matmul_weight_only<float, bfloat16, int4>(xb, b4, d, wos, bias, wo);
  set_backend(was);
  for (const auto& ctx : cs.all()) {
    std::vector<float> y(m * n);
    std::vector<std::int8_t> y8(m * n);
    std::vector<std::int32_t> y32(m * n);
    expect_no_alloc(
        [&] { matmul_kc<float, std::int8_t, std::int8_t>(ctx, a, w, m, s1, s2, {.f32 = bias}, y); }, "K-C");
    EXPECT_TRUE(same_bits(y, kc)) << "K-C threads " << ctx.threads;
    expect_no_alloc([&] { matmul_gb<float, std::int8_t, std::int8_t>(ctx, a, w, m, gs, g1, g2, bias, y); },
                    "G-B");
    EXPECT_TRUE(same_bits(y, gb)) << "G-B";
    expect_no_alloc([&] { matmul_bb<float, std::int8_t, std::int8_t>(ctx, a, w, m, gs, bbs1, g2, {}, y); },
                    "B-B");
    EXPECT_TRUE(same_bits(y, bb)) << "B-B";
    expect_no_alloc([&] { matmul_kg<float, std::int8_t, int4>(ctx, a, w4, m, gs, s1, kg2, bias, y); }, "K-G");
    EXPECT_TRUE(same_bits(y, kg)) << "K-G";
    expect_no_alloc(
        [&] { matmul_tc<float, std::int8_t, std::int8_t>(ctx, a, w, m, s2, std::nullopt, {}, y); }, "T-C");
    EXPECT_TRUE(same_bits(y, tc)) << "T-C";
    expect_no_alloc(
        [&] {
          matmul_tc<std::int8_t, std::int8_t, std::int8_t>(ctx, a, w, m, std::span<const std::uint64_t>(u64),
                                                           {}, y8);
        },
        "T-C requant");
    EXPECT_TRUE(same_bits(y8, rq)) << "T-C requant";
    expect_no_alloc([&] { matmul_int32<std::int8_t, std::int8_t>(ctx, a, w, m, {}, y32); }, "int32");
    EXPECT_TRUE(same_bits(y32, i32)) << "int32";
    expect_no_alloc([&] { matmul_weight_only<float, bfloat16, int4>(ctx, xb, w4, m, wos, bias, y); },
                    "weight-only");
    EXPECT_TRUE(same_bits(y, wo)) << "weight-only";
  }
}

// The approx int4 column-by-column kernels (m <= 4): each 64-column panel picks its kernel from
// its own scales (panel 3 holds a subnormal scale: the fp32 FMA kernel; the others vdpbf16ps),
// so every context gives the same bits; no allocation once the column copy is built. Only where
// the kernels run (elsewhere approx is the reference, which this size makes slow under qemu).
TEST(Exec, ApproxColumnsSameBitsEveryContextNoAllocation) {
  if (!detail::use_avx512_bf16()) GTEST_SKIP() << "the approx weight-only kernels need AVX-512 BF16";
  contexts cs;
  const std::size_t m = 4, k = 8192, n = 2000, gs = 128;  // 32 panels (a tail), 2 tasks
  const auto w = codes<int4>(k * n, 21);
  auto s = randoms((k / gs) * n, 22, 0.001f, 0.01f);
  s[5 * n + 3 * 64 + 7] = 1e-39f;
  const auto xf = randoms(m * k, 23);
  std::vector<bfloat16> x(xf.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = bfloat16(xf[i]);
  const packed_weights<int4> pw(w, k, n);
  const weight_scales ws{granularity::group(gs), s};
  std::vector<float> first(m * n), y(m * n);
  matmul_weight_only<float, bfloat16, int4>(approx, x, pw, m, ws, {}, first);
  for (const auto& ctx : cs.all()) {
    expect_no_alloc([&] { matmul_weight_only<float, bfloat16, int4>(ctx, approx, x, pw, m, ws, {}, y); },
                    "approx weight-only");
    EXPECT_TRUE(same_bits(y, first)) << "threads " << ctx.threads;
  }
}

TEST(Exec, WorkspaceIsUsedAndChecked) {
  engine::thread_pool pool(2);
  const std::size_t m = 64, k = 2048;
  const auto x = randoms(m * k, 13);
  const quantize_params p{.gran = granularity::token()};
  const auto ref = quantize<std::int8_t, float>(x, {m, k}, p);
  quantized<std::int8_t> q;
  q.values.resize(m * k);
  q.scales.resize(m);
  const std::size_t need = quantize_workspace_size<float>({m, k}, p, pool.context());
  std::vector<std::byte> ws(need);
  quantize_into<std::int8_t, float>(pool.context(ws), x, {m, k}, p, q.span());
  EXPECT_TRUE(same_bits(q.values, ref.values));
  std::vector<std::byte> small(need - 1);
  if (active_backend() != backend::scalar) {  // the reference takes no workspace
    EXPECT_THROW((quantize_into<std::int8_t, float>(pool.context(small), x, {m, k}, p, q.span())),
                 std::length_error);
  }
  // the matmul query covers every integer mode
  const std::size_t n = 300;
  const auto a = codes<std::int8_t>(m * k, 14), b = codes<std::int8_t>(k * n, 15);
  const packed_weights<std::int8_t> w(b, k, n);
  const auto s1 = randoms(m, 16, 0.001f, 0.01f), s2 = randoms(n, 17, 0.001f, 0.01f);
  std::vector<std::byte> mws(matmul_workspace_size(m, k, n));
  std::vector<float> y(m * n), yr(m * n);
  matmul_kc<float, std::int8_t, std::int8_t>(pool.context(mws), a, w, m, s1, s2, {}, y);
  matmul_kc<float, std::int8_t, std::int8_t>(a, b, {m, k, n}, s1, s2, {}, yr);
  EXPECT_TRUE(same_bits(y, yr));
}

TEST(Exec, DefaultContextCanBeSet) {
  engine::thread_pool pool(2);
  const exec_context before = default_exec();
  set_default_exec(pool.context());
  EXPECT_EQ(default_exec().pool, static_cast<void*>(&pool));
  EXPECT_EQ(default_exec().threads, 2u);
  std::vector<std::byte> ws(64);
  EXPECT_THROW(set_default_exec(pool.context(ws)), std::invalid_argument);
  set_default_exec(before);
  EXPECT_EQ(default_exec().parallel_for, before.parallel_for);
}

}  // namespace

namespace {

// Packed weights hold only their panels when a kernel has them (issue 12): int8 at about the
// stored bytes; the codes come back from the panels exactly, in either orientation, and the
// reference (no kernel: here the scalar backend chosen after packing) reads them.
TEST(PackedWeights, PanelsOnlyAndCodesRebuiltExactly) {
  const std::size_t k = 300, n = 130;
  const auto b = codes<std::int8_t>(k * n, 30);
  const auto b4 = codes<int4>(k * n, 31);
  for (bool tr : {false, true}) {
    const packed_weights<std::int8_t> w(b, k, n, tr);
    const packed_weights<int4> w4(b4, k, n, tr);
    const auto c = w.codes();
    ASSERT_EQ(c.size(), b.size());
    EXPECT_TRUE(std::equal(c.begin(), c.end(), b.begin()));
    const auto c4 = w4.codes();
    ASSERT_EQ(c4.size(), b4.size());
    for (std::size_t i = 0; i < b4.size(); ++i) ASSERT_EQ(c4[i].bits(), b4[i].bits()) << i;
  }
  {  // whole panels: the packed bytes are the stored bytes plus the column sums
    const auto b2 = codes<std::int8_t>(256 * 4096, 35);
    const packed_weights<std::int8_t> w2(b2, 256, 4096);
    if (w2.vnni()) {
      EXPECT_LE(double(w2.memory_bytes()), 1.1 * double(b2.size()));
    }
  }
  const std::size_t m = 5;
  const auto a = codes<std::int8_t>(m * k, 32);
  const auto s1 = randoms(m, 33, 0.001f, 0.01f), s2 = randoms(n, 34, 0.001f, 0.01f);
  const packed_weights<std::int8_t> w(b, k, n);
  std::vector<float> y(m * n), ref(m * n);
  const backend best = active_backend();
  set_backend(backend::scalar);
  matmul_kc<float, std::int8_t, std::int8_t>(a, w, m, s1, s2, {}, y);  // the reference on the panels
  matmul_kc<float, std::int8_t, std::int8_t>(a, b, {m, k, n}, s1, s2, {}, ref);
  set_backend(best);
  EXPECT_TRUE(same_bits(y, ref));
}

}  // namespace

namespace {

// 4-bit weights at their stored size (issue 12): the panels hold the codes two per byte. Built
// from the codes, from nibble bytes and from int32 words (both orientations) they are the same
// panels; the codes come back exactly; the matmul on them gives the reference's bits.
template <class T>
void four_bit_weights(unsigned seed) {
  const std::size_t k = 136, n = 72;  // k not a multiple of 8 quads, n a partial panel
  std::mt19937 rng(seed);
  std::vector<T> b(k * n);
  std::vector<std::uint8_t> raw(k * n);
  for (std::size_t i = 0; i < b.size(); ++i) {
    raw[i] = static_cast<std::uint8_t>(rng() & 0xf);
    b[i] = T::from_bits(raw[i]);
  }
  std::vector<std::uint8_t> bytes(k * n / 2);  // written by hand: element 2i in the low nibble
  std::vector<std::int32_t> words(k * n / 8);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    bytes[i / 2] = static_cast<std::uint8_t>(bytes[i / 2] | raw[i] << (4 * (i % 2)));
    words[i / 8] = static_cast<std::int32_t>(static_cast<std::uint32_t>(words[i / 8]) | std::uint32_t{raw[i]}
                                                                                            << (4 * (i % 8)));
  }
  for (bool tr : {false, true}) {
    const packed_weights<T> w(b, k, n, tr), wb(std::span<const std::uint8_t>(bytes), k, n, tr),
        ww(std::span<const std::int32_t>(words), k, n, tr);
    for (const auto* p : {&w, &wb, &ww}) {
      const auto c = p->codes();
      ASSERT_EQ(c.size(), b.size());
      for (std::size_t i = 0; i < b.size(); ++i) ASSERT_EQ(c[i].bits(), raw[i]) << i << " transposed " << tr;
      ASSERT_EQ(p->vnni().has_value(), w.vnni().has_value());
      if (p->vnni()) {
        EXPECT_TRUE(p->vnni()->nib);
        EXPECT_EQ(p->vnni()->data, w.vnni()->data);
        EXPECT_EQ(p->vnni()->colsum, w.vnni()->colsum);
      }
    }
  }
  EXPECT_THROW(packed_weights<T>(std::span<const std::uint8_t>(bytes.data(), bytes.size() - 1), k, n),
               std::invalid_argument);
  EXPECT_THROW(packed_weights<T>(std::span<const std::uint8_t>(bytes), k + 1, n - 1, true),  // odd k
               std::invalid_argument);
  EXPECT_THROW(packed_weights<T>(std::span<const std::int32_t>(words), 144, 68),  // 68 % 8 != 0
               std::invalid_argument);
  {  // whole panels: the stored bytes (half a byte per code), no column sums
    const std::size_t kk = 256, nn = 4096;
    std::vector<T> big(kk * nn);
    for (auto& v : big) v = T::from_bits(static_cast<std::uint8_t>(rng() & 0xf));
    const packed_weights<T> wbig(big, kk, nn, false, 32);
    if (wbig.vnni()) {
      EXPECT_LE(double(wbig.memory_bytes()), 1.1 * double(kk * nn / 2));
    }
  }
}

TEST(PackedWeights, FourBitCodesTwoPerByteFromEveryStorage) {
  four_bit_weights<int4>(40);
  four_bit_weights<float4_e2m1fn>(41);
  four_bit_weights<float4_e1m2fn>(42);
}

TEST(PackedWeights, Int4NibblePanelsGiveTheReferenceBits) {
  const std::size_t k = 264, n = 136, gs = 8;  // groups of 8: blocks of 2 quads
  const auto b = codes<int4>(k * n, 43);
  const auto s2 = randoms(k / gs * n, 44, 0.001f, 0.01f);
  for (std::size_t m : {1, 5, 7, 13}) {
    const auto a = codes<std::int8_t>(m * k, 45 + unsigned(m));
    const auto s1 = randoms(m, 46, 0.001f, 0.01f);
    for (bool tr : {false, true}) {
      std::vector<int4> bt(b.size());
      for (std::size_t kk = 0; kk < k; ++kk)
        for (std::size_t j = 0; j < n; ++j) bt[tr ? j * k + kk : kk * n + j] = b[kk * n + j];
      const packed_weights<int4> w(bt, k, n, tr, gs);
      std::vector<float> y(m * n), ref(m * n), yc(m * n), refc(m * n);
      std::vector<std::int32_t> yi(m * n), refi(m * n);
      matmul_kg<float, std::int8_t, int4>(a, w, m, gs, s1, s2, {}, y);
      matmul_kc<float, std::int8_t, int4>(a, w, m, s1, std::span<const float>(s2).first(n), {}, yc);
      matmul_int32<std::int8_t, int4>(a, w, m, {}, yi);
      const backend best = active_backend();
      set_backend(backend::scalar);
      matmul_kg<float, std::int8_t, int4>(a, bt, {m, k, n, tr}, gs, s1, s2, {}, ref);
      matmul_kc<float, std::int8_t, int4>(a, bt, {m, k, n, tr}, s1, std::span<const float>(s2).first(n), {},
                                          refc);
      matmul_int32<std::int8_t, int4>(a, bt, {m, k, n, tr}, {}, refi);
      set_backend(best);
      EXPECT_TRUE(same_bits(y, ref)) << m << " " << tr;
      EXPECT_TRUE(same_bits(yc, refc)) << m << " " << tr;
      EXPECT_EQ(yi, refi) << m << " " << tr;
    }
  }
}

// Quantize straight into storage (issue 12): the same codes and scales as quantize_into, packed
// as pack_nibbles / pack_int32 / mx_scales_to_cann pack them; no allocation on the fast path.
template <class T>
void quantize_stored(unsigned seed) {
  contexts cs;
  const std::size_t m = 24, k = 4096;
  const auto x = randoms(m * k, seed);
  const quantize_params p{.gran = granularity::group(32)};
  const auto ref = quantize<T, float>(x, {m, k}, p);
  std::vector<std::uint8_t> raw(ref.values.size()), bytes(raw.size() / 2);
  std::vector<std::int32_t> words(raw.size() / 8);
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = ref.values[i].bits();
  pack_nibbles(raw, bytes);
  pack_int32(raw, words);
  for (const auto& ctx : cs.all()) {
    std::vector<std::uint8_t> ob(bytes.size());
    std::vector<std::int32_t> ow(words.size());
    std::vector<float> sb(ref.scales.size()), sw(ref.scales.size());
    const auto run = [&] { quantize_into<T, float>(ctx, x, {m, k}, p, std::span(ob), sb); };
    if constexpr (std::is_same_v<T, int4>)
      expect_no_alloc(run, "packed quantize");  // fp4 outside MX runs the reference
    else
      run();
    const scale_map map = quantize_into<T, float>(ctx, x, {m, k}, p, std::span(ow), sw);
    EXPECT_EQ(map.size(), ref.map.size());
    EXPECT_EQ(ob, bytes);
    EXPECT_EQ(ow, words);
    EXPECT_TRUE(same_bits(sb, ref.scales));
    EXPECT_TRUE(same_bits(sw, ref.scales));
  }
  std::vector<std::uint8_t> odd(m * 7 / 2 + 1);
  std::vector<float> s(m);
  const auto odd_cols = [&] {
    quantize_into<T, float>(std::span(x).first(m * 7), {m, 7}, {.gran = granularity::token()}, std::span(odd),
                            s);
  };
  EXPECT_THROW(odd_cols(), std::invalid_argument);
}

TEST(QuantizeStorage, FourBitTwoPerByteAndInt32) {
  quantize_stored<int4>(50);
  quantize_stored<float4_e2m1fn>(51);
}

TEST(QuantizeStorage, MxCodesAndScaleBytesInEveryLayout) {
  contexts cs;
  const std::size_t m = 16, k = 4096 + 96;  // an odd number of blocks: the CANN pair is padded
  const auto x = randoms(m * k, 52);
  const auto ref4 = quantize_mx<float4_e2m1fn, float>(x, {m, k}, {});
  const auto ref8 = quantize_mx<float8_e4m3fn, float>(x, {m, k}, {});
  std::vector<std::uint8_t> raw4(ref4.values.size()), bytes4(raw4.size() / 2), codes8(ref8.values.size()),
      s4(ref4.scales.size()), s8(ref8.scales.size());
  for (std::size_t i = 0; i < raw4.size(); ++i) raw4[i] = ref4.values[i].bits();
  for (std::size_t i = 0; i < codes8.size(); ++i) codes8[i] = ref8.values[i].bits();
  for (std::size_t i = 0; i < s4.size(); ++i) s4[i] = ref4.scales[i].bits(), s8[i] = ref8.scales[i].bits();
  pack_nibbles(raw4, bytes4);
  const auto cann4 = mx_scales_to_cann(s4, operand::left, ref4.map.grid);
  EXPECT_EQ(cann4.size(), m * 2 * ((k / 32 + 1) / 2));
  const auto cann4_e8 =
      mx_scales_to_cann(std::span<const float8_e8m0fnu>(ref4.scales), operand::left, ref4.map.grid);
  ASSERT_EQ(cann4_e8.size(), cann4.size());
  for (std::size_t i = 0; i < cann4.size(); ++i) ASSERT_EQ(cann4_e8[i].bits(), cann4[i]);
  const auto back =
      mx_scales_from_cann(std::span<const float8_e8m0fnu>(cann4_e8), operand::left, ref4.map.grid);
  for (std::size_t i = 0; i < back.size(); ++i) ASSERT_EQ(back[i].bits(), s4[i]);
  for (const auto& ctx : cs.all()) {
    std::vector<std::uint8_t> c4(bytes4.size()), n4(s4.size()), p4(cann4.size()), c8(codes8.size()),
        n8(s8.size());
    expect_no_alloc(
        [&] {
          quantize_mx_into<float4_e2m1fn, float>(ctx, x, {m, k}, {}, std::span(c4), std::span(n4));
        },
        "MX quantize to storage");
    quantize_mx_into<float4_e2m1fn, float>(ctx, x, {m, k}, {}, std::span(c4), std::span(p4),
                                           mx_scale_layout::cann);
    quantize_mx_into<float8_e4m3fn, float>(ctx, x, {m, k}, {}, std::span(c8), std::span(n8));
    EXPECT_EQ(c4, bytes4);
    EXPECT_EQ(n4, s4);
    EXPECT_EQ(p4, cann4);
    EXPECT_EQ(c8, codes8);
    EXPECT_EQ(n8, s8);
  }
  std::vector<std::uint8_t> small(s4.size());
  std::vector<std::uint8_t> c4(bytes4.size());
  const auto short_pairs = [&] {
    quantize_mx_into<float4_e2m1fn, float>(x, {m, k}, {}, std::span(c4), std::span(small),
                                           mx_scale_layout::cann);
  };
  EXPECT_THROW(short_pairs(), std::invalid_argument);
}

}  // namespace

namespace {

/// s (rows x cols) stored (cols x rows).
template <class S>
std::vector<S> transpose(const std::vector<S>& s, std::size_t rows, std::size_t cols) {
  std::vector<S> t(s.size());
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) t[c * rows + r] = s[r * cols + c];
  return t;
}

// PyTorch-style (out, in) weights with (out, in/gs) scales (issue 12): packed with
// scale_order::n_major, every mode reading group / block / MX scales gives the bits of the
// mode's (in/gs, out) layout.
TEST(PackedWeights, ScalesInTheWeightsOrientation) {
  const std::size_t m = 7, k = 320, n = 136, gs = 64, ng = k / gs;
  const auto a8 = codes<std::int8_t>(m * k, 60);
  const auto w4 = codes<int4>(n * k, 61);  // (n, k)
  const auto w8 = codes<std::int8_t>(n * k, 62);
  const auto s1 = randoms(m, 63, 0.001f, 0.01f), s1g = randoms(m * ng, 64, 0.001f, 0.01f);
  const auto sg = randoms(ng * n, 65, 0.001f, 0.01f), sgt = transpose(sg, ng, n);
  const std::size_t nbn = (n + gs - 1) / gs;
  const auto sb = randoms(ng * nbn, 66, 0.001f, 0.01f), sbt = transpose(sb, ng, nbn);
  const auto bias = randoms(n, 67);
  const auto check = [&](auto&& run, const char* what) {
    std::vector<float> y0(m * n), y1(m * n);
    run(scale_order::k_major, y0);
    run(scale_order::n_major, y1);
    EXPECT_TRUE(same_bits(y0, y1)) << what;
    EXPECT_TRUE(std::any_of(y0.begin(), y0.end(), [](float v) { return v != 0.0f; })) << what;
  };
  check(
      [&](scale_order o, std::vector<float>& y) {
        const packed_weights<int4> w(w4, k, n, true, gs, o);
        matmul_kg<float, std::int8_t, int4>(a8, w, m, gs, s1, o == scale_order::n_major ? sgt : sg, bias, y);
      },
      "K-G int4");
  check(
      [&](scale_order o, std::vector<float>& y) {
        const packed_weights<std::int8_t> w(w8, k, n, true, gs, o);
        matmul_gb<float, std::int8_t, std::int8_t>(a8, w, m, gs, s1g, o == scale_order::n_major ? sbt : sb,
                                                   bias, y);
      },
      "G-B int8");
  std::vector<float> x(m * k);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(a8[i]) / 16.0f;
  for (const auto& off : {std::vector<float>{}, randoms(ng * n, 68, -2.0f, 2.0f)}) {
    const auto offt = off.empty() ? off : transpose(off, ng, n);
    check(
        [&](scale_order o, std::vector<float>& y) {
          const packed_weights<int4> w(w4, k, n, true, gs, o);
          const bool nm = o == scale_order::n_major;
          matmul_weight_only<float, float, int4>(
              x, w, m, {.gran = granularity::group(gs), .scale = nm ? sgt : sg, .offset = nm ? offt : off},
              bias, y);
        },
        off.empty() ? "weight-only (exact path)" : "weight-only with offset (reference)");
  }
  check(
      [&](scale_order o, std::vector<float>& y) {
        const packed_weights<int4> w(w4, k, n, true, gs, o);
        const bool nm = o == scale_order::n_major;
        matmul_weight_only<float, float, int4>(
            approx, x, w, m, {.gran = granularity::group(gs), .scale = nm ? sgt : sg}, bias, y);
      },
      "weight-only approx");
  std::mt19937 rng(69);
  const std::size_t nb = k / 32, nb16 = k / 16;
  std::vector<float4_e2m1fn> a4(m * k), b4(n * k);
  for (auto& v : a4) v = float4_e2m1fn::from_bits(static_cast<std::uint8_t>(rng() & 0xf));
  for (auto& v : b4) v = float4_e2m1fn::from_bits(static_cast<std::uint8_t>(rng() & 0xf));
  std::vector<float8_e8m0fnu> e1(m * nb), e2(nb * n);
  for (auto& e : e1) e = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(120 + rng() % 10));
  for (auto& e : e2) e = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(120 + rng() % 10));
  const auto e2t = transpose(e2, nb, n);
  for (bool approx_path : {false, true})
    check(
        [&](scale_order o, std::vector<float>& y) {
          const packed_weights<float4_e2m1fn> w(b4, k, n, true, 0, o);
          const auto& s2 = o == scale_order::n_major ? e2t : e2;
          if (approx_path)
            matmul_mx<float, float4_e2m1fn, float4_e2m1fn>(approx, a4, w, m, e1, s2, bias, y);
          else
            matmul_mx<float, float4_e2m1fn, float4_e2m1fn>(a4, w, m, e1, s2, bias, y);
        },
        approx_path ? "MX approx" : "MX");
  std::vector<float8_e4m3fn> f1(m * nb16), f2(nb16 * n);
  for (auto& f : f1) f = float8_e4m3fn::from_bits(static_cast<std::uint8_t>(0x30 + rng() % 16));
  for (auto& f : f2) f = float8_e4m3fn::from_bits(static_cast<std::uint8_t>(0x30 + rng() % 16));
  const auto f2t = transpose(f2, nb16, n);
  check(
      [&](scale_order o, std::vector<float>& y) {
        const packed_weights<float4_e2m1fn> w(b4, k, n, true, 16, o);
        matmul_nvfp4<float>(a4, w, m, f1, o == scale_order::n_major ? f2t : f2, 0.5f, bias, y);
      },
      "NVFP4");
  {  // NVFP4 on packed weights gives the reference's bits (the scalar backend on the codes)
    std::vector<float> y(m * n), ref(m * n);
    const packed_weights<float4_e2m1fn> w(b4, k, n, true, 16);
    matmul_nvfp4<float>(a4, w, m, f1, f2, 0.5f, bias, y);
    const backend best = active_backend();
    set_backend(backend::scalar);
    matmul_nvfp4<float>(a4, b4, {m, k, n, true}, f1, f2, 0.5f, bias, ref);
    set_backend(best);
    EXPECT_TRUE(same_bits(y, ref));
    expect_no_alloc([&] { matmul_nvfp4<float>(exec_context{}, a4, w, m, f1, f2, 0.5f, bias, y); },
                    "NVFP4 packed");
  }
}

}  // namespace

namespace {

// Template arguments are deduced from typed spans and packed weights (issue 12): the calls an
// engine writes without naming a type give the bits of the explicit ones.
TEST(Api, TemplateArgumentsDeducedFromTypedSpans) {
  const std::size_t m = 5, k = 96, n = 70;
  const auto xv = randoms(m * k, 70);
  const auto wv = codes<std::int8_t>(k * n, 71);
  const auto ws = randoms(n, 72, 0.001f, 0.01f), sg = randoms(k / 32 * n, 73, 0.001f, 0.01f);
  std::vector<std::int8_t> xq(m * k), xq0(m * k);
  std::vector<float> xs(m), xs0(m), y(m * n), y0(m * n), d(m * k), d0(m * k);
  const exec_context ctx;
  const std::span<const float> x(xv);
  const quantize_params p{.gran = granularity::token()};
  quantized_span<std::int8_t> q{xq, xs, {}, {}};
  q.map = quantize_into(ctx, x, {m, k}, p, q);
  quantize_into<std::int8_t, float>(ctx, xv, {m, k}, p, {xq0, xs0, {}, {}});
  EXPECT_EQ(xq, xq0);
  EXPECT_TRUE(same_bits(xs, xs0));
  const std::span<const std::int8_t> a(xq);
  const packed_weights<std::int8_t> w(wv, k, n, false, 32);
  matmul_kc(ctx, a, w, m, xs, ws, {}, std::span<float>(y));
  matmul_kc<float, std::int8_t, std::int8_t>(ctx, xq, w, m, xs, ws, {}, y0);
  EXPECT_TRUE(same_bits(y, y0));
  matmul_kg(ctx, a, w, m, 32, xs, sg, {}, std::span<float>(y));
  matmul_kg<float, std::int8_t, std::int8_t>(ctx, xq, w, m, 32, xs, sg, {}, y0);
  EXPECT_TRUE(same_bits(y, y0));
  matmul_weight_only(ctx, x, w, m, {.gran = granularity::channel(), .scale = ws}, {}, std::span<float>(y));
  matmul_weight_only<float, float, std::int8_t>(ctx, xv, w, m, {.gran = granularity::channel(), .scale = ws},
                                                {}, y0);
  EXPECT_TRUE(same_bits(y, y0));
  dequantize_into(ctx, a, q.map, std::span<const float>(xs), {}, std::span<float>(d));
  dequantize_into<std::int8_t, float>(ctx, xq, q.map, xs, {}, d0);
  EXPECT_TRUE(same_bits(d, d0));
}

}  // namespace

namespace {

// fp6 e2m3 weights (MXFP6) keep only their panels and the positions of their -0 codes (whose int8
// value is +0's): the codes come back exactly, and the MX matmul gives the reference's bits.
TEST(PackedWeights, Fp6E2m3CodesFromPanelsAndNegativeZeros) {
  const std::size_t k = 96, n = 80, m = 3;
  std::mt19937 rng(80);
  std::vector<float6_e2m3fn> b(k * n), a(m * k);
  for (auto& v : b) {
    v = float6_e2m3fn::from_bits(static_cast<std::uint8_t>(rng() & 0x3f));
    if (v.bits() == 0x20) v = float6_e2m3fn::from_bits(0);  // no -0
  }
  for (auto& v : a) v = float6_e2m3fn::from_bits(static_cast<std::uint8_t>(rng() & 0x3f));
  auto bz = b;
  bz[17] = float6_e2m3fn::from_bits(0x20);
  auto bzz = b;  // many, at the ends too
  for (std::size_t i = 0; i < bzz.size(); i += 7) bzz[i] = float6_e2m3fn::from_bits(0x20);
  bzz.back() = float6_e2m3fn::from_bits(0x20);
  std::vector<float8_e8m0fnu> e1(m * 3, float8_e8m0fnu::from_bits(127)),
      e2(3 * n, float8_e8m0fnu::from_bits(125));
  for (const bool tr : {false, true})
    for (const auto* src : {&b, &bz, &bzz}) {
      const packed_weights<float6_e2m3fn> w(*src, k, n, tr);
      const auto c = w.codes();
      for (std::size_t i = 0; i < src->size(); ++i) ASSERT_EQ(c[i].bits(), (*src)[i].bits()) << i;
      std::vector<float> y(m * n), ref(m * n);
      matmul_mx<float, float6_e2m3fn, float6_e2m3fn>(a, w, m, e1, e2, {}, y);
      const backend best = active_backend();
      set_backend(backend::scalar);
      matmul_mx<float, float6_e2m3fn, float6_e2m3fn>(a, *src, {m, k, n, tr}, e1, e2, {}, ref);
      set_backend(best);
      EXPECT_TRUE(same_bits(y, ref));
    }
  const packed_weights<float6_e2m3fn> w(b, k, n);
  if (w.vnni()) {
    EXPECT_LE(double(w.memory_bytes() - w.vnni()->colsum.size() * 4 - w.vnni()->colsum_k.size() * 4),
              double(((n + 63) / 64 * 64) * k));  // the panels only (no codes)
    EXPECT_EQ(packed_weights<float6_e2m3fn>(bz, k, n).memory_bytes(), w.memory_bytes() + 4);  // one -0 listed
  }
}

}  // namespace

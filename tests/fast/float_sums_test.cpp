// The exact float-code matmuls on double sums (issue 11, detail/float_sums.hpp) against the
// scalar backend's reference, bit for bit: every float mode (T-C with fp32 and uint64 scales,
// K-C, G-B, B-B, MX, T-CG), the 8-bit formats and mixes, odd shapes (row tails of the 8-row tiles,
// column tails of the 24-column strips, k past the 128-deep pieces and not a multiple of the
// block, more rows than one 256-row chunk), every output type, NaN / Inf codes, all-zero blocks,
// and e5m2 / HiFloat8 blocks whose range is too wide for a double sum (the per-tile test must send
// them to the fixed-point sum) next to blocks that pass it. Runs on several tasks too.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <random>
#include <vector>

#include <lowbit/lowbit.hpp>

namespace {

using namespace lowbit;

/// Every bit pattern with equal chance: NaN, Inf, subnormals, both ends of the range.
template <class T>
std::vector<T> any_codes(std::size_t n, std::mt19937& rng) {
  std::vector<T> v(n);
  for (auto& c : v) c = T::from_bits(static_cast<typename T::storage>(rng() & T::mask));
  return v;
}

/// Codes as quantized data holds them: normal values around the top of the range, a few small
/// ones and zeros (blocks of e5m2 / HiFloat8 that pass the exactness test).
template <class T>
std::vector<T> data_codes(std::size_t n, std::mt19937& rng) {
  std::normal_distribution<float> g(0.0f, static_cast<float>(std::numeric_limits<T>::max()) / 4);
  std::vector<T> v(n);
  for (auto& c : v)
    c = T(rng() % 50 == 0 ? 0.0f : g(rng), {rounding::rint, overflow::saturate, nan_policy::keep});
  return v;
}

std::vector<float> positive(std::size_t n, std::mt19937& rng) {
  std::vector<float> v(n);
  for (auto& s : v) s = static_cast<float>(1 + rng() % 1000) / 4096.0f;
  return v;
}

template <class Out>
bool same(const std::vector<Out>& a, const std::vector<Out>& b) {
  return std::memcmp(a.data(), b.data(), a.size() * sizeof(Out)) == 0;
}

/// A parallel_for that runs every task on the calling thread, in reverse order: the call is cut
/// into tasks (3 threads) without threads, and no task may depend on another's order.
void reverse_loop(void*, std::size_t b, std::size_t e, task_ref body) {
  for (std::size_t i = e; i > b; --i) body(i - 1);
}

/// f(y) on the scalar backend (the reference) and on the best one, serially and cut into tasks
/// (a default context of 3 threads); the fast runs must not fall back to the reference.
template <class Out, class F>
void same_as_reference(std::size_t size, const F& f, const std::string& what) {
  std::vector<Out> ref(size), fast(size), tasks(size);
  const backend best = active_backend();
  set_backend(backend::scalar);
  f(ref);
  set_backend(best);
  const exec_context saved = default_exec();
  set_default_exec(exec_context{});
  reset_dispatch_counts();
  f(fast);
  if (best != backend::scalar) {
    EXPECT_EQ(dispatch_counts().reference, 0u) << what;
  }
  set_default_exec(exec_context{reverse_loop, nullptr, 3, {}});
  f(tasks);
  set_default_exec(saved);
  EXPECT_TRUE(same(fast, ref)) << what;
  EXPECT_TRUE(same(tasks, ref)) << what << " (3 tasks)";
}

template <class Out, class T1, class T2>
void every_mode(std::size_t m, std::size_t k, std::size_t n, bool wide, unsigned seed) {
  std::mt19937 rng(seed);
  const auto a = wide ? any_codes<T1>(m * k, rng) : data_codes<T1>(m * k, rng);
  auto b = wide ? any_codes<T2>(k * n, rng) : data_codes<T2>(k * n, rng);
  if (!wide && n >= 2) {  // an all-zero column (wide codes bring NaN / Inf instead)
    for (std::size_t kk = 0; kk < k; ++kk) b[kk * n + 1] = T2(0.0f, {});
  }
  const std::string what = std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) +
                           (wide ? " wide" : " data") + " seed " + std::to_string(seed);
  const auto bias = positive(n, rng), s1 = positive(m, rng), s2 = positive(n, rng);
  const matmul_bias fb{.f32 = bias};
  for (const bool t : {false, true}) {
    std::vector<T2> bt(k * n);  // x2 as (n, k)
    for (std::size_t kk = 0; kk < k; ++kk)
      for (std::size_t c = 0; c < n; ++c) bt[c * k + kk] = b[kk * n + c];
    const std::span<const T2> x2 = t ? std::span<const T2>(bt) : std::span<const T2>(b);
    const matmul_dims d{m, k, n, t};
    const std::string w = what + (t ? " transposed" : "");
    same_as_reference<Out>(
        m * n, [&](std::vector<Out>& y) { matmul_kc<Out, T1, T2>(a, x2, d, s1, s2, fb, y); }, "K-C " + w);
    same_as_reference<Out>(
        m * n, [&](std::vector<Out>& y) { matmul_tc<Out, T1, T2>(a, x2, d, s2, 0.75f, {}, y); }, "T-C " + w);
    same_as_reference<Out>(
        m * n,
        [&](std::vector<Out>& y) {
          matmul_tc<Out, T1, T2>(a, x2, d, std::span<const float>(s2.data(), 1), 0.75f, {}, y);
        },
        "T-T merged " + w);
    std::vector<std::uint64_t> u(n);
    for (std::size_t c = 0; c < n; ++c) u[c] = fixpipe::pack(s2[c]);
    same_as_reference<Out>(
        m * n, [&](std::vector<Out>& y) { matmul_tc<Out, T1, T2>(a, x2, d, u, fb, y); }, "T-C uint64 " + w);
    for (const std::size_t gs : {std::size_t{128}, std::size_t{48}}) {
      const std::size_t ng = (k + gs - 1) / gs;
      const auto g1 = positive(m * ng, rng), g2 = positive(ng * ((n + gs - 1) / gs), rng);
      same_as_reference<Out>(
          m * n, [&](std::vector<Out>& y) { matmul_gb<Out, T1, T2>(a, x2, d, gs, g1, g2, bias, y); },
          "G-B " + std::to_string(gs) + " " + w);
      const auto b1 = positive(((m + gs - 1) / gs) * ng, rng);
      same_as_reference<Out>(
          m * n, [&](std::vector<Out>& y) { matmul_bb<Out, T1, T2>(a, x2, d, gs, b1, g2, {}, y); },
          "B-B " + std::to_string(gs) + " " + w);
    }
    const std::size_t nb = (k + 31) / 32;
    std::vector<float8_e8m0fnu> e1(m * nb), e2(nb * n);
    for (auto& e : e1)
      e = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(rng() % 97 == 0 ? 0xff : 110 + rng() % 30));
    for (auto& e : e2)
      e = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(rng() % 89 == 0 ? 0xff : 110 + rng() % 30));
    same_as_reference<Out>(
        m * n, [&](std::vector<Out>& y) { matmul_mx<Out, T1, T2>(a, x2, d, e1, e2, bias, y); }, "MX " + w);
  }
}

TEST(FloatSums, Fp8E4m3EveryModeAndShape) {
  unsigned seed = 1;
  for (auto [m, k, n] : {std::array<std::size_t, 3>{1, 1, 1},
                         {3, 7, 5},
                         {9, 130, 25},
                         {8, 256, 24},
                         {17, 300, 49},
                         {5, 33, 70}})
    for (const bool wide : {false, true})
      every_mode<float, float8_e4m3fn, float8_e4m3fn>(m, k, n, wide, seed++);
}

TEST(FloatSums, WideFormatsTakeTheFixedPointSumWhereNeeded) {
  unsigned seed = 100;
  for (auto [m, k, n] : {std::array<std::size_t, 3>{3, 7, 5}, {9, 130, 25}, {17, 300, 49}})
    for (const bool wide : {false, true}) {
      every_mode<float, float8_e5m2, float8_e5m2>(m, k, n, wide, seed++);
      every_mode<float, hifloat8, hifloat8>(m, k, n, wide, seed++);
      every_mode<float, float8_e4m3fn, float8_e5m2>(m, k, n, wide, seed++);
    }
}

TEST(FloatSums, NarrowFormatsMixesAndOutputs) {
  unsigned seed = 200;
  every_mode<float, float6_e3m2fn, float6_e3m2fn>(9, 130, 25, true, seed++);
  every_mode<float, float8_e4m3fn, float4_e2m1fn>(9, 130, 25, true, seed++);
  every_mode<float, float6_e2m3fn, float8_e5m2>(9, 130, 25, true, seed++);
  every_mode<bfloat16, float8_e4m3fn, float8_e4m3fn>(17, 300, 49, true, seed++);
  every_mode<float16, float8_e5m2, float8_e5m2>(17, 300, 49, false, seed++);
  every_mode<bfloat16, hifloat8, hifloat8>(9, 130, 25, true, seed++);
}

TEST(FloatSums, RowChunksAndTasks) {
  // more rows than one 256-row chunk, k over many pieces, and enough work for several tasks
  // (17M multiply-adds: 2 of the 3 threads); K-C and G-B only (the reference is slow)
  std::mt19937 rng(300);
  for (auto [m, k, n] : {std::array<std::size_t, 3>{263, 300, 30}, {130, 1100, 120}}) {
    const auto a = data_codes<float8_e5m2>(m * k, rng), b = data_codes<float8_e5m2>(k * n, rng);
    const auto s1 = positive(m, rng), s2 = positive(n, rng), g1 = positive(m * ((k + 127) / 128), rng),
               g2 = positive(((k + 127) / 128) * ((n + 127) / 128), rng);
    const matmul_dims d{m, k, n};
    const std::string what = std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
    same_as_reference<float>(
        m * n,
        [&](std::vector<float>& y) { matmul_kc<float, float8_e5m2, float8_e5m2>(a, b, d, s1, s2, {}, y); },
        "K-C " + what);
    same_as_reference<float>(
        m * n,
        [&](std::vector<float>& y) {
          matmul_gb<float, float8_e5m2, float8_e5m2>(a, b, d, 128, g1, g2, {}, y);
        },
        "G-B " + what);
  }
}

TEST(FloatSums, TcgMatchesReference) {
  std::mt19937 rng(400);
  for (const auto& mkn : {std::array<std::size_t, 3>{1, 32, 1}, {9, 96, 25}, {17, 320, 49}}) {
    const std::size_t m = mkn[0], k = mkn[1], n = mkn[2];  // captured below (not a structured binding)
    const auto a = any_codes<float8_e4m3fn>(m * k, rng);
    const auto b = any_codes<float4_e2m1fn>(k * n, rng);
    std::vector<bfloat16> gs((k / 32) * n);
    for (auto& s : gs) s = bfloat16(static_cast<float>(1 + rng() % 64) / 16.0f);
    std::vector<std::uint64_t> ys(n);
    for (auto& s : ys) s = fixpipe::pack(static_cast<float>(1 + rng() % 100) / 64.0f);
    same_as_reference<bfloat16>(
        m * n,
        [&](std::vector<bfloat16>& y) {
          matmul_tcg<bfloat16, bfloat16>(a, b, {m, k, n}, gs, ys, y);
        },
        "T-CG " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n));
  }
}

TEST(FloatSums, MxOnPackedFp8WeightsWithTheMatmulWorkspace) {
  // an engine sizes its workspace with matmul_workspace_size, which does not count the double
  // sums' scratch: the call must still run (on the thread's buffer) and give the reference's bits
  std::mt19937 rng(500);
  const std::size_t m = 9, k = 96, n = 50, nb = k / 32;
  const auto a = data_codes<float8_e4m3fn>(m * k, rng), b = data_codes<float8_e4m3fn>(k * n, rng);
  std::vector<float8_e8m0fnu> e1(m * nb), e2(nb * n);
  for (auto& e : e1) e = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(120 + rng() % 10));
  for (auto& e : e2) e = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(120 + rng() % 10));
  const packed_weights<float8_e4m3fn> w(b, k, n);
  std::vector<std::byte> ws(matmul_workspace_size(m, k, n, 32));
  same_as_reference<float>(
      m * n,
      [&](std::vector<float>& y) {
        matmul_mx<float, float8_e4m3fn, float8_e4m3fn>(exec_context{nullptr, nullptr, 1, ws}, a, w, m, e1, e2,
                                                       {}, y);
      },
      "MX packed fp8 with workspace");
}

TEST(FloatSums, ExactnessTestBoundary) {
  // e4m3 x e4m3 needs no test up to 2^17 terms; e5m2 x e5m2 always does (64 bits of range)
  EXPECT_TRUE((detail::float_sums_static<float8_e4m3fn, float8_e4m3fn>(std::size_t{1} << 17)));
  EXPECT_FALSE((detail::float_sums_static<float8_e4m3fn, float8_e4m3fn>((std::size_t{1} << 17) + 1)));
  EXPECT_FALSE((detail::float_sums_static<float8_e5m2, float8_e5m2>(1)));
  EXPECT_TRUE((detail::float_sums_static<float4_e2m1fn, float6_e3m2fn>(std::size_t{1} << 30)));
  // one block whose exact sum a double cannot hold: 57344^2 + 8 * 16 + 2^-16 * 2^-16 is half an
  // fp32 ulp above an even fp32 number plus 2^-32, so it rounds up; a double sum drops the 2^-32,
  // lands on the tie and rounds to even (down). The per-tile test must send it to the exact sum.
  const float8_e5m2 big(57344.0f), tiny = float8_e5m2::from_bits(0x01);
  const std::vector<float8_e5m2> a{big, tiny, float8_e5m2(8.0f)}, b{big, tiny, float8_e5m2(16.0f)};
  std::vector<float> y(1), ref(1);
  const std::vector<float> s{1.0f};
  const backend best = active_backend();
  set_backend(backend::scalar);
  matmul_kc<float, float8_e5m2, float8_e5m2>(a, b, {1, 3, 1}, s, s, {}, ref);
  set_backend(best);
  matmul_kc<float, float8_e5m2, float8_e5m2>(a, b, {1, 3, 1}, s, s, {}, y);
  EXPECT_EQ(ref[0], 3288334592.0f);  // 12845057 * 256
  EXPECT_TRUE(same(y, ref));
  // the same sum as a G-B block (unit scales) and an MX block (scales 2^0)
  std::vector<float> gb(1), mx(1);
  matmul_gb<float, float8_e5m2, float8_e5m2>(a, b, {1, 3, 1}, 128, s, s, {}, gb);
  const std::vector<float8_e8m0fnu> e{float8_e8m0fnu::from_bits(127)};
  matmul_mx<float, float8_e5m2, float8_e5m2>(a, b, {1, 3, 1}, e, e, {}, mx);
  EXPECT_EQ(gb[0], 3288334592.0f);
  EXPECT_EQ(mx[0], 3288334592.0f);
}

TEST(FloatSums, BoundsByMagnitudeNeverTighterThanTheCodes) {
  // the AVX-512 kernels bound a run of codes by its largest and smallest nonzero magnitude bits
  // (code_table's hi_upto / lo_from): for every code and every magnitude m past / before its own,
  // the bound must hold the code's own, or a block that is not exact in double would pass
  const auto check = [](auto tag) {
    using T = decltype(tag);
    const auto& t = detail::code_table<T>::get();
    constexpr std::size_t size = detail::code_table<T>::size, mag = detail::code_table<T>::mag;
    std::size_t with_bounds = 0;
    for (std::size_t c = 0; c < size; ++c) {
      if (t.hi[c] == -detail::code_none) continue;  // zero, NaN, Inf: neutral
      ++with_bounds;
      for (std::size_t m = c & mag; m <= mag; ++m) ASSERT_GE(t.hi_upto[m], t.hi[c]) << c << " " << m;
      for (std::size_t m = 1; m <= (c & mag); ++m) ASSERT_LE(t.lo_from[m], t.lo[c]) << c << " " << m;
    }
    EXPECT_GT(with_bounds, size / 2);
    EXPECT_EQ(t.hi_upto[0], -detail::code_none);  // zero codes only: no bound
  };
  check(float8_e4m3fn{});
  check(float8_e5m2{});
  check(hifloat8{});
  check(float6_e2m3fn{});
  check(float6_e3m2fn{});
  check(float4_e2m1fn{});
  check(float4_e1m2fn{});
}

}  // namespace

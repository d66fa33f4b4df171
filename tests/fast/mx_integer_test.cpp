// The exact MX and NVFP4 matmuls on the integer kernels (issue 11): fp4 e2m1 / e1m2 and fp6 e2m3
// codes are scaled int8 values, so their block sums are exact on VNNI / AVX2 / SDOT. Every case
// is compared bit for bit with the scalar backend's result (the reference), on odd shapes
// (k not a multiple of 32, column and row tails), NaN scales, scales at the ends of the range the
// fast path accepts and beyond it (where the reference must run), bias and every output type.
#include <gtest/gtest.h>

#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <vector>

#include <lowbit/lowbit.hpp>

namespace {

using namespace lowbit;

template <class T>
std::vector<T> random_codes(std::size_t n, std::mt19937& rng) {
  std::vector<T> v(n);
  for (auto& c : v) c = T::from_bits(static_cast<typename T::storage>(rng() & T::mask));
  return v;
}

std::vector<float8_e8m0fnu> random_scales(std::size_t n, std::mt19937& rng, int lo, int hi, bool nan) {
  std::vector<float8_e8m0fnu> v(n);
  for (auto& s : v) {
    int e = lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo + 1));
    if (nan && rng() % 97 == 0) e = 0xff;
    s = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(e));
  }
  return v;
}

template <class Out>
bool same(const std::vector<Out>& a, const std::vector<Out>& b) {
  return std::memcmp(a.data(), b.data(), a.size() * sizeof(Out)) == 0;
}

/// y of matmul_mx on the scalar backend (the reference) and on the best one, span and packed.
template <class Out, class T1, class T2>
void check_mx(std::size_t m, std::size_t k, std::size_t n, int lo, int hi, bool nan, bool bias_on,
              bool expect_fast, unsigned seed) {
  std::mt19937 rng(seed);
  const auto a = random_codes<T1>(m * k, rng);
  const auto b = random_codes<T2>(k * n, rng);
  const std::size_t nb = (k + 31) / 32;
  const auto e1 = random_scales(m * nb, rng, lo, hi, nan), e2 = random_scales(nb * n, rng, lo, hi, nan);
  std::vector<float> bias(bias_on ? n : 0);
  for (auto& v : bias) v = static_cast<float>(static_cast<int>(rng() % 200) - 100) / 8.0f;
  const matmul_dims d{m, k, n};
  std::vector<Out> ref(m * n), fast(m * n), packed(m * n);
  const backend best = active_backend();
  set_backend(backend::scalar);
  matmul_mx<Out, T1, T2>(a, b, d, e1, e2, bias, ref);
  set_backend(best);
  reset_dispatch_counts();
  matmul_mx<Out, T1, T2>(a, b, d, e1, e2, bias, fast);
  const bool ran_fast = dispatch_counts().reference == 0;
  const packed_weights<T2> w(b, k, n);
  matmul_mx<Out, T1, T2>(a, w, m, e1, e2, bias, packed);
  EXPECT_TRUE(same(fast, ref)) << m << "x" << k << "x" << n << " scales " << lo << ".." << hi;
  EXPECT_TRUE(same(packed, ref)) << m << "x" << k << "x" << n << " (packed)";
  if (best == backend::avx512 || best == backend::avx2) {
    EXPECT_EQ(ran_fast, expect_fast) << lo << ".." << hi;
  }
}

TEST(MxInteger, Fp4E2m1OddShapesMatchReference) {
  unsigned seed = 1;
  for (auto [m, k, n] : {std::array<std::size_t, 3>{1, 32, 1},
                         {3, 33, 65},
                         {7, 100, 64},
                         {13, 256, 130},
                         {6, 4096, 70},
                         {20, 31, 3}})
    check_mx<float, float4_e2m1fn, float4_e2m1fn>(m, k, n, 100, 140, true, true, true, seed++);
}

TEST(MxInteger, EveryScaledIntegerFormatAndOutput) {
  check_mx<float, float4_e1m2fn, float4_e1m2fn>(9, 130, 67, 110, 140, true, false, true, 11);
  check_mx<float, float6_e2m3fn, float6_e2m3fn>(9, 130, 67, 110, 140, true, true, true, 12);
  check_mx<float, float4_e2m1fn, float6_e2m3fn>(9, 130, 67, 110, 140, false, true, true, 13);
  check_mx<bfloat16, float4_e2m1fn, float4_e2m1fn>(9, 130, 67, 100, 150, true, true, true, 14);
  check_mx<float16, float6_e2m3fn, float4_e1m2fn>(9, 130, 67, 120, 135, true, true, true, 15);
}

TEST(MxInteger, ScaleRangeEdges) {
  // near the smallest factor the fast path takes: e1 + e2 - 254 - f = -148 (f = 2 for e2m1 x e2m1)
  check_mx<float, float4_e2m1fn, float4_e2m1fn>(5, 64, 66, 54, 54, false, false, true, 21);
  // below -149: 2^-150 is not an fp32, the integer kernels decline and the double sums
  // (float_sums.hpp) run: subnormal and zero results, still no reference
  check_mx<float, float4_e2m1fn, float4_e2m1fn>(5, 64, 66, 53, 53, false, false, true, 22);
  // near the largest: e1 + e2 - 256 <= 127 (overflow to Inf where the sums are large)
  check_mx<float, float4_e2m1fn, float4_e2m1fn>(5, 64, 66, 185, 191, false, true, true, 23);
  check_mx<float, float4_e2m1fn, float4_e2m1fn>(5, 64, 66, 192, 192, false, false, true, 24);
  // subnormal and overflowing block terms inside the accepted range, NaN scales
  check_mx<float, float4_e2m1fn, float4_e2m1fn>(7, 96, 70, 54, 80, true, false, true, 25);
  check_mx<bfloat16, float4_e2m1fn, float4_e2m1fn>(7, 96, 70, 170, 191, true, false, true, 26);
}

TEST(MxInteger, Nvfp4MatchesReference) {
  std::mt19937 rng(31);
  for (auto [m, k, n] : {std::array<std::size_t, 3>{1, 16, 1}, {3, 17, 65}, {7, 100, 64}, {13, 512, 130}}) {
    const auto a = random_codes<float4_e2m1fn>(m * k, rng), b = random_codes<float4_e2m1fn>(k * n, rng);
    const std::size_t nb = (k + 15) / 16;
    auto s1 = random_codes<float8_e4m3fn>(m * nb, rng), s2 = random_codes<float8_e4m3fn>(nb * n, rng);
    for (auto& s : s1)  // e4m3 scales are positive; a few NaN
      s = float8_e4m3fn::from_bits(static_cast<std::uint8_t>(s.bits() & 0x7f));
    for (auto& s : s2) s = float8_e4m3fn::from_bits(static_cast<std::uint8_t>(s.bits() & 0x7f));
    std::vector<float> bias(n, 0.25f), ref(m * n), fast(m * n);
    const backend best = active_backend();
    set_backend(backend::scalar);
    matmul_nvfp4<float>(a, b, {m, k, n}, s1, s2, 0.37f, bias, ref);
    set_backend(best);
    matmul_nvfp4<float>(a, b, {m, k, n}, s1, s2, 0.37f, bias, fast);
    EXPECT_TRUE(same(fast, ref)) << m << "x" << k << "x" << n;
  }
}

TEST(MxInteger, PackedWithContextAllocatesNothing) {
  const std::size_t m = 16, k = 512, n = 200, nb = k / 32;
  if (!detail::integer_kernel({m, k, n}, 32)) GTEST_SKIP() << "no integer kernel here: the reference runs";
  std::mt19937 rng(41);
  const auto a = random_codes<float4_e2m1fn>(m * k, rng), b = random_codes<float4_e2m1fn>(k * n, rng);
  const auto e1 = random_scales(m * nb, rng, 120, 130, false),
             e2 = random_scales(nb * n, rng, 120, 130, false);
  const packed_weights<float4_e2m1fn> w(b, k, n);
  std::vector<float> y(m * n), ref(m * n);
  matmul_mx<float, float4_e2m1fn, float4_e2m1fn>(exec_context{}, a, w, m, e1, e2, {}, y);
  reset_dispatch_counts();
  matmul_mx<float, float4_e2m1fn, float4_e2m1fn>(exec_context{}, a, w, m, e1, e2, {}, y);
  EXPECT_EQ(dispatch_counts().reference, 0u);
  const backend best = active_backend();
  set_backend(backend::scalar);
  matmul_mx<float, float4_e2m1fn, float4_e2m1fn>(a, b, {m, k, n}, e1, e2, {}, ref);
  set_backend(best);
  EXPECT_TRUE(same(y, ref));
}

}  // namespace

namespace {

// The vector bf16 output of K-C (detail/x86/matmul_vnni.hpp kc_epilogue): round to nearest even
// on the bits, subnormal results kept, overflow to Inf, ties, NaN canonical: against the
// scalar epilogue on scales chosen to produce each.
TEST(KcBf16Output, EdgeValuesMatchReference) {
  const std::size_t m = 3, k = 8, n = 70;
  std::vector<std::int8_t> a(m * k), b(k * n);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::int8_t>(int(i % 7) - 3);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::int8_t>(int(i * 5 % 11) - 5);
  const float specials[] = {1e-40f,
                            3e-39f,
                            3e38f,
                            1.0f + 0x1p-8f,
                            1.0f + 0x1p-7f + 0x1p-8f,
                            -0x1.fffep127f,
                            std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            0.0f,
                            -1.0f,
                            0x1p-126f,
                            0x1.01p-133f};
  std::vector<float> s2(n), s1 = {1.0f, 0.5f, 3.0f};
  for (std::size_t j = 0; j < n; ++j) s2[j] = specials[j % std::size(specials)] * (j % 3 == 0 ? 1.0f : 1.5f);
  std::vector<float> bias(n);
  for (std::size_t j = 0; j < n; ++j) bias[j] = (j % 4 == 0) ? 0x1p-140f : 0.0f;
  for (int with_bias = 0; with_bias < 2; ++with_bias) {
    std::vector<bfloat16> fast(m * n), ref(m * n);
    const matmul_bias mb = with_bias ? matmul_bias{.f32 = bias} : matmul_bias{};
    reset_dispatch_counts();
    matmul_kc<bfloat16, std::int8_t, std::int8_t>(a, b, {m, k, n}, s1, s2, mb, fast);
    detail::matmul_kc_ref<bfloat16, std::int8_t, std::int8_t>(a, b, {m, k, n}, s1, s2, mb, ref);
    EXPECT_TRUE(same(fast, ref));
  }
}

}  // namespace

namespace {

// The exact weight-only path (detail::weight_only_exact): the reference's double sums across
// columns. Odd shapes, int8 / int4, every x dtype (its inter rounding), per tensor / channel /
// group, tiny scales (subnormal W), NaN / Inf in x, bias, bf16 and fp16 output, m past the 6-row
// tiles, k past the 128-row chunks.
template <class Out, class In, class T2>
void check_weight_only(std::size_t m, std::size_t k, std::size_t n, granularity g, float scale_mag,
                       bool specials, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<In> x(m * k);
  for (std::size_t i = 0; i < x.size(); ++i) {
    float v = static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 137.0f;
    if (specials && i % 97 == 5) v = (i % 2) ? std::numeric_limits<float>::infinity() : std::nanf("");
    x[i] = In(v);
  }
  std::vector<T2> w(k * n);
  for (auto& v : w) {
    if constexpr (std::is_same_v<T2, int4>)
      v = int4::from_bits(static_cast<std::uint8_t>(rng() & 0xf));
    else
      v = static_cast<std::int8_t>(static_cast<int>(rng() % 256) - 128);
  }
  const auto map = make_scale_map(g, operand::right, {k, n});
  std::vector<float> sc(map.size());
  for (auto& v : sc) v = scale_mag * (0.5f + static_cast<float>(rng() % 1000) / 999.0f);
  std::vector<float> bias(n);
  for (auto& v : bias) v = static_cast<float>(static_cast<int>(rng() % 100) - 50) / 16.0f;
  std::vector<Out> ref(m * n), fast(m * n);
  const weight_scales ws{g, sc};
  const backend best = active_backend();
  set_backend(backend::scalar);
  matmul_weight_only<Out, In, T2>(x, w, {m, k, n}, ws, bias, ref);
  set_backend(best);
  const packed_weights<T2> pw(w, k, n);
  reset_dispatch_counts();
  matmul_weight_only<Out, In, T2>(x, pw, m, ws, bias, fast);
  EXPECT_TRUE(same(fast, ref)) << m << "x" << k << "x" << n;
  if (best == backend::avx512) {
    EXPECT_EQ(dispatch_counts().reference, 0u);
  }
}

TEST(WeightOnlyExact, MatchesReference) {
  check_weight_only<float, bfloat16, int4>(3, 256, 130, granularity::group(128), 0.02f, false, 1);
  check_weight_only<float, bfloat16, int4>(5, 300, 70, granularity::group(32), 0.02f, true, 2);
  check_weight_only<float, float, std::int8_t>(4, 130, 65, granularity::channel(), 0.003f, true, 3);
  check_weight_only<bfloat16, float16, std::int8_t>(2, 513, 64, granularity::group(64), 0.01f, false, 4);
  check_weight_only<float, float16, int4>(7, 64, 200, granularity::tensor(), 0.5f, true, 5);
  check_weight_only<float, bfloat16, std::int8_t>(1, 1000, 3, granularity::channel(), 1e-39f, false, 6);
  check_weight_only<float, float, int4>(6, 777, 129, granularity::group(100), 3e-41f, false, 7);
  check_weight_only<float, bfloat16, int4>(3, 128, 64, granularity::group(128), 3e37f, false, 8);  // Inf W
  // the vector epilogue's outputs (bf16 NaN / Inf / overflow) and the scalar one's (fp16); m = 13:
  // two 6-row tiles and a row, k past two 128-row chunks
  check_weight_only<bfloat16, bfloat16, int4>(13, 300, 100, granularity::group(100), 0.02f, true, 9);
  check_weight_only<bfloat16, float, std::int8_t>(8, 64, 40, granularity::channel(), 3e36f, false, 10);
  check_weight_only<float16, bfloat16, int4>(9, 260, 70, granularity::group(128), 30.0f, true, 11);
  // n = 600: a group of 8 panels, then one of 2
  check_weight_only<float, bfloat16, int4>(7, 100, 600, granularity::group(32), 0.02f, true, 12);
}

}  // namespace

// Matmul reference tests. Integer modes: bit-exact against naive int64 loops written here from
// the spec's formulas. Float modes: against sums that are exact in double for the data used
// (e4m3 products span 2^-18..2^18), plus order independence inside a block, IEEE specials,
// every output type, tails, m = 1, k not a multiple of the group, and the contraction trap.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <lowbit/lowbit.hpp>

using namespace lowbit;

namespace {

struct shape3 {
  std::size_t m, k, n;
};
const shape3 shapes[] = {{1, 1, 1},    {1, 7, 3},   {3, 1, 5},   {5, 33, 7}, {16, 64, 16},
                         {17, 130, 9}, {2, 257, 3}, {1, 300, 2}, {4, 513, 5}};

template <class T>
std::vector<T> random_codes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<T> v(n);
  for (auto& c : v) {
    if constexpr (std::is_same_v<T, std::int8_t>) {
      c = static_cast<std::int8_t>(static_cast<int>(rng() % 256) - 128);
    } else if constexpr (std::is_same_v<T, int4>) {
      c = int4::from_bits(static_cast<std::uint8_t>(rng() % 16));
    } else {
      do c = T::from_bits(static_cast<typename T::storage>(rng() & T::mask));
      while (!std::isfinite(static_cast<float>(c)));
    }
  }
  return v;
}

std::vector<float> random_floats(std::size_t n, unsigned seed, float lo = 0.001f, float hi = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

template <class T>
long long ival(T c) {
  return static_cast<int>(c);
}

template <class T1, class T2>
long long idot(const std::vector<T1>& a, const std::vector<T2>& b, const shape3& s, std::size_t m,
               std::size_t n, std::size_t k0, std::size_t k1) {
  long long acc = 0;
  for (std::size_t k = k0; k < k1; ++k) acc += ival(a[m * s.k + k]) * ival(b[k * s.n + n]);
  return acc;
}

template <class T1, class T2>
double fdot(const std::vector<T1>& a, const std::vector<T2>& b, const shape3& s, std::size_t m, std::size_t n,
            std::size_t k0, std::size_t k1) {
  double acc = 0;  // exact for e4m3 x e4m3 with k < 2^17
  for (std::size_t k = k0; k < k1; ++k) acc += double(float(a[m * s.k + k])) * double(float(b[k * s.n + n]));
  return acc;
}

float f32(long long v) {
  return static_cast<float>(v);
}  // exact below 2^24 (all tests)

}  // namespace

TEST(Matmul, Int32ExactAndRangeChecked) {
  for (auto s : shapes) {
    const auto a = random_codes<std::int8_t>(s.m * s.k, 1), b = random_codes<std::int8_t>(s.k * s.n, 2);
    std::vector<std::int32_t> bias(s.n);
    for (std::size_t j = 0; j < s.n; ++j) bias[j] = static_cast<std::int32_t>(j * 1000) - 3000;
    std::vector<std::int32_t> y(s.m * s.n);
    matmul_int32<std::int8_t, std::int8_t>(a, b, {s.m, s.k, s.n}, bias, y);
    for (std::size_t m = 0; m < s.m; ++m)
      for (std::size_t n = 0; n < s.n; ++n) ASSERT_EQ(y[m * s.n + n], idot(a, b, s, m, n, 0, s.k) + bias[n]);
  }
  // 2^31 / 128^2 = 131072: one more -128 * -128 product overflows int32
  const std::size_t k = 131073;
  std::vector<std::int8_t> a(k, -128), b(k, -128);
  std::vector<std::int32_t> y(1);
  EXPECT_THROW((matmul_int32<std::int8_t, std::int8_t>(a, b, {1, k, 1}, {}, y)), std::range_error);
  // the same k through a float mode is exact (wider accumulation), never wrapped
  std::vector<float> yf(1), one = {1.0f};
  matmul_kc<float, std::int8_t, std::int8_t>(a, b, {1, k, 1}, one, one, {}, yf);
  EXPECT_EQ(yf[0], 2147500032.0f);  // 131073 * 16384 = 2147500032 exactly
}

TEST(Matmul, TcIntegerEveryRule) {
  for (auto s : shapes) {
    const auto a = random_codes<std::int8_t>(s.m * s.k, 3), b = random_codes<std::int8_t>(s.k * s.n, 4);
    const auto sc = random_floats(s.n, 5, 1e-4f, 1e-2f);
    std::vector<std::int32_t> bi(s.n, 77);
    const auto bf = random_floats(s.n, 6, -1, 1);
    const matmul_dims d{s.m, s.k, s.n};
    std::vector<float> y(s.m * s.n);
    const float x1s = 0.37f;
    // per channel, int32 bias, no x1 scale (n = 1 makes it per tensor: truncated, cli.md)
    matmul_tc<float, std::int8_t, std::int8_t>(a, b, d, std::span<const float>(sc), std::nullopt, {bi, {}},
                                               y);
    for (std::size_t m = 0; m < s.m; ++m)
      for (std::size_t n = 0; n < s.n; ++n)
        ASSERT_EQ(y[m * s.n + n],
                  f32(idot(a, b, s, m, n, 0, s.k) + 77) * (s.n == 1 ? fixpipe::trunc19(sc[n]) : sc[n]));
    // per tensor without float bias: the fixpipe truncates the scale to 19 bits
    const std::vector<float> st = {0.0123456789f};
    const float t19 = std::bit_cast<float>(std::bit_cast<std::uint32_t>(st[0]) & 0xffffe000u);
    ASSERT_NE(t19, st[0]);
    matmul_tc<float, std::int8_t, std::int8_t>(a, b, d, std::span<const float>(st), std::nullopt, {}, y);
    for (std::size_t m = 0; m < s.m; ++m)
      for (std::size_t n = 0; n < s.n; ++n) ASSERT_EQ(y[m * s.n + n], f32(idot(a, b, s, m, n, 0, s.k)) * t19);
    // per tensor with a float bias: no truncation, bias after scaling
    matmul_tc<float, std::int8_t, std::int8_t>(a, b, d, std::span<const float>(st), std::nullopt, {{}, bf},
                                               y);
    for (std::size_t m = 0; m < s.m; ++m)
      for (std::size_t n = 0; n < s.n; ++n)
        ASSERT_EQ(y[m * s.n + n], f32(idot(a, b, s, m, n, 0, s.k)) * st[0] + bf[n]);
    // with an x1 scale: two separate multiplies, x2 scale first
    matmul_tc<float, std::int8_t, std::int8_t>(a, b, d, std::span<const float>(sc), x1s, {{}, bf}, y);
    for (std::size_t m = 0; m < s.m; ++m)
      for (std::size_t n = 0; n < s.n; ++n) {
        const float v = f32(idot(a, b, s, m, n, 0, s.k)) * sc[n];
        ASSERT_EQ(y[m * s.n + n], v * x1s + bf[n]);
      }
  }
}

TEST(Matmul, RequantInt8ThroughPackedScale) {
  const shape3 s{7, 96, 11};
  const auto a = random_codes<std::int8_t>(s.m * s.k, 7), b = random_codes<std::int8_t>(s.k * s.n, 8);
  const auto sc = random_floats(s.n, 9, 1e-4f, 3e-3f);
  std::vector<std::uint64_t> packed(s.n);
  std::vector<std::int32_t> bias(s.n);
  for (std::size_t n = 0; n < s.n; ++n) {
    packed[n] = fixpipe::pack(sc[n], static_cast<float>(n) * 7.5f - 40.0f);
    bias[n] = static_cast<std::int32_t>(n) * 100 - 500;
  }
  EXPECT_EQ(fixpipe::offset(fixpipe::pack(1.0f, -300.0f)), -256);  // clamped to 9 bits
  EXPECT_EQ(fixpipe::offset(fixpipe::pack(1.0f, 2.5f)), 2);        // rint
  EXPECT_EQ((fixpipe::pack(1.0f) >> 46) & 1, 1u);
  std::vector<std::int8_t> y(s.m * s.n);
  matmul_tc<std::int8_t, std::int8_t, std::int8_t>(a, b, {s.m, s.k, s.n},
                                                   std::span<const std::uint64_t>(packed), {bias, {}}, y);
  for (std::size_t m = 0; m < s.m; ++m)
    for (std::size_t n = 0; n < s.n; ++n) {
      const float s19 = std::bit_cast<float>(std::bit_cast<std::uint32_t>(sc[n]) & 0xffffe000u);
      const float v = f32(idot(a, b, s, m, n, 0, s.k) + bias[n]) * s19;
      long long t = std::llrint(std::clamp(v, -256.0f, 255.0f));  // default FE_TONEAREST: ties to even
      t = std::clamp(t, -256LL, 255LL);
      const long long off = std::llrint(static_cast<float>(n) * 7.5f - 40.0f);
      ASSERT_EQ(y[m * s.n + n], std::clamp(t + std::clamp(off, -256LL, 255LL), -128LL, 127LL))
          << m << "," << n;
    }
}

TEST(Matmul, KcIntegerMixesAndOutputs) {
  for (auto s : shapes) {
    const auto a = random_codes<int4>(s.m * s.k, 10);
    const auto b8 = random_codes<std::int8_t>(s.k * s.n, 11);
    const auto x1s = random_floats(s.m, 12), x2s = random_floats(s.n, 13);
    const auto bf = random_floats(s.n, 14, -3, 3);
    const matmul_dims d{s.m, s.k, s.n};
    std::vector<float> y(s.m * s.n);
    std::vector<bfloat16> yb(s.m * s.n);
    std::vector<float16> yh(s.m * s.n);
    matmul_kc<float, int4, std::int8_t>(a, b8, d, x1s, x2s, {{}, bf}, y);
    matmul_kc<bfloat16, int4, std::int8_t>(a, b8, d, x1s, x2s, {{}, bf}, yb);
    matmul_kc<float16, int4, std::int8_t>(a, b8, d, x1s, x2s, {{}, bf}, yh);
    for (std::size_t m = 0; m < s.m; ++m)
      for (std::size_t n = 0; n < s.n; ++n) {
        const float v = f32(idot(a, b8, s, m, n, 0, s.k)) * x2s[n] * x1s[m] + bf[n];
        ASSERT_EQ(y[m * s.n + n], v);
        ASSERT_EQ(yb[m * s.n + n].bits(), bfloat16(v).bits());  // one RNE cast of the fp32 value
        ASSERT_EQ(yh[m * s.n + n].bits(), float16(v).bits());
      }
  }
}

TEST(Matmul, BlockwiseGbBbAndKg) {
  for (auto s : shapes)
    for (std::size_t gs : {1, 4, 32, 128}) {
      const auto a = random_codes<std::int8_t>(s.m * s.k, 15), b = random_codes<std::int8_t>(s.k * s.n, 16);
      const std::size_t kb = (s.k + gs - 1) / gs, nb = (s.n + gs - 1) / gs, mb = (s.m + gs - 1) / gs;
      const auto x1s = random_floats(s.m * kb, 17), x2s = random_floats(kb * nb, 18),
                 bias = random_floats(s.n, 19, -1, 1);
      const matmul_dims d{s.m, s.k, s.n};
      std::vector<float> y(s.m * s.n);
      matmul_gb<float, std::int8_t, std::int8_t>(a, b, d, gs, x1s, x2s, bias, y);
      for (std::size_t m = 0; m < s.m; ++m)
        for (std::size_t n = 0; n < s.n; ++n) {
          float acc = 0;
          for (std::size_t j = 0; j < kb; ++j) {
            const float sj = x1s[m * kb + j] * x2s[j * nb + n / gs];
            const float t = f32(idot(a, b, s, m, n, j * gs, std::min(j * gs + gs, s.k))) * sj;
            acc = acc + t;
          }
          ASSERT_EQ(y[m * s.n + n], acc + bias[n]) << "gs " << gs;
        }
      const auto e1 = random_codes<float8_e4m3fn>(s.m * s.k, 20),
                 e2 = random_codes<float8_e4m3fn>(s.k * s.n, 21);
      const auto b1 = random_floats(mb * kb, 22);
      matmul_bb<float, float8_e4m3fn, float8_e4m3fn>(e1, e2, d, gs, b1, x2s, {}, y);
      for (std::size_t m = 0; m < s.m; ++m)
        for (std::size_t n = 0; n < s.n; ++n) {
          float acc = 0;
          for (std::size_t j = 0; j < kb; ++j) {
            const float sj = b1[(m / gs) * kb + j] * x2s[j * nb + n / gs];
            const float t =
                static_cast<float>(fdot(e1, e2, s, m, n, j * gs, std::min(j * gs + gs, s.k))) * sj;
            acc = acc + t;
          }
          ASSERT_EQ(y[m * s.n + n], acc) << "gs " << gs;
        }
      const auto w4 = random_codes<int4>(s.k * s.n, 23);
      const auto g2 = random_floats(kb * s.n, 24), t1 = random_floats(s.m, 25);
      matmul_kg<float, std::int8_t, int4>(a, w4, d, gs, t1, g2, bias, y);
      for (std::size_t m = 0; m < s.m; ++m)
        for (std::size_t n = 0; n < s.n; ++n) {
          float acc = 0;
          for (std::size_t g = 0; g < kb; ++g) {
            const float t = f32(idot(a, w4, s, m, n, g * gs, std::min(g * gs + gs, s.k))) * g2[g * s.n + n];
            acc = acc + t;
          }
          ASSERT_EQ(y[m * s.n + n], t1[m] * acc + bias[n]);
        }
    }
}

TEST(Matmul, FloatCodesExactSumAndOrderIndependent) {
  for (auto s : shapes) {
    const auto a = random_codes<float8_e4m3fn>(s.m * s.k, 26), b = random_codes<float8_e4m3fn>(s.k * s.n, 27);
    const auto x1s = random_floats(s.m, 28), x2s = random_floats(s.n, 29);
    const matmul_dims d{s.m, s.k, s.n};
    std::vector<float> y(s.m * s.n), yr(s.m * s.n);
    matmul_kc<float, float8_e4m3fn, float8_e4m3fn>(a, b, d, x1s, x2s, {}, y);
    for (std::size_t m = 0; m < s.m; ++m)
      for (std::size_t n = 0; n < s.n; ++n)
        ASSERT_EQ(y[m * s.n + n], static_cast<float>(fdot(a, b, s, m, n, 0, s.k)) * x2s[n] * x1s[m]);
    // reversing k (x1 columns and x2 rows together) leaves every result bit unchanged
    auto ar = a, br = b;
    for (std::size_t m = 0; m < s.m; ++m)
      for (std::size_t k = 0; k < s.k; ++k) ar[m * s.k + k] = a[m * s.k + (s.k - 1 - k)];
    for (std::size_t k = 0; k < s.k; ++k)
      for (std::size_t n = 0; n < s.n; ++n) br[k * s.n + n] = b[(s.k - 1 - k) * s.n + n];
    matmul_kc<float, float8_e4m3fn, float8_e4m3fn>(ar, br, d, x1s, x2s, {}, yr);
    EXPECT_EQ(y, yr);
  }
  // cancellation that a naive fp32 loop gets wrong: 448*448 + 2^-9*2^-9 - 448*448
  const std::vector<float8_e4m3fn> a = {float8_e4m3fn(448.f), float8_e4m3fn(0x1p-9f), float8_e4m3fn(-448.f)};
  const std::vector<float8_e4m3fn> b = {float8_e4m3fn(448.f), float8_e4m3fn(0x1p-9f), float8_e4m3fn(448.f)};
  std::vector<float> y(1), one = {1.0f};
  matmul_kc<float, float8_e4m3fn, float8_e4m3fn>(a, b, {1, 3, 1}, one, one, {}, y);
  EXPECT_EQ(y[0], 0x1p-18f);
}

TEST(Matmul, HiFloat8AndE5m2WideRangeAreExact) {
  // products spanning 2^-44..2^30 (HiF8) need more than double: check sums built to cancel
  const std::vector<hifloat8> a = {hifloat8(32768.f), hifloat8(0x1p-22f), hifloat8(-32768.f),
                                   hifloat8(0x1p-22f)};
  const std::vector<hifloat8> b = {hifloat8(32768.f), hifloat8(0x1p-22f), hifloat8(32768.f),
                                   hifloat8(0x1p-21f)};
  std::vector<float> y(1), one = {1.0f};
  matmul_kc<float, hifloat8, hifloat8>(a, b, {1, 4, 1}, one, one, {}, y);
  EXPECT_EQ(y[0], 0x1.8p-43f);  // 2^-44 + 2^-43
  const std::vector<float8_e5m2> c = {float8_e5m2(57344.f), float8_e5m2(0x1p-16f), float8_e5m2(-57344.f)};
  matmul_kc<float, float8_e5m2, float8_e5m2>(c, c, {1, 3, 1}, one, one, {}, y);
  EXPECT_EQ(y[0], 0x1p-32f + 57344.f * 57344.f * 2);  // 57344^2 + 2^-32 + 57344^2 rounded once
}

TEST(Matmul, IeeeSpecialsInFloatCodes) {
  const std::vector<float8_e5m2> a = {float8_e5m2::from_bits(0x7c), float8_e5m2(1.f)};  // +Inf, 1
  const std::vector<float8_e5m2> b = {float8_e5m2(2.f), float8_e5m2(0.f), float8_e5m2(0.f), float8_e5m2(1.f)};
  std::vector<float> y(2), one = {1.0f};
  matmul_kc<float, float8_e5m2, float8_e5m2>(a, b, {1, 2, 2}, one, one, {}, y);
  EXPECT_EQ(y[0], INFINITY);      // Inf * 2 + 1 * 0
  EXPECT_TRUE(std::isnan(y[1]));  // Inf * 0 + 1 * 1
}

TEST(Matmul, MxMatchesScaledBlocks) {
  for (auto s : shapes) {
    const auto a = random_codes<float4_e2m1fn>(s.m * s.k, 30);
    const auto b = random_codes<float8_e4m3fn>(s.k * s.n, 31);
    const std::size_t nb = (s.k + 31) / 32;
    std::vector<float8_e8m0fnu> e1(s.m * nb), e2(nb * s.n);
    std::mt19937 rng(32);
    for (auto& e : e1) e = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(110 + rng() % 30));
    for (auto& e : e2) e = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(110 + rng() % 30));
    std::vector<float> y(s.m * s.n);
    matmul_mx<float, float4_e2m1fn, float8_e4m3fn>(a, b, {s.m, s.k, s.n}, e1, e2, {}, y);
    for (std::size_t m = 0; m < s.m; ++m)
      for (std::size_t n = 0; n < s.n; ++n) {
        float acc = 0;
        for (std::size_t j = 0; j < nb; ++j) {
          const double p = fdot(a, b, s, m, n, 32 * j, std::min(32 * j + 32, s.k));
          acc = acc + static_cast<float>(
                          std::ldexp(p, int(e1[m * nb + j].bits()) + int(e2[j * s.n + n].bits()) - 254));
        }
        ASSERT_EQ(y[m * s.n + n], acc);
      }
  }
}

TEST(Matmul, TcgRequantizesWeightsToE4m3) {
  const shape3 s{3, 70, 4};
  const auto a = random_codes<float8_e4m3fn>(s.m * s.k, 33);
  const auto w = random_codes<float4_e2m1fn>(s.k * s.n, 34);
  const std::size_t ng = 3;
  std::vector<bfloat16> gs(ng * s.n);
  const auto gv = random_floats(gs.size(), 35, 0.1f, 100.f);
  for (std::size_t i = 0; i < gs.size(); ++i) gs[i] = bfloat16(gv[i]);
  std::vector<std::uint64_t> ys(s.n);
  const auto yv = random_floats(s.n, 36);
  for (std::size_t n = 0; n < s.n; ++n) ys[n] = fixpipe::pack(yv[n]);
  std::vector<float> y(s.m * s.n);
  matmul_tcg<float, bfloat16>(a, w, {s.m, s.k, s.n}, gs, ys, y);
  std::vector<float8_e4m3fn> wq(s.k * s.n);
  for (std::size_t k = 0; k < s.k; ++k)
    for (std::size_t n = 0; n < s.n; ++n) {
      const float prod = float(w[k * s.n + n]) * float(gs[(k / 32) * s.n + n]);  // exact in fp32
      wq[k * s.n + n] = float8_e4m3fn(float(bfloat16(prod)));
    }
  for (std::size_t m = 0; m < s.m; ++m)
    for (std::size_t n = 0; n < s.n; ++n)
      ASSERT_EQ(y[m * s.n + n], static_cast<float>(fdot(a, wq, s, m, n, 0, s.k)) * fixpipe::trunc19(yv[n]));
}

TEST(Matmul, WeightOnlyInterRounding) {
  const shape3 s{3, 40, 5};
  const auto w = random_codes<int4>(s.k * s.n, 37);
  const auto xs = random_floats(s.m * s.k, 38, -2, 2);
  std::vector<bfloat16> x(xs.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = bfloat16(xs[i]);
  const std::size_t gs = 16, ng = 3;
  const auto sc = random_floats(ng * s.n, 39, 0.001f, 0.1f), off = random_floats(ng * s.n, 40, -3, 3);
  const auto bias = random_floats(s.n, 41, -1, 1);
  std::vector<float> y(s.m * s.n);
  matmul_weight_only<float, bfloat16, int4>(x, w, {s.m, s.k, s.n}, {granularity::group(gs), sc, off}, bias,
                                            y);
  const auto bf = [](float v) { return float(bfloat16(v)); };
  for (std::size_t m = 0; m < s.m; ++m)
    for (std::size_t n = 0; n < s.n; ++n) {
      double acc = 0;
      for (std::size_t k = 0; k < s.k; ++k) {
        const std::size_t g = (k / gs) * s.n + n;
        const float W = bf(bf(float(w[k * s.n + n]) + bf(off[g])) * bf(sc[g]));
        acc += double(float(x[m * s.k + k])) * double(W);
      }
      ASSERT_EQ(y[m * s.n + n], bf(static_cast<float>(acc) + bias[n]));
    }
}

TEST(Matmul, TransposedX2MatchesNatural) {
  const shape3 s{5, 37, 6};
  const auto a = random_codes<std::int8_t>(s.m * s.k, 42), b = random_codes<std::int8_t>(s.k * s.n, 43);
  std::vector<std::int8_t> bt(b.size());
  for (std::size_t k = 0; k < s.k; ++k)
    for (std::size_t n = 0; n < s.n; ++n) bt[n * s.k + k] = b[k * s.n + n];
  const auto x1s = random_floats(s.m, 44), x2s = random_floats(s.n, 45);
  std::vector<float> y(s.m * s.n), yt(s.m * s.n);
  matmul_kc<float, std::int8_t, std::int8_t>(a, b, {s.m, s.k, s.n}, x1s, x2s, {}, y);
  matmul_kc<float, std::int8_t, std::int8_t>(a, bt, {s.m, s.k, s.n, true}, x1s, x2s, {}, yt);
  EXPECT_EQ(y, yt);
}

TEST(Matmul, NoFusedMultiplyAdd) {
  // acc + p * s where an FMA would keep the low bits of p * s: the build must not contract.
  const float p = 1.0f + 0x1p-12f, s = 1.0f + 0x1p-12f, acc = -1.0f;
  volatile float pv = p, sv = s, av = acc;
  const float sep = pv * sv;
  EXPECT_EQ(av + sep, 0x1p-11f) << "compiled with FP contraction";
  // and through the library: one G-B block sum times its scale, added to the previous block
  const std::vector<std::int8_t> a = {1, 1}, b = {1, 1};
  const std::vector<float> x1s = {p, p}, x2s = {s, s};
  std::vector<float> y(1);
  matmul_gb<float, std::int8_t, std::int8_t>(a, b, {1, 2, 1}, 1, x1s, x2s, {}, y);
  const float t = p * s;
  EXPECT_EQ(y[0], t + t);
}

TEST(Matmul, BadShapesAreErrors) {
  const std::vector<std::int8_t> a(6), b(6);
  std::vector<float> y(4), s2 = {1, 1}, s1 = {1, 1};
  EXPECT_THROW((matmul_kc<float, std::int8_t, std::int8_t>(a, b, {2, 4, 2}, s1, s2, {}, y)),
               std::invalid_argument);
  EXPECT_THROW(
      (matmul_kc<float, std::int8_t, std::int8_t>(a, b, {2, 3, 2}, s1, std::vector<float>{1, 1, 1}, {}, y)),
      std::invalid_argument);
  EXPECT_THROW((matmul_kc<float, std::int8_t, std::int8_t>(
                   a, b, {2, 3, 2}, s1, s2, {std::vector<std::int32_t>{1, 2}, std::vector<float>{1, 2}}, y)),
               std::invalid_argument);
  EXPECT_THROW((matmul_gb<float, std::int8_t, std::int8_t>(a, b, {2, 3, 2}, 0, s1, s2, {}, y)),
               std::invalid_argument);
  std::vector<float> empty, one = {1.0f};
  matmul_kc<float, std::int8_t, std::int8_t>({}, {}, {0, 0, 0}, empty, one, {}, empty);  // empty is fine
  std::vector<float> y3(3, -1.0f);
  matmul_kc<float, std::int8_t, std::int8_t>({}, {}, {3, 0, 1}, std::vector<float>{1, 1, 1}, one, {},
                                             y3);  // k = 0
  EXPECT_EQ(y3, (std::vector<float>{0, 0, 0}));
}

// Every float mode's bf16 and fp16 result is its fp32 result cast by lowbit::cast_output (RNE,
// overflow to Inf, canonical NaN), on the fast paths (the VNNI / AVX2 / SDOT kernels with their
// fused bf16 epilogue, the double sums) and the references alike. The `lowbit` tool relies on it:
// it computes fp32 and casts (examples/cli/matmul.cpp). Expected values come from cast_output on
// the fp32 result and from an independent check that cast_output is one RNE cast with a canonical
// NaN; the data reach fp16's overflow and carry NaN / Inf.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <lowbit/lowbit.hpp>

namespace {

using namespace lowbit;

constexpr std::size_t m = 5, k = 160, n = 37;  // odd rows, a k tail for groups of 128, an n tail
const matmul_dims d{m, k, n};

template <class T>
std::vector<T> codes(std::size_t count, unsigned seed, bool specials = false) {
  std::mt19937 rng(seed);
  std::vector<T> v(count);
  for (auto& c : v) {
    if constexpr (std::is_same_v<T, std::int8_t>)
      c = static_cast<std::int8_t>(static_cast<int>(rng() % 256) - 128);
    else if constexpr (std::is_same_v<T, int4>)
      c = int4::from_bits(static_cast<std::uint8_t>(rng() % 16));
    else
      do c = T::from_bits(static_cast<typename T::storage>(rng() & T::mask));
      while (!specials && !std::isfinite(static_cast<float>(c)));
  }
  return v;
}

/// Positive scales over [2^lo, 2^hi): with hi large the sums pass fp16's 65504 (Inf there).
std::vector<float> scales(std::size_t count, unsigned seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::vector<float> v(count);
  for (auto& x : v)
    x = std::ldexp(1.0f + static_cast<float>(rng() % 1024) / 1024.0f,
                   lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo)));
  return v;
}

std::vector<float8_e8m0fnu> e8m0(std::size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<float8_e8m0fnu> v(count);
  for (auto& e : v) e = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(120 + rng() % 20));
  v[3] = float8_e8m0fnu::from_bits(0xff);  // a NaN scale: NaN outputs
  return v;
}

/// run(span<Out>) for fp32, bf16 and fp16; each half result must be cast_output of the fp32 one.
/// Adds the outputs that are NaN / Inf in fp16 to nans / infs (the cases must reach both).
template <class Run>
void expect_cast(const char* what, std::size_t& nans, std::size_t& infs, Run run) {
  std::vector<float> yf(m * n);
  std::vector<bfloat16> yb(m * n);
  std::vector<float16> yh(m * n);
  run(std::span<float>(yf));
  run(std::span<bfloat16>(yb));
  run(std::span<float16>(yh));
  for (std::size_t i = 0; i < yf.size(); ++i) {
    ASSERT_EQ(yb[i].bits(), cast_output<bfloat16>(yf[i]).bits())
        << what << " bf16 at " << i << " fp32 " << yf[i];
    ASSERT_EQ(yh[i].bits(), cast_output<float16>(yf[i]).bits())
        << what << " fp16 at " << i << " fp32 " << yf[i];
    nans += yh[i].bits() == 0x7e00;
    infs += (yh[i].bits() & 0x7fff) == 0x7c00;
  }
}

TEST(OutputCast, IsOneRoundingWithCanonicalNaN) {
  EXPECT_EQ(cast_output<bfloat16>(1.0f + 0x1p-8f).bits(), 0x3f80);  // a tie: to even
  EXPECT_EQ(cast_output<bfloat16>(1.0f + 0x1p-8f + 0x1p-20f).bits(), 0x3f81);
  EXPECT_EQ(cast_output<float16>(65520.0f).bits(), 0x7c00);  // half-way past fp16's max: Inf
  EXPECT_EQ(cast_output<float16>(65519.0f).bits(), 0x7bff);
  const float neg_nan = -std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(cast_output<bfloat16>(neg_nan).bits(), 0x7fc0);
  EXPECT_EQ(cast_output<float16>(neg_nan).bits(), 0x7e00);
  const float y = cast_output<float>(neg_nan);
  std::uint32_t bits;
  std::memcpy(&bits, &y, 4);
  EXPECT_EQ(bits, 0x7fc00000u);
}

TEST(OutputCast, EveryFloatModeCastsItsFp32Result) {
  const auto i8a = codes<std::int8_t>(m * k, 1), i8b = codes<std::int8_t>(k * n, 2);
  const auto i4b = codes<int4>(k * n, 3);
  const auto e4a = codes<float8_e4m3fn>(m * k, 4), e4b = codes<float8_e4m3fn>(k * n, 5);
  const auto e5a = codes<float8_e5m2>(m * k, 6, true), e5b = codes<float8_e5m2>(k * n, 7, true);
  const auto hfa = codes<hifloat8>(m * k, 8), hfb = codes<hifloat8>(k * n, 9);
  const auto f4a = codes<float4_e2m1fn>(m * k, 10), f4b = codes<float4_e2m1fn>(k * n, 11);
  const auto f6b = codes<float6_e3m2fn>(k * n, 12);
  const auto tok = scales(m, 13, -4, 4), big = scales(n, 14, 2, 12);
  const auto bias = scales(n, 15, -2, 2);
  std::size_t nans = 0, infs = 0;

  expect_cast("K-C int8", nans, infs, [&](auto y) {  // VNNI / SDOT, the fused bf16 epilogue
    matmul_kc<typename decltype(y)::value_type, std::int8_t, std::int8_t>(i8a, i8b, d, tok, big,
                                                                          {.f32 = bias}, y);
  });
  expect_cast("K-C int8 x int4", nans, infs, [&](auto y) {
    matmul_kc<typename decltype(y)::value_type, std::int8_t, int4>(i8a, i4b, d, tok, big, {}, y);
  });
  expect_cast("K-C e5m2 (NaN / Inf codes)", nans, infs, [&](auto y) {
    matmul_kc<typename decltype(y)::value_type, float8_e5m2, float8_e5m2>(e5a, e5b, d, tok, big, {}, y);
  });
  const std::vector<std::uint64_t> fix = {fixpipe::pack(300.0f)};
  expect_cast("T-C int8, uint64 scale", nans, infs, [&](auto y) {
    matmul_tc<typename decltype(y)::value_type, std::int8_t, std::int8_t>(i8a, i8b, d, fix, {}, y);
  });
  expect_cast("T-C hifloat8", nans, infs, [&](auto y) {
    matmul_tc<typename decltype(y)::value_type, hifloat8, hifloat8>(hfa, hfb, d, std::span<const float>(big),
                                                                    std::nullopt, {.f32 = bias}, y);
  });
  const std::size_t kb = (k + 127) / 128, nb = (n + 127) / 128;
  const auto ga = scales(m * kb, 16, 0, 6), gb = scales(kb * nb, 17, 0, 6),
             ba = scales(((m + 127) / 128) * kb, 18, 0, 6);
  expect_cast("G-B int8", nans, infs, [&](auto y) {
    matmul_gb<typename decltype(y)::value_type, std::int8_t, std::int8_t>(i8a, i8b, d, 128, ga, gb, bias, y);
  });
  expect_cast("G-B e4m3", nans, infs, [&](auto y) {
    matmul_gb<typename decltype(y)::value_type, float8_e4m3fn, float8_e4m3fn>(e4a, e4b, d, 128, ga, gb, {},
                                                                              y);
  });
  expect_cast("B-B e4m3", nans, infs, [&](auto y) {
    matmul_bb<typename decltype(y)::value_type, float8_e4m3fn, float8_e4m3fn>(e4a, e4b, d, 128, ba, gb, {},
                                                                              y);
  });
  const auto mxa = e8m0(m * (k / 32), 19), mxb = e8m0((k / 32) * n, 20);
  expect_cast("MX fp4 x fp4 (integer kernels)", nans, infs, [&](auto y) {
    matmul_mx<typename decltype(y)::value_type, float4_e2m1fn, float4_e2m1fn>(f4a, f4b, d, mxa, mxb, bias, y);
  });
  expect_cast("MX e4m3 x e3m2 (double sums)", nans, infs, [&](auto y) {
    matmul_mx<typename decltype(y)::value_type, float8_e4m3fn, float6_e3m2fn>(e4a, f6b, d, mxa, mxb, {}, y);
  });
  const auto g32 = scales((k / 32) * n, 21, 0, 4);
  std::vector<bfloat16> tcg_s(g32.size());
  for (std::size_t i = 0; i < g32.size(); ++i) tcg_s[i] = bfloat16(g32[i]);
  std::vector<std::uint64_t> ys(n);
  for (std::size_t i = 0; i < n; ++i) ys[i] = fixpipe::pack(big[i]);
  expect_cast("T-CG", nans, infs, [&](auto y) {
    matmul_tcg<typename decltype(y)::value_type, bfloat16>(e4a, f4b, d, tcg_s, ys, y);
  });
  const auto kg = scales(((k + 31) / 32) * n, 22, 2, 10);
  expect_cast("K-G", nans, infs, [&](auto y) {
    matmul_kg<typename decltype(y)::value_type, std::int8_t, int4>(i8a, i4b, d, 32, tok, kg, {}, y);
  });
  std::vector<bfloat16> xb(m * k);
  for (std::size_t i = 0; i < xb.size(); ++i) xb[i] = bfloat16(static_cast<float>(i % 97) - 48.0f);
  const auto wo = scales(n, 23, 0, 6);
  expect_cast("weight-only bf16 x int4", nans, infs, [&](auto y) {
    matmul_weight_only<typename decltype(y)::value_type, bfloat16, int4>(
        xb, i4b, d, {.gran = granularity::channel(), .scale = wo}, bias, y);
  });
  std::vector<float8_e4m3fn> s16a(m * (k / 16)), s16b((k / 16) * n);
  for (std::size_t i = 0; i < s16a.size(); ++i) s16a[i] = float8_e4m3fn(static_cast<float>(1 + i % 7));
  for (std::size_t i = 0; i < s16b.size(); ++i) s16b[i] = float8_e4m3fn(static_cast<float>(8 + i % 9));
  expect_cast("NVFP4", nans, infs, [&](auto y) {
    matmul_nvfp4<typename decltype(y)::value_type>(f4a, f4b, d, s16a, s16b, 64.0f, {}, y);
  });
  EXPECT_GT(nans, 0u);  // the cases reach NaN and fp16's overflow
  EXPECT_GT(infs, 0u);
}

}  // namespace

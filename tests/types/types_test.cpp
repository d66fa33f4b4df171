// Type-level facts: round trips of every code, numeric_limits, bf16/fp16 against independent
// conversions (the compiler's _Float16 and the classic bf16 bit trick), integer rounding,
// nibble packing golden bytes, and compile-time properties.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <lowbit/lowbit.hpp>

#include "compiler_half.hpp"
#include "test_util.hpp"

using namespace lowbit;
using lowbit_test::bits_float;
using lowbit_test::float_bits;

// Compile-time checks (R10): storage only, no implicit narrowing, constexpr conversions.
static_assert(sizeof(float8_e4m3fn) == 1 && std::is_trivially_copyable_v<float8_e4m3fn>);
static_assert(sizeof(bfloat16) == 2 && std::is_trivially_copyable_v<bfloat16>);
static_assert(sizeof(int4) == 1 && std::is_trivially_copyable_v<int4>);
static_assert(!std::is_convertible_v<float, float8_e4m3fn>);
static_assert(!std::is_convertible_v<float8_e4m3fn, float>);
static_assert(float8_e4m3fn(448.f).bits() == 0x7e);
static_assert(float8_e4m3fn(1e6f).bits() == 0x7e);
static_assert(static_cast<float>(float4_e2m1fn::from_bits(0x7)) == 6.0f);
static_assert(hifloat8(1.0f).bits() == 0x08);
static_assert(convert<std::int8_t>(2.5f) == 2 && convert<std::int8_t>(3.5f) == 4);

template <class T>
class EveryCode : public ::testing::Test {};
using AllFloats = ::testing::Types<float8_e4m3fn, float8_e5m2, hifloat8, float8_e8m0fnu, float6_e2m3fn,
                                   float6_e3m2fn, float4_e2m1fn, float4_e1m2fn>;
TYPED_TEST_SUITE(EveryCode, AllFloats);

TYPED_TEST(EveryCode, RoundTripsThroughFloat) {
  for (unsigned c = 0; c <= TypeParam::mask; ++c) {
    const auto v = TypeParam::from_bits(static_cast<std::uint8_t>(c));
    const float f = static_cast<float>(v);
    const convert_policy keep{rounding::rint, overflow::propagate, nan_policy::keep};
    const auto back = TypeParam(f, keep);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(static_cast<float>(back))) << c;
    } else {
      EXPECT_EQ(back.bits(), c) << "code " << c << " value " << f;
      for (auto r :
           {rounding::round, rounding::floor, rounding::ceil, rounding::trunc})  // exact values never move
        EXPECT_EQ(TypeParam(f, {r, overflow::propagate, nan_policy::keep}).bits(), c);
    }
  }
}

TEST(Limits, ValuesOfEveryFormat) {
  EXPECT_EQ(float(std::numeric_limits<float8_e4m3fn>::max()), 448.f);
  EXPECT_EQ(float(std::numeric_limits<float8_e4m3fn>::lowest()), -448.f);
  EXPECT_EQ(float(std::numeric_limits<float8_e4m3fn>::min()), 0x1p-6f);
  EXPECT_EQ(float(std::numeric_limits<float8_e4m3fn>::denorm_min()), 0x1p-9f);
  EXPECT_EQ(float(std::numeric_limits<float8_e4m3fn>::epsilon()), 0.125f);
  EXPECT_TRUE(std::isnan(float(std::numeric_limits<float8_e4m3fn>::quiet_NaN())));
  EXPECT_FALSE(std::numeric_limits<float8_e4m3fn>::has_infinity);
  EXPECT_EQ(float(std::numeric_limits<float8_e5m2>::max()), 57344.f);
  EXPECT_EQ(float(std::numeric_limits<float8_e5m2>::infinity()), INFINITY);
  EXPECT_EQ(float(std::numeric_limits<float8_e5m2>::denorm_min()), 0x1p-16f);
  EXPECT_EQ(std::numeric_limits<float8_e5m2>::quiet_NaN().bits(), 0x7e);
  EXPECT_EQ(float(std::numeric_limits<hifloat8>::max()), 32768.f);
  EXPECT_EQ(float(std::numeric_limits<hifloat8>::min()), 0x1p-15f);
  EXPECT_EQ(float(std::numeric_limits<hifloat8>::denorm_min()), 0x1p-22f);
  EXPECT_EQ(float(std::numeric_limits<hifloat8>::epsilon()), 0.125f);
  EXPECT_EQ(float(std::numeric_limits<hifloat8>::lowest()), -32768.f);
  EXPECT_EQ(float(std::numeric_limits<float8_e8m0fnu>::max()), 0x1p127f);
  EXPECT_EQ(float(std::numeric_limits<float8_e8m0fnu>::min()), 0x1p-127f);
  EXPECT_EQ(float(std::numeric_limits<float8_e8m0fnu>::epsilon()), 1.f);
  EXPECT_FALSE(std::numeric_limits<float8_e8m0fnu>::is_signed);
  EXPECT_EQ(float(std::numeric_limits<float4_e2m1fn>::max()), 6.f);
  EXPECT_EQ(float(std::numeric_limits<float4_e2m1fn>::denorm_min()), 0.5f);
  EXPECT_EQ(float(std::numeric_limits<float4_e1m2fn>::max()), 1.75f);
  EXPECT_EQ(float(std::numeric_limits<float4_e1m2fn>::denorm_min()), 0.25f);
  EXPECT_EQ(float(std::numeric_limits<float6_e2m3fn>::max()), 7.5f);
  EXPECT_EQ(float(std::numeric_limits<float6_e3m2fn>::max()), 28.f);
  EXPECT_EQ(float(std::numeric_limits<float6_e3m2fn>::min()), 0.25f);
  EXPECT_EQ(float(std::numeric_limits<bfloat16>::max()), bits_float(0x7f7f0000));
  EXPECT_EQ(float(std::numeric_limits<float16>::max()), 65504.f);
  EXPECT_EQ(float(std::numeric_limits<float16>::denorm_min()), 0x1p-24f);
  EXPECT_EQ(std::numeric_limits<int4>::min().value(), -8);
  EXPECT_EQ(std::numeric_limits<int4>::max().value(), 7);
  EXPECT_EQ(std::numeric_limits<uint4>::max().value(), 15);
}

TEST(Half, Float16MatchesCompilerFloat16) {
  for (std::uint32_t b = 0; b < 0x10000; ++b) {  // decode: every pattern
    const auto h = float16::from_bits(static_cast<std::uint16_t>(b));
    const float want = static_cast<float>(std::bit_cast<compiler_half>(static_cast<std::uint16_t>(b)));
    if (std::isnan(want))
      EXPECT_TRUE(std::isnan(float(h)));
    else
      ASSERT_EQ(float_bits(float(h)), float_bits(want)) << b;
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2000000; ++i) {  // encode: random float bit patterns, RNE
    const float x = bits_float(static_cast<std::uint32_t>(rng()));
    if (std::isnan(x)) continue;
    const auto want = std::bit_cast<std::uint16_t>(static_cast<compiler_half>(x));
    ASSERT_EQ(float16(x).bits(), want) << "x=" << x;
  }
}

TEST(Half, Bfloat16MatchesBitTrick) {
  std::mt19937 rng(8);
  for (int i = 0; i < 2000000; ++i) {
    const std::uint32_t b = static_cast<std::uint32_t>(rng());
    const float x = bits_float(b);
    if (std::isnan(x)) {
      EXPECT_EQ(bfloat16(x).bits() & 0x7fc0, 0x7fc0);
      continue;
    }
    const auto want = static_cast<std::uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);  // RNE
    ASSERT_EQ(bfloat16(x).bits(), want) << std::hex << b;
    ASSERT_EQ(float_bits(float(bfloat16::from_bits(want))), static_cast<std::uint32_t>(want) << 16);
  }
  const float big = bits_float(0x7f7fffff);     // FLT_MAX rounds above bf16 max
  EXPECT_EQ(bfloat16(big).bits(), 0x7f80);      // IEEE default: overflow to Inf
  EXPECT_EQ(bfloat16(big, {}).bits(), 0x7f7f);  // saturate when asked
}

TEST(Integers, RoundingClampAndNaN) {
  struct row {
    float x;
    rounding r;
    int want8;
    int want4;
  };
  const row rows[] = {
      {2.5f, rounding::rint, 2, 2},           {3.5f, rounding::rint, 4, 4},
      {-2.5f, rounding::rint, -2, -2},        {2.5f, rounding::round, 3, 3},
      {-2.5f, rounding::round, -3, -3},       {2.7f, rounding::floor, 2, 2},
      {-2.2f, rounding::floor, -3, -3},       {2.2f, rounding::ceil, 3, 3},
      {-2.7f, rounding::trunc, -2, -2},       {127.6f, rounding::rint, 127, 7},
      {-1e9f, rounding::rint, -128, -8},      {INFINITY, rounding::rint, 127, 7},
      {-INFINITY, rounding::floor, -128, -8}, {NAN, rounding::rint, 0, 0},
      {-0.4f, rounding::rint, 0, 0},          {7.5f, rounding::rint, 8, 7},
      {-8.5f, rounding::rint, -8, -8},        {0.5f, rounding::rint, 0, 0},
      {8388609.f, rounding::rint, 127, 7},
  };
  for (const auto& t : rows) {
    EXPECT_EQ(convert<std::int8_t>(t.x, {t.r}), t.want8) << t.x << " " << to_string(t.r);
    EXPECT_EQ(int4(t.x, {t.r}).value(), t.want4) << t.x << " " << to_string(t.r);
  }
  for (int b = 0; b < 16; ++b)
    EXPECT_EQ(int4::from_bits(static_cast<std::uint8_t>(b)).value(), b < 8 ? b : b - 16);
  EXPECT_EQ(uint4(20.f).value(), 15);
  EXPECT_EQ(uint4(-3.f).value(), 0);
}

TEST(Packing, GoldenBytesLowNibbleFirst) {
  // int4 values [1, -2, 7, -8] -> codes [0x1, 0xe, 0x7, 0x8] -> bytes [0xe1, 0x87].
  const std::uint8_t codes[] = {int4(1.f).bits(), int4(-2.f).bits(), int4(7.f).bits(), int4(-8.f).bits()};
  std::uint8_t packed[2];
  pack_nibbles(codes, packed);
  EXPECT_EQ(packed[0], 0xe1);
  EXPECT_EQ(packed[1], 0x87);
  std::uint8_t back[4];
  unpack_nibbles(packed, back);
  EXPECT_TRUE(std::equal(back, back + 4, codes));
  // fp4 e2m1 [0.5, -6] -> codes [0x1, 0xf] -> 0xf1.
  const std::uint8_t f4[] = {float4_e2m1fn(0.5f).bits(), float4_e2m1fn(-6.f).bits()};
  pack_nibbles(f4, std::span<std::uint8_t>(packed, 1));
  EXPECT_EQ(packed[0], 0xf1);
  // int32 carrier: 8 codes 0..7 -> 0x76543210, byte-identical to two-per-byte packing.
  const std::uint8_t eight[] = {0, 1, 2, 3, 4, 5, 6, 7};
  std::int32_t word;
  pack_int32(eight, std::span<std::int32_t>(&word, 1));
  EXPECT_EQ(word, 0x76543210);
  std::uint8_t bytes[4];
  pack_nibbles(eight, bytes);
  EXPECT_EQ(std::memcmp(bytes, &word, 4), 0);
  std::uint8_t odd[3] = {};
  EXPECT_THROW(pack_nibbles(odd, std::span<std::uint8_t>(packed, 1)), std::invalid_argument);
}

TEST(Formats, NamesRoundTripAndVisit) {
  for (format f : all_formats) {
    EXPECT_EQ(parse_format(to_string(f)), f);
    const int bits = visit_format(f, [](auto t) {
      using T = typename decltype(t)::type;
      if constexpr (std::is_same_v<T, float>)
        return 32;
      else
        return format_traits<T>::code_bits;
    });
    EXPECT_GT(bits, 0);
  }
  EXPECT_FALSE(parse_format("fp8"));
  EXPECT_EQ(parse_rounding("round"), rounding::round);
  EXPECT_FALSE(parse_rounding("nearest"));
}

// The bad-input catalogue (README "Bad input"): each entry has a documented outcome, either a
// defined result or an exception whose message names the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include <lowbit/lowbit.hpp>

using namespace lowbit;

namespace {
template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no exception>";
}
const std::vector<float> none;
}  // namespace

TEST(Catalogue, EmptyMatricesGiveEmptyResults) {
  const auto q = quantize<std::int8_t, float>(none, {0, 16}, {.gran = granularity::token()});
  EXPECT_TRUE(q.values.empty() && q.scales.empty());
  const auto c =
      quantize<std::int8_t, float>(none, {0, 16}, {.gran = granularity::channel(), .side = operand::right});
  EXPECT_EQ(c.scales, std::vector<float>(16, 0.0f));  // (n,) scales of an empty k: all zero
  std::vector<float> y;                               // m = 0: an empty result
  matmul_kc<float, std::int8_t, std::int8_t>({}, std::vector<std::int8_t>(12), {0, 4, 3}, none,
                                             std::vector<float>{1}, {}, y);
}

TEST(Catalogue, KZeroGivesZeroPlusBias) {
  std::vector<float> y(2 * 3, -1.0f);
  const std::vector<float> bias = {1, 2, 3};
  matmul_kc<float, std::int8_t, std::int8_t>({}, {}, {2, 0, 3}, std::vector<float>{1, 1},
                                             std::vector<float>{1}, {{}, bias}, y);
  EXPECT_EQ(y, (std::vector<float>{1, 2, 3, 1, 2, 3}));
  const auto q = quantize<std::int8_t, float>(none, {3, 0}, {.gran = granularity::group(32)});
  EXPECT_EQ(q.map.scale_shape(), (std::vector<std::size_t>{3, 0}));
}

TEST(Catalogue, GroupAndBlockSizes) {
  const std::vector<float> x(12, 1.0f);
  EXPECT_NE(message_of([&] {
              quantize<std::int8_t, float>(x, {3, 4}, {.gran = granularity::group(0)});
            }).find("group size must be at least 1"),
            std::string::npos);
  EXPECT_NE(message_of([&] {
              quantize<std::int8_t, float>(x, {3, 4}, {.gran = granularity::block(0, 2)});
            }).find("block sizes must be at least 1"),
            std::string::npos);
  // larger than the dimension: one partial group / block
  const auto q = quantize<std::int8_t, float>(x, {3, 4}, {.gran = granularity::group(100)});
  EXPECT_EQ(q.map.scale_shape(), (std::vector<std::size_t>{3, 1}));
  const auto b = quantize<std::int8_t, float>(x, {3, 4}, {.gran = granularity::block(50, 50)});
  EXPECT_EQ(b.map.scale_shape(), (std::vector<std::size_t>{1, 1}));
}

TEST(Catalogue, OddLastDimensionForPacked4Bit) {
  const std::vector<std::uint8_t> codes(5);
  std::vector<std::uint8_t> out(2);
  EXPECT_NE(message_of([&] { pack_nibbles(codes, out); }).find("the last axis must be even"),
            std::string::npos);
}

TEST(Catalogue, WrongScaleShapes) {
  const std::vector<std::int8_t> a(6), b(6);
  std::vector<float> y(4);
  EXPECT_NE(message_of([&] {
              matmul_kc<float, std::int8_t, std::int8_t>(a, b, {2, 3, 2}, std::vector<float>{1, 1},
                                                         std::vector<float>{1, 1, 1}, {}, y);
            }).find("x2 scale has 3 elements, expected n = 2"),
            std::string::npos);
  const std::vector<float> x(6, 1.0f);
  EXPECT_NE(message_of([&] {
              quantize_static<std::int8_t, float>(
                  x, {2, 3}, {.gran = granularity::token(), .scales = std::vector<float>{1}});
            }).find("static scale has 1 elements, expected 2"),
            std::string::npos);
}

TEST(Catalogue, MismatchedSizes) {
  const std::vector<std::int8_t> a(6), b(8);
  std::vector<float> y(4);
  EXPECT_NE(message_of([&] {
              matmul_kc<float, std::int8_t, std::int8_t>(a, b, {2, 3, 2}, std::vector<float>{1, 1},
                                                         std::vector<float>{1}, {}, y);
            }).find("x2 (k x n = 3 x 2) has 8 elements"),
            std::string::npos);
  const std::vector<float> x(5);
  EXPECT_NE(message_of([&] {
              quantize<std::int8_t, float>(x, {2, 3}, {});
            }).find("input has 5 elements, expected 6"),
            std::string::npos);
  EXPECT_NE(message_of([&] {
              quantize<std::int8_t, float>(none, {0, 0}, {.dtype_max = NAN});
            }).find("dtype max"),
            std::string::npos);
}

TEST(Catalogue, NanInfAndAllZeroGroupsAreDefined) {
  const std::vector<float> x = {0, 0, NAN, INFINITY, -INFINITY, 1};
  const auto q = quantize<float8_e4m3fn, float>(x, {3, 2}, {.gran = granularity::token()});
  EXPECT_EQ(q.scales[0], 0.0f);           // all zero
  EXPECT_EQ(q.scales[1], 0.0f);           // no finite element
  EXPECT_EQ(q.values[2].bits(), 0x00);    // NaN -> +0
  EXPECT_EQ(q.values[3].bits(), 0x7e);    // +Inf -> +max
  EXPECT_EQ(q.values[4].bits(), 0xfe);    // -Inf -> -max
  EXPECT_EQ(float(q.values[5]), 448.0f);  // amax 1 (finite only)
  const auto m = quantize_mx<float8_e4m3fn, float>(std::vector<float>(32, NAN), {1, 32}, {});
  EXPECT_EQ(m.scales[0].bits(), 0xff);  // MX: NaN scale, zero elements
  EXPECT_EQ(m.values[0].bits(), 0x00);
}

TEST(Catalogue, KThatOverflowsInt32) {
  const std::size_t k = 131073;  // 131073 * 128 * 128 > 2^31
  const std::vector<std::int8_t> a(k, -128), b(k, -128);
  std::vector<std::int32_t> yi(1);
  EXPECT_NE(message_of([&] {
              matmul_int32<std::int8_t, std::int8_t>(a, b, {1, k, 1}, {}, yi);
            }).find("does not fit int32"),
            std::string::npos);
  std::vector<float> y(1);
  const std::vector<float> one = {1.0f};
  matmul_kc<float, std::int8_t, std::int8_t>(a, b, {1, k, 1}, one, one, {}, y);
  EXPECT_EQ(y[0], 2147500032.0f);  // exact, never wrapped
}

TEST(Catalogue, NpyThatLiesAboutItsSize) {
  const auto whole = npy::serialize(npy::array::from<float>({4}, std::vector<float>{1, 2, 3, 4}));
  const std::vector<std::byte> bytes(whole.begin(), whole.end() - 4);  // one float short
  EXPECT_NE(message_of([&] { npy::parse(bytes, "lie.npy"); }).find("lie.npy: truncated data"),
            std::string::npos);
}

TEST(Catalogue, ConflictingBias) {
  const std::vector<std::int8_t> a(2), b(2);
  std::vector<float> y(1);
  EXPECT_NE(message_of([&] {
              matmul_kc<float, std::int8_t, std::int8_t>(
                  a, b, {1, 2, 1}, std::vector<float>{1}, std::vector<float>{1},
                  {std::vector<std::int32_t>{1}, std::vector<float>{1}}, y);
            }).find("either an int32 or a float bias"),
            std::string::npos);
}

TEST(Catalogue, NanMxScaleInMatmulGivesNan) {
  const std::vector<float8_e4m3fn> a(32, float8_e4m3fn(1.f)), b(32, float8_e4m3fn(1.f));
  const std::vector<float8_e8m0fnu> e1 = {float8_e8m0fnu::from_bits(0xff)},
                                    e2 = {float8_e8m0fnu::from_bits(127)};
  std::vector<float> y(1);
  matmul_mx<float, float8_e4m3fn, float8_e4m3fn>(a, b, {1, 32, 1}, e1, e2, {}, y);
  EXPECT_TRUE(std::isnan(y[0]));
}

TEST(Catalogue, HugeGroupSizeIsOnePartialGroup) {
  // (a + b - 1) / b wrapped for group sizes near 2^64 and gave zero groups and zero scales
  const std::vector<float> x = {1, -2, 4, 8, 0.5f, 3};
  const auto q = quantize<std::int8_t, float>(x, {2, 3}, {.gran = granularity::group(SIZE_MAX)});
  ASSERT_EQ(q.scales.size(), 2u);  // one group per row, as group(3)
  const auto r = quantize<std::int8_t, float>(x, {2, 3}, {.gran = granularity::group(3)});
  EXPECT_EQ(q.scales, r.scales);
  EXPECT_EQ(q.values, r.values);
  EXPECT_EQ(ceil_div(10, SIZE_MAX), 1u);
  EXPECT_EQ(ceil_div(SIZE_MAX, 2), SIZE_MAX / 2 + 1);
}

TEST(Catalogue, SizeProductsThatOverflowAreErrors) {
  std::vector<float> y;
  const std::size_t big = std::size_t{1} << 32;
  // (2^32, 0) x (0, 2^32): m * n wraps to 0 and an empty output would have been accepted
  EXPECT_NE(
      message_of([&] {
        matmul_kc<float, std::int8_t, std::int8_t>({}, {}, {big, 0, big}, none, std::vector<float>{1}, {}, y);
      }).find("do not fit the size type"),
      std::string::npos);
  EXPECT_THROW((quantize<std::int8_t, float>(none, {std::size_t{1} << 62, 4}, {})), std::invalid_argument);
  EXPECT_THROW((quantize<std::int8_t, float>(none, {SIZE_MAX, SIZE_MAX}, {.gran = granularity::token()})),
               std::invalid_argument);
}

TEST(Catalogue, EmptyArraysWithHugeDimensionsCostNothing) {
  // (10^12, 0) holds no element: every call must return at once (each used to take 10^12 empty
  // iterations), with the scales its granularity gives, and nothing to compute.
  const std::size_t tall = 1000000000000;
  const matrix_shape shape{tall, 0};
  const auto q =
      quantize<std::int8_t, float>(none, shape, {.gran = granularity::channel(), .side = operand::right});
  EXPECT_TRUE(q.values.empty());
  EXPECT_TRUE(q.scales.empty());
  const auto qt = quantize<std::int8_t, float>(none, {0, tall}, {.gran = granularity::token()});
  EXPECT_TRUE(qt.scales.empty());
  const auto qs = quantize_static<std::int8_t, float>(
      none, shape, {.gran = granularity::channel(), .side = operand::right, .scales = {}});
  EXPECT_TRUE(qs.values.empty());
  const auto qm = quantize_mx<float4_e2m1fn, float>(none, {tall, 0}, {.side = operand::right});
  EXPECT_TRUE(qm.values.empty());
  std::vector<float> out;
  dequantize_into<std::int8_t, float>({}, q.map, q.scales, {}, out);
  dequantize_into<std::int8_t, float>({}, make_scale_map(granularity::channel(), operand::right, shape),
                                      std::span<const float>(), {}, out);
  std::vector<std::int32_t> y32;
  matmul_int32<std::int8_t, std::int8_t>({}, {}, {tall, 0, 0}, {}, y32);  // y is (10^12, 0)
  std::vector<float> y;
  const std::vector<float> one = {1.0f};
  matmul_weight_only<float, float, int4>({}, {}, {0, tall, 0}, {.gran = granularity::channel(), .scale = {}},
                                         {}, y);  // x2 is (10^12, 0)
  matmul_tc<float, std::int8_t, std::int8_t>({}, {}, {tall, 0, 0}, std::span<const float>(one), std::nullopt,
                                             {}, y);
}

TEST(Catalogue, ApiReadsNothingOutOfBounds) {
  const std::vector<double> e = {1, 2, 3}, shorter = {1, 2};
  EXPECT_THROW(compare(e, shorter), std::invalid_argument);
  npy::array a{npy::dtype::f4, {4, 4}, std::vector<std::byte>(8)};  // shape says 16 floats, data holds 2
  EXPECT_THROW(a.values<float>(), npy::error);
  // a hand-built scale map whose grid or blocks disagree with its granularity
  const std::vector<std::int8_t> codes(12, 1);
  const std::vector<float> scales(4, 1.0f);
  std::vector<float> out(12);
  scale_map m = make_scale_map(granularity::token(), operand::left, {4, 3});
  m.grid = {2, 2};
  EXPECT_THROW((dequantize_into<std::int8_t, float>(codes, m, scales, {}, out)), std::invalid_argument);
  m = make_scale_map(granularity::token(), operand::left, {4, 3});
  m.bc = 0;
  EXPECT_THROW((dequantize_into<std::int8_t, float>(codes, m, scales, {}, out)), std::invalid_argument);
}

TEST(Catalogue, DegenerateNumbersAreErrorsNotSilentCodes) {
  const float big = std::numeric_limits<float>::max();
  const std::vector<float> x = {big, -big, 1, 2};
  // asymmetric: max - min overflows fp32, the scale would be inf and every code NaN
  EXPECT_NE(message_of([&] {
              (void)quantize<std::int8_t, float>(x, {1, 4}, {.asymmetric = true});
            }).find("does not fit float32"),
            std::string::npos);
  (void)quantize<std::int8_t, float>(x, {1, 4}, {});  // symmetric: a finite scale, fine
  EXPECT_THROW((quantize<std::int8_t, float>(x, {1, 4}, {.asymmetric = true, .min_scale = 2})),
               std::invalid_argument);
  // static scales of 0, NaN, Inf and NaN offsets
  for (float s : {0.0f, -0.0f, std::nanf(""), std::numeric_limits<float>::infinity()}) {
    const std::vector<float> sc = {s};
    EXPECT_THROW((quantize_static<std::int8_t, float>(x, {1, 4}, {.scales = sc})), std::invalid_argument)
        << s;
  }
  const std::vector<float> one = {1.0f}, nan_offset = {std::nanf("")};
  EXPECT_THROW((quantize_static<std::int8_t, float>(x, {1, 4}, {.scales = one, .offsets = nan_offset})),
               std::invalid_argument);
}

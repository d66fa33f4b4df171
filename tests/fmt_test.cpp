// The opt-in fmt formatters.
#include <gtest/gtest.h>

#include <lowbit/fmt.hpp>

using namespace lowbit;

TEST(Fmt, FormatsEveryTypeAndResults) {
  EXPECT_EQ(fmt::format("{}", float8_e4m3fn(1000.f)), "448 (fp8_e4m3fn 0x7e)");
  EXPECT_EQ(fmt::format("{:x}", float8_e5m2(1.f)), "0x3c");
  EXPECT_EQ(fmt::format("{}", hifloat8(1.f)), "1 (hifloat8 0x08)");
  EXPECT_EQ(fmt::format("{}", float8_e8m0fnu(4.f)), "4 (e8m0 0x81)");
  EXPECT_EQ(fmt::format("{}", float4_e2m1fn(-6.f)), "-6 (fp4_e2m1fn 0x0f)");
  EXPECT_EQ(fmt::format("{}", float4_e1m2fn(0.25f)), "0.25 (fp4_e1m2fn 0x01)");
  EXPECT_EQ(fmt::format("{}", float6_e2m3fn(7.5f)), "7.5 (fp6_e2m3fn 0x1f)");
  EXPECT_EQ(fmt::format("{}", float6_e3m2fn(28.f)), "28 (fp6_e3m2fn 0x1f)");
  EXPECT_EQ(fmt::format("{}", bfloat16(1.f)), "1 (bf16 0x3f80)");
  EXPECT_EQ(fmt::format("{}", float16(1.f)), "1 (fp16 0x3c00)");
  EXPECT_EQ(fmt::format("{}", int4(-3.f)), "-3 (int4 0xd)");
  EXPECT_EQ(fmt::format("{}", uint4(3.f)), "3 (uint4 0x3)");
  EXPECT_EQ(fmt::format("{}", granularity::block(128, 64)), "block:128,64");
  const std::vector<float> x = {1, -2, 3, 4};
  // rows [1, -2] and [3, 4]: ranges 3 and 1, scales 3/255 and 1/255
  const auto q = quantize<std::int8_t, float>(x, {2, 2}, {.gran = granularity::token(), .asymmetric = true});
  EXPECT_EQ(fmt::format("{}", q),
            "quantized 2x2 int8 token (left), 2 scales [0.00392157, 0.0117647], asymmetric");
}

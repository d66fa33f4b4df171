// Two translation units include every header and instantiate the same templates; linking them
// catches non-inline definitions and ODR problems (fmt's ranges-odr-test).
#include <gtest/gtest.h>

#include <lowbit/lowbit.hpp>

float odr_b_value();

TEST(Odr, TwoTranslationUnitsAgree) {
  const std::vector<float> x = {1, 2, 3, 4};
  const auto q = lowbit::quantize<lowbit::float8_e4m3fn, float>(x, {1, 4}, {});
  EXPECT_EQ(lowbit::dequantize(q)[3], odr_b_value());
}

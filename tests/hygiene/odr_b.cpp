#include <lowbit/lowbit.hpp>

float odr_b_value() {
  const std::vector<float> x = {1, 2, 3, 4};
  const auto q = lowbit::quantize<lowbit::float8_e4m3fn, float>(x, {1, 4}, {});
  return lowbit::dequantize(q)[3];
}

// A consumer of the installed (or sub-project) lowbit: quantize, matmul, check one value.
#include <cstdio>
#include <vector>

#include <lowbit/lowbit.hpp>

int main() {
  const std::vector<float> x = {1.0f, -2.0f, 0.5f, 4.0f};
  const auto q =
      lowbit::quantize<lowbit::float8_e4m3fn, float>(x, {2, 2}, {.gran = lowbit::granularity::token()});
  const auto y = lowbit::dequantize(q);
  std::printf("lowbit %s: %g -> %g\n", LOWBIT_VERSION_STRING, x[3], y[3]);
  return y[3] == 4.0f ? 0 : 1;
}

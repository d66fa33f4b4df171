// The functions of mixed_isa_tu.cpp, compiled as mixed::a (-march=x86-64) and mixed::b (-march=native).
#pragma once

#include <lowbit/lowbit.hpp>

#define LOWBIT_MIXED_DECLS                                                                                   \
  lowbit::packed_weights<std::int8_t> pack(const std::vector<std::int8_t>& w, std::size_t k, std::size_t n); \
  lowbit::quantized<std::int8_t> quantize(const std::vector<float>& x, lowbit::matrix_shape s);              \
  std::vector<float> dequantize(const lowbit::quantized<std::int8_t>& q);                                    \
  std::vector<float> kc(const std::vector<std::int8_t>& x1, const lowbit::packed_weights<std::int8_t>& w,    \
                        std::size_t m, const std::vector<float>& s1, const std::vector<float>& s2);

namespace mixed::a {
LOWBIT_MIXED_DECLS
}
namespace mixed::b {
LOWBIT_MIXED_DECLS
}

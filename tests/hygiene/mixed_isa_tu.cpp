// Mixed-ISA translation units (issue "Compute core", item 4): this file is compiled twice, as
// namespace mixed::a with -march=x86-64 (no AVX at all) and as mixed::b with -march=native
// (tests/CMakeLists.txt). Objects made in one are used in the other: packed weights and quantized
// tensors must have one layout and the kernels one body, whatever each TU's flags, and the
// results must be the reference's bits.
#include <lowbit/lowbit.hpp>

#include "mixed_isa.hpp"

namespace LOWBIT_MIXED_NS {

lowbit::packed_weights<std::int8_t> pack(const std::vector<std::int8_t>& w, std::size_t k, std::size_t n) {
  return lowbit::packed_weights<std::int8_t>(w, k, n);
}

lowbit::quantized<std::int8_t> quantize(const std::vector<float>& x, lowbit::matrix_shape s) {
  return lowbit::quantize<std::int8_t, float>(x, s, {.gran = lowbit::granularity::token()});
}

std::vector<float> dequantize(const lowbit::quantized<std::int8_t>& q) {
  return lowbit::dequantize(q);
}

std::vector<float> kc(const std::vector<std::int8_t>& x1, const lowbit::packed_weights<std::int8_t>& w,
                      std::size_t m, const std::vector<float>& s1, const std::vector<float>& s2) {
  std::vector<float> y(m * w.n());
  lowbit::matmul_kc<float, std::int8_t, std::int8_t>(x1, w, m, s1, s2, {}, y);
  return y;
}

}  // namespace LOWBIT_MIXED_NS

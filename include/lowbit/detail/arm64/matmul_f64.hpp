// The NEON tile of the exact float-code sums (detail/float_sums.hpp says why double sums of
// low-bit float codes are exact, in any order, fused or not): the 8 x 24 tile of
// detail/x86/matmul_f64.hpp in six 4 x 8 sub-tiles of 16 float64x2 accumulators each. Baseline
// Advanced SIMD (every AArch64 CPU): no target attribute needed.
#pragma once

#include <cstddef>

#include "../x86/matmul_f64.hpp"

#if defined(LOWBIT_ARM64)
#include <arm_neon.h>
#endif

namespace lowbit::inline v0::detail::neon {

#if defined(LOWBIT_ARM64)
/// s[r][c] (+)= sum_{k < len} a[k * 8 + r] * b[k * 24 + c] over the 8 x 24 tile (zero: s starts
/// at 0 and is not read).
inline void tile_f64(const double* __restrict a, const double* __restrict b, std::size_t len,
                     double* __restrict s, bool zero) {
  // (not mr / nr: those name the int8 tile in this namespace; -Wshadow)
  constexpr std::size_t rows = f64mm::mr, cols = f64mm::nr;
  for (std::size_t r0 = 0; r0 < rows; r0 += 4)
    for (std::size_t c0 = 0; c0 < cols; c0 += 8) {
      float64x2_t acc[4][4];  // the loops over it unrolled by pragma: GCC -O2 kept it on the stack
#pragma GCC unroll 4
      for (std::size_t r = 0; r < 4; ++r)
#pragma GCC unroll 4
        for (std::size_t c = 0; c < 4; ++c)
          acc[r][c] = zero ? vdupq_n_f64(0.0) : vld1q_f64(s + (r0 + r) * cols + c0 + 2 * c);
      const double* ak = a + r0;
      const double* bk = b + c0;
      for (std::size_t k = 0; k < len; ++k, ak += rows, bk += cols) {
        const float64x2_t a01 = vld1q_f64(ak), a23 = vld1q_f64(ak + 2);
        const float64x2_t b0 = vld1q_f64(bk), b1 = vld1q_f64(bk + 2), b2 = vld1q_f64(bk + 4),
                          b3 = vld1q_f64(bk + 6);
#define LOWBIT_F64_NEON_ROW(r, av, lane)                \
  acc[r][0] = vfmaq_laneq_f64(acc[r][0], b0, av, lane); \
  acc[r][1] = vfmaq_laneq_f64(acc[r][1], b1, av, lane); \
  acc[r][2] = vfmaq_laneq_f64(acc[r][2], b2, av, lane); \
  acc[r][3] = vfmaq_laneq_f64(acc[r][3], b3, av, lane);
        LOWBIT_F64_NEON_ROW(0, a01, 0)
        LOWBIT_F64_NEON_ROW(1, a01, 1)
        LOWBIT_F64_NEON_ROW(2, a23, 0)
        LOWBIT_F64_NEON_ROW(3, a23, 1)
#undef LOWBIT_F64_NEON_ROW
      }
#pragma GCC unroll 4
      for (std::size_t r = 0; r < 4; ++r)
#pragma GCC unroll 4
        for (std::size_t c = 0; c < 4; ++c) vst1q_f64(s + (r0 + r) * cols + c0 + 2 * c, acc[r][c]);
    }
}
#endif

}  // namespace lowbit::inline v0::detail::neon

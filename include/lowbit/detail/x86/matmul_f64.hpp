// AVX-512 kernels of the exact float-code sums (detail/float_sums.hpp says why double sums of
// low-bit float codes are exact): an 8 x 24 tile of double accumulators (24 zmm), x1's 8 rows
// broadcast, x2's 24 columns in three zmm; then the block sums rounded once to fp32 and the
// blocked modes' step, in the reference's fp32 order.
#pragma once

#include <cstddef>

#include "target.hpp"

namespace lowbit::inline v0::detail::f64mm {

inline constexpr std::size_t mr = 8, nr = 24;  // the tile: rows of x1 x columns of x2

#if defined(LOWBIT_X86_64)
LOWBIT_KERNELS_BEGIN

/// 0 when zero, else p's 8 doubles (a function: GCC rejects lambdas returning __m512d here).
LOWBIT_TARGET_AVX512 inline __m512d init(const double* p, bool zero) {
  return zero ? _mm512_setzero_pd() : _mm512_loadu_pd(p);
}

/// s[r][c] (+)= sum_{k < len} a[k * mr + r] * b[k * nr + c] over the whole tile (zero: s starts
/// at 0 and is not read). The sums are exact (float_sums.hpp), so the order of the additions and
/// their fusion do not matter.
LOWBIT_TARGET_AVX512 inline void tile(const double* __restrict a, const double* __restrict b, std::size_t len,
                                      double* __restrict s, bool zero) {
#define LOWBIT_F64_ROW(r)                                                         \
  __m512d c##r##0 = init(s + (r)*nr, zero), c##r##1 = init(s + (r)*nr + 8, zero), \
          c##r##2 = init(s + (r)*nr + 16, zero);
  LOWBIT_F64_ROW(0)
  LOWBIT_F64_ROW(1)
  LOWBIT_F64_ROW(2)
  LOWBIT_F64_ROW(3)
  LOWBIT_F64_ROW(4)
  LOWBIT_F64_ROW(5)
  LOWBIT_F64_ROW(6)
  LOWBIT_F64_ROW(7)
#undef LOWBIT_F64_ROW
  for (std::size_t k = 0; k < len; ++k, a += mr, b += nr) {
    const __m512d b0 = _mm512_loadu_pd(b), b1 = _mm512_loadu_pd(b + 8), b2 = _mm512_loadu_pd(b + 16);
#define LOWBIT_F64_FMA(r)                      \
  {                                            \
    const __m512d x = _mm512_set1_pd(a[r]);    \
    c##r##0 = _mm512_fmadd_pd(x, b0, c##r##0); \
    c##r##1 = _mm512_fmadd_pd(x, b1, c##r##1); \
    c##r##2 = _mm512_fmadd_pd(x, b2, c##r##2); \
  }
    LOWBIT_F64_FMA(0)
    LOWBIT_F64_FMA(1)
    LOWBIT_F64_FMA(2)
    LOWBIT_F64_FMA(3)
    LOWBIT_F64_FMA(4)
    LOWBIT_F64_FMA(5)
    LOWBIT_F64_FMA(6)
    LOWBIT_F64_FMA(7)
#undef LOWBIT_F64_FMA
  }
#define LOWBIT_F64_STORE(r)                  \
  _mm512_storeu_pd(s + (r)*nr, c##r##0);     \
  _mm512_storeu_pd(s + (r)*nr + 8, c##r##1); \
  _mm512_storeu_pd(s + (r)*nr + 16, c##r##2);
  LOWBIT_F64_STORE(0)
  LOWBIT_F64_STORE(1)
  LOWBIT_F64_STORE(2)
  LOWBIT_F64_STORE(3)
  LOWBIT_F64_STORE(4)
  LOWBIT_F64_STORE(5)
  LOWBIT_F64_STORE(6)
  LOWBIT_F64_STORE(7)
#undef LOWBIT_F64_STORE
}

/// p[r][c] = fp32(s[r][c] * f1[r] * f2[c]) (f1, f2 null: no factor). The factors are powers of
/// two (MX), so the products are exact and vcvtpd2ps rounds the exact sum once, to nearest even
/// (the default MXCSR, which lowbit never changes).
LOWBIT_TARGET_AVX512 inline void round_tile(const double* s, const double* f1, const double* f2, float* p) {
  for (std::size_t r = 0; r < mr; ++r)
    for (std::size_t c = 0; c < nr; c += 8) {
      __m512d v = _mm512_loadu_pd(s + r * nr + c);
      if (f1) v = _mm512_mul_pd(v, _mm512_set1_pd(f1[r]));
      if (f2) v = _mm512_mul_pd(v, _mm512_loadu_pd(f2 + c));
      _mm256_storeu_ps(p + r * nr + c, _mm512_cvtpd_ps(v));
    }
}

/// epi_blocks' step over the tile's first `rows` rows: tot = tot + p * (a[r] * b[c]) in fp32,
/// each product rounded before the add (no fusion); a and b null: unit scales, tot = tot + p.
LOWBIT_TARGET_AVX512 inline void step_tile(const float* p, const float* a, const float* b, float* tot,
                                           std::size_t rows) {
  for (std::size_t r = 0; r < rows; ++r) {
    __m512 v0 = _mm512_loadu_ps(p + r * nr);
    __m256 v1 = _mm256_loadu_ps(p + r * nr + 16);
    if (a) {
      const __m512 ar = _mm512_set1_ps(a[r]);
      v0 = _mm512_mul_ps(v0, _mm512_mul_ps(ar, _mm512_loadu_ps(b)));
      v1 = _mm256_mul_ps(v1, _mm256_mul_ps(_mm512_castps512_ps256(ar), _mm256_loadu_ps(b + 16)));
      asm("" : "+v"(v0), "+v"(v1));
    }
    _mm512_storeu_ps(tot + r * nr, _mm512_add_ps(_mm512_loadu_ps(tot + r * nr), v0));
    _mm256_storeu_ps(tot + r * nr + 16, _mm256_add_ps(_mm256_loadu_ps(tot + r * nr + 16), v1));
  }
}

LOWBIT_KERNELS_END
#endif  // LOWBIT_X86_64

}  // namespace lowbit::inline v0::detail::f64mm

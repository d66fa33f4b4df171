// AVX-512 kernels of the exact float-code sums (detail/float_sums.hpp says why double sums of
// low-bit float codes are exact): an 8 x 24 tile of double accumulators (24 zmm), x1's 8 rows
// broadcast, x2's 24 columns in three zmm; then the block sums rounded once to fp32 and the
// blocked modes' step, in the reference's fp32 order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "quantize_avx512.hpp"  // fp8_values
#include "target.hpp"

namespace lowbit::inline v0::detail::f64mm {

inline constexpr std::size_t mr = 8, nr = 24;  // the tile: rows of x1 x columns of x2

/// How to_doubles gets a code's value: a load from its format's table of 256, a permute of a
/// table of 16 in two registers (4-bit formats), or arithmetic on e4m3fn's or e5m2's bits.
enum class decode { table, nibble, e4m3, e5m2 };

#if defined(LOWBIT_X86_64)
/// 16 rows of 16 bytes transposed: out[j] holds byte j of in[0], in[1], ..., in[15] (SSE2,
/// every x86-64): four rounds of unpacks, 8-, 16-, 32- then 64-bit.
inline void transpose16x16(const __m128i in[16], __m128i out[16]) noexcept {
  __m128i b[16], c[16], d[16];
  for (int i = 0; i < 8; ++i) {  // b[2i]: rows 2i, 2i+1 interleaved over bytes 0-7; b[2i+1]: 8-15
    b[2 * i] = _mm_unpacklo_epi8(in[2 * i], in[2 * i + 1]);
    b[2 * i + 1] = _mm_unpackhi_epi8(in[2 * i], in[2 * i + 1]);
  }
  for (int q = 0; q < 4; ++q) {  // rows 4q .. 4q+3: c[4q + h] holds bytes 4h .. 4h+3 of the four
    c[4 * q + 0] = _mm_unpacklo_epi16(b[4 * q], b[4 * q + 2]);
    c[4 * q + 1] = _mm_unpackhi_epi16(b[4 * q], b[4 * q + 2]);
    c[4 * q + 2] = _mm_unpacklo_epi16(b[4 * q + 1], b[4 * q + 3]);
    c[4 * q + 3] = _mm_unpackhi_epi16(b[4 * q + 1], b[4 * q + 3]);
  }
  for (int o = 0; o < 2; ++o)  // rows 8o .. 8o+7: d[8o + 2h + e] holds bytes 4h + 2e, +1 of the eight
    for (int h = 0; h < 4; ++h) {
      d[8 * o + 2 * h] = _mm_unpacklo_epi32(c[8 * o + h], c[8 * o + 4 + h]);
      d[8 * o + 2 * h + 1] = _mm_unpackhi_epi32(c[8 * o + h], c[8 * o + 4 + h]);
    }
  for (int p = 0; p < 8; ++p) {  // bytes 2p, 2p+1 of all sixteen rows
    out[2 * p] = _mm_unpacklo_epi64(d[p], d[8 + p]);
    out[2 * p + 1] = _mm_unpackhi_epi64(d[p], d[8 + p]);
  }
}

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

/// out[i] = v[src[i]], i < len: the exact double of each code (v: its format's table, whose
/// first 16 entries hold every 4-bit code); e4m3 / e5m2 by avx512::fp8_values, their NaN codes
/// from the table. (The scalar loop of these lookups was 11% of an exact fp8 G-B call's samples;
/// gathers measured slower than it.)
LOWBIT_TARGET_AVX512 inline void to_doubles(decode d, const std::uint8_t* __restrict src, std::size_t len,
                                            const double* __restrict v, double* __restrict out) {
  std::size_t i = 0;
  if (d == decode::nibble) {
    const __m512d lo = _mm512_loadu_pd(v), hi = _mm512_loadu_pd(v + 8);
    for (; i + 8 <= len; i += 8) {
      const __m512i idx = _mm512_cvtepu8_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + i)));
      _mm512_storeu_pd(out + i, _mm512_permutex2var_pd(lo, idx, hi));
    }
  } else if (d == decode::e4m3 || d == decode::e5m2) {
    for (; i + 16 <= len; i += 16) {
      __mmask16 nan;
      const __m512 f = avx512::fp8_values(
          d == decode::e4m3, _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))),
          nan);
      _mm512_storeu_pd(out + i, _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
      _mm512_storeu_pd(out + i + 8,
                       _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
      if (nan)  // the table's bits
        for (std::size_t j = i; j < i + 16; ++j) out[j] = v[src[j]];
    }
  }
  for (; i < len; ++i) out[i] = v[src[i]];
}

/// hi = max(hi, hi_upto[largest m]), lo = min(lo, lo_from[smallest nonzero m]) over m = c & mag
/// of the codes src[0, len) (code_table's bounds by magnitude: never tighter than the codes' own;
/// no nonzero m: lo unchanged, and hi_upto[0] is the zero codes' neutral bound). One pass of byte
/// max / min; the per-code table loop it replaces was a fifth of an exact e5m2 G-B call.
LOWBIT_TARGET_AVX512 inline void code_bounds(const std::uint8_t* src, std::size_t len, std::uint8_t mag,
                                             const std::int16_t* hi_upto, const std::int16_t* lo_from,
                                             int& hi, int& lo) {
  const __m512i mm = _mm512_set1_epi8(static_cast<char>(mag)), one = _mm512_set1_epi8(1);
  __m512i mx = _mm512_setzero_si512(), mn = _mm512_set1_epi8(-1);
  for (std::size_t i = 0; i < len; i += 64) {
    const __mmask64 t = len - i >= 64 ? ~__mmask64{0} : (__mmask64{1} << (len - i)) - 1;
    const __m512i m = _mm512_and_si512(_mm512_maskz_loadu_epi8(t, src + i), mm);  // lanes past len: 0
    mx = _mm512_max_epu8(mx, m);
    mn = _mm512_min_epu8(mn, _mm512_sub_epi8(m, one));  // m - 1: zero wraps to 255, above every m
  }
  alignas(64) std::uint8_t a[64], b[64];
  _mm512_store_si512(a, mx);
  _mm512_store_si512(b, mn);
  std::uint8_t top = 0, low = 255;
  for (int j = 0; j < 64; ++j) top = std::max(top, a[j]), low = std::min(low, b[j]);
  hi = std::max<int>(hi, hi_upto[top]);
  if (low != 255) lo = std::min<int>(lo, lo_from[low + 1]);
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

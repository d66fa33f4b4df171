// int8 x int8 -> int32 with AVX-512 VNNI (vpdpbusd), exact. vpdpbusd multiplies unsigned by
// signed bytes, so x1 is stored as u = x1 + 128 and the compensation 128 * colsum(x2) is
// subtracted: sum_k u*b - 128 * sum_k b = sum_k x1*b. Every lane accumulates exactly in int32
// while k <= 65536 (|u*b| <= 255*128, sum < 2^31); callers use the reference beyond that.
//
// x2 is packed once into panels of 64 columns: for each group of 4 k, 64 columns x 4 bytes
// (the VNNI layout), zero-padded in k and n. The micro-kernel keeps MR x 64 int32 sums in
// registers (MR <= 6, 24 accumulators) and streams the whole k. Panels are distributed over
// OpenMP threads; each output is computed by one thread, so results do not depend on the
// thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "target.hpp"

namespace lowbit::inline v0::detail::vnni {

inline constexpr std::size_t nr = 64;        // columns per panel
inline constexpr std::size_t max_k = 65536;  // exact int32 accumulation bound
inline constexpr std::size_t mr = 6;         // rows per micro-kernel call: 24 accumulators

/// x2 (k, n) re-laid out in VNNI panels, with column sums for the compensation.
struct packed_b {
  std::size_t k = 0, n = 0, kq = 0, panels = 0;
  std::vector<std::int8_t> data;     // panels x kq x 64 x 4
  std::vector<std::int32_t> colsum;  // panels * 64

  /// b(k, j) gives the int8 value of x2 at row k, column j.
  template <class Get>
  packed_b(std::size_t k_, std::size_t n_, Get&& b)
      : k(k_), n(n_), kq((k_ + 3) / 4), panels((n_ + nr - 1) / nr) {
    data.assign(panels * kq * nr * 4, 0);
    colsum.assign(panels * nr, 0);
    for (std::size_t kk = 0; kk < k; ++kk)
      for (std::size_t j = 0; j < n; ++j) {
        const std::int8_t v = b(kk, j);
        const std::size_t p = j / nr, c = j % nr;
        data[((p * kq + kk / 4) * nr + c) * 4 + kk % 4] = v;
        colsum[j] += v;
      }
  }
  const std::int8_t* panel(std::size_t p) const { return data.data() + p * kq * nr * 4; }
};

/// Rows of x1 as u8 (x + 128), zero-padded (value 0 <=> u8 128) to a multiple of 4 in k.
template <class Get>
std::vector<std::uint8_t> pack_a(std::size_t m, std::size_t k, Get&& a) {
  const std::size_t kp = (k + 3) / 4 * 4;
  std::vector<std::uint8_t> u(m * kp, 128);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t kk = 0; kk < k; ++kk) u[i * kp + kk] = static_cast<std::uint8_t>(a(i, kk) + 128);
  return u;
}

#if defined(LOWBIT_X86_64)
LOWBIT_KERNELS_BEGIN

/// acc += dot4(u8 a, s8 b) per 32-bit lane. GCC 12 folds the B loads into every vpdpbusd and
/// copies the accumulators around it (half the peak); an asm statement with register operands
/// gives it the loop clang generates from the intrinsic.
LOWBIT_TARGET_AVX512 inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) noexcept {
#if defined(__GNUC__) && !defined(__clang__)
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
#else
  return _mm512_dpbusd_epi32(acc, a, b);
#endif
}

/// acc[r][0..64) = exact sum_k x1[r, k] * x2[k, panel column] for MR rows. The 4 * MR sums live
/// in named registers (GCC spills an array of vectors to the stack).
template <std::size_t MR>
LOWBIT_TARGET_AVX512 inline void kernel(const std::uint8_t* __restrict a, std::size_t lda,
                                        const std::int8_t* __restrict b, std::size_t kq,
                                        const std::int32_t* __restrict colsum,
                                        std::int32_t (*__restrict acc)[nr]) {
#define LOWBIT_VNNI_ROW_DECL(r) \
  __m512i c##r##0 = _mm512_setzero_si512(), c##r##1 = c##r##0, c##r##2 = c##r##0, c##r##3 = c##r##0;
#define LOWBIT_VNNI_ROW_STEP(r)                 \
  if constexpr (MR > r) {                       \
    std::int32_t word;                          \
    std::memcpy(&word, a + r * lda + 4 * q, 4); \
    const __m512i av = _mm512_set1_epi32(word); \
    c##r##0 = dpbusd(c##r##0, av, b0);          \
    c##r##1 = dpbusd(c##r##1, av, b1);          \
    c##r##2 = dpbusd(c##r##2, av, b2);          \
    c##r##3 = dpbusd(c##r##3, av, b3);          \
  }
#define LOWBIT_VNNI_ROW_STORE(r)                                        \
  if constexpr (MR > r) {                                               \
    _mm512_storeu_si512(acc[r] + 0, _mm512_sub_epi32(c##r##0, comp0));  \
    _mm512_storeu_si512(acc[r] + 16, _mm512_sub_epi32(c##r##1, comp1)); \
    _mm512_storeu_si512(acc[r] + 32, _mm512_sub_epi32(c##r##2, comp2)); \
    _mm512_storeu_si512(acc[r] + 48, _mm512_sub_epi32(c##r##3, comp3)); \
  }
  // clang-format off
  LOWBIT_VNNI_ROW_DECL(0)
  LOWBIT_VNNI_ROW_DECL(1)
  LOWBIT_VNNI_ROW_DECL(2)
  LOWBIT_VNNI_ROW_DECL(3)
  LOWBIT_VNNI_ROW_DECL(4)
  LOWBIT_VNNI_ROW_DECL(5)
  for (std::size_t q = 0; q < kq; ++q) {
    const std::int8_t* bq = b + q * nr * 4;
    const __m512i b0 = _mm512_loadu_si512(bq), b1 = _mm512_loadu_si512(bq + 64),
                  b2 = _mm512_loadu_si512(bq + 128), b3 = _mm512_loadu_si512(bq + 192);
    LOWBIT_VNNI_ROW_STEP(0)
    LOWBIT_VNNI_ROW_STEP(1)
    LOWBIT_VNNI_ROW_STEP(2)
    LOWBIT_VNNI_ROW_STEP(3)
    LOWBIT_VNNI_ROW_STEP(4)
    LOWBIT_VNNI_ROW_STEP(5)
  }
  // 128 * colsum: the compensation for storing x1 as x1 + 128
  const __m512i comp0 = _mm512_slli_epi32(_mm512_loadu_si512(colsum), 7),
                comp1 = _mm512_slli_epi32(_mm512_loadu_si512(colsum + 16), 7),
                comp2 = _mm512_slli_epi32(_mm512_loadu_si512(colsum + 32), 7),
                comp3 = _mm512_slli_epi32(_mm512_loadu_si512(colsum + 48), 7);
  LOWBIT_VNNI_ROW_STORE(0)
  LOWBIT_VNNI_ROW_STORE(1)
  LOWBIT_VNNI_ROW_STORE(2)
  LOWBIT_VNNI_ROW_STORE(3)
  LOWBIT_VNNI_ROW_STORE(4)
  LOWBIT_VNNI_ROW_STORE(5)
  // clang-format on
#undef LOWBIT_VNNI_ROW_DECL
#undef LOWBIT_VNNI_ROW_STEP
#undef LOWBIT_VNNI_ROW_STORE
}

/// The exact int32 products of one panel (64 columns) with every row of a, MR rows at a time;
/// hands each row's sums to epilogue(row, first column, count, const int32_t* sums).
template <class Epilogue>
LOWBIT_TARGET_AVX512 inline void gemm_panel(const std::uint8_t* a, std::size_t m, const packed_b& b,
                                            std::size_t p, Epilogue& epilogue) {
  alignas(64) std::int32_t acc[mr][nr];
  const std::size_t lda = b.kq * 4;
  const std::size_t n0 = p * nr, cnt = b.n - n0 < nr ? b.n - n0 : nr;
  const std::int8_t* bp = b.panel(p);
  const std::int32_t* cs = b.colsum.data() + n0;
  for (std::size_t i = 0; i < m; i += mr) {
    const std::uint8_t* ai = a + i * lda;
    switch (m - i >= mr ? mr : m - i) {
      case 6:
        kernel<6>(ai, lda, bp, b.kq, cs, acc);
        break;
      case 5:
        kernel<5>(ai, lda, bp, b.kq, cs, acc);
        break;
      case 4:
        kernel<4>(ai, lda, bp, b.kq, cs, acc);
        break;
      case 3:
        kernel<3>(ai, lda, bp, b.kq, cs, acc);
        break;
      case 2:
        kernel<2>(ai, lda, bp, b.kq, cs, acc);
        break;
      default:
        kernel<1>(ai, lda, bp, b.kq, cs, acc);
        break;
    }
    for (std::size_t r = 0; r < mr && i + r < m; ++r) epilogue(i + r, n0, cnt, acc[r]);
  }
}

/// y = fp32(acc) * x2s * s1 (+ bias), canonical NaN: the K-C epilogue of cnt outputs, 16 at a
/// time, the same fp32 operations as detail::matmul_kc_ref (no fusion: see detail/fp.hpp).
/// x2s is one scale (per_tensor) or cnt scales; bias may be null.
LOWBIT_TARGET_AVX512 inline void kc_epilogue_f32(const std::int32_t* acc, std::size_t cnt, const float* x2s,
                                                 bool per_tensor, float s1, const float* bias,
                                                 float* y) noexcept {
  for (std::size_t c = 0; c < cnt; c += 16) {
    const __mmask16 t = cnt - c >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (cnt - c)) - 1);
    __m512 v = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(t, acc + c));  // exact below 2^24, RNE above
    v = _mm512_mul_ps(v, per_tensor ? _mm512_set1_ps(x2s[0]) : _mm512_maskz_loadu_ps(t, x2s + c));
    v = _mm512_mul_ps(v, _mm512_set1_ps(s1));
    asm("" : "+v"(v));  // never fused with the bias add
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(t, bias + c));
    v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q),
                           _mm512_castsi512_ps(_mm512_set1_epi32(0x7fc00000)));  // canonical NaN
    if (t == 0xffff)
      _mm512_storeu_ps(y + c, v);
    else
      _mm512_mask_storeu_ps(y + c, t, v);
  }
}

/// Every panel, in parallel over panels: each output is computed by one thread, so results do
/// not depend on the thread count. (Generic code: the OpenMP region must not sit in a function
/// with a target attribute, see target.hpp.)
template <class Epilogue>
void gemm(const std::vector<std::uint8_t>& a, std::size_t m, const packed_b& b, Epilogue&& epilogue) {
  const long panels = static_cast<long>(b.panels);
LOWBIT_OMP(omp parallel for schedule(static))
for (long p = 0; p < panels; ++p) gemm_panel(a.data(), m, b, static_cast<std::size_t>(p), epilogue);
}

LOWBIT_KERNELS_END
#endif  // LOWBIT_X86_64

}  // namespace lowbit::inline v0::detail::vnni

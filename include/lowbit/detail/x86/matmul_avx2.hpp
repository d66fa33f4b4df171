// int8 / int4 x int8 / int4 -> int32 with AVX2, exact: both operands are widened to int16 and
// multiplied with vpmaddwd, which adds the two exact products of a pair of k into one int32 lane
// (|pair| <= 2^15); vpaddd accumulates (one vpdpwssd instead where the CPU has AVX-VNNI). Every sum is exact
// in int32 while k <= 65536
// (|sum| <= 2^14 k). This is the integer accumulate stage of the avx2 backend; the epilogues are
// the scalar rule of matmul.hpp plus the vector block step below.
//
// x2 is packed once into panels of 16 columns: for each pair of k, 16 columns x 2 values (the
// vpmaddwd layout), zero-padded in k and n, stored as int8 (widened to int16 at load) or, for
// 4-bit codes, two codes per byte (expanded by a table lookup): the panels take the stored
// bytes. The micro-kernel keeps 6 x 16 int32 sums in 12 ymm registers. Panels are split into the
// execution context's tasks; each output is computed by one task.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../pack.hpp"
#include "target.hpp"

namespace lowbit::inline v0::detail::avx2mm {

inline constexpr std::size_t nr = 16;        // columns per panel
inline constexpr std::size_t max_k = 65536;  // exact int32 accumulation bound
inline constexpr std::size_t mr = 6;         // rows per micro-kernel call: 12 accumulators

/// x2 (k, n) as pairs of k in panels of 16 columns: int8 values, or (nib) 4-bit codes two per
/// byte -- element i of the int8 layout is the nibble (i / 16) % 2 of byte (i / 32) * 16 + i % 16,
/// so that one 16-byte load expands to the two 16-value halves of a pair group -- whose values
/// lut gives.
struct packed_b {
  std::size_t k = 0, n = 0, kp = 0, panels = 0;
  bool nib = false;
  std::array<std::int8_t, 16> lut{};
  std::vector<std::int8_t> data;  // panels x kp x 16 x 2 values (half that many bytes when nib)

  /// Blocks of kb rows must not split a pair of k: kb even, or kb >= k (one block).
  static constexpr bool blocks_fit(std::size_t k_, std::size_t kb_) noexcept {
    return kb_ > 0 && (kb_ >= k_ || kb_ % 2 == 0);
  }
  /// b(k, j) gives the int8 value of x2 at row k, column j.
  template <class Get>
  packed_b(std::size_t k_, std::size_t n_, Get&& b) : packed_b(k_, n_) {
    data.assign(panels * kp * nr * 2, 0);
    for (std::size_t kk = 0; kk < k; ++kk)
      for (std::size_t j = 0; j < n; ++j) data[index(kk, j)] = b(kk, j);
  }
  /// 4-bit codes: code(k, j) gives the code (0..15) of x2 at row k, column j; lut_ their values.
  template <class Get>
  packed_b(std::size_t k_, std::size_t n_, const std::array<std::int8_t, 16>& lut_, Get&& code)
      : packed_b(k_, n_) {
    nib = true;
    lut = lut_;
    data.assign(panels * kp * nr, 0);
    for (std::size_t kk = 0; kk < k; ++kk)
      for (std::size_t j = 0; j < n; ++j) {
        const std::size_t i = index(kk, j);
        const unsigned c = code(kk, j) & 0xfu;
        data[i / 32 * 16 + i % 16] = static_cast<std::int8_t>(
            static_cast<unsigned>(data[i / 32 * 16 + i % 16]) | c << (i / 16 % 2 * 4));
      }
  }
  const std::int8_t* panel(std::size_t p) const { return data.data() + p * kp * nr * (nib ? 1 : 2); }
  /// The code byte of row kk, column j (the int8 value, or the 4-bit code when nib).
  std::uint8_t code(std::size_t kk, std::size_t j) const noexcept {
    const std::size_t i = index(kk, j);
    if (!nib) return static_cast<std::uint8_t>(data[i]);
    return static_cast<std::uint8_t>((static_cast<unsigned>(data[i / 32 * 16 + i % 16]) >> (i / 16 % 2 * 4)) &
                                     0xfu);
  }
  /// The int8 value of row kk, column j.
  int value(std::size_t kk, std::size_t j) const noexcept {
    return nib ? lut[code(kk, j)] : static_cast<std::int8_t>(code(kk, j));
  }

 private:
  packed_b(std::size_t k_, std::size_t n_) : k(k_), n(n_), kp((k_ + 1) / 2), panels((n_ + nr - 1) / nr) {}
  std::size_t index(std::size_t kk, std::size_t j) const noexcept {
    return ((j / nr * kp + kk / 2) * nr + j % nr) * 2 + kk % 2;
  }
};

/// Rows of x1 as int16, zero-padded to an even k, into u (packed_rows_size(m, k, 2) elements).
template <class Get>
void pack_a(std::int16_t* u, std::size_t m, std::size_t k, Get&& a) {
  pack_rows<std::int16_t>(u, m, k, 2, 0, a);
}

#if defined(LOWBIT_X86_64)
LOWBIT_KERNELS_BEGIN

/// How a pair of int16 products is added to an int32 lane; all three are exact and identical:
/// vpmaddwd + vpaddd (AVX2), vpdpwssd ymm with the VEX encoding (AVX-VNNI: Alder Lake, Zen 5 and
/// later, one instruction instead of two) or with the EVEX encoding (AVX-512 VL + VNNI: the same
/// kernel run on this project's AVX-512 test machines, which lack AVX-VNNI). vpdpwssd does not
/// saturate: like vpaddd it adds modulo 2^32, and the sums here never wrap (|sum| <= 2^14 k).
enum class dot { madd, avx_vnni, evex_vnni };

LOWBIT_TARGET_AVX2 inline __m256i dot_madd(__m256i c, __m256i a, __m256i b) noexcept {
  return _mm256_add_epi32(c, _mm256_madd_epi16(a, b));
}
LOWBIT_TARGET_AVX_VNNI inline __m256i dot_avx_vnni(__m256i c, __m256i a, __m256i b) noexcept {
  return _mm256_dpwssd_avx_epi32(c, a, b);
}
LOWBIT_TARGET_AVX512 inline __m256i dot_evex_vnni(__m256i c, __m256i a, __m256i b) noexcept {
  return _mm256_dpwssd_epi32(c, a, b);
}

/// The two int16 vectors (16 columns x 2 k) of pair group q of a panel: int8 values widened,
/// or 4-bit codes (Nib) expanded through lutv, the 16-byte table.
template <bool Nib>
LOWBIT_TARGET_AVX2 inline void load_pair(const std::int8_t* b, std::size_t q, __m128i lutv, __m256i& b0,
                                         __m256i& b1) noexcept {
  if constexpr (Nib) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + q * nr)), f = _mm_set1_epi8(0x0f);
    b0 = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(lutv, _mm_and_si128(x, f)));
    b1 = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(lutv, _mm_and_si128(_mm_srli_epi16(x, 4), f)));
  } else {
    (void)lutv;
    const std::int8_t* bq = b + q * nr * 2;
    b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bq)));
    b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bq + 16)));
  }
}

// acc[r][0..16) = exact sum over pairs [q0, q1) of x1[r, k] * x2[k, panel column] for MR rows:
// one body, compiled once per dot variant with that variant's target attribute. The loops over r
// are unrolled by pragma: GCC at -O2 kept c on the stack.
#define LOWBIT_AVX2MM_KERNEL(NAME, TARGET, DOT)                                                              \
  template <std::size_t MR, bool Nib>                                                                        \
  TARGET inline void NAME(const std::int16_t* __restrict a, std::size_t lda,                                 \
                          const std::int8_t* __restrict b, const std::int8_t* lut, std::size_t q0,           \
                          std::size_t q1, std::int32_t(*__restrict acc)[nr]) {                               \
    const __m128i lutv = _mm_loadu_si128(reinterpret_cast<const __m128i*>(lut));                             \
    __m256i c[MR][2];                                                                                        \
    _Pragma("GCC unroll 8") for (std::size_t r = 0; r < MR; ++r) c[r][0] = c[r][1] = _mm256_setzero_si256(); \
    for (std::size_t q = q0; q < q1; ++q) {                                                                  \
      __m256i b0, b1;                                                                                        \
      load_pair<Nib>(b, q, lutv, b0, b1);                                                                    \
      _Pragma("GCC unroll 8") for (std::size_t r = 0; r < MR; ++r) {                                         \
        std::int32_t pair;                                                                                   \
        std::memcpy(&pair, a + r * lda + 2 * q, 4);                                                          \
        const __m256i av = _mm256_set1_epi32(pair);                                                          \
        c[r][0] = DOT(c[r][0], av, b0);                                                                      \
        c[r][1] = DOT(c[r][1], av, b1);                                                                      \
      }                                                                                                      \
    }                                                                                                        \
    _Pragma("GCC unroll 8") for (std::size_t r = 0; r < MR; ++r) {                                           \
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc[r]), c[r][0]);                                      \
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc[r] + 8), c[r][1]);                                  \
    }                                                                                                        \
  }
LOWBIT_AVX2MM_KERNEL(kernel_madd, LOWBIT_TARGET_AVX2, dot_madd)
LOWBIT_AVX2MM_KERNEL(kernel_avx_vnni, LOWBIT_TARGET_AVX_VNNI, dot_avx_vnni)
LOWBIT_AVX2MM_KERNEL(kernel_evex_vnni, LOWBIT_TARGET_AVX512, dot_evex_vnni)
#undef LOWBIT_AVX2MM_KERNEL

/// The kernel for the first `rows` (< MR allowed) rows. The VNNI kernels carry a wider target
/// than this function, so they are called, not inlined: one call per panel and row block.
template <std::size_t MR, dot D, bool Nib>
LOWBIT_TARGET_AVX2 inline void kernel_rows(std::size_t rows, const std::int16_t* a, std::size_t lda,
                                           const std::int8_t* b, const std::int8_t* lut, std::size_t q0,
                                           std::size_t q1, std::int32_t (*acc)[nr]) {
  if constexpr (MR > 1) {
    if (rows < MR) return kernel_rows<MR - 1, D, Nib>(rows, a, lda, b, lut, q0, q1, acc);
  }
  if constexpr (D == dot::madd)
    kernel_madd<MR, Nib>(a, lda, b, lut, q0, q1, acc);
  else if constexpr (D == dot::avx_vnni)
    kernel_avx_vnni<MR, Nib>(a, lda, b, lut, q0, q1, acc);
  else
    kernel_evex_vnni<MR, Nib>(a, lda, b, lut, q0, q1, acc);
}

/// tot[c] = tot[c] + fp32(P[c]) * (a * bs[c]) for cnt <= 16 columns: the block step of
/// detail::epi_blocks (matmul.hpp), the same fp32 operations in the same order.
LOWBIT_TARGET_AVX2 inline void block_step(const std::int32_t* P, float a, const float* bs, float* tot,
                                          std::size_t cnt) noexcept {
  if (cnt < nr) {  // a tail panel: the scalar rule on the valid columns
    for (std::size_t c = 0; c < cnt; ++c) {
      float v = static_cast<float>(P[c]) * (a * bs[c]);
      asm("" : "+x"(v));
      tot[c] = tot[c] + v;
    }
    return;
  }
  const __m256 av = _mm256_set1_ps(a);
  for (std::size_t c = 0; c < nr; c += 8) {
    const __m256 s = _mm256_mul_ps(av, _mm256_loadu_ps(bs + c));
    __m256 v =
        _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(P + c))), s);
    asm("" : "+x"(v));  // never fused with the add
    _mm256_storeu_ps(tot + c, _mm256_add_ps(_mm256_loadu_ps(tot + c), v));
  }
}

/// One panel (16 columns) for every row of a, blocks of qb pairs (all pairs for single-block
/// epilogues): epi.single(row, n0, count, sums), or the block step for each block and then
/// epi.finish(row, n0, count, totals) for epi_blocks. Nib: b holds 4-bit codes (b.nib).
template <dot D, bool Nib, class Epi>
LOWBIT_TARGET_AVX2 inline void gemm_panel(const std::int16_t* a, std::size_t m, const packed_b& b,
                                          std::size_t p, std::size_t qb, const Epi& epi) {
  alignas(32) std::int32_t acc[mr][nr];
  alignas(32) float tot[mr][nr];
  const std::size_t lda = b.kp * 2, n0 = p * nr, cnt = b.n - n0 < nr ? b.n - n0 : nr;
  const std::int8_t* bp = b.panel(p);
  for (std::size_t i = 0; i < m; i += mr) {
    const std::size_t rows = m - i >= mr ? mr : m - i;
    const std::int16_t* ai = a + i * lda;
    if constexpr (!Epi::blocked) {
      kernel_rows<mr, D, Nib>(rows, ai, lda, bp, b.lut.data(), 0, b.kp, acc);
      for (std::size_t r = 0; r < rows; ++r) epi.single(i + r, n0, cnt, acc[r]);
    } else {
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < nr; ++c) tot[r][c] = 0.0f;
      for (std::size_t j = 0, q0 = 0; q0 < b.kp; ++j, q0 += qb) {
        kernel_rows<mr, D, Nib>(rows, ai, lda, bp, b.lut.data(), q0, q0 + qb < b.kp ? q0 + qb : b.kp, acc);
        for (std::size_t r = 0; r < rows; ++r)
          block_step(acc[r], epi.a[(i + r) * epi.nblk + j], epi.b + j * epi.ldy + n0, tot[r], cnt);
      }
      for (std::size_t r = 0; r < rows; ++r) epi.finish(i + r, n0, cnt, tot[r]);
    }
  }
}

/// The dot variant for this CPU: AVX-VNNI where present, else vpmaddwd. A test may force one
/// (forced_dot, an int holding 1 + dot) to run the VNNI body on a CPU that has only its EVEX form.
inline std::atomic<int> forced_dot{0};
inline dot dot_for_cpu() noexcept {
  if (const int f = forced_dot.load(std::memory_order_relaxed)) return static_cast<dot>(f - 1);
  return cpu().avx_vnni ? dot::avx_vnni : dot::madd;
}

/// Every panel, panels split into ctx's tasks; kb is the k-block of blocked epilogues (even, or
/// >= k). Nib must be b.nib (a template argument: only the 4-bit formats instantiate it).
template <dot D, bool Nib, class Epi>
void gemm_with(const exec_context& ctx, const std::int16_t* a, std::size_t m, const packed_b& b,
               std::size_t kb, const Epi& epi) {
  const std::size_t qb = kb >= b.k ? (b.kp > 0 ? b.kp : 1) : kb / 2;
  parallel_items(ctx, b.panels, m * b.k * nr, min_task_macs,
                 [&](std::size_t p) { gemm_panel<D, Nib>(a, m, b, p, qb, epi); });
}
template <bool Nib, class Epi>
void gemm(const exec_context& ctx, const std::int16_t* a, std::size_t m, const packed_b& b, std::size_t kb,
          const Epi& epi) {
  switch (dot_for_cpu()) {
    case dot::avx_vnni:
      return gemm_with<dot::avx_vnni, Nib>(ctx, a, m, b, kb, epi);
    case dot::evex_vnni:
      return gemm_with<dot::evex_vnni, Nib>(ctx, a, m, b, kb, epi);
    case dot::madd:
      break;
  }
  gemm_with<dot::madd, Nib>(ctx, a, m, b, kb, epi);
}

LOWBIT_KERNELS_END
#endif  // LOWBIT_X86_64

}  // namespace lowbit::inline v0::detail::avx2mm

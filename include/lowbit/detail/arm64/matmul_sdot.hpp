// int8 / int4 x int8 / int4 -> int32 with the AArch64 dot product (SDOT), exact: each 32-bit lane
// adds the four exact products of one group of 4 k (|product| <= 2^14) to its sum; the final sum
// of k <= 65536 products is at most 2^30 in magnitude, so int32 never wraps. This is the integer
// accumulate stage of the neon backend; the epilogues are the rules of matmul.hpp (the scalar
// one() of the single-block modes, a NEON block step below with the same fp32 operations).
//
// x2 uses the VNNI panels of detail/x86/matmul_vnni.hpp (64 columns x 4 bytes per group of 4 k,
// portable code): a 16-byte vector holds 4 columns x 4 k, exactly SDOT's operand. x1 rows stay
// signed (SDOT is signed x signed: no +128 compensation). The micro-kernel keeps MR = 4 rows x 16
// columns in 16 registers and walks the 64-column panel in four quarters. Panels are split
// into the execution context's tasks; each output is computed by one task.
//
// The SDOT kernels carry their ISA in a per-function target attribute (Armv8.2-A + dotprod), so
// they compile into every translation unit whatever the consumer's -march, and run only after
// detail::use_neon_dot() has checked HWCAP_ASIMDDP at run time (backend.hpp). The generic code
// around them (packing, epilogues) needs only the baseline Advanced SIMD of every AArch64 CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../../exec.hpp"
#include "../pack.hpp"
#include "../x86/matmul_vnni.hpp"

#if defined(LOWBIT_ARM64)
#include <arm_neon.h>
// GCC spells the target as an architecture; Clang takes the feature name ("arch=" with an
// extension is an error there).
#if defined(__clang__)
#define LOWBIT_TARGET_DOTPROD __attribute__((target("dotprod")))
#else
#define LOWBIT_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#endif

namespace lowbit::inline v0::detail::neon {

inline constexpr std::size_t nr = vnni::nr;        // columns per panel (64)
inline constexpr std::size_t max_k = vnni::max_k;  // exact int32 accumulation bound
inline constexpr std::size_t mr = 4;               // rows per micro-kernel call

/// Rows of x1 as int8, zero-padded to a multiple of 4 in k, into u (packed_rows_size(m, k, 4)).
template <class Get>
void pack_a(std::int8_t* u, std::size_t m, std::size_t k, Get&& a) {
  pack_rows<std::int8_t>(u, m, k, 4, 0, a);
}

#if defined(LOWBIT_ARM64)

/// SDOT: acc lane j += the dot product of bytes 4j..4j+3 of a and b (signed, exact).
LOWBIT_TARGET_DOTPROD inline int32x4_t sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__clang__) && !defined(__ARM_FEATURE_DOTPROD) && __has_builtin(__builtin_neon_vdotq_v)
  // Clang before 16 declares vdotq_s32 only when -march enables dotprod; the builtin behind it
  // honours the target attribute (34: its int32x4 type code).
  return vreinterpretq_s32_s8(__builtin_neon_vdotq_v(vreinterpretq_s8_s32(acc), a, b, 34));
#else
  return vdotq_s32(acc, a, b);
#endif
}

/// 16 bytes of a panel at int8-layout offset off + 16 * v of group q, quarter u: loaded, or
/// expanded from 4-bit codes (vnni::packed_b::nib: quarter u is the nibble u % 2 of the 64 bytes
/// at q * 128 + u / 2 * 64) through the table lut.
template <bool Nib>
inline int8x16_t load16(const std::int8_t* b, std::size_t q, std::size_t u, std::size_t v, int8x16_t lut) {
  if constexpr (Nib) {
    const uint8x16_t x =
        vld1q_u8(reinterpret_cast<const std::uint8_t*>(b) + q * nr * 2 + u / 2 * 64 + 16 * v);
    return vqtbl1q_s8(lut, u % 2 ? vshrq_n_u8(x, 4) : vandq_u8(x, vdupq_n_u8(0x0f)));
  } else {
    (void)lut;
    return vld1q_s8(b + q * nr * 4 + u * 64 + 16 * v);
  }
}

/// acc[r][0..64) = exact sum over the groups of 4 k in [q0, q1) of x1[r, k] * x2[k, panel column],
/// for MR rows; a rows have lda bytes, b is the panel (4-bit codes mapped by lut when Nib). The
/// loops over r and v are unrolled by pragma: GCC at -O2 kept c on the stack.
template <std::size_t MR, bool Nib>
LOWBIT_TARGET_DOTPROD inline void kernel(const std::int8_t* __restrict a, std::size_t lda,
                                         const std::int8_t* __restrict b, const std::int8_t* lut,
                                         std::size_t q0, std::size_t q1, std::int32_t (*__restrict acc)[nr]) {
  const int8x16_t lutv = vld1q_s8(lut);
  for (std::size_t quarter = 0; quarter < 4; ++quarter) {
    int32x4_t c[MR][4];
#pragma GCC unroll 4
    for (std::size_t r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (std::size_t v = 0; v < 4; ++v) c[r][v] = vdupq_n_s32(0);
    for (std::size_t q = q0; q < q1; ++q) {
      const int8x16_t b0 = load16<Nib>(b, q, quarter, 0, lutv), b1 = load16<Nib>(b, q, quarter, 1, lutv),
                      b2 = load16<Nib>(b, q, quarter, 2, lutv), b3 = load16<Nib>(b, q, quarter, 3, lutv);
#pragma GCC unroll 4
      for (std::size_t r = 0; r < MR; ++r) {
        std::int32_t word;
        std::memcpy(&word, a + r * lda + 4 * q, 4);
        const int8x16_t av = vreinterpretq_s8_s32(vdupq_n_s32(word));
        c[r][0] = sdot(c[r][0], b0, av);  // lane j += b[4j..4j+3] . a[4j..4j+3]
        c[r][1] = sdot(c[r][1], b1, av);
        c[r][2] = sdot(c[r][2], b2, av);
        c[r][3] = sdot(c[r][3], b3, av);
      }
    }
#pragma GCC unroll 4
    for (std::size_t r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (std::size_t v = 0; v < 4; ++v) vst1q_s32(acc[r] + quarter * 16 + v * 4, c[r][v]);
  }
}

template <std::size_t MR, bool Nib>
LOWBIT_TARGET_DOTPROD inline void kernel_rows(std::size_t rows, const std::int8_t* a, std::size_t lda,
                                              const std::int8_t* b, const std::int8_t* lut, std::size_t q0,
                                              std::size_t q1, std::int32_t (*acc)[nr]) {
  if constexpr (MR > 1) {
    if (rows < MR) return kernel_rows<MR - 1, Nib>(rows, a, lda, b, lut, q0, q1, acc);
  }
  kernel<MR, Nib>(a, lda, b, lut, q0, q1, acc);
}

/// tot[c] = tot[c] + fp32(P[c]) * (a * bs[c]) for c < cnt: the block step of detail::epi_blocks
/// (matmul.hpp), the same fp32 operations in the same order; the product is kept from fusing
/// with the add (AArch64 compilers contract by default).
inline void block_step(const std::int32_t* P, float a, const float* bs, float* tot,
                       std::size_t cnt) noexcept {
  std::size_t c = 0;
  const float32x4_t av = vdupq_n_f32(a);
  for (; c + 4 <= cnt; c += 4) {
    const float32x4_t s = vmulq_f32(av, vld1q_f32(bs + c));
    float32x4_t v = vmulq_f32(vcvtq_f32_s32(vld1q_s32(P + c)), s);  // int32 -> fp32 rounds to nearest even
    asm("" : "+w"(v));                                              // never fused with the add
    vst1q_f32(tot + c, vaddq_f32(vld1q_f32(tot + c), v));
  }
  for (; c < cnt; ++c) {
    float v = static_cast<float>(P[c]) * (a * bs[c]);
    asm("" : "+w"(v));
    tot[c] = tot[c] + v;
  }
}

/// One panel (64 columns) for every row of a, blocks of qb groups of 4 k (all of them for the
/// single-block epilogues): epi.single(row, n0, count, sums), or the block step for each block and
/// then epi.finish(row, n0, count, totals) for epi_blocks. Nib: b holds 4-bit codes (b.nib).
template <bool Nib, class Epi>
void gemm_panel(const std::int8_t* a, std::size_t m, const vnni::packed_b& b, std::size_t p, std::size_t qb,
                const Epi& epi) {
  alignas(16) std::int32_t acc[mr][nr];
  alignas(16) float tot[mr][nr];
  const std::size_t lda = b.kq * 4, n0 = p * nr, cnt = b.n - n0 < nr ? b.n - n0 : nr;
  const std::int8_t* bp = b.panel(p);
  for (std::size_t i = 0; i < m; i += mr) {
    const std::size_t rows = m - i >= mr ? mr : m - i;
    const std::int8_t* ai = a + i * lda;
    if constexpr (!Epi::blocked) {
      kernel_rows<mr, Nib>(rows, ai, lda, bp, b.lut.data(), 0, b.kq, acc);
      for (std::size_t r = 0; r < rows; ++r) epi.single(i + r, n0, cnt, acc[r]);
    } else {
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < nr; ++c) tot[r][c] = 0.0f;
      for (std::size_t j = 0, q0 = 0; q0 < b.kq; ++j, q0 += qb) {
        kernel_rows<mr, Nib>(rows, ai, lda, bp, b.lut.data(), q0, q0 + qb < b.kq ? q0 + qb : b.kq, acc);
        for (std::size_t r = 0; r < rows; ++r)
          block_step(acc[r], epi.a[(i + r) * epi.nblk + j], epi.b + j * epi.ldy + n0, tot[r], cnt);
      }
      for (std::size_t r = 0; r < rows; ++r) epi.finish(i + r, n0, cnt, tot[r]);
    }
  }
}

/// Every panel, in parallel over panels; kb is the k-block of blocked epilogues (a multiple of 4,
/// or >= k: vnni::packed_b::blocks_fit). Nib must be b.nib.
template <bool Nib, class Epi>
void gemm(const exec_context& ctx, const std::int8_t* a, std::size_t m, const vnni::packed_b& b,
          std::size_t kb, const Epi& epi) {
  const std::size_t qb = kb >= b.k ? (b.kq > 0 ? b.kq : 1) : kb / 4;
  parallel_items(ctx, b.panels, m * b.k * nr, min_task_macs,
                 [&](std::size_t p) { gemm_panel<Nib>(a, m, b, p, qb, epi); });
}

#endif  // LOWBIT_ARM64

}  // namespace lowbit::inline v0::detail::neon

// Low-bit float codes (fp8, HiFloat8, fp6, fp4) times low-bit float codes with AVX-512 BF16.
// Every such code is exactly a bf16 value, so both operands are decoded once to bf16 and
// multiplied with vdpbf16ps (exact products, fp32 sums in a fixed order). The partial sum of a
// scale block is therefore an fp32 sum rather than the reference's exactly rounded one: for a
// block of L terms it differs by at most (L + 1) * 2^-24 * sum |a*b| (the fp32 summation bound;
// tested in tests/fast/). Everything after the block sum -- the scale product, the fp32
// accumulation over blocks in ascending k, bias, cast -- is the reference's, in its order, and
// the result does not depend on the thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../pack.hpp"
#include "target.hpp"

namespace lowbit::inline v0::detail::bf16dp {

inline constexpr std::size_t nr = 64, mr = 6;

/// x2 (k, n) as bf16 in panels of 64 columns, pairs of k interleaved (the vdpbf16ps layout).
struct packed_b {
  std::size_t k = 0, n = 0, kp = 0, panels = 0;
  std::vector<std::uint16_t> data;  // panels x kp x 64 x 2
  template <class Get>
  packed_b(std::size_t k_, std::size_t n_, Get&& b)
      : k(k_), n(n_), kp((k_ + 1) / 2), panels((n_ + nr - 1) / nr) {
    data.assign(panels * kp * nr * 2, 0);
    for (std::size_t kk = 0; kk < k; ++kk)
      for (std::size_t j = 0; j < n; ++j)
        data[((j / nr * kp + kk / 2) * nr + j % nr) * 2 + kk % 2] = b(kk, j);
  }
  const std::uint16_t* panel(std::size_t p) const { return data.data() + p * kp * nr * 2; }
};

/// Rows of x1 as bf16 bits, zero-padded to an even k, into u (packed_rows_size(m, k, 2)).
template <class Get>
void pack_a(std::uint16_t* u, std::size_t m, std::size_t k, Get&& a) {
  pack_rows<std::uint16_t>(u, m, k, 2, 0, a);
}

#if defined(LOWBIT_X86_64)
LOWBIT_KERNELS_BEGIN

LOWBIT_TARGET_AVX512_BF16 inline __m512 dpbf16(__m512 acc, __m512i a, __m512i b) noexcept {
#if defined(__GNUC__) && !defined(__clang__)
  asm("vdpbf16ps %2, %1, %0"
      : "+v"(acc)
      : "v"(a), "v"(b));  // keep operands in registers (see matmul_vnni.hpp)
  return acc;
#else
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
#endif
}

/// For MR rows: P = fp32 sum over pairs [q0, q1) of the panel; then total += P * (rs[r] * cs[c]),
/// the reference's block epilogue (scale product first, one multiply, one add).
template <std::size_t MR>
LOWBIT_TARGET_AVX512_BF16 inline void block(const std::uint16_t* __restrict a, std::size_t lda,
                                            const std::uint16_t* __restrict b, std::size_t q0, std::size_t q1,
                                            const float* __restrict rs, const float* __restrict cs,
                                            float (*__restrict total)[nr]) {
#define LOWBIT_BF16_DECL(r) \
  __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = c##r##0, c##r##2 = c##r##0, c##r##3 = c##r##0;
#define LOWBIT_BF16_STEP(r)                     \
  if constexpr (MR > r) {                       \
    std::int32_t pair;                          \
    std::memcpy(&pair, a + r * lda + 2 * q, 4); \
    const __m512i av = _mm512_set1_epi32(pair); \
    c##r##0 = dpbf16(c##r##0, av, b0);          \
    c##r##1 = dpbf16(c##r##1, av, b1);          \
    c##r##2 = dpbf16(c##r##2, av, b2);          \
    c##r##3 = dpbf16(c##r##3, av, b3);          \
  }
#define LOWBIT_BF16_EPI(r)                                                                         \
  if constexpr (MR > r) {                                                                          \
    const __m512 s = _mm512_set1_ps(rs[r]);                                                        \
    _mm512_storeu_ps(total[r] + 0, _mm512_add_ps(_mm512_loadu_ps(total[r] + 0),                    \
                                                 _mm512_mul_ps(c##r##0, _mm512_mul_ps(s, cs0))));  \
    _mm512_storeu_ps(total[r] + 16, _mm512_add_ps(_mm512_loadu_ps(total[r] + 16),                  \
                                                  _mm512_mul_ps(c##r##1, _mm512_mul_ps(s, cs1)))); \
    _mm512_storeu_ps(total[r] + 32, _mm512_add_ps(_mm512_loadu_ps(total[r] + 32),                  \
                                                  _mm512_mul_ps(c##r##2, _mm512_mul_ps(s, cs2)))); \
    _mm512_storeu_ps(total[r] + 48, _mm512_add_ps(_mm512_loadu_ps(total[r] + 48),                  \
                                                  _mm512_mul_ps(c##r##3, _mm512_mul_ps(s, cs3)))); \
  }
  // clang-format off
  LOWBIT_BF16_DECL(0)
  LOWBIT_BF16_DECL(1)
  LOWBIT_BF16_DECL(2)
  LOWBIT_BF16_DECL(3)
  LOWBIT_BF16_DECL(4)
  LOWBIT_BF16_DECL(5)
  for (std::size_t q = q0; q < q1; ++q) {
    const std::uint16_t* bq = b + q * nr * 2;
    const __m512i b0 = _mm512_loadu_si512(bq), b1 = _mm512_loadu_si512(bq + 32),
                  b2 = _mm512_loadu_si512(bq + 64), b3 = _mm512_loadu_si512(bq + 96);
    LOWBIT_BF16_STEP(0)
    LOWBIT_BF16_STEP(1)
    LOWBIT_BF16_STEP(2)
    LOWBIT_BF16_STEP(3)
    LOWBIT_BF16_STEP(4)
    LOWBIT_BF16_STEP(5)
  }
  const __m512 cs0 = _mm512_loadu_ps(cs), cs1 = _mm512_loadu_ps(cs + 16), cs2 = _mm512_loadu_ps(cs + 32),
               cs3 = _mm512_loadu_ps(cs + 48);
  LOWBIT_BF16_EPI(0)
  LOWBIT_BF16_EPI(1)
  LOWBIT_BF16_EPI(2)
  LOWBIT_BF16_EPI(3)
  LOWBIT_BF16_EPI(4)
  LOWBIT_BF16_EPI(5)
  // clang-format on
#undef LOWBIT_BF16_DECL
#undef LOWBIT_BF16_STEP
#undef LOWBIT_BF16_EPI
}

/// One panel (64 columns) for every row of a: for each k-block of kb (even) columns,
/// total += P_j * s_j with s_j = rsc[i, j] * csc[j, c]; epilogue(row, n0, count, totals) at the end.
template <class Epilogue>
LOWBIT_TARGET_AVX512_BF16 inline void gemm_panel(const std::uint16_t* a, std::size_t m, const packed_b& b,
                                                 std::size_t p, std::size_t kb, const float* rsc,
                                                 const float* csc, Epilogue& epilogue) {
  const std::size_t lda = b.kp * 2, nblk = b.k / kb + (b.k % kb != 0 ? 1 : 0);
  alignas(64) float total[mr][nr];
  float rs[mr];
  const std::size_t n0 = p * nr, cnt = b.n - n0 < nr ? b.n - n0 : nr;
  const std::uint16_t* bp = b.panel(p);
  for (std::size_t i = 0; i < m; i += mr) {
    const std::size_t rows = m - i < mr ? m - i : mr;
    std::memset(total, 0, sizeof total);
    const std::uint16_t* ai = a + i * lda;
    for (std::size_t j = 0; j < nblk; ++j) {
      for (std::size_t r = 0; r < rows; ++r) rs[r] = rsc[(i + r) * nblk + j];
      const std::size_t q0 = j * kb / 2, q1 = std::min((j + 1) * kb, b.k + (b.k & 1)) / 2;
      const float* cs = csc + j * nr;
      switch (rows) {
        case 6:
          block<6>(ai, lda, bp, q0, q1, rs, cs, total);
          break;
        case 5:
          block<5>(ai, lda, bp, q0, q1, rs, cs, total);
          break;
        case 4:
          block<4>(ai, lda, bp, q0, q1, rs, cs, total);
          break;
        case 3:
          block<3>(ai, lda, bp, q0, q1, rs, cs, total);
          break;
        case 2:
          block<2>(ai, lda, bp, q0, q1, rs, cs, total);
          break;
        default:
          block<1>(ai, lda, bp, q0, q1, rs, cs, total);
          break;
      }
    }
    for (std::size_t r = 0; r < rows; ++r) epilogue(i + r, n0, cnt, total[r]);
  }
}

/// Scratch of gemm in floats: the row scales, then one panel's column scales per task.
inline std::size_t gemm_scratch_bytes(std::size_t m, std::size_t k, std::size_t kb,
                                      std::size_t tasks) noexcept {
  const std::size_t nblk = k / kb + (k % kb != 0 ? 1 : 0);
  return slice_bytes<float>(m * nblk) + tasks * slice_bytes<float>(nblk * nr);
}
inline std::size_t gemm_tasks(const exec_context& ctx, std::size_t m, const packed_b& b) noexcept {
  return task_count(ctx, b.panels, m * b.k * nr, min_task_macs);
}

/// Block-scaled product over every panel, panels split into ctx's tasks; row_scale(i, j) and
/// col_scale(j, n) give the block scales; mem: gemm_scratch_bytes of scratch.
template <class RowScale, class ColScale, class Epilogue>
void gemm(const exec_context& ctx, const std::uint16_t* a, std::size_t m, const packed_b& b, std::size_t kb,
          std::byte* mem, RowScale&& row_scale, ColScale&& col_scale, Epilogue&& epilogue) {
  const std::size_t nblk = b.k / kb + (b.k % kb != 0 ? 1 : 0), tasks = gemm_tasks(ctx, m, b);
  arena ar(mem);
  float* rsc = ar.take<float>(m * nblk);  // every row scale once, outside the hot loops
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < nblk; ++j) rsc[i * nblk + j] = row_scale(i, j);
  float* csc_all = ar.take<float>(tasks * (slice_bytes<float>(nblk * nr) / sizeof(float)));
  run_tasks(ctx, tasks, [&](std::size_t t) {
    float* csc = csc_all + t * (slice_bytes<float>(nblk * nr) / sizeof(float));  // a panel's column scales
    const auto [p0, p1] = task_range(t, tasks, b.panels);
    for (std::size_t p = p0; p < p1; ++p) {
      const std::size_t n0 = p * nr, cnt = b.n - n0 < nr ? b.n - n0 : nr;
      for (std::size_t j = 0; j < nblk; ++j)
        for (std::size_t c = 0; c < nr; ++c) csc[j * nr + c] = c < cnt ? col_scale(j, n0 + c) : 0.0f;
      gemm_panel(a, m, b, p, kb, rsc, csc, epilogue);
    }
  });
}

LOWBIT_KERNELS_END
#endif  // LOWBIT_X86_64

}  // namespace lowbit::inline v0::detail::bf16dp

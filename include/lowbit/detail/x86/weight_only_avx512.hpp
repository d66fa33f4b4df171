// Weight-only (pseudo-quantized) matmul for small m, AVX-512: y (m, n) = x (m, k) @ W (k, n)
// with W[k, n] = I(w[k, n] * I(s[g, n])) rebuilt in registers from int4 / int8 codes, exactly as
// the reference rounds it (I = round to x's dtype: none for fp32, RNE to bf16 or fp16). The sum
// over k is an fp32 FMA chain in ascending k instead of the reference's double sum rounded once:
// within k * 2^-24 * sum |x W| of it (tests/fast/), deterministic for any thread count.
#pragma once

#include "../pack.hpp"
#include "matmul_vnni.hpp"
#include "target.hpp"

#if defined(LOWBIT_X86_64)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

LOWBIT_KERNELS_BEGIN
namespace lowbit::inline v0::detail::wo {

enum class inter { f32, bf16, f16 };

/// I(v) as the reference's In(v): bf16 round to nearest even on the bits (subnormals kept,
/// overflow to Inf, NaN quiet), fp16 by vcvtps2ph (RNE), fp32 as is.
template <inter I>
LOWBIT_TARGET_AVX512 inline __m512 round_inter_exact(__m512 v) noexcept {
  if constexpr (I == inter::bf16) {
    const __m512i b = _mm512_castps_si512(v), hi = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_and_si512(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb), hi);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan,
                              _mm512_and_si512(_mm512_or_si512(b, _mm512_set1_epi32(0x00400000)), hi));
    return _mm512_castsi512_ps(r);
  } else if constexpr (I == inter::f16) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  } else {
    return v;
  }
}

template <inter I>
LOWBIT_TARGET_AVX512_BF16 inline __m512 round_inter(__m512 v) noexcept {
  return round_inter_exact<I>(v);
}

/// p[i] = I(p[i]) in place (round_inter_exact; NaN stays NaN).
template <inter I>
LOWBIT_TARGET_AVX512_BF16 inline void round_inter_array(float* p, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; i += 16) {
    const __mmask16 t = tail_mask(n - i);
    _mm512_mask_storeu_ps(p + i, t, round_inter<I>(_mm512_maskz_loadu_ps(t, p + i)));
  }
}

/// Byte r of each 32-bit lane of v (shl = 24 - 8 r), sign-extended and converted: exact in fp32.
LOWBIT_TARGET_AVX512 inline __m512 byte_as_float(__m512i v, __m128i shl) noexcept {
  return _mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_sll_epi32(v, shl), 24));
}

/// y[n0 .. n0 + 64) of one row x, W read from the VNNI panel of these 64 columns
/// (vnni::packed_b; Nib: 4-bit codes whose int8 values lut gives); s_row(k) points at n (padded)
/// inter scales. Each column's FMA chain runs in ascending k.
template <inter I, bool Nib, class ScaleRow>
LOWBIT_TARGET_AVX512_BF16 inline void panel(const std::int8_t* __restrict pb, const std::int8_t* lut,
                                            const float* __restrict x, std::size_t k, std::size_t n0,
                                            ScaleRow&& s_row, float* __restrict y, std::size_t cnt) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  const __m512i lutv = vnni::lut_vector(lut);
  for (std::size_t q = 0; q * 4 < k; ++q) {
    __m512i v[4];  // 64 columns x 4 k: byte c * 4 + r
    vnni::load_group<Nib>(pb, q, lutv, v[0], v[1], v[2], v[3]);
    for (std::size_t r = 0; r < 4 && q * 4 + r < k; ++r) {
      const std::size_t kk = q * 4 + r;
      const __m128i shl = _mm_cvtsi32_si128(static_cast<int>(24 - 8 * r));
      const float* s = s_row(kk) + n0;
      const __m512 xv = _mm512_set1_ps(x[kk]);
      // W = I(I(w) * I(s)); I(w) is exact for int4 / int8 in every inter dtype
      a0 = _mm512_fmadd_ps(xv, round_inter<I>(_mm512_mul_ps(byte_as_float(v[0], shl), _mm512_loadu_ps(s))),
                           a0);
      a1 = _mm512_fmadd_ps(
          xv, round_inter<I>(_mm512_mul_ps(byte_as_float(v[1], shl), _mm512_loadu_ps(s + 16))), a1);
      a2 = _mm512_fmadd_ps(
          xv, round_inter<I>(_mm512_mul_ps(byte_as_float(v[2], shl), _mm512_loadu_ps(s + 32))), a2);
      a3 = _mm512_fmadd_ps(
          xv, round_inter<I>(_mm512_mul_ps(byte_as_float(v[3], shl), _mm512_loadu_ps(s + 48))), a3);
    }
  }
  const __m512 acc[4] = {a0, a1, a2, a3};
  for (std::size_t j = 0; j < 4 && 16 * j < cnt; ++j) {
    const std::size_t left = cnt - 16 * j;
    _mm512_mask_storeu_ps(y + n0 + 16 * j, tail_mask(left), acc[j]);
  }
}

// ---------------------------------------------------------------------------------------------
// The approx path at small m (GEMV) on 4-bit codes (issue 11): the columns layout
// (detail::nibble_columns) puts 32 k of one column in 16 bytes, so one column's weights fill a
// vector along k, and within a group they all share one scale: the 16 possible W = I(I(w) *
// I(s)) of that column and group are computed once into a vector (the table), and each weight is
// one permute of it, exact as above. Two vectors of partial sums per column (even and odd k),
// each an fp32 FMA chain in ascending k, added in a fixed order at the end: within
// k * 2^-24 * sum |x W| of the reference's sum like the panel kernel, deterministic.

/// The sum of v's 16 lanes in a fixed order (halves added pairwise), the same under any compiler.
LOWBIT_TARGET_AVX512 inline float sum_lanes(__m512 v) noexcept {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  const __m128 p = _mm_add_ps(q, _mm_movehl_ps(q, q));
  return _mm_cvtss_f32(_mm_add_ss(p, _mm_shuffle_ps(p, p, 1)));
}

/// Prefetches the C columns' chunk 48 chunks (12 KB of the group's stream) after the one at p.
/// The group's codes are one sequential stream; measured on the 4096 x 4096 GEMV with cold caches
/// (1 and 2 threads), 2 KB ahead left it a third slower than 8-16 KB, the hardware prefetcher
/// alone slower still. Always inlined, as prefetch_next (GCC deletes calls to a function of only
/// prefetches).
template <std::size_t C>
[[gnu::always_inline]] inline void prefetch_ahead(const std::uint8_t* p) noexcept {
  for (std::size_t l = 0; l < C * nibble_columns::chunk; l += 64)
    __builtin_prefetch(p + 48 * nibble_columns::chunk_stride + l);
}

/// y[r * ldy + j] for rows r < R and the cnt (<= C) columns j of the codes (nibble_columns: kp codes
/// per column; col0 = at(n0) of the first, C columns of one group), k valid codes each. x: R rows
/// of kp fp32 values (ldx apart),
/// each 32-k block stored as its 16 even k then its 16 odd k, zero past k. lut: the fp32 values
/// of the 16 codes. Block b belongs to scale row b / bpg of srows (np inter-rounded scales per
/// row, column j's at srows[j]). The codes past k are masked out (their W may be NaN when
/// the scale is NaN or Inf; the reference never reads them).
/// Every loop over rows and columns is unrolled by pragma, so that the 2 R C accumulators and the
/// C tables stay in registers under -O2 as under -O3 (GCC -O2 kept them on the stack: 3x slower).
template <inter I, std::size_t R, std::size_t C>
LOWBIT_TARGET_AVX512 inline void columns(const std::uint8_t* col0, std::size_t kp, std::size_t k,
                                         std::size_t cnt, const float* x, std::size_t ldx, const float* lut,
                                         const float* srows, std::size_t np, std::size_t bpg, float* y,
                                         std::size_t ldy) noexcept {
  const std::size_t nb = kp / 32, t = k - 32 * (nb - 1);  // blocks; valid k in the last (1..32)
  const __m512 lutf = _mm512_loadu_ps(lut);
  const __mmask16 last_e = tail_mask((t + 1) / 2), last_o = tail_mask(t / 2);
  __m512 acc[R][C][2];
#pragma GCC unroll 8
  for (std::size_t r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (std::size_t j = 0; j < C; ++j) acc[r][j][0] = acc[r][j][1] = _mm512_setzero_ps();
  const float* srow = srows;
  for (std::size_t b0 = 0; b0 < nb; b0 += bpg, srow += np) {
    __m512 tab[C];
#pragma GCC unroll 8
    for (std::size_t j = 0; j < C; ++j)
      tab[j] = round_inter_exact<I>(_mm512_mul_ps(lutf, _mm512_set1_ps(srow[j])));  // padded: j < 8
    const std::size_t b1 = std::min(nb, b0 + bpg);
    for (std::size_t b = b0; b < b1; ++b) {
      const __mmask16 me = b + 1 == nb ? last_e : __mmask16(0xffff);
      const __mmask16 mo = b + 1 == nb ? last_o : __mmask16(0xffff);
      const std::uint8_t* codes = col0 + b / 2 * nibble_columns::chunk_stride + b % 2 * 16;  // column 0's
      if (b % 2 == 0) prefetch_ahead<C>(codes);
      __m512 xe[R], xo[R];
#pragma GCC unroll 8
      for (std::size_t r = 0; r < R; ++r) {
        xe[r] = _mm512_loadu_ps(x + r * ldx + b * 32);
        xo[r] = _mm512_loadu_ps(x + r * ldx + b * 32 + 16);
      }
#pragma GCC unroll 8
      for (std::size_t j = 0; j < C; ++j) {
        const __m512i v = _mm512_cvtepu8_epi32(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + j * nibble_columns::chunk)));
        // vpermps reads the low 4 bits of each index: the low nibble as is, the high one shifted
        const __m512 we = _mm512_maskz_permutexvar_ps(me, v, tab[j]);
        const __m512 wo = _mm512_maskz_permutexvar_ps(mo, _mm512_srli_epi32(v, 4), tab[j]);
#pragma GCC unroll 8
        for (std::size_t r = 0; r < R; ++r) {
          acc[r][j][0] = _mm512_fmadd_ps(xe[r], we, acc[r][j][0]);
          acc[r][j][1] = _mm512_fmadd_ps(xo[r], wo, acc[r][j][1]);
        }
      }
    }
  }
#pragma GCC unroll 8
  for (std::size_t r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (std::size_t j = 0; j < C; ++j)
      if (j < cnt) y[r * ldy + j] = sum_lanes(_mm512_add_ps(acc[r][j][0], acc[r][j][1]));
}

/// The smallest nonzero |v[i]| of n floats (+Inf when there is none; NaN is skipped). For the
/// guard of columns_bf16.
LOWBIT_TARGET_AVX512 inline float min_nonzero_abs(const float* v, std::size_t n) noexcept {
  const __m512 inf = _mm512_set1_ps(__builtin_inff());
  __m512 lo = inf;
  for (std::size_t i = 0; i < n; i += 16) {
    const __mmask16 t = tail_mask(n - i);
    const __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(t, v + i));
    // zero and NaN lanes (and those past n) leave lo as it is
    lo = _mm512_mask_min_ps(lo, _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_GT_OQ), lo, a);
  }
  return _mm512_reduce_min_ps(lo);
}

// The approx GEMV on AVX-512 BF16 with bf16 x (issue 11): the same column-by-column codes, 64 k
// (32 bytes) of a column at a time. Each byte widened to a 16-bit lane; its low and high nibble
// (even and odd k) index the column's group table of 16 bf16 W (vpermw), and vdpbf16ps
// multiplies them by x's even and odd k, two products into each fp32 lane. The table is
// vcvtneps2bf16 of lut * s: RNE like round_inter_exact, but denormal inputs read as zero and
// vdpbf16ps flushes denormal inputs and results, so the caller runs this kernel only when no
// nonzero x, W or product can be subnormal (min |x| * min |s| >= 2^-100: then every product is a
// multiple of 2^-116 and every nonzero partial sum at least that); otherwise `columns`. Each
// column's sum: two fp32 accumulators (even, odd k) in ascending k, lanes added in a fixed order:
// within k * 2^-24 * sum |x W| of the reference's, deterministic for any thread count (the two
// products of a lane may be rounded once or twice, as the CPU does it: within the same bound).

/// y[r * ldy + j] for rows r < R and the cnt (<= C) columns j of the codes (nibble_columns;
/// col0 = at(n0) of the first, C columns of one group), k valid codes each. xw: R rows (ldx apart) of bf16 x
/// bits, each 64-k chunk stored as its 32 even k then its 32 odd k, zero past k. Chunk c belongs to scale row
/// c / cpg of srows (np inter-rounded scales per row, column j's at srows[j]). The codes past k are masked
/// out (their W may be NaN when the scale is NaN or Inf).
template <std::size_t R, std::size_t C>
LOWBIT_TARGET_AVX512_BF16 inline void columns_bf16(const std::uint8_t* col0, std::size_t k, std::size_t cnt,
                                                   const std::uint16_t* xw, std::size_t ldx, const float* lut,
                                                   const float* srows, std::size_t np, std::size_t cpg,
                                                   float* y, std::size_t ldy) noexcept {
  const std::size_t nc = (k + 63) / 64, kr = k - 64 * (nc - 1);  // chunks; valid k in the last (1..64)
  const auto lanes32 = [](std::size_t c) {
    return c >= 32 ? __mmask32(0xffffffffu) : static_cast<__mmask32>((1u << c) - 1);
  };
  const __mmask32 last_e = lanes32((kr + 1) / 2), last_o = lanes32(kr / 2), all = 0xffffffffu;
  const __m512 lutf = _mm512_loadu_ps(lut);
  const __m512i low4 = _mm512_set1_epi16(0xf);
  __m512 acc[R][C][2];
#pragma GCC unroll 8
  for (std::size_t r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (std::size_t j = 0; j < C; ++j) acc[r][j][0] = acc[r][j][1] = _mm512_setzero_ps();
  const float* srow = srows;
  for (std::size_t c0 = 0; c0 < nc; c0 += cpg, srow += np) {
    __m512i tab[C];  // words 0..15: the bf16 W of each code
#pragma GCC unroll 8
    for (std::size_t j = 0; j < C; ++j)
      tab[j] = _mm512_castsi256_si512(reinterpret_cast<__m256i>(
          _mm512_cvtneps_pbh(_mm512_mul_ps(lutf, _mm512_set1_ps(srow[j])))));  // padded: j < 8
    // chunk c of the C columns; the last one with the k past the end masked (me, mo)
    const auto chunk = [&](std::size_t c, __mmask32 me, __mmask32 mo) LOWBIT_TARGET_AVX512_BF16
        __attribute__((always_inline)) {
      const std::uint8_t* codes = col0 + c * nibble_columns::chunk_stride;  // column 0's
      prefetch_ahead<C>(codes);
      __m512bh xe[R], xo[R];
#pragma GCC unroll 8
      for (std::size_t r = 0; r < R; ++r) {
        xe[r] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(xw + r * ldx + c * 64));
        xo[r] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(xw + r * ldx + c * 64 + 32));
      }
#pragma GCC unroll 8
      for (std::size_t j = 0; j < C; ++j) {
        const __m512i v = _mm512_cvtepu8_epi16(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + j * nibble_columns::chunk)));
        // vpermw reads the low 5 bits of each index: the low nibble masked, the high one shifted
        const __m512bh we =
            reinterpret_cast<__m512bh>(_mm512_maskz_permutexvar_epi16(me, _mm512_and_si512(v, low4), tab[j]));
        const __m512bh wo =
            reinterpret_cast<__m512bh>(_mm512_maskz_permutexvar_epi16(mo, _mm512_srli_epi16(v, 4), tab[j]));
#pragma GCC unroll 8
        for (std::size_t r = 0; r < R; ++r) {
          acc[r][j][0] = _mm512_dpbf16_ps(acc[r][j][0], xe[r], we);
          acc[r][j][1] = _mm512_dpbf16_ps(acc[r][j][1], xo[r], wo);
        }
      }
    };
    const std::size_t c1 = std::min(nc, c0 + cpg);  // this group's chunks: [c0, c1)
    for (std::size_t c = c0; c < (c1 == nc ? nc - 1 : c1); ++c) chunk(c, all, all);
    if (c1 == nc) chunk(nc - 1, last_e, last_o);
  }
#pragma GCC unroll 8
  for (std::size_t r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (std::size_t j = 0; j < C; ++j)
      if (j < cnt) y[r * ldy + j] = sum_lanes(_mm512_add_ps(acc[r][j][0], acc[r][j][1]));
}

// ---------------------------------------------------------------------------------------------
// The exact weight-only path (issue 11): the reference's sum, acc = acc + double(x) * W in
// ascending k in double, vectorised across 8 columns. Each column keeps its own order, and x * W
// (two significands of at most 24 bits) is exact in double, so the fused multiply-add rounds the
// same sum once as the reference's add does: bit-identical. W is rebuilt from the VNNI panels
// (4 k x 64 columns of int8 values per group) as the reference rounds it, with RNE done on the
// bits for bf16 (vcvtneps2bf16 would flush subnormals) and by vcvtps2ph for fp16.

/// wd[(kk - k0) * 64 + c] = double(W[kk, n0 + c]) for kk in [k0, k1), k0 a multiple of 4: W =
/// I(w * s'), w the int8 value in the VNNI panel (int4 codes are stored as int8 there), s' the
/// inter-rounded scale row s_row(kk) (padded to whole panels with zeros). Nib: the panel holds
/// 4-bit codes (vnni::packed_b::nib) whose values lut gives.
template <inter I, bool Nib, class ScaleRow>
LOWBIT_TARGET_AVX512 inline void exact_w_rows(const std::int8_t* panel, const std::int8_t* lut,
                                              std::size_t k0, std::size_t k1, std::size_t n0,
                                              ScaleRow&& s_row, double* wd) noexcept {
  const __m512i lutv = vnni::lut_vector(lut);
  for (std::size_t q = k0 / 4; q * 4 < k1; ++q) {
    __m512i v[4];  // 64 columns x 4 k: byte c * 4 + r
    vnni::load_group<Nib>(panel, q, lutv, v[0], v[1], v[2], v[3]);
    for (std::size_t r = 0; r < 4 && q * 4 + r < k1; ++r) {
      const std::size_t kk = q * 4 + r;
      const float* s = s_row(kk) + n0;
      double* out = wd + (kk - k0) * 64;
      const __m128i shl = _mm_cvtsi32_si128(static_cast<int>(24 - 8 * r));
      for (int j = 0; j < 4; ++j) {
        const __m512i w32 = _mm512_srai_epi32(_mm512_sll_epi32(v[j], shl), 24);  // byte r, sign-extended
        const __m512 w =
            round_inter_exact<I>(_mm512_mul_ps(_mm512_cvtepi32_ps(w32), _mm512_loadu_ps(s + 16 * j)));
        _mm512_storeu_pd(out + 16 * j, _mm512_cvtps_pd(_mm512_castps512_ps256(w)));
        _mm512_storeu_pd(out + 16 * j + 8,
                         _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(w), 1))));
      }
    }
  }
}

/// acc[r][c] += x[r][kk] * wd[(kk - k0) * 64 + c] for kk in [k0, k1), R rows (ldx apart) and
/// the 8 J columns c < 8 J (wd and acc point at the first; their rows are 64 apart), each
/// column's double sum in ascending k (from 0 when k0 = 0: acc is not read). R x J
/// accumulators: at R = 6, J = 4 a k step loads 4 vectors of W for 24 FMAs (at 2 x 8 it loaded
/// 8 from L2 for 16, and L2 was the limit). The loops over r and j are unrolled by pragma: GCC
/// at -O2 kept a and b on the stack (2.5x slower).
template <std::size_t R, std::size_t J>
LOWBIT_TARGET_AVX512 inline void exact_rows(const double* x, std::size_t ldx, std::size_t k0, std::size_t k1,
                                            const double* wd, double* acc) noexcept {
  __m512d a[R][J];
#pragma GCC unroll 8
  for (std::size_t r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (std::size_t j = 0; j < J; ++j)
      a[r][j] = k0 == 0 ? _mm512_setzero_pd() : _mm512_loadu_pd(acc + r * 64 + 8 * j);  // 0 + p is p, exactly
  for (std::size_t kk = k0; kk < k1; ++kk) {
    const double* w = wd + (kk - k0) * 64;
    __m512d b[J];
#pragma GCC unroll 8
    for (std::size_t j = 0; j < J; ++j) b[j] = _mm512_loadu_pd(w + 8 * j);
#pragma GCC unroll 8
    for (std::size_t r = 0; r < R; ++r) {
      const __m512d xv = _mm512_set1_pd(x[r * ldx + kk]);
#pragma GCC unroll 8
      for (std::size_t j = 0; j < J; ++j) a[r][j] = _mm512_fmadd_pd(xv, b[j], a[r][j]);
    }
  }
#pragma GCC unroll 8
  for (std::size_t r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (std::size_t j = 0; j < J; ++j) _mm512_storeu_pd(acc + r * 64 + 8 * j, a[r][j]);
}

/// epi_weight_only (matmul.hpp) on one row's cnt <= 64 sums: y[c] = cast_output<Out>(v), v =
/// fp32(acc[c]) (vcvtpd2ps: RNE, as the reference's cast) + bias[c] (one fp32 add; bias may be
/// null), and for bf16 x v rounded to bf16 first (round_inter_exact). Out: float or bfloat16
/// (vnni::store_output).
template <inter I, class Out>
LOWBIT_TARGET_AVX512 inline void exact_epilogue(const double* acc, std::size_t cnt, const float* bias,
                                                Out* y) noexcept {
  for (std::size_t c = 0; c < cnt; c += 16) {
    const __mmask16 t = tail_mask(cnt - c);
    const __m256 lo = _mm512_cvtpd_ps(_mm512_maskz_loadu_pd(static_cast<__mmask8>(t), acc + c));
    const __m256 hi = _mm512_cvtpd_ps(_mm512_maskz_loadu_pd(static_cast<__mmask8>(t >> 8), acc + c + 8));
    __m512 v = _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(t, bias + c));
    if constexpr (I == inter::bf16) v = round_inter_exact<I>(v);
    vnni::store_output(v, t, y + c);
  }
}

}  // namespace lowbit::inline v0::detail::wo
LOWBIT_KERNELS_END
#endif

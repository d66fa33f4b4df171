// AVX2 quantize / dequantize kernels for the avx2 backend, bit-exact to the scalar reference
// (quantize.hpp, dequantize.hpp) for the cases they accept, as the AVX-512 ones
// (quantize_avx512.hpp, same names, same operations): the reference's fp32 division and
// comparisons; rint by vroundps with an explicit round-to-nearest-even immediate; the e4m3
// subnormal "magic number" add relies on the default MXCSR (round to nearest, no FTZ/DAZ), which
// lowbit never changes. AVX2 has no masked loads of bytes: a tail shorter than a vector goes
// through an 8-lane buffer padded with zeros.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "quantize_avx512.hpp"  // code_kind
#include "target.hpp"

#if defined(LOWBIT_X86_64)
LOWBIT_KERNELS_BEGIN
namespace lowbit::inline v0::detail::avx2 {

/// The tag of this kernel set: the generic drivers call finite_amax(isa{}, ...) and ADL picks it.
struct isa {};

LOWBIT_TARGET_AVX2 inline __m256 abs8(__m256 v) noexcept {
  return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

/// out[i] = x[i] * s[i] (s null: * s1), each product rounded to fp32 (SmoothQuant's v = x * smooth).
LOWBIT_TARGET_AVX2 inline void multiply_row(isa, const float* __restrict x, const float* __restrict s,
                                            float s1, float* __restrict out, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i,
                     _mm256_mul_ps(_mm256_loadu_ps(x + i), s ? _mm256_loadu_ps(s + i) : _mm256_set1_ps(s1)));
  for (; i < n; ++i) out[i] = x[i] * (s ? s[i] : s1);
}

/// 8 bf16 (BF16) or fp16 values as fp32, exactly.
template <bool BF16>
LOWBIT_TARGET_AVX2 inline __m256 widen8(__m128i h) noexcept {
  return BF16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) : _mm256_cvtph_ps(h);
}

/// out[i] = v(x[i]), times s[i] (s not null) or *s1 (s1 not null), the product rounded to fp32:
/// the reference's load() (bf16 by a 16-bit shift, fp16 by vcvtph2ps: both exact) and
/// smoothed(). x: n bf16 (BF16) or fp16 values; pf: prefetch_next.
template <bool BF16>
LOWBIT_TARGET_AVX2 inline void widen_row(isa, const void* x, const float* __restrict s, const float* s1,
                                         float* __restrict out, std::size_t n,
                                         const char* pf = nullptr) noexcept {
  const auto* p = static_cast<const unsigned char*>(x);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (i % 64 == 0) prefetch_next(pf, 2, i);
    __m256 v = widen8<BF16>(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i)));
    if (s)
      v = _mm256_mul_ps(v, _mm256_loadu_ps(s + i));
    else if (s1)
      v = _mm256_mul_ps(v, _mm256_set1_ps(*s1));
    _mm256_storeu_ps(out + i, v);
  }
  for (; i < n; ++i) {
    std::uint16_t u;
    std::memcpy(&u, p + 2 * i, 2);
    float v = _mm256_cvtss_f32(widen8<BF16>(_mm_cvtsi32_si128(u)));
    if (s)
      v = v * s[i];
    else if (s1)
      v = v * *s1;
    out[i] = v;
  }
}

/// max |x| over the finite x of p[0, n) (NaN and +-Inf skipped), 0 when none.
LOWBIT_TARGET_AVX2 inline float finite_amax(isa, const float* __restrict p, std::size_t n) noexcept {
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = abs8(_mm256_loadu_ps(p + i)), b = abs8(_mm256_loadu_ps(p + i + 8));
    // a < inf is false for NaN and Inf: those lanes keep the running max
    m0 = _mm256_blendv_ps(m0, _mm256_max_ps(m0, a), _mm256_cmp_ps(a, inf, _CMP_LT_OQ));
    m1 = _mm256_blendv_ps(m1, _mm256_max_ps(m1, b), _mm256_cmp_ps(b, inf, _CMP_LT_OQ));
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 a = abs8(_mm256_loadu_ps(p + i));
    m0 = _mm256_blendv_ps(m0, _mm256_max_ps(m0, a), _mm256_cmp_ps(a, inf, _CMP_LT_OQ));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_max_ps(m0, m1));
  float m = 0.0f;
  for (float v : lanes) m = v > m ? v : m;
  for (; i < n; ++i) {
    const float a = p[i] < 0 ? -p[i] : p[i];
    if (a < std::numeric_limits<float>::infinity() && a > m) m = a;
  }
  return m;
}

/// Column-wise max |x| of finite values: colmax[c] = max(colmax[c], |row[c]|).
LOWBIT_TARGET_AVX2 inline void finite_amax_columns(isa, const float* __restrict row, float* __restrict colmax,
                                                   std::size_t n) noexcept {
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 a = abs8(_mm256_loadu_ps(row + i)), m = _mm256_loadu_ps(colmax + i);
    _mm256_storeu_ps(colmax + i, _mm256_blendv_ps(m, _mm256_max_ps(m, a), _mm256_cmp_ps(a, inf, _CMP_LT_OQ)));
  }
  for (; i < n; ++i) {
    const float a = row[i] < 0 ? -row[i] : row[i];
    if (a < std::numeric_limits<float>::infinity() && a > colmax[i]) colmax[i] = a;
  }
}

/// t = x / s per lane, with the reference's zero-scale rule (a finite x over a zero scale is +0).
LOWBIT_TARGET_AVX2 inline __m256 divide_by_scale(__m256 x, __m256 s) noexcept {
  const __m256 t = _mm256_div_ps(x, s);
  const __m256 zero_scale = _mm256_cmp_ps(s, _mm256_setzero_ps(), _CMP_EQ_OQ);
  const __m256 finite =
      _mm256_cmp_ps(abs8(x), _mm256_set1_ps(std::numeric_limits<float>::infinity()), _CMP_LT_OQ);
  return _mm256_blendv_ps(t, _mm256_setzero_ps(), _mm256_and_ps(zero_scale, finite));
}

/// x / scale for one nonzero scale on multiplies, as avx512::divide_by_recip (why it is exact):
/// x times rd = 1 / scale in double, rounded once to fp32.
LOWBIT_TARGET_AVX2 inline __m256 divide_by_recip(__m256 x, __m256d rd) noexcept {
  const __m128 lo = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), rd));
  const __m128 hi = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), rd));
  return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}

/// Integer codes with rint: NaN -> 0, clamp to [lo, hi], round to nearest even; 8 int32 lanes.
LOWBIT_TARGET_AVX2 inline __m256i to_int_rint(__m256 t, float lo, float hi) noexcept {
  const __m256 nan = _mm256_cmp_ps(t, t, _CMP_UNORD_Q);
  __m256 c = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(lo)), _mm256_set1_ps(hi));
  c = _mm256_blendv_ps(c, _mm256_setzero_ps(), nan);
  return _mm256_cvttps_epi32(_mm256_round_ps(c, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/// fp32 -> fp8 e4m3fn codes with the default policy {rint, saturate, NaN -> +0} (the algorithm of
/// avx512::to_e4m3_rint_sat, in AVX2 operations); 8 int32 lanes holding 0..255.
LOWBIT_TARGET_AVX2 inline __m256i to_e4m3_rint_sat(__m256 t) noexcept {
  const __m256i bits = _mm256_castps_si256(t);
  const __m256i sign = _mm256_and_si256(_mm256_srli_epi32(bits, 24), _mm256_set1_epi32(0x80));
  const __m256 nan = _mm256_cmp_ps(t, t, _CMP_UNORD_Q);
  const __m256 a = _mm256_min_ps(abs8(t), _mm256_set1_ps(448.0f));  // saturate (and Inf)
  const __m256i ab = _mm256_castps_si256(a);
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(ab, 20), _mm256_set1_epi32(1));
  const __m256i r = _mm256_add_epi32(_mm256_add_epi32(ab, _mm256_set1_epi32(0x7ffff)), odd);
  const __m256i normal = _mm256_sub_epi32(_mm256_srli_epi32(r, 20), _mm256_set1_epi32((127 - 7) << 3));
  const __m256 magic = _mm256_set1_ps(16384.0f);  // 2^14: its ulp is 2^-9
  const __m256i sub =
      _mm256_sub_epi32(_mm256_castps_si256(_mm256_add_ps(a, magic)), _mm256_castps_si256(magic));
  const __m256 small = _mm256_cmp_ps(a, _mm256_set1_ps(0x1p-6f), _CMP_LT_OQ);
  __m256i code = _mm256_or_si256(
      _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(normal), _mm256_castsi256_ps(sub), small)),
      sign);
  return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(code), _mm256_setzero_ps(), nan));
}

/// Rounds 8 quotients to codes of K and returns their 8 bytes (int4, int4x2: the low nibble).
template <code_kind K>
LOWBIT_TARGET_AVX2 inline std::uint64_t codes8(__m256 q) noexcept {
  __m256i v;
  if constexpr (K == code_kind::int8)
    v = to_int_rint(q, -128.0f, 127.0f);
  else if constexpr (K == code_kind::int4 || K == code_kind::int4x2)
    v = _mm256_and_si256(to_int_rint(q, -8.0f, 7.0f), _mm256_set1_epi32(0xf));
  else
    v = to_e4m3_rint_sat(q);
  // int32 -> bytes: in-range values, so the saturating packs only narrow; lanes 0-3 and 4-7
  // end up in the low dword of each 128-bit half
  __m256i p = _mm256_packs_epi32(v, v);
  p = K == code_kind::int8 ? _mm256_packs_epi16(p, p) : _mm256_packus_epi16(p, p);
  p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
  return static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm256_castsi256_si128(p)));
}

/// out[i] = cast(x[i] / scale[i]) (per-element scales; blocks narrower than a vector).
template <code_kind K>
LOWBIT_TARGET_AVX2 inline void quantize_row(isa, const float* __restrict x, const float* __restrict scale,
                                            std::uint8_t* __restrict out, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    store8<K>(out, i, codes8<K>(divide_by_scale(_mm256_loadu_ps(x + i), _mm256_loadu_ps(scale + i))), 8);
  }
  if (i < n) {  // tail: zero-padded lanes, scale 1
    alignas(32) float xb[8] = {}, sb[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    std::memcpy(xb, x + i, (n - i) * sizeof(float));
    std::memcpy(sb, scale + i, (n - i) * sizeof(float));
    store8<K>(out, i, codes8<K>(divide_by_scale(_mm256_load_ps(xb), _mm256_load_ps(sb))), n - i);
  }
}

/// out[i] = cast(x[i] / scale) (one scale for the whole segment).
template <code_kind K>
LOWBIT_TARGET_AVX2 inline void quantize_segment(isa, const float* __restrict x, float scale,
                                                std::uint8_t* __restrict out, std::size_t n,
                                                const char* pf = nullptr, unsigned pf_bytes = 4) noexcept {
  if (scale == 0.0f) {  // the zero-scale rule
    const __m256 s = _mm256_set1_ps(scale);
    for (std::size_t i = 0; i < n; i += 8) {
      alignas(32) float xb[8] = {};
      std::memcpy(xb, x + i, std::min<std::size_t>(8, n - i) * sizeof(float));
      store8<K>(out, i, codes8<K>(divide_by_scale(_mm256_load_ps(xb), s)), std::min<std::size_t>(8, n - i));
    }
    return;
  }
  const __m256d rd = _mm256_set1_pd(1.0 / static_cast<double>(scale));
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (i % 64 == 0) prefetch_next(pf, pf_bytes, i);
    store8<K>(out, i, codes8<K>(divide_by_recip(_mm256_loadu_ps(x + i), rd)), 8);
  }
  if (i < n) {
    alignas(32) float xb[8] = {};
    std::memcpy(xb, x + i, (n - i) * sizeof(float));
    store8<K>(out, i, codes8<K>(divide_by_recip(_mm256_load_ps(xb), rd)), n - i);
  }
}

/// v with its NaN lanes the canonical quiet NaN 0x7fc00000 (detail::canonical_nan).
LOWBIT_TARGET_AVX2 inline __m256 canonical_nan(__m256 v) noexcept {
  return _mm256_blendv_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000)),
                          _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

/// The scale (or offset) of elements i .. i + 7: s[i / sbc] broadcast when sbc (a multiple of 16:
/// one block's value for all 8), else s[i ..].
LOWBIT_TARGET_AVX2 inline __m256 row_values(const float* s, std::size_t i, std::size_t sbc) noexcept {
  return sbc ? _mm256_broadcast_ss(s + i / sbc) : _mm256_loadu_ps(s + i);
}

/// Any one-byte code: v = table[q[i]] (its exact fp32 value), then out = (v - offset) * scale as
/// dequantize_row_int, one fp32 operation each.
LOWBIT_TARGET_AVX2 inline void dequantize_row_table(isa, const std::uint8_t* __restrict q,
                                                    const float* __restrict table,
                                                    const float* __restrict scale,
                                                    const float* __restrict offset, float* __restrict out,
                                                    std::size_t n, table_decode,
                                                    std::size_t sbc = 0) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + i)));
    __m256 v = _mm256_i32gather_ps(table, idx, 4);
    if (offset) v = _mm256_sub_ps(v, row_values(offset, i, sbc));
    _mm256_storeu_ps(out + i, canonical_nan(_mm256_mul_ps(v, row_values(scale, i, sbc))));
  }
  for (; i < n; ++i) {
    const std::size_t c = sbc ? i / sbc : i;
    out[i] = detail::canonical_nan((offset ? table[q[i]] - offset[c] : table[q[i]]) * scale[c]);
  }
}

/// out[i] = (float(q[i]) - offset[i]) * scale[i] (offset may be null); q as signed bytes. With
/// sbc, scale and offset hold one value per sbc elements (row_values).
LOWBIT_TARGET_AVX2 inline void dequantize_row_int(isa, const std::int8_t* __restrict q,
                                                  const float* __restrict scale,
                                                  const float* __restrict offset, float* __restrict out,
                                                  std::size_t n, std::size_t sbc = 0) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::int64_t b;
    std::memcpy(&b, q + i, 8);
    __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(b)));
    if (offset) v = _mm256_sub_ps(v, row_values(offset, i, sbc));
    _mm256_storeu_ps(out + i, canonical_nan(_mm256_mul_ps(v, row_values(scale, i, sbc))));
  }
  for (; i < n; ++i) {  // tail: the reference's two operations
    const std::size_t c = sbc ? i / sbc : i;
    float v = static_cast<float>(q[i]);
    if (offset) v = v - offset[c];
    out[i] = detail::canonical_nan(v * scale[c]);
  }
}

}  // namespace lowbit::inline v0::detail::avx2
LOWBIT_KERNELS_END
#endif  // LOWBIT_X86_64

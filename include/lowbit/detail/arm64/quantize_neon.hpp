// Advanced SIMD quantize / dequantize kernels of the neon backend, bit-exact to the scalar
// reference (quantize.hpp, dequantize.hpp) for the cases they accept, the same kernel set as the
// x86 ones (detail/x86/quantize_avx2.hpp: same names, same operations): the reference's fp32
// division (FDIV) and comparisons; rint by FCVTNS (round to nearest, ties to even) after the
// clamp; the e4m3 subnormal "magic number" add relies on the default FPCR (round to nearest, no
// flush to zero), which lowbit never changes. Baseline Armv8-A: no target attribute needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "../prefetch.hpp"
#include "../x86/quantize_avx512.hpp"  // code_kind

#if defined(LOWBIT_ARM64)
#include <arm_neon.h>

namespace lowbit::inline v0::detail::neon {

/// The tag of this kernel set: the generic drivers call finite_amax(isa{}, ...) and ADL picks it.
struct isa {};

/// out[i] = x[i] * s[i] (s null: * s1), each product rounded to fp32 (SmoothQuant's v = x * smooth).
inline void multiply_row(isa, const float* __restrict x, const float* __restrict s, float s1,
                         float* __restrict out, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    vst1q_f32(out + i, vmulq_f32(vld1q_f32(x + i), s ? vld1q_f32(s + i) : vdupq_n_f32(s1)));
  for (; i < n; ++i) out[i] = x[i] * (s ? s[i] : s1);
}

/// out[i] = v(x[i]), times s[i] (s not null) or *s1 (s1 not null), the product rounded to fp32:
/// the reference's load() (bf16 by a 16-bit shift, fp16 by fcvtl: both exact) and smoothed().
/// x: n bf16 (BF16) or fp16 values; pf: prefetch_next.
template <bool BF16>
inline void widen_row(isa, const void* x, const float* __restrict s, const float* s1, float* __restrict out,
                      std::size_t n, const char* pf = nullptr) noexcept {
  const auto* p = static_cast<const unsigned char*>(x);
  const auto widen4 = [](uint16x4_t h) {
    if constexpr (BF16)
      return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
    else
      return vcvt_f32_f16(vreinterpret_f16_u16(h));
  };
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    if (i % 64 == 0) prefetch_next(pf, 2, i);
    uint16x4_t h;
    std::memcpy(&h, p + 2 * i, 8);
    float32x4_t v = widen4(h);
    if (s)
      v = vmulq_f32(v, vld1q_f32(s + i));
    else if (s1)
      v = vmulq_f32(v, vdupq_n_f32(*s1));
    vst1q_f32(out + i, v);
  }
  for (; i < n; ++i) {
    std::uint16_t u;
    std::memcpy(&u, p + 2 * i, 2);
    float v = vgetq_lane_f32(widen4(vdup_n_u16(u)), 0);
    if (s)
      v = v * s[i];
    else if (s1)
      v = v * *s1;
    out[i] = v;
  }
}

/// max |x| over the finite x of p[0, n) (NaN and +-Inf skipped), 0 when none.
inline float finite_amax(isa, const float* __restrict p, std::size_t n) noexcept {
  const float32x4_t inf = vdupq_n_f32(std::numeric_limits<float>::infinity());
  float32x4_t m0 = vdupq_n_f32(0.0f), m1 = vdupq_n_f32(0.0f);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t a = vabsq_f32(vld1q_f32(p + i)), b = vabsq_f32(vld1q_f32(p + i + 4));
    // a < inf is false for NaN and Inf: those lanes keep the running max
    m0 = vbslq_f32(vcltq_f32(a, inf), vmaxq_f32(m0, a), m0);
    m1 = vbslq_f32(vcltq_f32(b, inf), vmaxq_f32(m1, b), m1);
  }
  float m = vmaxvq_f32(vmaxq_f32(m0, m1));
  for (; i < n; ++i) {
    const float a = p[i] < 0 ? -p[i] : p[i];
    if (a < std::numeric_limits<float>::infinity() && a > m) m = a;
  }
  return m;
}

/// Column-wise max |x| of finite values: colmax[c] = max(colmax[c], |row[c]|).
inline void finite_amax_columns(isa, const float* __restrict row, float* __restrict colmax,
                                std::size_t n) noexcept {
  const float32x4_t inf = vdupq_n_f32(std::numeric_limits<float>::infinity());
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t a = vabsq_f32(vld1q_f32(row + i)), m = vld1q_f32(colmax + i);
    vst1q_f32(colmax + i, vbslq_f32(vcltq_f32(a, inf), vmaxq_f32(m, a), m));
  }
  for (; i < n; ++i) {
    const float a = row[i] < 0 ? -row[i] : row[i];
    if (a < std::numeric_limits<float>::infinity() && a > colmax[i]) colmax[i] = a;
  }
}

/// t = x / s per lane, with the reference's zero-scale rule (a finite x over a zero scale is +0).
inline float32x4_t divide_by_scale(float32x4_t x, float32x4_t s) noexcept {
  const float32x4_t t = vdivq_f32(x, s);
  const uint32x4_t zero_scale = vceqq_f32(s, vdupq_n_f32(0.0f));
  const uint32x4_t finite = vcltq_f32(vabsq_f32(x), vdupq_n_f32(std::numeric_limits<float>::infinity()));
  return vbslq_f32(vandq_u32(zero_scale, finite), vdupq_n_f32(0.0f), t);
}

/// Integer codes with rint: NaN -> 0, clamp to [lo, hi], round to nearest even; 4 int32 lanes.
inline int32x4_t to_int_rint(float32x4_t t, float lo, float hi) noexcept {
  const uint32x4_t number = vceqq_f32(t, t);  // false for NaN
  const float32x4_t c = vminq_f32(vmaxq_f32(t, vdupq_n_f32(lo)), vdupq_n_f32(hi));
  return vcvtnq_s32_f32(vbslq_f32(number, c, vdupq_n_f32(0.0f)));  // exact: c is in range
}

/// fp32 -> fp8 e4m3fn codes with the default policy {rint, saturate, NaN -> +0} (the algorithm of
/// avx512::to_e4m3_rint_sat); 4 lanes holding 0..255.
inline uint32x4_t to_e4m3_rint_sat(float32x4_t t) noexcept {
  const uint32x4_t bits = vreinterpretq_u32_f32(t);
  const uint32x4_t sign = vandq_u32(vshrq_n_u32(bits, 24), vdupq_n_u32(0x80));
  const uint32x4_t number = vceqq_f32(t, t);
  const float32x4_t a = vminq_f32(vabsq_f32(t), vdupq_n_f32(448.0f));  // saturate (and Inf)
  const uint32x4_t ab = vreinterpretq_u32_f32(a);
  const uint32x4_t odd = vandq_u32(vshrq_n_u32(ab, 20), vdupq_n_u32(1));
  const uint32x4_t r = vaddq_u32(vaddq_u32(ab, vdupq_n_u32(0x7ffff)), odd);
  const uint32x4_t normal = vsubq_u32(vshrq_n_u32(r, 20), vdupq_n_u32((127 - 7) << 3));
  const float32x4_t magic = vdupq_n_f32(16384.0f);  // 2^14: its ulp is 2^-9
  const uint32x4_t sub = vsubq_u32(vreinterpretq_u32_f32(vaddq_f32(a, magic)), vreinterpretq_u32_f32(magic));
  const uint32x4_t small = vcltq_f32(a, vdupq_n_f32(0x1p-6f));
  const uint32x4_t code = vorrq_u32(vbslq_u32(small, sub, normal), sign);
  return vandq_u32(code, number);  // NaN -> +0
}

/// Rounds 8 quotients (two vectors) to codes of K and returns their 8 bytes (int4, int4x2: the
/// low nibble).
template <code_kind K>
inline uint8x8_t codes8(float32x4_t q0, float32x4_t q1) noexcept {
  uint32x4_t v0, v1;
  if constexpr (K == code_kind::int8) {
    v0 = vreinterpretq_u32_s32(to_int_rint(q0, -128.0f, 127.0f));
    v1 = vreinterpretq_u32_s32(to_int_rint(q1, -128.0f, 127.0f));
  } else if constexpr (K == code_kind::int4 || K == code_kind::int4x2) {
    v0 = vandq_u32(vreinterpretq_u32_s32(to_int_rint(q0, -8.0f, 7.0f)), vdupq_n_u32(0xf));
    v1 = vandq_u32(vreinterpretq_u32_s32(to_int_rint(q1, -8.0f, 7.0f)), vdupq_n_u32(0xf));
  } else {
    v0 = to_e4m3_rint_sat(q0);
    v1 = to_e4m3_rint_sat(q1);
  }
  // keep the low byte of each lane (two's complement for int8: the same bits as the code)
  return vmovn_u16(vcombine_u16(vmovn_u32(v0), vmovn_u32(v1)));
}

/// The 8 bytes of v as one 64-bit value (byte 0 lowest), for store8.
inline std::uint64_t bytes_of(uint8x8_t v) noexcept {
  return vget_lane_u64(vreinterpret_u64_u8(v), 0);
}

/// out[i] = cast(x[i] / scale[i]) (per-element scales; blocks narrower than a vector).
template <code_kind K>
inline void quantize_row(isa, const float* __restrict x, const float* __restrict scale,
                         std::uint8_t* __restrict out, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    store8<K>(out, i,
              bytes_of(codes8<K>(divide_by_scale(vld1q_f32(x + i), vld1q_f32(scale + i)),
                                 divide_by_scale(vld1q_f32(x + i + 4), vld1q_f32(scale + i + 4)))),
              8);
  if (i < n) {  // tail: zero-padded lanes, scale 1
    alignas(16) float xb[8] = {}, sb[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    std::memcpy(xb, x + i, (n - i) * sizeof(float));
    std::memcpy(sb, scale + i, (n - i) * sizeof(float));
    store8<K>(out, i,
              bytes_of(codes8<K>(divide_by_scale(vld1q_f32(xb), vld1q_f32(sb)),
                                 divide_by_scale(vld1q_f32(xb + 4), vld1q_f32(sb + 4)))),
              n - i);
  }
}

/// out[i] = cast(x[i] / scale) (one scale for the whole segment).
template <code_kind K>
inline void quantize_segment(isa, const float* __restrict x, float scale, std::uint8_t* __restrict out,
                             std::size_t n, const char* pf = nullptr, unsigned pf_bytes = 4) noexcept {
  const float32x4_t s = vdupq_n_f32(scale);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (i % 64 == 0) prefetch_next(pf, pf_bytes, i);  // the next row
    store8<K>(
        out, i,
        bytes_of(codes8<K>(divide_by_scale(vld1q_f32(x + i), s), divide_by_scale(vld1q_f32(x + i + 4), s))),
        8);
  }
  if (i < n) {
    alignas(16) float xb[8] = {};
    std::memcpy(xb, x + i, (n - i) * sizeof(float));
    store8<K>(out, i,
              bytes_of(codes8<K>(divide_by_scale(vld1q_f32(xb), s), divide_by_scale(vld1q_f32(xb + 4), s))),
              n - i);
  }
}

/// out[i] = (float(q[i]) - offset[i]) * scale[i] (offset may be null); q as signed bytes. A
/// Any one-byte code: v = table[q[i]] (its exact fp32 value), then out = (v - offset) * scale as
/// dequantize_row_int, one fp32 operation each (NEON has no gather: a scalar loop).
/// With sbc, scale and offset hold one value per sbc elements (as the avx512 kernels).
inline void dequantize_row_table(isa, const std::uint8_t* __restrict q, const float* __restrict table,
                                 const float* __restrict scale, const float* __restrict offset,
                                 float* __restrict out, std::size_t n, table_decode,
                                 std::size_t sbc = 0) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = sbc ? i / sbc : i;
    float v = table[q[i]];
    if (offset) v = v - offset[c];
    out[i] = detail::canonical_nan(v * scale[c]);
  }
}

/// subtraction then a product: nothing a compiler could fuse into FMA.
inline void dequantize_row_int(isa, const std::int8_t* __restrict q, const float* __restrict scale,
                               const float* __restrict offset, float* __restrict out, std::size_t n,
                               std::size_t sbc = 0) noexcept {
  // elements i .. i + 3: one block's value broadcast with sbc (a multiple of 16), else s[i ..]
  const auto vals = [sbc](const float* s, std::size_t i) {
    return sbc ? vdupq_n_f32(s[i / sbc]) : vld1q_f32(s + i);
  };
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const int16x8_t w = vmovl_s8(vld1_s8(q + i));
    float32x4_t v0 = vcvtq_f32_s32(vmovl_s16(vget_low_s16(w))),
                v1 = vcvtq_f32_s32(vmovl_s16(vget_high_s16(w)));
    if (offset) {
      v0 = vsubq_f32(v0, vals(offset, i));
      v1 = vsubq_f32(v1, vals(offset, i + 4));
    }
    // NaN lanes: the canonical quiet NaN (detail::canonical_nan)
    const auto canon = [](float32x4_t y) {
      return vbslq_f32(vceqq_f32(y, y), y, vreinterpretq_f32_u32(vdupq_n_u32(0x7fc00000u)));
    };
    vst1q_f32(out + i, canon(vmulq_f32(v0, vals(scale, i))));
    vst1q_f32(out + i + 4, canon(vmulq_f32(v1, vals(scale, i + 4))));
  }
  for (; i < n; ++i) {  // tail: the reference's two operations
    const std::size_t c = sbc ? i / sbc : i;
    float v = static_cast<float>(q[i]);
    if (offset) v = v - offset[c];
    out[i] = detail::canonical_nan(v * scale[c]);
  }
}

/// Up to 32 floats of a block into a zero-padded buffer of 32 (a short block reads no further).
inline void load_block32(const float* __restrict xp, std::size_t len, float32x4_t v[8]) noexcept {
  if (len == 32) {
    for (int j = 0; j < 8; ++j) v[j] = vld1q_f32(xp + 4 * j);
    return;
  }
  alignas(16) float b[32] = {};
  std::memcpy(b, xp, len * sizeof(float));
  for (int j = 0; j < 8; ++j) v[j] = vld1q_f32(b + 4 * j);
}

/// max |x| over a block of len <= 32 floats; bad = the block holds NaN or +-Inf (amax is then
/// meaningless: FMAX propagates NaN).
inline float block_amax32(isa, const float* __restrict xp, std::size_t len, bool& bad) noexcept {
  const float32x4_t inf = vdupq_n_f32(std::numeric_limits<float>::infinity());
  float32x4_t v[8];
  load_block32(xp, len, v);
  float32x4_t m = vabsq_f32(v[0]);
  uint32x4_t finite = vcltq_f32(m, inf);  // false for NaN and Inf
  for (int j = 1; j < 8; ++j) {
    const float32x4_t a = vabsq_f32(v[j]);
    m = vmaxq_f32(m, a);
    finite = vandq_u32(finite, vcltq_f32(a, inf));
  }
  bad = vminvq_u32(finite) == 0;
  return vmaxvq_f32(m);
}

/// fp32 -> fp4 e2m1fn codes (rint, saturate) for finite t: the number of rounding boundaries
/// passed, ties to the even code (0.25 -> 0, 0.75 -> 1, 1.25 -> 1, 1.75 -> 2, 2.5 -> 2,
/// 3.5 -> 4, 5 -> 4), sign in bit 3 (avx512::to_e2m1_rint_sat). A true comparison is all ones
/// (-1), so the code is minus the sum of the masks.
inline uint32x4_t to_e2m1_rint_sat(float32x4_t t) noexcept {
  const float32x4_t a = vabsq_f32(t);
  int32x4_t c = vreinterpretq_s32_u32(vcgtq_f32(a, vdupq_n_f32(0.25f)));
  c = vaddq_s32(c, vreinterpretq_s32_u32(vcgeq_f32(a, vdupq_n_f32(0.75f))));
  c = vaddq_s32(c, vreinterpretq_s32_u32(vcgtq_f32(a, vdupq_n_f32(1.25f))));
  c = vaddq_s32(c, vreinterpretq_s32_u32(vcgeq_f32(a, vdupq_n_f32(1.75f))));
  c = vaddq_s32(c, vreinterpretq_s32_u32(vcgtq_f32(a, vdupq_n_f32(2.5f))));
  c = vaddq_s32(c, vreinterpretq_s32_u32(vcgeq_f32(a, vdupq_n_f32(3.5f))));
  c = vaddq_s32(c, vreinterpretq_s32_u32(vcgtq_f32(a, vdupq_n_f32(5.0f))));
  const uint32x4_t sign = vandq_u32(vshrq_n_u32(vreinterpretq_u32_f32(t), 28), vdupq_n_u32(8));
  return vorrq_u32(vreinterpretq_u32_s32(vnegq_s32(c)), sign);
}

/// fp4 e2m1 codes of a block of len <= 32 finite floats scaled by 2^(127 - code) (exact for
/// code <= 253), rint, saturating.
inline void e2m1_block32(isa, const float* __restrict xp, std::size_t len, std::uint8_t code,
                         std::uint8_t* __restrict out) noexcept {
  const float32x4_t inv = vreinterpretq_f32_u32(vdupq_n_u32((254u - code) << 23));  // 2^(127 - code)
  float32x4_t v[8];
  load_block32(xp, len, v);
  alignas(16) std::uint8_t cb[32];
  for (int j = 0; j < 8; j += 2) {
    const uint32x4_t c0 = to_e2m1_rint_sat(vmulq_f32(v[j], inv)),
                     c1 = to_e2m1_rint_sat(vmulq_f32(v[j + 1], inv));
    vst1_u8(cb + 4 * j, vmovn_u16(vcombine_u16(vmovn_u32(c0), vmovn_u32(c1))));
  }
  std::memcpy(out, cb, len);
}

}  // namespace lowbit::inline v0::detail::neon
#endif  // LOWBIT_ARM64

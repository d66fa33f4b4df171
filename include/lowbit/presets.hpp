// Numerics presets: NVFP4 and MX quantize / dequantize exactly as a named ecosystem computes them
// (shared/spec/presets.md, "the spec" below: §1 the primitives P1-P12, §2 NVFP4, §3 MX, §4 the
// difference tables, §6 what is not pinned down). Each preset is the spec's sequence of fp32
// operations, one rounding per operation (no operation here feeds an addition except where
// fp::opaque keeps it unfused), on the CUDA device rule where an ecosystem's result depends on the
// device (P5: a tensor divided by a Python float is a multiply by the float's reciprocal there).
//
// Layout: x is (m, k) row-major, blocks along k (16 elements for NVFP4, 32 for MX; a last partial
// block takes the elements there are). Codes are one per byte, the element format's code in the
// low bits; scales are one byte per block in the linear (m, ceil(k/block)) layout: e4m3fn bytes
// for NVFP4, e8m0 bytes for MX. scales_to_tiled() gives the 128x4 tiled layout (P9).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "detail/checked.hpp"
#include "detail/fp.hpp"
#include "layout/granularity.hpp"
#include "numeric/convert.hpp"
#include "quantize.hpp"  // mx_element, check_count
#include "types/float8.hpp"
#include "types/format.hpp"
#include "types/minifloat.hpp"

namespace lowbit::inline v0 {

enum class preset : std::uint8_t {
  nvfp4_te,          // TransformerEngine NVFP4 kernels, 1x16 blocks (§2.1)
  nvfp4_te_2d,       // the same with 16x16 weight tiles (§2.1 "2D")
  nvfp4_te_pyref,    // TransformerEngine's Python reference (§2.1b)
  nvfp4_torchao,     // torchao v0.18 eager nvfp4_quantize, CUDA rule (§2.2)
  nvfp4_modelopt,    // ModelOpt export / real quantization, CUDA rule (§2.3a)
  nvfp4_trtllm,      // FlashInfer / TRT-LLM exact path (fast math off), vLLM's global scale (§2.4)
  mx_te,             // TransformerEngine MXFP8 (§3.1)
  mx_torchao_floor,  // torchao to_mx, ScaleCalculationMode FLOOR (§3.2, its default)
  mx_torchao_ceil,   // ... CEIL
  mx_torchao_even,   // ... EVEN
  mx_torchao_rceil,  // ... RCEIL
  mx_ocp,            // microxcaling, the OCP MX reference emulation (§3.3)
};

struct preset_info {
  preset id;
  std::string_view name;     // the CLI's and README's spelling
  std::size_t block;         // 16 (NVFP4) or 32 (MX)
  std::string_view global;   // NVFP4: what the per-tensor value stored beside the scales is
  std::string_view summary;  // one line on how it differs from the others
};

inline constexpr preset_info preset_table[] = {
    {preset::nvfp4_te, "nvfp4-te", 16, "amax",
     "S_enc = 2688/amax (amax NaN-ignoring, 0 -> 1); scale bamax*(S_enc*(1/6)), no lower clamp; "
     "x * min(1/(s * (1/S_enc)), FLT_MAX); NaN -> 0x7, -0 -> 0x8"},
    {preset::nvfp4_te_2d, "nvfp4-te-2d", 16, "amax", "nvfp4-te with one scale per 16x16 tile (weights)"},
    {preset::nvfp4_te_pyref, "nvfp4-te-pyref", 16, "amax",
     "nvfp4-te with NaN-propagating amax (a NaN gives scales 0x7f, codes 0) and the threshold "
     "ladder (NaN -> 0, -0 -> 0)"},
    {preset::nvfp4_torchao, "nvfp4-torchao", 16, "per_tensor_scale = amax/2688",
     "scale clamped to >= 2^-6, x * ((1/pts)/s), amax 0 -> scales 0x7f, codes 0x4; NaN codes 0x4"},
    {preset::nvfp4_modelopt, "nvfp4-modelopt", 16, "weights_scaling_factor_2 = amax/2688",
     "scale bamax/(6*wsf2), 0 -> 1.0, clamped to >= 2^-9; true division x/(s*wsf2); NaN -> 0x7, -0 -> 0"},
    {preset::nvfp4_trtllm, "nvfp4-trtllm", 16, "global_scale = 2688/amax (encode)",
     "the TE formulas on a given encode scale (FlashInfer exact); zero blocks give scale 0, codes 0"},
    {preset::mx_te, "mx-te", 32, "",
     "MXFP8: e8m0 = round up amax*(1/max) (satfinite: Inf -> 0xfe), NaN-ignoring amax; RNE, saturate"},
    {preset::mx_torchao_floor, "mx-torchao-floor", 32, "",
     "2^(floor(log2 amax) - emax) from the exponent bits; NaN/Inf block -> 0xff; RNE, saturate"},
    {preset::mx_torchao_ceil, "mx-torchao-ceil", 32, "", "2^(ceil(log2 amax) - emax)"},
    {preset::mx_torchao_even, "mx-torchao-even", 32, "",
     "amax rounded to the element's mantissa width first, then floor"},
    {preset::mx_torchao_rceil, "mx-torchao-rceil", 32, "",
     "as mx-te but NaN-propagating amax and Inf/NaN -> 0xff (cuBLAS RCEIL)"},
    {preset::mx_ocp, "mx-ocp", 32, "",
     "microxcaling: floor(log2_fp32 amax) - emax, elements round half away from zero, -0 -> +0"},
};

constexpr const preset_info& info(preset p) noexcept {
  return preset_table[static_cast<int>(p)];
}
constexpr std::optional<preset> parse_preset(std::string_view s) noexcept {
  for (const auto& i : preset_table)
    if (i.name == s) return i.id;
  return std::nullopt;
}
constexpr bool is_nvfp4(preset p) noexcept {
  return info(p).block == 16;
}

/// The element formats a preset has: fp4 e2m1 for NVFP4; MXFP8 (e4m3, e5m2) for mx-te; the five
/// MX element formats for torchao and microxcaling.
constexpr bool preset_takes(preset p, format elem) noexcept {
  if (is_nvfp4(p)) return elem == format::fp4_e2m1fn;
  const bool fp8 = elem == format::fp8_e4m3fn || elem == format::fp8_e5m2;
  if (p == preset::mx_te) return fp8;
  return fp8 || elem == format::fp6_e2m3fn || elem == format::fp6_e3m2fn || elem == format::fp4_e2m1fn;
}

/// Variants the spec pins down inside a preset (§2.2, §1 P5).
struct preset_options {
  int torchao_version = 18;  // nvfp4-torchao: 16 divides x / fl(pts * s); 17 and 18 multiply (the same)
  bool cpu = false;          // nvfp4-torchao / nvfp4-modelopt on CPU: amax / 2688 and bamax / 6 are
                             // true divisions (CUDA multiplies by the float's reciprocal, P5)
};

/// A preset's output: codes (one per element), linear block scales, the per-tensor value.
struct preset_codes {
  matrix_shape shape;                // (m, k)
  matrix_shape grid;                 // (m, ceil(k / block)): the linear scale layout
  std::vector<std::uint8_t> codes;   // shape.size() codes
  std::vector<std::uint8_t> scales;  // grid.size() bytes: e4m3fn (NVFP4) or e8m0 (MX)
  float global = 0;                  // NVFP4: the per-tensor value in the preset's stored form
};

namespace detail::presets {

inline constexpr float flt_max = std::numeric_limits<float>::max();
inline constexpr float inf = std::numeric_limits<float>::infinity();

/// min(v, hi) that keeps NaN (torch.clamp) and fminf that drops it (CUDA).
inline float clamp_nan(float v, float lo, float hi) {
  return std::isnan(v) ? v : std::min(std::max(v, lo), hi);
}

/// P1/P2 magnitude ladder of fp4 e2m1, ties to the even code, saturating (|y| not NaN).
inline std::uint8_t e2m1_magnitude(float a) {
  return a <= 0.25f   ? 0
         : a < 0.75f  ? 1
         : a <= 1.25f ? 2
         : a < 1.75f  ? 3
         : a <= 2.5f  ? 4
         : a < 3.5f   ? 5
         : a <= 5.0f  ? 6
                      : 7;
}
/// P2a cvt.rn.satfinite.e2m1: NaN -> +6 (0x7), the sign bit kept (-0 -> 0x8).
inline std::uint8_t e2m1_cvt(float y) {
  if (std::isnan(y)) return 0x7;
  return static_cast<std::uint8_t>((std::signbit(y) ? 8 : 0) | e2m1_magnitude(std::fabs(y)));
}
/// P2b TE's Python threshold ladder: NaN -> 0, -0 -> 0, other negatives keep the sign.
inline std::uint8_t e2m1_ladder(float y) {
  if (std::isnan(y) || y == 0) return 0;
  return static_cast<std::uint8_t>((y < 0 ? 8 : 0) | e2m1_magnitude(std::fabs(y)));
}
/// P2d ModelOpt's searchsorted: sign = (y < 0), NaN -> 0x7, -0 -> 0.
inline std::uint8_t e2m1_searchsorted(float y) {
  if (std::isnan(y)) return 0x7;
  return static_cast<std::uint8_t>((y < 0 ? 8 : 0) | e2m1_magnitude(std::fabs(y)));
}

/// P2c torchao's bit conversion to an fp4/fp6 format T (RNE, saturating, sign kept) for any y;
/// a NaN takes its normal branch on the bits of CUDA's canonical NaN 0x7fffffff (the device rule:
/// every NaN an fp32 operation makes there), which gives e2m1 0x4.
template <class T>
std::uint8_t torchao_fpx(float y) {
  if (!std::isnan(y))
    return T(y, convert_policy{rounding::rint, overflow::saturate, nan_policy::zero}).bits();
  constexpr int ebits = T::codec::exponent_bits, mbits = T::codec::mantissa_bits;
  constexpr int bias = (1 << (ebits - 1)) - 1;
  const std::uint32_t x = 0x7fffffffu;
  const std::uint32_t odd = (x >> (23 - mbits)) & 1u;
  const std::uint32_t add =
      static_cast<std::uint32_t>((bias - 127) * (1 << 23)) + ((1u << (22 - mbits)) - 1u);
  return static_cast<std::uint8_t>((x + add + odd) >> (23 - mbits));  // uint8 cast keeps the low byte
}

/// P3a / P3b e4m3fn byte of a non-negative scale: RNE with subnormals, saturating at 448, NaN ->
/// 0x7f (CUDA's canonical NaN is positive, so torch's NaN|sign is 0x7f too).
inline std::uint8_t e4m3_byte(float v) {
  if (std::isnan(v)) return 0x7f;
  return float8_e4m3fn(v, convert_policy{rounding::rint, overflow::saturate, nan_policy::keep}).bits();
}
inline float e4m3_value(std::uint8_t b) {
  return static_cast<float>(float8_e4m3fn::from_bits(b));
}

/// P6: 2^(127 - b) exactly (b = 254 gives the subnormal 2^-127, 255 NaN).
inline float e8m0_reciprocal(std::uint8_t b) {
  if (b == 255) return std::numeric_limits<float>::quiet_NaN();
  if (b == 254) return std::bit_cast<float>(0x00400000u);
  return std::bit_cast<float>(static_cast<std::uint32_t>(254 - b) << 23);
}
/// 2^(b - 127) (255: NaN), the dequantize scale of every MX preset (exp2f / torch.pow agree).
inline float e8m0_value(std::uint8_t b) {
  if (b == 255) return std::numeric_limits<float>::quiet_NaN();
  if (b == 0) return std::bit_cast<float>(0x00400000u);
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 23);
}
/// P7: e8m0 by rounding a positive v up to a power of two (cvt.rp.ue8m0). satfinite (TE): an
/// exponent field of 0xfe never rounds up and Inf gives 0xfe; without it (torchao RCEIL) every
/// non-finite v, and any v above 2^127, gives 0xff.
inline std::uint8_t e8m0_round_up(float v, bool satfinite) {
  if (std::isnan(v)) return 0xff;
  if (std::isinf(v)) return satfinite ? 0xfe : 0xff;
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(v), e = (bits >> 23) & 0xffu, m = bits & 0x7fffffu;
  if (satfinite && e == 0xfe) return 0xfe;
  return static_cast<std::uint8_t>(e + (e == 0 ? (m > 0x400000u ? 1u : 0u) : (m != 0 ? 1u : 0u)));
}

/// P4a (NaN ignored, from 0) or P4b (NaN propagates) max |x| over rows [r0, r1) x cols [c0, c1).
inline float block_amax(std::span<const float> x, std::size_t cols, std::size_t r0, std::size_t r1,
                        std::size_t c0, std::size_t c1, bool nan_propagates) {
  float m = 0;
  for (std::size_t r = r0; r < r1; ++r)
    for (std::size_t c = c0; c < c1; ++c) {
      const float a = std::fabs(x[r * cols + c]);
      if (std::isnan(a)) {
        if (nan_propagates) return a;
        continue;
      }
      m = std::max(m, a);
    }
  return m;
}

/// The value of an element code of the format f (e2m1: P1).
inline float element_value(format f, std::uint8_t code) {
  float v = 0;
  visit_format(f, [&]<class T>(std::type_identity<T>) {
    if constexpr (mx_element<T>)
      v = static_cast<float>(T::from_bits(static_cast<std::uint8_t>(code & T::mask)));
  });
  return v;
}

inline void check_input(std::span<const float> x, matrix_shape shape, const char* what) {
  check_count(x.size(), checked_mul(shape.rows, shape.cols, "matrix shape"), what);
}

// ---- NVFP4 (§2) ----------------------------------------------------------------------------

inline preset_codes nvfp4_quantize(preset p, std::span<const float> x, matrix_shape shape,
                                   std::optional<float> given, const preset_options& opt) {
  const std::size_t m = shape.rows, k = shape.cols, nb = ceil_div(k, 16);
  preset_codes out{
      shape, {m, nb}, std::vector<std::uint8_t>(shape.size()), std::vector<std::uint8_t>(m * nb), 0};
  if (shape.size() == 0) return out;  // (10^12, 0) holds nothing: no loop over empty rows
  const bool pyref = p == preset::nvfp4_te_pyref;
  // P4a (CUDA fmaxf, NaN ignored) or P4b (torch.max, NaN propagates) for the tensor and the blocks:
  // TE's kernels ignore NaN in both, TRT-LLM's blocks ignore it but vLLM's global-scale helper is
  // torch.max, the Python ecosystems propagate it in both.
  const bool te = p == preset::nvfp4_te || p == preset::nvfp4_te_2d;
  const bool nan_amax = !te, nan_block = !te && p != preset::nvfp4_trtllm;
  const auto whole = [&] { return block_amax(x, k, 0, m, 0, k, nan_amax); };
  // The per-tensor step: what the preset stores, and the constants the blocks use.
  float stored = 0, s_enc = 1, s_dec = 1, k6 = 0, pts = 0, rpts = 0, wsf2 = 0, gs = 0, gs6 = 0, rgs = 0;
  switch (p) {
    case preset::nvfp4_te:
    case preset::nvfp4_te_2d:
    case preset::nvfp4_te_pyref: {  // §2.1 steps 1-3: S_enc = 2688 / amax
      stored = given ? *given : whole();
      s_enc = 2688.0f / stored;
      s_enc = pyref ? clamp_nan(s_enc, -flt_max, flt_max) : std::fmin(s_enc, flt_max);
      if ((!pyref && stored == 0) || s_enc == 0) s_enc = 1.0f;  // pyref: amax 0 -> FLT_MAX, same bytes
      s_dec = 1.0f / s_enc;
      k6 = s_enc * (1.0f / 6.0f);  // fl(S_enc * fl(1/6)), step 5's association
      break;
    }
    case preset::nvfp4_torchao:  // §2.2 step 1: pts = amax / 2688.0, on CUDA amax * fl(1/2688)
      stored = pts = given ? *given : (opt.cpu ? whole() / 2688.0f : whole() * (1.0f / 2688.0f));
      rpts = 1.0f / pts;
      break;
    case preset::nvfp4_modelopt:  // §2.3a step 1: wsf2 = amax / 2688.0 (CUDA rule unless cpu)
      stored = wsf2 = given ? *given : (opt.cpu ? whole() / 2688.0f : whole() * (1.0f / 2688.0f));
      break;
    default:  // nvfp4_trtllm, §2.4: gs = 2688 / amax (vLLM's helper: fl(1/amax) * 2688)
      stored = gs = given ? *given : (1.0f / whole()) * 2688.0f;
      gs6 = gs * (1.0f / 6.0f);
      rgs = 1.0f / gs;
      break;
  }
  out.global = stored;
  for (std::size_t r = 0; r < m; ++r)
    for (std::size_t j = 0; j < nb; ++j) {
      const std::size_t c0 = j * 16, c1 = std::min(c0 + 16, k);
      std::size_t r0 = r, r1 = r + 1;
      if (p == preset::nvfp4_te_2d) r0 = r / 16 * 16, r1 = std::min(r0 + 16, m);  // the 16x16 tile
      const float bamax = block_amax(x, k, r0, r1, c0, c1, nan_block);
      std::uint8_t s = 0;
      float enc = 0;  // the element multiplier (or divisor for modelopt)
      switch (p) {
        case preset::nvfp4_te:
        case preset::nvfp4_te_2d:
        case preset::nvfp4_te_pyref: {  // steps 5-7
          const float sdb = bamax * k6;
          s = e4m3_byte(pyref ? clamp_nan(sdb, -448.0f, 448.0f) : std::fmin(sdb, flt_max));
          const float e = 1.0f / (e4m3_value(s) * s_dec);
          enc = pyref ? clamp_nan(e, -flt_max, flt_max) : std::fmin(e, flt_max);
          break;
        }
        case preset::nvfp4_torchao: {  // steps 3-4: lower clamp at e4m3's smallest normal
          const float sbs = (opt.cpu ? bamax / 6.0f : bamax * (1.0f / 6.0f)) / pts;
          s = e4m3_byte(clamp_nan(sbs, 0x1p-6f, 448.0f));
          enc = opt.torchao_version <= 16 ? pts * e4m3_value(s) : rpts / e4m3_value(s);  // v0.16: divisor
          break;
        }
        case preset::nvfp4_modelopt: {  // steps 3-5: 0 -> 1.0, lower clamp at 2^-9
          float pbs = bamax / (6.0f * wsf2);
          if (pbs == 0) pbs = 1.0f;
          s = e4m3_byte(clamp_nan(pbs, 0x1p-9f, 448.0f));
          enc = e4m3_value(s) * wsf2;  // the divisor
          break;
        }
        default: {  // trtllm exact: both guarded by vecMax != 0
          s = e4m3_byte(bamax != 0 ? bamax * gs6 : 0.0f);
          enc = bamax != 0 ? std::fmin(1.0f / (e4m3_value(s) * rgs), flt_max) : 0.0f;
          break;
        }
      }
      out.scales[r * nb + j] = s;
      for (std::size_t c = c0; c < c1; ++c) {
        const float v = x[r * k + c];
        std::uint8_t q;
        switch (p) {
          case preset::nvfp4_te_pyref:
            q = e2m1_ladder(v * enc);
            break;
          case preset::nvfp4_torchao:  // clamp to [-6, 6] (NaN kept), then the bit conversion
            q = torchao_fpx<float4_e2m1fn>(
                clamp_nan(opt.torchao_version <= 16 ? v / enc : v * enc, -6.0f, 6.0f));
            break;
          case preset::nvfp4_modelopt:
            q = e2m1_searchsorted(v / enc);
            break;
          default:
            q = e2m1_cvt(v * enc);
            break;
        }
        out.codes[r * k + c] = q;
      }
    }
  return out;
}

/// The dequantize scale of one NVFP4 block (§2: each preset's dequantize formula).
inline float nvfp4_block_scale(preset p, std::uint8_t s, float global) {
  const float sv = e4m3_value(s);
  switch (p) {
    case preset::nvfp4_torchao:
      return global * sv;  // fl(pts * s)
    case preset::nvfp4_modelopt:
      return sv * global;  // fl(s * wsf2)
    case preset::nvfp4_trtllm:
      return sv / global;  // fl(s / gs)
    default:
      return (sv * global) * (1.0f / 2688.0f);  // TE: fl(fl(s * amax) * fl(1/2688))
  }
}

// ---- MX (§3) -------------------------------------------------------------------------------

/// The e8m0 byte of one block for the torchao modes and mx-te (§3.1, §3.2 step 2).
inline std::uint8_t mx_scale_byte(preset p, float amax, float elem_max, int emax, int mbits) {
  if (p == preset::mx_te) return e8m0_round_up(amax * (1.0f / elem_max), true);
  if (p == preset::mx_torchao_rceil) return e8m0_round_up(amax * (1.0f / elem_max), false);
  if (!std::isfinite(amax)) return 0xff;
  std::uint32_t bits = std::bit_cast<std::uint32_t>(amax);
  if (p == preset::mx_torchao_even) {  // round amax to the element's mantissa width, carry up
    bits = (bits + (1u << (22 - mbits))) & 0xff800000u;
    if (!std::isfinite(std::bit_cast<float>(bits))) return 0xff;
  }
  int e = static_cast<int>((bits >> 23) & 0xffu) - 127;
  if (p == preset::mx_torchao_ceil && (bits & 0x7fffffu) != 0) ++e;
  e = std::clamp(e - emax, -127, 128);
  return static_cast<std::uint8_t>(e + 127);
}

/// microxcaling's element quantization (§3.3 step 4): round half away from zero at the element's
/// quantum, clamp to max_norm; returns the value (exact in the format). As is finite.
inline float mx_ocp_element(float as, int mant, int emin, float elem_max) {
  if (as == 0) return 0.0f;  // torch.sign(+-0) = 0: -0 becomes +0
  const float a = std::fabs(as);
  const int pe = std::max(std::ilogb(a), emin);
  const float t = fp::opaque(std::ldexp(a, mant - pe));  // exact: a power-of-two scaling
  const float r = std::floor(t + 0.5f);                  // fp32 add: torch.floor(|A| + 0.5)
  const float q = std::min(std::ldexp(r, pe - mant), elem_max);
  return as < 0 ? -q : q;
}

template <class T>
preset_codes mx_quantize(preset p, std::span<const float> x, matrix_shape shape) {
  const std::size_t m = shape.rows, k = shape.cols, nb = ceil_div(k, 32);
  preset_codes out{
      shape, {m, nb}, std::vector<std::uint8_t>(shape.size()), std::vector<std::uint8_t>(m * nb), 0};
  if (shape.size() == 0) return out;
  constexpr float elem_max = format_traits<T>::dtype_max;
  constexpr int emax = format_traits<T>::mx_emax, mbits = T::codec::mantissa_bits;
  constexpr int emin = 1 - ((1 << (T::codec::exponent_bits - 1)) - 1);  // the smallest normal exponent
  constexpr bool fp8 = sizeof(typename T::storage) == 1 && T::codec::exponent_bits + mbits == 7;
  const bool torchao = p != preset::mx_te && p != preset::mx_ocp;
  for (std::size_t r = 0; r < m; ++r)
    for (std::size_t j = 0; j < nb; ++j) {
      const std::size_t c0 = j * 32, c1 = std::min(c0 + 32, k);
      const float amax = block_amax(x, k, r, r + 1, c0, c1, p != preset::mx_te);
      std::uint8_t b;
      if (p == preset::mx_ocp) {
        // se = floor(log2_fp32(amax)) - emax (a correctly rounded fp32 log2, §6.4), >= -127
        if (!std::isfinite(amax)) {
          b = 0xff;
        } else {
          const float lg = static_cast<float>(std::log2(amax == 0 ? 0x1p-126 : static_cast<double>(amax)));
          b = static_cast<std::uint8_t>(std::max(static_cast<int>(std::floor(lg)) - emax, -127) + 127);
        }
      } else {
        b = mx_scale_byte(p, amax, elem_max, emax, mbits);
      }
      out.scales[r * nb + j] = b;
      const float rcp = e8m0_reciprocal(b);
      for (std::size_t c = c0; c < c1; ++c) {
        const float v = x[r * k + c];
        std::uint8_t q;
        if (p == preset::mx_ocp) {
          if (b == 0xff) {
            q = 0;  // a NaN block (the emulation returns NaN values; no code holds them, §6)
          } else {
            const float as = v * rcp;  // A / 2^se
            q = T(mx_ocp_element(as, mbits, emin, elem_max), convert_policy{}).bits();
          }
        } else {
          const float y = v * rcp;
          if constexpr (fp8) {
            if (std::isnan(y))
              q = 0x7f;  // cvt satfinite and torch (CUDA's positive NaN): 0x7f for e4m3 and e5m2
            else if (torchao && p == preset::mx_torchao_rceil && std::is_same_v<T, float8_e5m2>)
              q = T(y, convert_policy{rounding::rint, overflow::propagate, nan_policy::keep})
                      .bits();  // no clamp
            else
              q = T(y, convert_policy{rounding::rint, overflow::saturate, nan_policy::keep}).bits();
          } else {
            q = torchao_fpx<T>(y);  // P2c (mx-te takes fp8 only)
          }
        }
        out.codes[r * k + c] = q;
      }
    }
  return out;
}

}  // namespace detail::presets

/// Quantizes x (m, k), blocks along k, exactly as preset p does. elem is the element format
/// (fp4_e2m1fn for NVFP4; for MX any format preset_takes() admits). given: the per-tensor value
/// in the preset's stored form (preset_info::global) instead of computing it from x (NVFP4 only);
/// opt: the variants of §2.2 and P5.
/// Throws std::invalid_argument for a format the preset does not take, a global for MX, or a
/// size mismatch.
inline preset_codes quantize_preset(preset p, std::span<const float> x, matrix_shape shape,
                                    format elem = format::fp4_e2m1fn,
                                    std::optional<float> given = std::nullopt,
                                    const preset_options& opt = {}) {
  if (opt.torchao_version < 16 || opt.torchao_version > 18)
    throw std::invalid_argument("torchao_version must be 16, 17 or 18");
  if (!preset_takes(p, elem))
    throw std::invalid_argument("preset " + std::string(info(p).name) + " does not take element format " +
                                std::string(to_string(elem)));
  if (given && !is_nvfp4(p))
    throw std::invalid_argument("preset " + std::string(info(p).name) + " has no per-tensor scale");
  detail::presets::check_input(x, shape, "input");
  if (is_nvfp4(p)) return detail::presets::nvfp4_quantize(p, x, shape, given, opt);
  preset_codes out;
  visit_format(elem, [&]<class T>(std::type_identity<T>) {
    if constexpr (mx_element<T>) out = detail::presets::mx_quantize<T>(p, x, shape);
  });
  return out;
}

/// Dequantizes codes (shape, one per byte) with linear block scales as preset p does: NVFP4
/// q * (its block scale formula with global), MX q * 2^(b - 127); fp32 out, one product each,
/// NaN as the quiet NaN 0x7fc00000.
inline void dequantize_preset(preset p, std::span<const std::uint8_t> codes,
                              std::span<const std::uint8_t> scales, matrix_shape shape, format elem,
                              float global, std::span<float> out) {
  if (!preset_takes(p, elem))
    throw std::invalid_argument("preset " + std::string(info(p).name) + " does not take element format " +
                                std::string(to_string(elem)));
  const std::size_t n = detail::checked_mul(shape.rows, shape.cols, "matrix shape"), block = info(p).block,
                    nb = ceil_div(shape.cols, block);
  detail::check_count(codes.size(), n, "codes");
  detail::check_count(out.size(), n, "output");
  detail::check_count(scales.size(), detail::checked_mul(shape.rows, nb, "scale grid"), "scales");
  if (n == 0) return;
  for (std::size_t r = 0; r < shape.rows; ++r)
    for (std::size_t j = 0; j < nb; ++j) {
      const std::uint8_t b = scales[r * nb + j];
      const float s =
          is_nvfp4(p) ? detail::presets::nvfp4_block_scale(p, b, global) : detail::presets::e8m0_value(b);
      for (std::size_t c = j * block; c < std::min((j + 1) * block, shape.cols); ++c) {
        const float v = detail::presets::element_value(elem, codes[r * shape.cols + c]) * s;
        // a NaN made here (0 * Inf) has the CPU's default bits (x86 negative, AArch64 positive):
        // every NaN output is the one quiet NaN 0x7fc00000, the same bits everywhere
        out[r * shape.cols + c] = std::isnan(v) ? std::numeric_limits<float>::quiet_NaN() : v;
      }
    }
}

/// The 128x4 tiled ("swizzled") scale layout of cuBLAS / TE / torchao / vLLM (spec P9): the grid
/// (R, C) padded to (ceil(R/128)*128, ceil(C/4)*4) with zero bytes, byte (r, c) at
/// ((r/128)*(C'/4) + c/4)*512 + (r%32)*16 + ((r/32)%4)*4 + c%4.
inline matrix_shape tiled_shape(matrix_shape grid) {
  return {ceil_div(grid.rows, 128) * 128, ceil_div(grid.cols, 4) * 4};
}
inline std::size_t tiled_offset(std::size_t r, std::size_t c, std::size_t padded_cols) {
  return ((r / 128) * (padded_cols / 4) + c / 4) * 512 + (r % 32) * 16 + ((r / 32) % 4) * 4 + c % 4;
}
inline std::vector<std::uint8_t> scales_to_tiled(std::span<const std::uint8_t> linear, matrix_shape grid) {
  detail::check_count(linear.size(), detail::checked_mul(grid.rows, grid.cols, "scale grid"), "scales");
  const matrix_shape t = tiled_shape(grid);
  std::vector<std::uint8_t> out(detail::checked_mul(t.rows, t.cols, "tiled scale grid"), 0);
  if (linear.empty()) return out;
  for (std::size_t r = 0; r < grid.rows; ++r)
    for (std::size_t c = 0; c < grid.cols; ++c) out[tiled_offset(r, c, t.cols)] = linear[r * grid.cols + c];
  return out;
}
inline std::vector<std::uint8_t> scales_from_tiled(std::span<const std::uint8_t> tiled, matrix_shape grid) {
  const matrix_shape t = tiled_shape(grid);
  detail::check_count(tiled.size(), detail::checked_mul(t.rows, t.cols, "tiled scale grid"), "tiled scales");
  std::vector<std::uint8_t> out(grid.size());
  if (out.empty()) return out;
  for (std::size_t r = 0; r < grid.rows; ++r)
    for (std::size_t c = 0; c < grid.cols; ++c) out[r * grid.cols + c] = tiled[tiled_offset(r, c, t.cols)];
  return out;
}

}  // namespace lowbit::inline v0

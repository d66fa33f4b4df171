// IEEE-like floating formats (OCP OFP8, OCP MX v1.0, IEEE 754 binary16, Google bfloat16).
// Names follow LLVM / ml_dtypes: "fn" = finite (no Inf) with a special NaN encoding.
#pragma once

#include "minifloat.hpp"

namespace lowbit::inline v0 {

/// fp8 E4M3FN: s.eeee.mmm, bias 7, no Inf, NaN = s.1111.111 (0x7f / 0xff), max 448 (0x7e).
/// Subnormals down to 2^-9. CANN enum 36.
using float8_e4m3fn = basic_float<detail::ieee_codec<4, 3, 7, specials::fn>>;

/// fp8 E5M2: s.eeeee.mm, bias 15, IEEE specials: Inf 0x7c / 0xfc, NaN 0x7d-0x7f (canonical
/// 0x7e), max 57344 (0x7b), subnormals down to 2^-16. CANN enum 35.
using float8_e5m2 = basic_float<detail::ieee_codec<5, 2, 15, specials::ieee>>;

/// fp6 E2M3FN (OCP MX): s.ee.mmm, bias 1, no Inf/NaN, max 7.5 (0x1f), min 0.125 (0x01).
using float6_e2m3fn = basic_float<detail::ieee_codec<2, 3, 1, specials::finite>>;

/// fp6 E3M2FN (OCP MX): s.eee.mm, bias 3, no Inf/NaN, max 28 (0x1f), min 0.0625 (0x01).
using float6_e3m2fn = basic_float<detail::ieee_codec<3, 2, 3, specials::finite>>;

/// fp4 E2M1FN (OCP MX): s.ee.m, bias 1, values 0, .5, 1, 1.5, 2, 3, 4, 6; sign in bit 3.
/// CANN FLOAT4_E2M1, enum 40.
using float4_e2m1fn = basic_float<detail::ieee_codec<2, 1, 1, specials::finite>>;

/// fp4 E1M2FN: s.e.mm, bias 1, values 0, .25, .5, .75, 1, 1.25, 1.5, 1.75 (spec §1.3).
/// CANN FLOAT4_E1M2, enum 41.
using float4_e1m2fn = basic_float<detail::ieee_codec<1, 2, 1, specials::finite>>;

/// bfloat16: s.8e.7m, bias 127, IEEE specials; canonical NaN 0x7fc0.
using bfloat16 = basic_float<detail::ieee_codec<8, 7, 127, specials::ieee, std::uint16_t>>;

/// IEEE 754 binary16: s.5e.10m, bias 15; canonical NaN 0x7e00.
using float16 = basic_float<detail::ieee_codec<5, 10, 15, specials::ieee, std::uint16_t>>;

/// bf16 and fp16 are results (matmul outputs, inputs of quantization), so their default is
/// IEEE: round to nearest even, overflow to Inf, NaN stays NaN.
template <>
inline constexpr convert_policy default_policy_v<bfloat16>{rounding::rint, overflow::propagate,
                                                           nan_policy::keep};
template <>
inline constexpr convert_policy default_policy_v<float16>{rounding::rint, overflow::propagate,
                                                          nan_policy::keep};

}  // namespace lowbit::inline v0

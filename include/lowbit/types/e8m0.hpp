// float8_e8m0fnu: the OCP MX shared scale. eeeeeeee, bias 127: code c is 2^(c-127) for
// c = 0..254 (0x00 = 2^-127, 0xfe = 2^127); 0xff = NaN. No sign, no zero, no Inf. CANN enum 37.
//
// Narrowing (cli.md `convert --to e8m0`; the sign is ignored, |x| is converted). With
// |x| = m * 2^k, m in [1, 2):
//   floor, trunc  2^k (OCP: largest power of two not above |x|)
//   ceil          2^k if m == 1, else 2^(k+1)
//   rint, round   nearest power of two on the linear scale: 2^(k+1) when m >= 1.5
// Zero gives 0x00 under `saturate` and 0xff under `propagate`; NaN gives 0xff under either
// NaN policy (a scale has no zero to flush to); values below 2^-127 give 0x00; results above
// 2^127 (and +-Inf) give 0xfe under `saturate`, 0xff under `propagate`.
// ml_dtypes differs on negative inputs (NaN / 0x00), Inf under saturation (0xff) and
// (2^-127, 1.5 * 2^-127), which it maps to 0x01 (its README, surprise 4).
#pragma once

#include <cstdint>
#include <limits>

#include "minifloat.hpp"

namespace lowbit::inline v0 {
namespace detail {

struct e8m0_codec {
  using storage = std::uint8_t;
  static constexpr int bits = 8;
  static constexpr bool has_inf = false;
  static constexpr bool has_nan = true;
  static constexpr storage max_code = 0xfe;
  static constexpr storage nan_code = 0xff;

  static constexpr double decode(storage b) noexcept {
    if (b == 0xff) return std::numeric_limits<double>::quiet_NaN();
    return compose(false, 1, static_cast<int>(b) - 127);
  }

  static constexpr storage encode(double x, convert_policy p) noexcept {
    if (x != x) return nan_code;
    const bool sat = p.on_overflow == overflow::saturate;
    if (x - x != 0) return sat ? max_code : nan_code;
    const exact v = decompose(x);
    if (v.sig == 0) return sat ? storage{0} : nan_code;
    const int lead = static_cast<int>(std::bit_width(v.sig)) - 1;
    int k = v.exp + lead;                                           // floor(log2 |x|)
    const std::uint64_t frac = v.sig - (std::uint64_t{1} << lead);  // m - 1, in units of 2^-lead
    switch (p.round) {
      case rounding::floor:
      case rounding::trunc:
        break;
      case rounding::ceil:
        k += frac != 0 ? 1 : 0;
        break;
      case rounding::rint:
      case rounding::round:  // m >= 1.5  <=>  frac >= 2^(lead-1)
        k += (lead > 0 && frac >= (std::uint64_t{1} << (lead - 1))) ? 1 : 0;
        break;
    }
    if (k < -127) return 0;
    if (k > 127) return sat ? max_code : nan_code;
    return static_cast<storage>(k + 127);
  }
};

}  // namespace detail

/// The e8m0 scale type (see the file comment for the conversion rules).
using float8_e8m0fnu = basic_float<detail::e8m0_codec>;

}  // namespace lowbit::inline v0

// HiFloat8 (Ascend HiF8, arXiv 2409.16626; spec §1.4). A tapered 8-bit format: after the
// sign, a prefix-coded "dot" field D says how many exponent bits follow:
//   11 -> D=4 (4 exp bits, 1 mantissa bit)     10 -> D=3 (3, 2)     01 -> D=2 (2, 3)
//   001 -> D=1 (1, 3)     0001 -> D=0 (0, 3)     0000 -> denormal: 2^(M-23), M = low 3 bits
// The exponent field is sign-magnitude with an implicit leading magnitude bit:
// |E| = 2^(D-1) + low bits, so D=1 -> +-1, D=2 -> +-2..3, D=3 -> +-4..7, D=4 -> +-8..15.
// Specials: 0x00 = 0 (the only zero), 0x80 = NaN, 0x6f / 0xef = +-Inf. Max finite 0x6e =
// 2^15 = 32768, min normal 0x7e = 2^-15, min positive 0x01 = 2^-22.
//
// Encoding (narrowing) is defined as rounding on the linear scale between the two
// neighbouring representable magnitudes, with the Inf slot (1.5 * 2^15 = 49152) as the
// neighbour above 32768:
//   round (CANN default, en_dtypes, hardware CAST_ROUND): ties away from zero. This equals
//          en_dtypes' "round the mantissa at the pre-rounding exponent" algorithm.
//   rint:  ties go to the neighbour whose code has its lowest bit 0 (cli.md).
//   floor / ceil / trunc: directed.
// Overflow (spec §9.1, our decision): |x| that rounds above 32768 goes to +-32768 under
// `saturate` (what the hardware SAT cast does), to +-Inf under `propagate`. en_dtypes instead
// gives Inf for [1.25, 1.5) * 2^15 even when saturating; we do not copy that.
// MindSpore's truncating encoder (spec §9.3) is not followed.
#pragma once

#include <array>
#include <cstdint>
#include <limits>

#include "minifloat.hpp"

namespace lowbit::inline v0 {
namespace detail {

/// Exact value of a HiFloat8 code (spec §1.4).
constexpr double hifloat8_decode(std::uint8_t b) noexcept {
  if (b == 0x80) return std::numeric_limits<double>::quiet_NaN();
  const bool neg = (b & 0x80) != 0;
  const unsigned r = b & 0x7fu;
  if (r == 0x6f)
    return neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  if (r == 0) return 0.0;
  int d = 0;  // prefix 11 -> 4, 10 -> 3, 01 -> 2, 001 -> 1, 0001 -> 0, 0000 -> denormal
  if ((r >> 5) == 3)
    d = 4;
  else if ((r >> 5) == 2)
    d = 3;
  else if ((r >> 5) == 1)
    d = 2;
  else if ((r >> 4) == 1)
    d = 1;
  else if ((r >> 3) == 1)
    d = 0;
  else
    return compose(neg, 1, static_cast<int>(r & 7u) - 23);  // denormal 2^(M-23)
  const int mbits = d == 4 ? 1 : (d == 3 ? 2 : 3);
  const unsigned m = r & ((1u << mbits) - 1);
  int e = 0;
  if (d > 0) {
    const unsigned ef = (r >> mbits) & ((1u << d) - 1);
    const int mag = (1 << (d - 1)) + static_cast<int>(ef & ((1u << (d - 1)) - 1));
    e = (ef >> (d - 1)) ? -mag : mag;
  }
  return compose(neg, m | (1u << mbits), e - mbits);
}

struct hifloat8_codec {
  using storage = std::uint8_t;
  static constexpr int bits = 8;
  static constexpr bool has_inf = true;
  static constexpr bool has_nan = true;
  static constexpr storage max_code = 0x6e;
  static constexpr storage inf_code = 0x6f;
  static constexpr storage nan_code = 0x80;

  static constexpr double decode(storage b) noexcept { return hifloat8_decode(b); }

  struct entry {
    double value;
    storage code;
  };
  // The 127 finite non-negative magnitudes (0 and 126 positive values), sorted by value.
  static constexpr auto table = [] {
    std::array<entry, 127> t{};
    std::size_t n = 0;
    for (unsigned c = 0; c < 0x80; ++c)
      if (c != 0x6f) t[n++] = {hifloat8_decode(static_cast<storage>(c)), static_cast<storage>(c)};
    for (std::size_t i = 1; i < t.size(); ++i)  // insertion sort (constexpr)
      for (std::size_t j = i; j > 0 && t[j - 1].value > t[j].value; --j) {
        const entry tmp = t[j];
        t[j] = t[j - 1];
        t[j - 1] = tmp;
      }
    return t;
  }();

  static constexpr storage encode(double x, convert_policy p) noexcept {
    if (x != x) return p.on_nan == nan_policy::keep ? nan_code : storage{0};
    const bool neg = x < 0;
    const auto sign = [neg](storage c) { return static_cast<storage>(c == 0 ? 0 : (neg ? c | 0x80 : c)); };
    const double a = neg ? -x : x;
    if (a - a != 0) return sign(p.on_overflow == overflow::saturate ? max_code : inf_code);
    // Largest table index with value <= a (table[0] = 0 <= a).
    std::size_t lo = 0, hi = table.size();
    while (hi - lo > 1) {
      const std::size_t mid = (lo + hi) / 2;
      (table[mid].value <= a ? lo : hi) = mid;
    }
    if (table[lo].value == a) return sign(table[lo].code);
    const entry below = table[lo];
    const entry above = lo + 1 < table.size() ? table[lo + 1] : entry{49152.0, inf_code};
    const double midpoint = (below.value + above.value) / 2;  // exact: few significant bits
    bool up = false;
    switch (p.round) {
      case rounding::rint:
        up = a > midpoint || (a == midpoint && (above.code & 1) == 0);
        break;
      case rounding::round:
        up = a >= midpoint;
        break;
      case rounding::floor:
        up = neg;
        break;
      case rounding::ceil:
        up = !neg;
        break;
      case rounding::trunc:
        up = false;
        break;
    }
    if (!up) return sign(below.code);
    if (above.code == inf_code) return sign(p.on_overflow == overflow::saturate ? max_code : inf_code);
    return sign(above.code);
  }
};

}  // namespace detail

/// HiFloat8 (see the file comment for the encoding). CANN enum 34.
using hifloat8 = basic_float<detail::hifloat8_codec>;

template <>
inline constexpr convert_policy default_policy_v<hifloat8>{rounding::round, overflow::saturate,
                                                           nan_policy::zero};

}  // namespace lowbit::inline v0

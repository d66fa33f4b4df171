// Exact binary arithmetic used by every narrowing conversion.
// A finite double is split into (-1)^neg * sig * 2^exp with an integer sig < 2^53; rounding
// to a quantum 2^q is then a shift plus one decision, with no floating-point operation and
// no dependence on the process's rounding mode (we never call fesetround).
#pragma once

#include <bit>
#include <cstdint>

#include "../numeric/policy.hpp"
#include "fp.hpp"

namespace lowbit::inline v0::detail {

struct exact {
  bool neg;
  std::uint64_t sig;  // < 2^53 from decompose; < 2^63 allowed by the encoders
  int exp;
};

/// Splits a finite double exactly. Zero gives sig = 0.
constexpr exact decompose(double x) noexcept {
  const auto b = std::bit_cast<std::uint64_t>(x);
  const bool neg = (b >> 63) != 0;
  const int e = static_cast<int>((b >> 52) & 0x7ff);
  const std::uint64_t m = b & ((std::uint64_t{1} << 52) - 1);
  if (e == 0) return {neg, m, -1074};
  return {neg, m | (std::uint64_t{1} << 52), e - 1075};
}

/// (-1)^neg * sig * 2^exp as a double. Exact when the value is representable (all callers
/// pass values of formats narrower than double); sig must be < 2^53.
constexpr double compose(bool neg, std::uint64_t sig, int exp) noexcept {
  std::uint64_t b = neg ? (std::uint64_t{1} << 63) : 0;
  if (sig != 0) {
    const int l = static_cast<int>(std::bit_width(sig)) - 1;
    const int e = exp + l;  // unbiased exponent of the leading bit
    if (e >= -1022) {
      b |= static_cast<std::uint64_t>(e + 1023) << 52;
      b |= (sig << (52 - l)) & ((std::uint64_t{1} << 52) - 1);
    } else {
      b |= sig << (exp + 1074);  // double subnormal; never reached by our formats
    }
  }
  return std::bit_cast<double>(b);
}

/// True when the rounding mode moves a value of this sign toward zero.
constexpr bool toward_zero(rounding r, bool neg) noexcept {
  return r == rounding::trunc || (r == rounding::floor && !neg) || (r == rounding::ceil && neg);
}

/// Rounds the magnitude sig * 2^exp to an integer multiple n of 2^q under mode r (neg is the
/// sign of the value, which decides floor/ceil). Returns n. Exact; the caller guarantees that
/// n fits (q - exp >= -10 in every use) and sig < 2^63.
constexpr std::uint64_t round_to_quantum(std::uint64_t sig, int exp, int q, rounding r, bool neg) noexcept {
  const int s = q - exp;
  if (s <= 0) return sig << -s;
  std::uint64_t n = 0;
  int cmp = 0;  // remainder against half a quantum: -1 below, 0 equal, +1 above
  bool inexact = sig != 0;
  if (s < 64) {
    n = sig >> s;
    const std::uint64_t rem = sig & ((std::uint64_t{1} << s) - 1);
    const std::uint64_t half = std::uint64_t{1} << (s - 1);
    inexact = rem != 0;
    cmp = rem < half ? -1 : (rem == half ? 0 : 1);
  } else {
    cmp = -1;  // sig < 2^63 <= half
  }
  if (!inexact) return n;
  switch (r) {
    case rounding::rint:
      return n + ((cmp > 0 || (cmp == 0 && (n & 1))) ? 1 : 0);
    case rounding::round:
      return n + (cmp >= 0 ? 1 : 0);
    case rounding::floor:
      return n + (neg ? 1 : 0);
    case rounding::ceil:
      return n + (neg ? 0 : 1);
    case rounding::trunc:
      return n;
  }
  return n;
}

/// Rounds a float to an integral value under mode r (NaN and +-Inf pass through).
/// constexpr replacement for nearbyint/round/floor/ceil/trunc that ignores fenv.
constexpr float round_integral(float x, rounding r) noexcept {
  if (!(x == x) || x - x != 0.0f) return x;  // NaN or Inf
  const exact v = decompose(static_cast<double>(x));
  if (v.exp >= 0) return x;  // already integral
  const std::uint64_t n = round_to_quantum(v.sig, v.exp, 0, r, v.neg);
  return static_cast<float>(compose(v.neg, n, 0));
}

}  // namespace lowbit::inline v0::detail

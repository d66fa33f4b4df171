// 4-bit integers: int4 (two's complement, -8..7) and uint4 (0..15), one value per object.
// Packed storage (two per byte, element 2i in the low nibble) is in types/packed.hpp.
// Narrowing from a real number rounds under a named mode, clamps to the range, and maps NaN
// to 0 (cli.md: "Integer formats clamp to their range; NaN gives 0"). No arithmetic
// operators: ml_dtypes' intN wraps modulo 2^N, which silently corrupts quantized data.
#pragma once

#include <cstdint>

#include "../detail/exact.hpp"
#include "../numeric/policy.hpp"

namespace lowbit::inline v0 {
namespace detail {

/// Rounds x under mode r and clamps to [lo, hi]; NaN gives 0. Exact, fenv-independent.
constexpr int round_clamp(float x, rounding r, int lo, int hi) noexcept {
  if (x != x) return 0;
  const float v = round_integral(x, r);  // +-Inf stays Inf and clamps below
  if (v <= static_cast<float>(lo)) return lo;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

}  // namespace detail

template <int Bits, bool Signed>
class intn {
  static_assert(Bits > 0 && Bits < 8);

 public:
  static constexpr int width = Bits;
  static constexpr int min_value = Signed ? -(1 << (Bits - 1)) : 0;
  static constexpr int max_value = Signed ? (1 << (Bits - 1)) - 1 : (1 << Bits) - 1;

  constexpr intn() noexcept = default;
  /// Rounds x under p.round (default rint), clamps to [min_value, max_value]; NaN -> 0.
  constexpr explicit intn(float x, convert_policy p = {}) noexcept
      : intn(from_int(detail::round_clamp(x, p.round, min_value, max_value))) {}

  /// From an integer already in range (asserted by the caller's logic; out of range clamps).
  static constexpr intn from_int(int v) noexcept {
    v = v < min_value ? min_value : (v > max_value ? max_value : v);
    return from_bits(static_cast<std::uint8_t>(v));
  }
  /// From the Bits-bit code (upper bits ignored).
  static constexpr intn from_bits(std::uint8_t b) noexcept {
    intn r;
    r.bits_ = static_cast<std::uint8_t>(b & ((1u << Bits) - 1));
    return r;
  }
  constexpr std::uint8_t bits() const noexcept { return bits_; }
  constexpr int value() const noexcept {
    const int v = bits_;
    return Signed && (v >> (Bits - 1)) ? v - (1 << Bits) : v;
  }
  constexpr explicit operator int() const noexcept { return value(); }
  constexpr explicit operator float() const noexcept { return static_cast<float>(value()); }
  friend constexpr bool operator==(intn, intn) = default;

 private:
  std::uint8_t bits_ = 0;
};

using int4 = intn<4, true>;
using uint4 = intn<4, false>;

}  // namespace lowbit::inline v0

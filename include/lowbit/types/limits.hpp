// std::numeric_limits for every lowbit format (values checked code by code in
// tests/types/limits_test.cpp).
#pragma once

#include <limits>
#include <type_traits>

#include "e8m0.hpp"
#include "float8.hpp"
#include "hifloat8.hpp"
#include "intn.hpp"

namespace lowbit::inline v0::detail {

/// Codes of the limit values of a floating format.
template <class Codec>
struct float_limits;

template <int E, int M, int B, specials S, class St>
struct float_limits<ieee_codec<E, M, B, S, St>> {
  using C = ieee_codec<E, M, B, S, St>;
  static constexpr bool is_signed = true;
  static constexpr St lowest = static_cast<St>(C::max_code | C::sign_mask);
  static constexpr St min_normal = static_cast<St>(1u << M);
  static constexpr St denorm_min = 1;
  static constexpr St epsilon = C::encode(compose(false, 1, -M), {});
  static constexpr int digits = M + 1;
  static constexpr int min_exponent = C::emin + 1;
  static constexpr int max_exponent = C::emax + 1;
  static constexpr bool has_denorm = true;
};

template <>
struct float_limits<hifloat8_codec> {
  static constexpr bool is_signed = true;
  static constexpr std::uint8_t lowest = 0xee;      // -32768
  static constexpr std::uint8_t min_normal = 0x7e;  // 2^-15
  static constexpr std::uint8_t denorm_min = 0x01;  // 2^-22
  static constexpr std::uint8_t epsilon = 0x38;     // 0.125: next after 1 is 1.125
  static constexpr int digits = 4;                  // 3 mantissa bits near 1
  static constexpr int min_exponent = -14;
  static constexpr int max_exponent = 16;
  static constexpr bool has_denorm = true;
};

template <>
struct float_limits<e8m0_codec> {
  static constexpr bool is_signed = false;
  static constexpr std::uint8_t lowest = 0x00;  // 2^-127
  static constexpr std::uint8_t min_normal = 0x00;
  static constexpr std::uint8_t denorm_min = 0x00;
  static constexpr std::uint8_t epsilon = 0x7f;  // 1: next after 1 is 2
  static constexpr int digits = 1;
  static constexpr int min_exponent = -126;
  static constexpr int max_exponent = 128;
  static constexpr bool has_denorm = false;
};

}  // namespace lowbit::inline v0::detail

template <class Codec>
class std::numeric_limits<lowbit::basic_float<Codec>> {
  using T = lowbit::basic_float<Codec>;
  using L = lowbit::detail::float_limits<Codec>;

 public:
  static constexpr bool is_specialized = true;
  static constexpr bool is_signed = L::is_signed;
  static constexpr bool is_integer = false;
  static constexpr bool is_exact = false;
  static constexpr bool has_infinity = Codec::has_inf;
  static constexpr bool has_quiet_NaN = Codec::has_nan;
  static constexpr bool has_signaling_NaN = false;
  static constexpr float_denorm_style has_denorm = L::has_denorm ? denorm_present : denorm_absent;
  static constexpr bool has_denorm_loss = false;
  static constexpr float_round_style round_style = round_to_nearest;
  static constexpr bool is_iec559 = false;
  static constexpr bool is_bounded = true;
  static constexpr bool is_modulo = false;
  static constexpr int digits = L::digits;
  static constexpr int digits10 = 0;
  static constexpr int max_digits10 = 3 + (L::digits > 4 ? 2 : 0) + (L::digits > 8 ? 1 : 0);
  static constexpr int radix = 2;
  static constexpr int min_exponent = L::min_exponent;
  static constexpr int max_exponent = L::max_exponent;
  static constexpr int min_exponent10 = 0;
  static constexpr int max_exponent10 = 0;
  static constexpr bool traps = false;
  static constexpr bool tinyness_before = false;

  static constexpr T min() noexcept { return T::from_bits(L::min_normal); }
  static constexpr T max() noexcept { return T::from_bits(Codec::max_code); }
  static constexpr T lowest() noexcept { return T::from_bits(L::lowest); }
  static constexpr T epsilon() noexcept { return T::from_bits(L::epsilon); }
  static constexpr T round_error() noexcept { return T(0.5f, {}); }
  static constexpr T infinity() noexcept {
    if constexpr (Codec::has_inf) return T::from_bits(Codec::inf_code);
    return T{};
  }
  static constexpr T quiet_NaN() noexcept {
    if constexpr (Codec::has_nan) return T::from_bits(Codec::nan_code);
    return T{};
  }
  static constexpr T signaling_NaN() noexcept { return quiet_NaN(); }
  static constexpr T denorm_min() noexcept { return T::from_bits(L::denorm_min); }
};

template <int Bits, bool Signed>
class std::numeric_limits<lowbit::intn<Bits, Signed>> {
  using T = lowbit::intn<Bits, Signed>;

 public:
  static constexpr bool is_specialized = true;
  static constexpr bool is_signed = Signed;
  static constexpr bool is_integer = true;
  static constexpr bool is_exact = true;
  static constexpr bool has_infinity = false;
  static constexpr bool has_quiet_NaN = false;
  static constexpr bool has_signaling_NaN = false;
  static constexpr float_denorm_style has_denorm = denorm_absent;
  static constexpr bool has_denorm_loss = false;
  static constexpr float_round_style round_style = round_toward_zero;
  static constexpr bool is_iec559 = false;
  static constexpr bool is_bounded = true;
  static constexpr bool is_modulo = false;
  static constexpr int digits = Signed ? Bits - 1 : Bits;
  static constexpr int digits10 = 0;
  static constexpr int max_digits10 = 0;
  static constexpr int radix = 2;
  static constexpr int min_exponent = 0;
  static constexpr int max_exponent = 0;
  static constexpr int min_exponent10 = 0;
  static constexpr int max_exponent10 = 0;
  static constexpr bool traps = false;
  static constexpr bool tinyness_before = false;

  static constexpr T min() noexcept { return T::from_int(T::min_value); }
  static constexpr T max() noexcept { return T::from_int(T::max_value); }
  static constexpr T lowest() noexcept { return min(); }
  static constexpr T epsilon() noexcept { return T{}; }
  static constexpr T round_error() noexcept { return T{}; }
  static constexpr T infinity() noexcept { return T{}; }
  static constexpr T quiet_NaN() noexcept { return T{}; }
  static constexpr T signaling_NaN() noexcept { return T{}; }
  static constexpr T denorm_min() noexcept { return T{}; }
};

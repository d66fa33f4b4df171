// Conversion policies: how a real number becomes a code of a narrower format.
// The ONE place where the defaults live (README "Policies and defaults").
//
// Vocabulary is CANN's (spec §1.5, cli.md):
//   rint  nearest, ties to even        round  nearest, ties away from zero
//   floor toward -inf                  ceil   toward +inf          trunc  toward zero
// Overflow (cli.md):
//   saturate   finite overflow and +-Inf become +-max finite (the default; CANN SatMode::SAT)
//   propagate  IEEE 754 overflow: +-Inf where the format has Inf, else its NaN with the sign
//              of the value, except that a rounding toward zero of a finite value gives
//              +-max finite. Formats with neither Inf nor NaN (fp4, fp6) always saturate.
// NaN:
//   zero  NaN becomes +0 (the default; CANN quantizers)
//   keep  NaN becomes the format's canonical NaN (a format without NaN gives +0)
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "../version.hpp"

namespace lowbit::inline v0 {

enum class rounding : std::uint8_t { rint, round, floor, ceil, trunc };
enum class overflow : std::uint8_t { saturate, propagate };
enum class nan_policy : std::uint8_t { zero, keep };

/// How to narrow a value. Fill it with designated initializers:
/// `convert_policy{.round = rounding::floor}`; unnamed fields take the defaults below.
struct convert_policy {
  rounding round = rounding::rint;
  overflow on_overflow = overflow::saturate;
  nan_policy on_nan = nan_policy::zero;
  friend constexpr bool operator==(convert_policy, convert_policy) = default;
};

/// The default policy of a format T: {rint, saturate, zero} for every quantization format,
/// {round, saturate, zero} for hifloat8 (CANN's HiF8 default, spec §1.4), and IEEE
/// {rint, propagate, keep} for bfloat16 / float16 (they are results, not quantization
/// targets). Specialized next to each type that differs.
template <class T>
inline constexpr convert_policy default_policy_v{};

constexpr std::string_view to_string(rounding r) noexcept {
  switch (r) {
    case rounding::rint:
      return "rint";
    case rounding::round:
      return "round";
    case rounding::floor:
      return "floor";
    case rounding::ceil:
      return "ceil";
    case rounding::trunc:
      return "trunc";
  }
  return "?";
}
constexpr std::string_view to_string(overflow o) noexcept {
  return o == overflow::saturate ? "saturate" : "propagate";
}
constexpr std::string_view to_string(nan_policy n) noexcept {
  return n == nan_policy::zero ? "zero" : "keep";
}

constexpr std::optional<rounding> parse_rounding(std::string_view s) noexcept {
  for (auto r : {rounding::rint, rounding::round, rounding::floor, rounding::ceil, rounding::trunc})
    if (to_string(r) == s) return r;
  return std::nullopt;
}
constexpr std::optional<overflow> parse_overflow(std::string_view s) noexcept {
  if (s == "saturate") return overflow::saturate;
  if (s == "propagate") return overflow::propagate;
  return std::nullopt;
}
constexpr std::optional<nan_policy> parse_nan_policy(std::string_view s) noexcept {
  if (s == "zero") return nan_policy::zero;
  if (s == "keep") return nan_policy::keep;
  return std::nullopt;
}

}  // namespace lowbit::inline v0

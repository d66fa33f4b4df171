// convert<T>(x, policy): the one narrowing entry point for every format, and to_float().
//   floating formats: exact rounding under policy.round, overflow and NaN per policy
//   int8 / int4 / uint4: rounding under policy.round, clamp to the range, NaN -> 0
//                        (policy.on_overflow / on_nan do not apply: integers always clamp)
#pragma once

#include <cstdint>
#include <type_traits>

#include "../types/e8m0.hpp"
#include "../types/float8.hpp"
#include "../types/hifloat8.hpp"
#include "../types/intn.hpp"

namespace lowbit::inline v0 {

template <class T>
struct is_basic_float : std::false_type {};
template <class C>
struct is_basic_float<basic_float<C>> : std::true_type {};
template <class T>
struct is_intn : std::false_type {};
template <int B, bool S>
struct is_intn<intn<B, S>> : std::true_type {};

/// Every code type lowbit quantizes to (int8 is std::int8_t).
template <class T>
concept low_bit_type = is_basic_float<T>::value || is_intn<T>::value || std::is_same_v<T, std::int8_t>;

/// The 4-bit code types: stored two per byte or eight per int32 word (types/packed.hpp).
template <class T>
concept four_bit_type = std::is_same_v<T, int4> || std::is_same_v<T, uint4> ||
    std::is_same_v<T, float4_e2m1fn> || std::is_same_v<T, float4_e1m2fn>;

/// Narrows x to T under policy p (see the file comment for the rules).
/// Example: `auto q = lowbit::convert<lowbit::float8_e4m3fn>(1000.f);  // 448, saturated`
template <low_bit_type T>
constexpr T convert(float x, convert_policy p = default_policy_v<T>) noexcept {
  if constexpr (std::is_same_v<T, std::int8_t>)
    return static_cast<std::int8_t>(detail::round_clamp(x, p.round, -128, 127));
  else
    return T(x, p);
}

/// Same, from a double that is exact (used where a value is scaled by a power of two, e.g.
/// MX elements, so that no intermediate float rounding happens).
template <low_bit_type T>
constexpr T convert_exact(double x, convert_policy p = default_policy_v<T>) noexcept {
  if constexpr (is_basic_float<T>::value)
    return T::from_bits(T::codec::encode(x, p));
  else
    return convert<T>(static_cast<float>(x), p);
}

/// Exact widening of any code type to float.
template <low_bit_type T>
constexpr float to_float(T v) noexcept {
  return static_cast<float>(v);
}

}  // namespace lowbit::inline v0

// Exact dot products of low-bit codes (spec §4.1, §9.13 and issue "Quantized matmul").
// Every code of every low-bit format is an integer multiple of a fixed power of two (its
// smallest positive value), so a code becomes an int64 "fixed-point" integer, a product of
// two codes an exact int128, and a sum over any k (< 2^40) an exact int128. The result does
// not depend on the summation order. It is rounded once, to nearest even, by to_float().
#pragma once

#include <bit>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

#include "../types/float8.hpp"
#include "../types/format.hpp"

namespace lowbit::inline v0::detail {

using int128 = __int128;
using uint128 = unsigned __int128;

/// log2 of the unit in which codes of T are integers (the smallest positive value).
template <class T>
constexpr int fixed_lsb() {
  if constexpr (std::is_same_v<T, std::int8_t> || std::is_same_v<T, int4>)
    return 0;
  else if constexpr (std::is_same_v<T, hifloat8>)
    return -22;
  else
    return T::codec::emin - T::codec::mantissa_bits;  // IEEE-like: denorm_min
}

/// Codes as exact integers in units of 2^fixed_lsb<T>(). NaN and Inf codes have no fixed-point
/// value: `bad` is set for them (callers produce NaN for the affected outputs).
template <class T>
std::vector<std::int64_t> to_fixed(std::span<const T> codes, std::vector<bool>* bad = nullptr) {
  std::vector<std::int64_t> out(codes.size());
  if (bad) bad->assign(codes.size(), false);
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const double v = static_cast<double>(static_cast<float>(codes[i]));
    if (v - v != 0) {  // NaN or Inf
      if (bad) (*bad)[i] = true;
      continue;
    }
    // v * 2^-lsb is an integer below 2^40 for every format here: exact in double.
    out[i] = static_cast<std::int64_t>(v * static_cast<double>(std::int64_t{1} << (-fixed_lsb<T>())));
  }
  return out;
}

/// The float nearest (ties to even; IEEE overflow to Inf) to v * 2^exp2. Zero gives +0.
inline float to_float(int128 v, int exp2) noexcept {
  using f32 = ieee_codec<8, 23, 127, specials::ieee, std::uint32_t>;
  if (v == 0) return 0.0f;
  const bool neg = v < 0;
  uint128 u = neg ? -static_cast<uint128>(v) : static_cast<uint128>(v);
  // Keep 62 significant bits and fold the rest into a sticky bit: far below the 24-bit
  // rounding point, so every rounding decision is unchanged.
  const auto hi = static_cast<std::uint64_t>(u >> 64), lo = static_cast<std::uint64_t>(u);
  const int width = hi ? 64 + static_cast<int>(std::bit_width(hi)) : static_cast<int>(std::bit_width(lo));
  if (width > 62) {
    const int sh = width - 62;
    const bool sticky = (u & ((uint128{1} << sh) - 1)) != 0;
    u = (u >> sh) | (sticky ? 1u : 0u);
    exp2 += sh;
  }
  const exact e{neg, static_cast<std::uint64_t>(u), exp2};
  return std::bit_cast<float>(f32::encode_exact(e, {rounding::rint, overflow::propagate, nan_policy::keep}));
}

}  // namespace lowbit::inline v0::detail

// The storage class shared by every floating format, and the one generic codec for the
// IEEE-like ones (sign, E exponent bits, M mantissa bits, bias, subnormals).
//
// A value of basic_float<Codec> holds only its bits (R1): trivially copyable, default +0,
// built from bits with from_bits(), from a real number only explicitly and under a named
// policy. Widening to float is exact for every format here (static_cast<float>(v)).
// There are deliberately no arithmetic operators: quantization code must say when it
// rounds.
#pragma once

#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../detail/exact.hpp"
#include "../numeric/policy.hpp"

namespace lowbit::inline v0 {

/// What the all-ones exponent field means (CUTLASS's NanInfEncoding).
enum class specials : std::uint8_t {
  ieee,    // all-ones exponent: m == 0 is Inf, else NaN          (e5m2, bf16, fp16)
  fn,      // no Inf; only S.1111.111 is NaN                       (e4m3fn)
  finite,  // no Inf, no NaN: every code is a number               (fp6, fp4)
};

namespace detail {

/// Codec of a sign/exponent/mantissa format. Every constant derives from (E, M, Bias, S).
template <int E, int M, int Bias, specials S, class Storage = std::uint8_t>
struct ieee_codec {
  using storage = Storage;
  static constexpr int exponent_bits = E;
  static constexpr int mantissa_bits = M;
  static constexpr int bias = Bias;
  static constexpr specials kind = S;
  static constexpr int bits = 1 + E + M;
  static constexpr unsigned sign_mask = 1u << (E + M);
  static constexpr unsigned mag_mask = sign_mask - 1;
  static constexpr unsigned exp_all_ones = (1u << E) - 1;
  static constexpr int emin = 1 - Bias;  // exponent of the smallest normal
  static constexpr int emax = static_cast<int>(exp_all_ones) - (S == specials::ieee ? 1 : 0) - Bias;
  // Largest significand (with the implicit bit, in units of 2^-M) at emax.
  static constexpr std::uint64_t max_sig = (std::uint64_t{2} << M) - (S == specials::fn ? 2 : 1);
  static constexpr bool has_inf = S == specials::ieee;
  static constexpr bool has_nan = S != specials::finite;
  static constexpr storage max_code =
      static_cast<storage>((static_cast<unsigned>(emax + Bias) << M) | (max_sig - (1u << M)));
  static constexpr storage inf_code = static_cast<storage>(exp_all_ones << M);  // ieee only
  // Canonical NaN: ieee -> quiet (top mantissa bit), fn -> all ones.
  static constexpr storage nan_code =
      S == specials::ieee ? static_cast<storage>(inf_code | (1u << (M - 1))) : static_cast<storage>(mag_mask);

  static constexpr bool is_nan(storage b) noexcept {
    const unsigned mag = b & mag_mask;
    if constexpr (S == specials::ieee) return (mag >> M) == exp_all_ones && (mag & ((1u << M) - 1));
    if constexpr (S == specials::fn) return mag == mag_mask;
    return false;
  }
  static constexpr bool is_inf(storage b) noexcept {
    return S == specials::ieee && (b & mag_mask) == inf_code;
  }

  /// Exact value of a code. NaN codes give the canonical quiet NaN with the sign kept.
  static constexpr double decode(storage b) noexcept {
    const bool neg = (b & sign_mask) != 0;
    if (is_nan(b))
      return neg ? -std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::quiet_NaN();
    if (is_inf(b))
      return neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    const unsigned e = (b & mag_mask) >> M;
    const unsigned m = b & ((1u << M) - 1);
    if (e == 0) return compose(neg, m, emin - M);
    return compose(neg, m | (1u << M), static_cast<int>(e) - Bias - M);
  }

  static constexpr storage signed_code(bool neg, storage mag) noexcept {
    return static_cast<storage>(neg ? (mag | sign_mask) : mag);
  }

  /// Narrows x (exact double) under policy p. Rounding is exact (detail::round_to_quantum);
  /// overflow and NaN follow numeric/policy.hpp.
  static constexpr storage encode(double x, convert_policy p) noexcept {
    if (x != x) {  // NaN
      if (p.on_nan == nan_policy::keep && has_nan)
        return signed_code((std::bit_cast<std::uint64_t>(x) >> 63) != 0, nan_code);
      return 0;
    }
    const bool neg = x < 0;
    const bool inf = x - x != 0;
    if (inf) {
      if (p.on_overflow == overflow::saturate || !has_nan) return signed_code(neg, max_code);
      return signed_code(neg, has_inf ? inf_code : nan_code);
    }
    return encode_exact(decompose(x), p);
  }

  /// Narrows the exact finite value (-1)^neg * sig * 2^exp (sig < 2^63) under policy p.
  static constexpr storage encode_exact(exact v, convert_policy p) noexcept {
    if (v.sig == 0) return signed_code(v.neg, 0);
    int t = v.exp + static_cast<int>(std::bit_width(v.sig)) - 1;  // floor(log2 |x|)
    if (t < emin) t = emin;
    std::uint64_t n = round_to_quantum(v.sig, v.exp, t - M, p.round, v.neg);
    if (n == (std::uint64_t{2} << M)) {  // carry into the next binade
      n >>= 1;
      ++t;
    }
    if (t > emax || (t == emax && n > max_sig)) {
      if (p.on_overflow == overflow::saturate || !has_nan || toward_zero(p.round, v.neg))
        return signed_code(v.neg, max_code);
      return signed_code(v.neg, has_inf ? inf_code : nan_code);
    }
    if (n < (std::uint64_t{1} << M)) return signed_code(v.neg, static_cast<storage>(n));  // subnormal or 0
    return signed_code(v.neg, static_cast<storage>((static_cast<unsigned>(t + Bias) << M) |
                                                   static_cast<unsigned>(n - (1u << M))));
  }
};

}  // namespace detail

/// Storage type of a floating format described by Codec. Holds only the code.
template <class Codec>
class basic_float {
 public:
  using codec = Codec;
  using storage = typename Codec::storage;

  constexpr basic_float() noexcept = default;  // +0 (0x00); e8m0 has no zero: 0x00 = 2^-127

  /// Narrows x under the format's default policy (numeric/policy.hpp).
  constexpr explicit basic_float(float x) noexcept
      : bits_(Codec::encode(static_cast<double>(x), default_policy_v<basic_float>)) {}

  /// Narrows x under policy p.
  constexpr basic_float(float x, convert_policy p) noexcept
      : bits_(Codec::encode(static_cast<double>(x), p)) {}

  static constexpr basic_float from_bits(storage b) noexcept {
    basic_float v;
    v.bits_ = static_cast<storage>(b & mask);
    return v;
  }
  constexpr storage bits() const noexcept { return bits_; }

  /// Exact widening: every code of every format here is a float.
  constexpr explicit operator float() const noexcept { return static_cast<float>(Codec::decode(bits_)); }
  constexpr explicit operator double() const noexcept { return Codec::decode(bits_); }

  /// Code equality (not IEEE equality: NaN == NaN here, +0 != -0).
  friend constexpr bool operator==(basic_float, basic_float) = default;

  static constexpr storage mask = static_cast<storage>(Codec::bits >= 16 ? 0xffffu : (1u << Codec::bits) - 1);

 private:
  storage bits_ = 0;
};

}  // namespace lowbit::inline v0

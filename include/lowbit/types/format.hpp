// Runtime names of the formats (cli.md vocabulary) and a visitor from a runtime format to its
// C++ type, so that command-line and file-driven code is written once as a template.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include "../numeric/convert.hpp"

namespace lowbit::inline v0 {

// The enumerators are spelled as on the command line; they live in the enum's scope, so
// format::int4 does not clash with the type lowbit::int4 (silence -Wshadow's false alarm).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
enum class format : std::uint8_t {
  int8,
  int4,
  fp8_e4m3fn,
  fp8_e5m2,
  hifloat8,
  fp6_e2m3fn,
  fp6_e3m2fn,
  fp4_e2m1fn,
  fp4_e1m2fn,
  e8m0,
  bf16,
  fp16,
  fp32
};
#pragma GCC diagnostic pop

inline constexpr format all_formats[] = {
    format::int8,       format::int4,       format::fp8_e4m3fn, format::fp8_e5m2,   format::hifloat8,
    format::fp6_e2m3fn, format::fp6_e3m2fn, format::fp4_e2m1fn, format::fp4_e1m2fn, format::e8m0,
    format::bf16,       format::fp16,       format::fp32};

constexpr std::string_view to_string(format f) noexcept {
  constexpr std::string_view names[] = {"int8",       "int4",       "fp8_e4m3fn", "fp8_e5m2",   "hifloat8",
                                        "fp6_e2m3fn", "fp6_e3m2fn", "fp4_e2m1fn", "fp4_e1m2fn", "e8m0",
                                        "bf16",       "fp16",       "fp32"};
  return names[static_cast<int>(f)];
}

constexpr std::optional<format> parse_format(std::string_view s) noexcept {
  for (format f : all_formats)
    if (to_string(f) == s) return f;
  return std::nullopt;
}

/// Facts about a code type used by quantization (spec §2.3, cli.md).
template <class T>
struct format_traits;

#define LOWBIT_FORMAT_TRAITS(T, F, BITS, INT, MAX, EMAX)                            \
  template <>                                                                       \
  struct format_traits<T> {                                                         \
    static constexpr format id = format::F;                                         \
    static constexpr int code_bits = BITS; /* bits per element when packed */       \
    static constexpr bool is_integer = INT;                                         \
    static constexpr float dtype_max = MAX; /* CANN DTYPE_MAX (symmetric) */        \
    static constexpr int mx_emax = EMAX;    /* floor(log2 max), OCP MX emax_elem */ \
  };
LOWBIT_FORMAT_TRAITS(std::int8_t, int8, 8, true, 127.0f, 0)
LOWBIT_FORMAT_TRAITS(int4, int4, 4, true, 7.0f, 0)
LOWBIT_FORMAT_TRAITS(float8_e4m3fn, fp8_e4m3fn, 8, false, 448.0f, 8)
LOWBIT_FORMAT_TRAITS(float8_e5m2, fp8_e5m2, 8, false, 57344.0f, 15)
LOWBIT_FORMAT_TRAITS(hifloat8, hifloat8, 8, false, 32768.0f, 15)
LOWBIT_FORMAT_TRAITS(float6_e2m3fn, fp6_e2m3fn, 6, false, 7.5f, 2)
LOWBIT_FORMAT_TRAITS(float6_e3m2fn, fp6_e3m2fn, 6, false, 28.0f, 4)
LOWBIT_FORMAT_TRAITS(float4_e2m1fn, fp4_e2m1fn, 4, false, 6.0f, 2)
LOWBIT_FORMAT_TRAITS(float4_e1m2fn, fp4_e1m2fn, 4, false, 1.75f, 0)
LOWBIT_FORMAT_TRAITS(float8_e8m0fnu, e8m0, 8, false, 0.0f, 0)
LOWBIT_FORMAT_TRAITS(bfloat16, bf16, 16, false, 0.0f, 0)
LOWBIT_FORMAT_TRAITS(float16, fp16, 16, false, 0.0f, 0)
#undef LOWBIT_FORMAT_TRAITS

/// Smallest code of an integer format (the asymmetric DTYPE_MIN); -dtype_max for floats.
template <class T>
inline constexpr float dtype_min_v = format_traits<T>::is_integer
                                         ? (std::is_same_v<T, std::int8_t> ? -128.0f : -8.0f)
                                         : -format_traits<T>::dtype_max;

/// Calls fn(std::type_identity<T>{}) with the code type of f (fp32 -> float).
template <class Fn>
constexpr decltype(auto) visit_format(format f, Fn&& fn) {
  switch (f) {
    case format::int8:
      return fn(std::type_identity<std::int8_t>{});
    case format::int4:
      return fn(std::type_identity<int4>{});
    case format::fp8_e4m3fn:
      return fn(std::type_identity<float8_e4m3fn>{});
    case format::fp8_e5m2:
      return fn(std::type_identity<float8_e5m2>{});
    case format::hifloat8:
      return fn(std::type_identity<hifloat8>{});
    case format::fp6_e2m3fn:
      return fn(std::type_identity<float6_e2m3fn>{});
    case format::fp6_e3m2fn:
      return fn(std::type_identity<float6_e3m2fn>{});
    case format::fp4_e2m1fn:
      return fn(std::type_identity<float4_e2m1fn>{});
    case format::fp4_e1m2fn:
      return fn(std::type_identity<float4_e1m2fn>{});
    case format::e8m0:
      return fn(std::type_identity<float8_e8m0fnu>{});
    case format::bf16:
      return fn(std::type_identity<bfloat16>{});
    case format::fp16:
      return fn(std::type_identity<float16>{});
    case format::fp32:
      break;
  }
  return fn(std::type_identity<float>{});
}

/// Default narrowing policy of a runtime format (HiFloat8 rounds ties away, cli.md).
constexpr convert_policy default_policy(format f) noexcept {
  return f == format::hifloat8 ? default_policy_v<hifloat8> : convert_policy{};
}

}  // namespace lowbit::inline v0

// Opt-in fmt formatters (needs fmt >= 9; the core headers never include fmt):
//   every format type       "{}"   value and code, e.g. "448 (e4m3fn 0x7e)"; "{:x}" code only
//   lowbit::granularity     "{}"   "group:128"
//   lowbit::quantized<T,S>  "{}"   shape, format, granularity, operand and a scale summary
// Example: fmt::print("{}\n", lowbit::float8_e4m3fn(1000.f));  // 448 (fp8_e4m3fn 0x7e)
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "lowbit.hpp"

namespace lowbit::inline v0::detail {

template <class T>
constexpr std::string_view format_name() {
  if constexpr (requires { format_traits<T>::id; })
    return to_string(format_traits<T>::id);
  else if constexpr (std::is_same_v<T, uint4>)
    return "uint4";
  else
    return "?";
}

/// Shared parse step: "" (value and code) or "x" (code only, hex).
struct code_spec {
  bool code_only = false;
  constexpr auto parse(fmt::format_parse_context& ctx) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it == 'x') code_only = true, ++it;
    if (it != ctx.end() && *it != '}') throw fmt::format_error("lowbit: use {} or {:x}");
    return it;
  }
};

}  // namespace lowbit::inline v0::detail

template <class Codec>
struct fmt::formatter<lowbit::basic_float<Codec>> : lowbit::detail::code_spec {
  template <class Ctx>
  auto format(lowbit::basic_float<Codec> v, Ctx& ctx) const {
    const auto name = lowbit::detail::format_name<lowbit::basic_float<Codec>>();
    if (code_only) return fmt::format_to(ctx.out(), "0x{:0{}x}", v.bits(), Codec::bits > 8 ? 4 : 2);
    return fmt::format_to(ctx.out(), "{} ({} 0x{:0{}x})", static_cast<float>(v), name, v.bits(),
                          Codec::bits > 8 ? 4 : 2);
  }
};

template <int B, bool S>
struct fmt::formatter<lowbit::intn<B, S>> : lowbit::detail::code_spec {
  template <class Ctx>
  auto format(lowbit::intn<B, S> v, Ctx& ctx) const {
    if (code_only) return fmt::format_to(ctx.out(), "0x{:x}", v.bits());
    return fmt::format_to(ctx.out(), "{} ({} 0x{:x})", v.value(),
                          lowbit::detail::format_name<lowbit::intn<B, S>>(), v.bits());
  }
};

template <>
struct fmt::formatter<lowbit::granularity> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const lowbit::granularity& g, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(lowbit::to_string(g), ctx);
  }
};

template <class T, class S>
struct fmt::formatter<lowbit::quantized<T, S>> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <class Ctx>
  auto format(const lowbit::quantized<T, S>& q, Ctx& ctx) const {
    float lo = INFINITY, hi = -INFINITY;
    for (const auto& s : q.scales) {
      const float v = static_cast<float>(s);
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
    auto out = fmt::format_to(
        ctx.out(), "quantized {}x{} {} {} ({}), {} scale{} [{:g}, {:g}]", q.map.data.rows, q.map.data.cols,
        lowbit::detail::format_name<T>(), lowbit::to_string(q.map.gran),
        q.map.side == lowbit::operand::left ? "left" : "right", q.scales.size(),
        q.scales.size() == 1 ? "" : "s", q.scales.empty() ? 0.f : lo, q.scales.empty() ? 0.f : hi);
    if (!q.offsets.empty()) out = fmt::format_to(out, ", asymmetric");
    return out;
  }
};

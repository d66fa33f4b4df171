// Dequantize: codes + scales (+ offsets) -> fp32 (spec §3, cli.md `lowbit dequantize`).
//   subtract_offset (the inverse of quantize's dynamic convention):  y = (q - offset) * scale
//   antiquant (CANN AscendAntiQuant):                                 y = (q + offset) * scale
//   MX (CANN AntiMxQuant):                                            y = q * 2^(e - 127)
// Each step is one fp32 operation (round to nearest even); without offsets y = q * scale.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <vector>

#include "quantize.hpp"

namespace lowbit::inline v0 {

enum class dequant_form : std::uint8_t {
  subtract_offset,  // y = (q - offset) * scale
  antiquant,        // y = (q + offset) * scale
};

namespace detail {

/// The scalar reference of dequantize_into: (v - offset) * scale (antiquant: v + offset), each
/// rounded to fp32, v the code's exact value; every NaN out is the canonical one.
template <class T, class S>
void dequantize_ref_into(std::span<const T> q, const scale_map& map, std::span<const S> scales,
                         std::span<const float> offsets, std::span<float> out,
                         dequant_form form = dequant_form::subtract_offset) {
  check_map(map);
  check_count(q.size(), map.data.size(), "quantized values");
  check_count(scales.size(), map.size(), "scale");
  if (!offsets.empty()) check_count(offsets.size(), map.size(), "offset");
  check_count(out.size(), map.data.size(), "dequantize output");
  for (std::size_t r = 0; r < element_rows(map.data); ++r)
    for (std::size_t c = 0; c < map.data.cols; ++c) {
      const std::size_t i = r * map.data.cols + c, s = map(r, c);
      float v = static_cast<float>(q[i]);
      if (!offsets.empty()) v = form == dequant_form::antiquant ? v + offsets[s] : v - offsets[s];
      out[i] = canonical_nan(v * static_cast<float>(scales[s]));
    }
}

}  // namespace detail

namespace detail {

/// Per-task scratch of the fast path: the band's per-column scales and offsets (floats).
inline std::size_t dequantize_task_bytes(const scale_map& map, bool offsets) noexcept {
  return slice_bytes<float>(map.data.cols) * (offsets ? 2 : 1);
}
inline std::size_t dequantize_tasks(const exec_context& c, const scale_map& map) noexcept {
  return task_count(c, map.data.rows, map.data.cols, min_task_elements);
}

}  // namespace detail

/// Dequantizes q (shape and granularity in map) into out (map.data.size() floats).
/// S is float or float8_e8m0fnu (MX). offsets may be empty. Every one-byte code (int8 in registers,
/// int4 / fp8 / HiFloat8 / fp6 / fp4 through a table of its exact values) takes the avx512 / avx2 /
/// neon kernels (bit-exact: the same exact conversion, single fp32 subtraction and
/// multiplication), rows split into ctx's tasks, no allocation (scratch: dequantize_workspace_size).
template <class T, class S>
void dequantize_into(const exec_context& ctx, std::span<const T> q, const scale_map& map,
                     std::span<const S> scales, std::span<const float> offsets, std::span<float> out,
                     dequant_form form = dequant_form::subtract_offset) {
#if defined(LOWBIT_X86_64) || defined(LOWBIT_ARM64)
  // int8 codes convert in registers; every other one-byte code (int4, fp8, HiFloat8, fp6, fp4)
  // reads its exact fp32 value from a table of its 256 bit patterns
  constexpr bool int8 = std::is_same_v<T, std::int8_t>;
  if constexpr (sizeof(T) == 1 && std::is_trivially_copyable_v<T> &&
                (std::is_same_v<S, float> || std::is_same_v<S, float8_e8m0fnu>)) {
    if ((detail::use_avx512() || detail::use_avx2() || detail::use_neon()) && map.data.size() > 0) {
      detail::check_map(map);
      detail::count(true);
      detail::check_count(q.size(), map.data.size(), "quantized values");
      detail::check_count(scales.size(), map.size(), "scale");
      if (!offsets.empty()) detail::check_count(offsets.size(), map.size(), "offset");
      detail::check_count(out.size(), map.data.size(), "dequantize output");
      const std::size_t cols = map.data.cols, gc = map.grid.cols;
      std::array<float, 256> table{};
      if constexpr (!int8)
        for (std::size_t c = 0; c < 256; ++c)
          table[c] = static_cast<float>(T::from_bits(static_cast<std::uint8_t>(c)));
      const auto* codes = reinterpret_cast<const std::uint8_t*>(q.data());
      constexpr auto dk =
          std::is_same_v<T, int4> || std::is_same_v<T, float4_e2m1fn> || std::is_same_v<T, float4_e1m2fn>
              ? detail::table_decode::nibble  // 4-bit codes: bits < 16
          : std::is_same_v<T, float8_e4m3fn> ? detail::table_decode::e4m3
          : std::is_same_v<T, float8_e5m2>   ? detail::table_decode::e5m2
                                             : detail::table_decode::gather;
      // where a vector never straddles two blocks (bc a multiple of 16), the per-column scale
      // row is one value per block (the kernels broadcast it): an MX row's 128 values instead of
      // 4096 rebuilt for every row
      const std::size_t sbc = map.bc % 16 == 0 ? map.bc : 0;
      std::array<float, 256> pow2{};  // e8m0 scales: 2^(e - 127) exactly, NaN for 0xff
      if constexpr (std::is_same_v<S, float8_e8m0fnu>)
        for (std::size_t e = 0; e < 256; ++e)
          pow2[e] = static_cast<float>(float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(e)));
      // Rows in tasks (a band of one scale row may be the whole matrix, as per channel); each
      // task rebuilds the per-column scale row when its band changes.
      const auto row_of = [&](std::size_t r, float* cs, float* co, std::size_t& have) {
        const std::size_t band = r / map.br;
        if (band != have) {
          have = band;
          for (std::size_t j = 0, c = 0; j < gc; ++j) {  // per-column scale and offset, no division
            const std::size_t s = band * gc + j;
            float sc;
            if constexpr (std::is_same_v<S, float>)
              sc = scales[s];
            else
              sc = pow2[scales[s].bits()];
            const float o = co ? (form == dequant_form::antiquant ? -offsets[s] : offsets[s])
                               : 0.0f;  // q + o == q - (-o)
            for (const std::size_t c1 = sbc ? c + 1 : std::min(c + map.bc, cols); c < c1; ++c) {
              cs[c] = sc;
              if (co) co[c] = o;
            }
          }
        }
        const auto run = [&](auto isa) {
          if constexpr (int8)
            dequantize_row_int(isa, q.data() + r * cols, cs, co, out.data() + r * cols, cols, sbc);
          else
            dequantize_row_table(isa, codes + r * cols, table.data(), cs, co, out.data() + r * cols, cols, dk,
                                 sbc);
        };
#if defined(LOWBIT_X86_64)
        if (detail::use_avx512())
          run(detail::avx512::isa{});
        else
          run(detail::avx2::isa{});
#else
        run(detail::neon::isa{});
#endif
      };
      const std::size_t tasks = detail::dequantize_tasks(ctx, map);
      const std::size_t per_task = detail::dequantize_task_bytes(map, !offsets.empty());
      std::byte* const mem = detail::scratch(ctx, tasks * per_task);
      detail::run_tasks(ctx, tasks, [&](std::size_t t) {
        detail::arena a(mem + t * per_task);
        float* cs = a.take<float>(cols);
        float* co = offsets.empty() ? nullptr : a.take<float>(cols);
        std::size_t have = static_cast<std::size_t>(-1);
        const auto [first, last] = detail::task_range(t, tasks, map.data.rows);
        for (std::size_t r = first; r < last; ++r) row_of(r, cs, co, have);
      });
      return;
    }
  }
#endif
  (void)ctx;
  detail::count(false);
  detail::dequantize_ref_into<T, S>(q, map, scales, offsets, out, form);
}

/// The same with default_exec().
template <class T, class S>
void dequantize_into(std::span<const T> q, const scale_map& map, std::span<const S> scales,
                     std::span<const float> offsets, std::span<float> out,
                     dequant_form form = dequant_form::subtract_offset) {
  dequantize_into<T, S>(default_exec(), q, map, scales, offsets, out, form);
}

/// Bytes of the workspace dequantize_into(ctx, ...) needs (exec_context::workspace).
inline std::size_t dequantize_workspace_size(const scale_map& map, bool offsets, const exec_context& ctx) {
  return detail::workspace_bytes(detail::dequantize_tasks(ctx, map) *
                                 detail::dequantize_task_bytes(map, offsets));
}

/// Dequantizes a quantized result. Example: `auto y = lowbit::dequantize(q.span());`
template <class T, class S>
std::vector<float> dequantize(quantized_span<const T, const S> q,
                              dequant_form form = dequant_form::subtract_offset) {
  std::vector<float> out(q.map.data.size());
  dequantize_into<T, S>(q.values, q.map, q.scales, q.offsets, out, form);
  return out;
}

template <class T, class S>
std::vector<float> dequantize(const quantized<T, S>& q, dequant_form form = dequant_form::subtract_offset) {
  return dequantize<T, S>(q.span(), form);
}

}  // namespace lowbit::inline v0

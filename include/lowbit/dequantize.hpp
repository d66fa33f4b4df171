// Dequantize: codes + scales (+ offsets) -> fp32 (spec §3, cli.md `lowbit dequantize`).
//   subtract_offset (the inverse of quantize's dynamic convention):  y = (q - offset) * scale
//   antiquant (CANN AscendAntiQuant):                                 y = (q + offset) * scale
//   MX (CANN AntiMxQuant):                                            y = q * 2^(e - 127)
// Each step is one fp32 operation (round to nearest even); without offsets y = q * scale.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "quantize.hpp"

namespace lowbit::inline v0 {

enum class dequant_form : std::uint8_t {
  subtract_offset,  // y = (q - offset) * scale
  antiquant,        // y = (q + offset) * scale
};

/// Dequantizes q (shape and granularity in map) into out (map.data.size() floats).
/// S is float or float8_e8m0fnu (MX). offsets may be empty.
template <class T, class S>
void dequantize_into(std::span<const T> q, const scale_map& map, std::span<const S> scales,
                     std::span<const float> offsets, std::span<float> out,
                     dequant_form form = dequant_form::subtract_offset) {
  detail::check_count(q.size(), map.data.size(), "quantized values");
  detail::check_count(scales.size(), map.size(), "scale");
  if (!offsets.empty()) detail::check_count(offsets.size(), map.size(), "offset");
  detail::check_count(out.size(), map.data.size(), "dequantize output");
  for (std::size_t r = 0; r < map.data.rows; ++r)
    for (std::size_t c = 0; c < map.data.cols; ++c) {
      const std::size_t i = r * map.data.cols + c, s = map(r, c);
      float v = static_cast<float>(q[i]);
      if (!offsets.empty()) v = form == dequant_form::antiquant ? v + offsets[s] : v - offsets[s];
      out[i] = v * static_cast<float>(scales[s]);
    }
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

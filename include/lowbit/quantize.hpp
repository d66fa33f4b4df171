// Quantize: high-precision matrix -> low-bit codes + scales (+ offsets), as CANN computes it
// (spec §2, §6; cli.md `lowbit quantize`). This is the scalar reference: plain loops in the
// golden's order of operations, every step in fp32.
//
// Dynamic, symmetric (aclnnDynamicQuant / DynamicBlockQuant golden, spec §2.3-2.4):
//   v     = x * smooth[k]                       (fp32; only when a smooth vector is given)
//   amax  = max |v| over the finite v sharing a scale (NaN and +-Inf do not take part)
//   scale = amax * fl32(1 / DTYPE_MAX)          (a multiply by the rounded reciprocal)
//   scale = min(scale, 1 / min_scale)           (only when min_scale > 0, spec §2.4)
//   y     = cast(v / scale)                     (true fp32 division, then the format's cast)
// Dynamic, asymmetric (aclnnDynamicQuantV2, spec §2.3):
//   scale  = (max - min) * fl32(1 / (DTYPE_MAX - DTYPE_MIN))
//   offset = DTYPE_MAX - max / scale
//   y      = cast(v / scale + offset)
//   A constant non-zero group (max == min) uses the range extended to include 0 (cli.md).
// Zero scales (decision, cli.md): an all-zero group -- or one whose scale underflows to 0 --
// gets scale 0 (offset 0) and every finite element becomes code +0; a +-Inf element still
// follows the overflow policy (+-max by default) and NaN the NaN policy (+0 by default).
// Static (spec §2.1-2.2): scales (and offsets) given; divide form cast(x / s + o)
// (aclnnQuantize) or multiply form cast(x * s + o) (aclnnAscendQuant).
// MX (aclnnDynamicMxQuant golden = microxcaling, spec §2.5): blocks of 32 along k, e8m0
// scales, see quantize_mx.
//
// cast() rounds with the policy's mode (default rint; HiFloat8 round), integers clamp, floats
// saturate and map NaN to 0 by default (numeric/policy.hpp).
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "detail/arm64/quantize_neon.hpp"
#include "detail/fp.hpp"
#include "detail/x86/quantize_avx2.hpp"
#include "detail/x86/quantize_avx512.hpp"
#include "exec.hpp"
#include "layout/granularity.hpp"
#include "numeric/convert.hpp"
#include "types/format.hpp"
#include "types/packed.hpp"

namespace lowbit::inline v0 {

/// How an MX block's amax becomes its e8m0 scale (spec §2.5).
enum class mx_scale_rule : std::uint8_t {
  ocp,   // scaleAlg 0: shared_exp = floor(log2 amax) - emax_elem (OCP MX, the default)
  ceil,  // scaleAlg 1: cuBLAS style, S = amax / max rounded up to a power of two
};

/// Parameters of dynamic quantization. Fill with designated initializers:
/// `quantize_params{.gran = granularity::group(128), .side = operand::right}`.
struct quantize_params {
  granularity gran = granularity::tensor();
  operand side = operand::left;
  bool asymmetric = false;
  std::optional<convert_policy> policy{};  // nullopt: the format's default (numeric/policy.hpp)
  std::span<const float> smooth{};         // per-k multipliers applied first; empty: none
  float dtype_max = 0;                     // 0: the format's DTYPE_MAX (format_traits)
  float min_scale = 0;                     // > 0: scale = min(scale, 1 / min_scale) (symmetric)
};

/// The two static forms of CANN.
enum class static_form : std::uint8_t {
  divide,    // y = cast(x / scale + offset)   aclnnQuantize, npu_quantize(div_mode=True)
  multiply,  // y = cast(x * scale + offset)   aclnnAscendQuant, npu_quantize(div_mode=False)
};

/// Parameters of static quantization: the scales (and offsets) are given, one per scale of
/// the granularity (scale_map::size()).
struct static_params {
  granularity gran = granularity::tensor();
  operand side = operand::left;
  std::span<const float> scales{};
  std::span<const float> offsets{};  // empty: none
  static_form form = static_form::divide;
  std::optional<convert_policy> policy{};
  std::span<const float> smooth{};
};

/// Parameters of MX quantization (group 32 along k, e8m0 scales).
struct mx_params {
  operand side = operand::left;
  rounding round = rounding::rint;  // element rounding (rint, round, floor, ...)
  mx_scale_rule rule = mx_scale_rule::ocp;
  std::span<const float> smooth{};
};

/// Codes, scales and offsets of a quantized matrix over caller-owned memory.
/// T may be const (a read-only view); offsets is empty for symmetric quantization.
template <class T, class S = float>
struct quantized_span {
  using offset_type = std::conditional_t<std::is_const_v<T>, const float, float>;
  std::span<T> values;  // row-major codes, map.data shape
  std::span<S> scales;  // map.size() scales, row-major over the scale grid
  std::span<offset_type> offsets;
  scale_map map;
};

/// Owning result: codes, scales, offsets and the granularity mapping, kept together.
template <class T, class S = float>
struct quantized {
  std::vector<T> values;
  std::vector<S> scales;
  std::vector<float> offsets;
  scale_map map;

  quantized_span<T, S> span() noexcept { return {values, scales, offsets, map}; }
  quantized_span<const T, const S> span() const noexcept { return {values, scales, offsets, map}; }
};

namespace detail {

template <class In>
constexpr float load(In v) noexcept {
  if constexpr (std::is_same_v<In, float>)
    return v;
  else
    return static_cast<float>(v);
}

/// have == need, else std::invalid_argument naming `what` (the message is built only then).
inline void check_count(std::size_t have, std::size_t need, std::string_view what) {
  if (have != need)
    throw std::invalid_argument(std::string(what) + " has " + std::to_string(have) + " elements, expected " +
                                std::to_string(need));
}

inline void check_smooth(std::span<const float> smooth, const scale_map& map) {
  if (smooth.empty()) return;
  const std::size_t k = map.side == operand::left ? map.data.cols : map.data.rows;
  check_count(smooth.size(), k, "smooth vector (one per k)");
}

/// x[r, c] * smooth[k] in fp32 (no multiply without a smooth vector).
template <class In>
float smoothed(std::span<const In> x, std::span<const float> smooth, const scale_map& map, std::size_t r,
               std::size_t c) {
  const float v = load(x[r * map.data.cols + c]);
  if (smooth.empty()) return v;
  return v * smooth[map.side == operand::left ? c : r];
}

inline bool finite(float v) noexcept {
  return v - v == 0;
}

}  // namespace detail

namespace detail {

/// The asymmetric scale and offset of block s from its finite maximum mx and minimum mn (both 0
/// when it has none; spec §2.3, aclnnDynamicQuantV2): a constant block's range is widened to take
/// in 0; scale = (mx - mn) * inv_range, offset = qmax - mx / scale (0 for a zero scale), each fp32
/// operation rounded to nearest even. False for a range beyond fp32 (an Inf scale would make every
/// code NaN): an error, which the reference reports (asym_range_error).
inline bool asym_scale(float mx, float mn, float inv_range, float qmax, float& scale,
                       float& offset) noexcept {
  if (mx == mn && mx != 0) mx = std::fmax(mx, 0.0f), mn = std::fmin(mn, 0.0f);
  if (!finite(mx - mn)) return false;
  scale = (mx - mn) * inv_range;
  offset = scale == 0 ? 0.0f : qmax - mx / scale;
  return true;
}
inline std::invalid_argument asym_range_error(std::size_t s, float mx, float mn) {
  return std::invalid_argument("asymmetric quantization: the range of scale block " + std::to_string(s) +
                               " (" + std::to_string(mn) + " to " + std::to_string(mx) +
                               ") does not fit float32; quantize it symmetrically");
}

/// 1 / the code range the scale spans: qmax - qmin when asymmetric (qmin = -qmax - 1 for
/// integers, -qmax for floats), else qmax; in double, rounded once to fp32.
template <class T>
float inv_code_range(float qmax, bool asymmetric) noexcept {
  const float qmin = format_traits<T>::is_integer ? -qmax - 1 : -qmax;
  return static_cast<float>(1.0 / (asymmetric ? double(qmax) - double(qmin) : double(qmax)));
}

/// The scalar reference of quantize_into (the specification; never optimized).
template <low_bit_type T, class In>
void quantize_ref_into(std::span<const In> x, matrix_shape shape, const quantize_params& p,
                       quantized_span<T> out) {
  if (p.gran.kind == granularity_kind::mx)
    throw std::invalid_argument("granularity mx has e8m0 scales: use quantize_mx");
  const scale_map map = make_scale_map(p.gran, p.side, shape);
  check_count(x.size(), shape.size(), "input");
  check_count(out.values.size(), shape.size(), "values output");
  check_count(out.scales.size(), map.size(), "scale output");
  check_count(out.offsets.size(), p.asymmetric ? map.size() : 0, "offset output");
  check_smooth(p.smooth, map);
  if (!(p.dtype_max >= 0) || !finite(p.dtype_max))
    throw std::invalid_argument("dtype max must be a positive finite number");
  if (p.dtype_max > 0 && !finite(static_cast<float>(1.0 / double(p.dtype_max))))
    throw std::invalid_argument("dtype max is so small that 1 / dtype max overflows float32");
  if (!(p.min_scale >= 0) || !finite(p.min_scale))
    throw std::invalid_argument("min scale must be a non-negative finite number");
  if (p.asymmetric && p.min_scale > 0)
    throw std::invalid_argument("min scale applies to symmetric quantization only");
  out.map = map;

  const convert_policy pol = p.policy.value_or(default_policy_v<T>);
  const float qmax = p.dtype_max > 0 ? p.dtype_max : format_traits<T>::dtype_max;
  // Pass 1: reduce over the finite elements of each scale block.
  std::vector<float> hi(map.size(), 0.0f), lo(map.size(), 0.0f);
  std::vector<bool> seen(map.size(), false);
  for (std::size_t r = 0; r < detail::element_rows(shape); ++r)
    for (std::size_t c = 0; c < shape.cols; ++c) {
      const float v = smoothed(x, p.smooth, map, r, c);
      if (!finite(v)) continue;
      const std::size_t s = map(r, c);
      const float key = p.asymmetric ? v : std::fabs(v);
      if (!seen[s]) hi[s] = lo[s] = key, seen[s] = true;
      if (key > hi[s]) hi[s] = key;
      if (key < lo[s]) lo[s] = key;
    }
  // Scales (and offsets).
  const float inv_range = inv_code_range<T>(qmax, p.asymmetric);
  for (std::size_t s = 0; s < map.size(); ++s) {
    if (!p.asymmetric) {
      float scale = hi[s] * inv_range;
      if (p.min_scale > 0) scale = std::fmin(scale, 1.0f / p.min_scale);
      out.scales[s] = scale;
      continue;
    }
    if (!asym_scale(hi[s], lo[s], inv_range, qmax, out.scales[s], out.offsets[s]))
      throw asym_range_error(s, hi[s], lo[s]);
  }
  // Pass 2: the elements.
  for (std::size_t r = 0; r < detail::element_rows(shape); ++r)
    for (std::size_t c = 0; c < shape.cols; ++c) {
      const float v = smoothed(x, p.smooth, map, r, c);
      const std::size_t s = map(r, c);
      const float scale = out.scales[s];
      float t = 0.0f;
      if (scale != 0 || !finite(v)) {
        t = v / scale;
        if (p.asymmetric) t = t + out.offsets[s];
      }
      out.values[r * shape.cols + c] = convert<T>(t, pol);
    }
}

}  // namespace detail

namespace detail {

/// The fast path of dynamic symmetric quantization (avx512, avx2 and neon backends: the kernel
/// set is picked by its tag, the driver below is shared): fp32 input (bf16 / fp16 widened to it),
/// int8 / int4 with rint or e4m3fn with the default policy, with or without a smooth vector. Bit-exact to
/// quantize_ref_into (same amax, same fp32 scale, same division and rounding). Returns false when it does not
/// apply. The fast path's per-task scratch, in floats: the column maxima and scales of a band, its block
/// maxima, and (bf16 / fp16 input, or a smooth vector) the band as fp32 values v.
template <class In>
std::size_t quantize_task_bytes(const scale_map& map, bool smooth) noexcept {
  constexpr bool widened = std::is_same_v<In, bfloat16> || std::is_same_v<In, float16>;
  const std::size_t cols = map.data.cols, band_rows = std::min(map.br, map.data.rows);
  return 2 * slice_bytes<float>(cols) + slice_bytes<float>(map.grid.cols) +
         (widened || smooth ? slice_bytes<float>(band_rows * cols) : 0);
}

/// Tasks of a quantize call: bands of scale rows, min_task_elements each at least.
inline std::size_t quantize_tasks(const exec_context& c, const scale_map& map) noexcept {
  return task_count(c, map.grid.rows, std::min(map.br, map.data.rows) * map.data.cols, min_task_elements);
}

/// quantize_fast: the path above for quantize_any. packed (int4 only, else null): the codes go
/// there two per byte (code_kind::int4x2) instead of out.values; shape.cols is even. Blocks of odd
/// width narrower than a row are left to the caller (false).
template <low_bit_type T, class In>
bool quantize_fast(const exec_context& ctx, std::span<const In> x, matrix_shape shape,
                   const quantize_params& p, const scale_map& map, const convert_policy& pol,
                   quantized_span<T> out, std::uint8_t* packed = nullptr) {
#if defined(LOWBIT_X86_64) || defined(LOWBIT_ARM64)
  constexpr bool is8 = std::is_same_v<T, std::int8_t>, is4 = std::is_same_v<T, int4>,
                 ise4 = std::is_same_v<T, float8_e4m3fn>;
  // asymmetric: avx512, blocks of at least 16 columns (per token, per group)
  const bool applies = (use_avx512() || use_avx2() || use_neon()) &&
                       (!packed || (is4 && (map.bc % 2 == 0 || map.bc >= shape.cols))) &&
                       (!p.asymmetric || (use_avx512() && map.bc >= 16)) && pol.round == rounding::rint &&
                       (!ise4 || (pol.on_overflow == overflow::saturate && pol.on_nan == nan_policy::zero));
  constexpr bool widened = std::is_same_v<In, bfloat16> || std::is_same_v<In, float16>;
  const bool buffered = widened || !p.smooth.empty();  // v = load(x) (* smooth) into a band buffer
  if constexpr ((std::is_same_v<In, float> || widened) && (is8 || is4 || ise4)) {
    if (!applies) return false;
    using kind_t =
        std::integral_constant<code_kind, is8 ? code_kind::int8 : (is4 ? code_kind::int4 : code_kind::e4m3)>;
    const float qmax = p.dtype_max > 0 ? p.dtype_max : format_traits<T>::dtype_max;
    const float inv = inv_code_range<T>(qmax, false);
    const std::size_t rows = shape.rows, cols = shape.cols, gc = map.grid.cols;
    std::atomic<bool> range_error{false};  // an asymmetric block's range beyond fp32
    auto* const codes = packed ? packed : reinterpret_cast<std::uint8_t*>(out.values.data());
    const std::size_t bands = map.grid.rows;
    // Bands of scale rows are independent: tasks split them, results do not depend on it.
    // bf16 / fp16 rows are widened to fp32 exactly (the reference's load()), and smoothed rows
    // multiplied by their smooth factors (one fp32 multiply, as smoothed()), into a per-task
    // buffer, one band at a time, and run through the same kernels: the reference's bits.
    const auto band_of = [&](auto isa, auto kind_c, std::size_t band, float* colmax, float* colscale,
                             float* amax, float* wide_rows) {
      constexpr code_kind kind = decltype(kind_c)::value;
      const std::size_t b0 = band * map.br;
      const std::size_t b1 = std::min(b0 + map.br, rows);
      const float* xr = wide_rows;  // row b0 of the band, fp32 v
      const bool left = map.side == operand::left;
      if constexpr (widened) {  // the reference's smoothed(): v = load(x) (* smooth[k]), one fp32 multiply
        static_assert(sizeof(In) == 2);
        const bool sm = !p.smooth.empty();
        // the next row is prefetched while a row is widened (1 thread, 4096 x 4096 per token:
        // 8.6-10.8 ms -> 3.9-5.8 ms, at -O2 and -O3; fp32 smoothed rows below measured no gain)
        for (std::size_t r = b0; r < b1; ++r)
          widen_row<std::is_same_v<In, bfloat16>>(
              isa, x.data() + r * cols, sm && left ? p.smooth.data() : nullptr,
              sm && !left ? &p.smooth[r] : nullptr, wide_rows + (r - b0) * cols, cols,
              r + 1 < rows ? reinterpret_cast<const char*>(x.data() + (r + 1) * cols) : nullptr);
      } else if (buffered) {  // fp32 x smooth[k]: the same one multiply, by the kernel set
        for (std::size_t r = b0; r < b1; ++r)
          multiply_row(isa, x.data() + r * cols, left ? p.smooth.data() : nullptr, left ? 0.0f : p.smooth[r],
                       wide_rows + (r - b0) * cols, cols);
      } else {
        xr = x.data() + b0 * cols;
      }
      const auto row = [&](std::size_t r) { return xr + (r - b0) * cols; };
      // the row after r of fp32 x while r is quantized: its reads from memory overlap this row's
      // work (1 thread, 4096 x 4096 per token: 4.3-4.8 ms -> 3.1-3.3 ms). Buffered rows were
      // prefetched as they were read.
      const auto prefetch = [&](std::size_t r, std::size_t c0) -> const char* {
        if constexpr (std::is_same_v<In, float>)
          if (r + 1 < rows) return reinterpret_cast<const char*>(x.data() + (r + 1) * cols + c0);
        return nullptr;
      };
#if defined(LOWBIT_X86_64)
      if constexpr (std::is_same_v<decltype(isa), avx512::isa>)
        if (p.asymmetric) {  // finite max and min per block (colmax holds the minima), then asym_scale
          float* amin = colmax;
          std::fill(amax, amax + gc, -std::numeric_limits<float>::infinity());
          std::fill(amin, amin + gc, std::numeric_limits<float>::infinity());
          for (std::size_t r = b0; r < b1; ++r)
            for (std::size_t j = 0; j < gc; ++j) {
              const std::size_t c0 = j * map.bc;
              finite_minmax(isa, row(r) + c0, std::min(map.bc, cols - c0), amin[j], amax[j]);
            }
          const float inv_range = inv_code_range<T>(qmax, true);
          for (std::size_t j = 0; j < gc; ++j) {
            // none finite: 0 and 0, as the reference; an all-zero block: +0 and +0 (the reference
            // keeps its first zero for both, and x - x = +0, so its scale is +0 either way)
            if (!(amax[j] >= amin[j]) || (amax[j] == 0 && amin[j] == 0)) amax[j] = amin[j] = 0.0f;
            if (!asym_scale(amax[j], amin[j], inv_range, qmax, out.scales[band * gc + j],
                            out.offsets[band * gc + j])) {
              range_error.store(true, std::memory_order_relaxed);  // the reference reports it
              return;
            }
          }
          for (std::size_t r = b0; r < b1; ++r)
            for (std::size_t j = 0; j < gc; ++j) {
              const std::size_t c0 = j * map.bc;
              quantize_segment_asym<kind>(isa, row(r) + c0, out.scales[band * gc + j],
                                          out.offsets[band * gc + j], code_at<kind>(codes, r * cols + c0),
                                          std::min(map.bc, cols - c0), prefetch(r, c0), sizeof(In));
            }
          return;
        }
#endif
      const auto scale_of = [&](float a) {
        float scale = a * inv;
        if (p.min_scale > 0) scale = std::fmin(scale, 1.0f / p.min_scale);
        return scale;
      };
      if (map.bc >= 16) {  // one scale per segment of at least a vector
        // Two passes over the band in whole rows: the maxima of its blocks, then the codes. While
        // row r is quantized, the row after it (one-row bands) or row r of the next band is
        // prefetched, so the next amax pass reads from cache. Whole rows, not chunks of a few blocks
        // kept in L2: rows 16 KB apart fall into an eighth of L2's sets, so a chunk of 128 rows did
        // not stay there, and reading memory in runs of a chunk's width was the slower part (1 thread,
        // 4096 x 4096: a pass over 128-row bands read 17 GB/s in runs of 2 KB, 25 GB/s in whole rows;
        // e4m3 block(128, 128) 6.5-7.1 -> 5.5-6.5 ms).
        const std::size_t band_rows = b1 - b0;
        const auto ahead = [&](std::size_t r, std::size_t c0) -> const char* {
          if (band_rows == 1) return prefetch(r, c0);
          if constexpr (std::is_same_v<In, float>)
            if (!buffered && r + band_rows < rows)
              return reinterpret_cast<const char*>(x.data() + (r + band_rows) * cols + c0);
          return nullptr;
        };
        std::fill(amax, amax + gc, 0.0f);
        for (std::size_t r = b0; r < b1; ++r)
          for (std::size_t j = 0; j < gc; ++j) {
            const std::size_t c0 = j * map.bc;
            amax[j] = std::max(amax[j], finite_amax(isa, row(r) + c0, std::min(map.bc, cols - c0)));
          }
        for (std::size_t j = 0; j < gc; ++j) out.scales[band * gc + j] = scale_of(amax[j]);
        for (std::size_t r = b0; r < b1; ++r)
          for (std::size_t j = 0; j < gc; ++j) {
            const std::size_t c0 = j * map.bc;
            quantize_segment<kind>(isa, row(r) + c0, out.scales[band * gc + j],
                                   code_at<kind>(codes, r * cols + c0), std::min(map.bc, cols - c0),
                                   ahead(r, c0), sizeof(In));
          }
        return;
      }
      std::fill(colmax, colmax + cols, 0.0f);
      for (std::size_t r = b0; r < b1; ++r) finite_amax_columns(isa, row(r), colmax, cols);
      for (std::size_t j = 0, c = 0; j < gc; ++j) {
        float a = 0.0f;
        for (const std::size_t c1 = std::min(c + map.bc, cols); c < c1; ++c) a = std::max(a, colmax[c]);
        out.scales[band * gc + j] = scale_of(a);
      }
      for (std::size_t j = 0; j < gc; ++j)  // the scale of each column (no division in the loop)
        std::fill(colscale + j * map.bc, colscale + std::min((j + 1) * map.bc, cols),
                  out.scales[band * gc + j]);
      for (std::size_t r = b0; r < b1; ++r)
        quantize_row<kind>(isa, row(r), colscale, code_at<kind>(codes, r * cols), cols);
    };
    [[maybe_unused]] const bool wide = use_avx512();  // else avx2 (x86-64)
    const std::size_t tasks = quantize_tasks(ctx, map), per_task = quantize_task_bytes<In>(map, buffered);
    std::byte* const mem = scratch(ctx, tasks * per_task);
    run_tasks(ctx, tasks, [&](std::size_t t) {
      arena a(mem + t * per_task);
      float *colmax = a.take<float>(cols), *colscale = a.take<float>(cols), *amax = a.take<float>(gc);
      float* wide_rows = buffered ? a.take<float>(std::min(map.br, rows) * cols) : nullptr;
      const auto range =
          task_range(t, tasks, bands);  // not a structured binding: Clang 14 cannot capture one
      const std::size_t first = range.first, last = range.second;
      const auto bands_of = [&](auto isa, auto kind_c) {
        for (std::size_t band = first; band < last; ++band)
          band_of(isa, kind_c, band, colmax, colscale, amax, wide_rows);
      };
      const auto kinds_of = [&](auto isa) {
        if constexpr (is4)
          if (packed) return bands_of(isa, std::integral_constant<code_kind, code_kind::int4x2>{});
        bands_of(isa, kind_t{});
      };
#if defined(LOWBIT_X86_64)
      if (wide)
        kinds_of(avx512::isa{});
      else
        kinds_of(avx2::isa{});
#else
      kinds_of(neon::isa{});
#endif
    });
    return !range_error.load();  // false: the reference runs and reports the block
  }
#endif
  (void)x, (void)shape, (void)p, (void)map, (void)pol, (void)out;
  return false;
}

}  // namespace detail

namespace detail {

/// quantize_into, and the storage overloads: packed (non-empty for those only) takes the codes
/// two per byte, element 2i in the low nibble, instead of out.values (empty then; the caller
/// checked packed's size and the even last axis). The fast path writes them there directly; the
/// reference writes one per byte into scratch, then pack_nibbles.
template <low_bit_type T, class In>
scale_map quantize_any(const exec_context& ctx, std::span<const In> x, matrix_shape shape,
                       const quantize_params& p, quantized_span<T> out, std::span<std::uint8_t> packed) {
  if (p.gran.kind == granularity_kind::mx)
    throw std::invalid_argument("granularity mx has e8m0 scales: use quantize_mx");
  const scale_map map = make_scale_map(p.gran, p.side, shape);
  check_count(x.size(), shape.size(), "input");
  if (packed.empty()) check_count(out.values.size(), shape.size(), "values output");
  check_count(out.scales.size(), map.size(), "scale output");
  check_count(out.offsets.size(), p.asymmetric ? map.size() : 0, "offset output");
  check_smooth(p.smooth, map);  // before any path reads it
  if (!(p.dtype_max >= 0) || !finite(p.dtype_max))
    throw std::invalid_argument("dtype max must be a positive finite number");
  if (p.dtype_max > 0 && !finite(static_cast<float>(1.0 / double(p.dtype_max))))
    throw std::invalid_argument("dtype max is so small that 1 / dtype max overflows float32");
  if (!(p.min_scale >= 0) || !finite(p.min_scale))
    throw std::invalid_argument("min scale must be a non-negative finite number");
  if (p.asymmetric && p.min_scale > 0)
    throw std::invalid_argument("min scale applies to symmetric quantization only");
  const convert_policy pol = p.policy.value_or(default_policy_v<T>);
  if (shape.size() > 0 &&
      quantize_fast<T, In>(ctx, x, shape, p, map, pol, out, packed.empty() ? nullptr : packed.data())) {
    count(true);
    return map;
  }
  count(false);
  if (packed.empty()) {
    quantize_ref_into<T, In>(x, shape, p, out);
    return map;
  }
  const std::span<T> codes(reinterpret_cast<T*>(scratch(ctx, slice_bytes<T>(shape.size()))), shape.size());
  quantize_ref_into<T, In>(x, shape, p, {codes, out.scales, out.offsets, {}});
  pack_nibbles({reinterpret_cast<const std::uint8_t*>(codes.data()), codes.size()}, packed);
  return map;
}

}  // namespace detail

/// Dynamic quantization of x (shape rows x cols, row-major; fp32, bfloat16 or float16) into
/// caller memory: out.values must hold shape.size() codes, out.scales map.size(), out.offsets
/// map.size() when asymmetric (else empty); returns the scale map (out is a view taken by value:
/// its map member is not the caller's). Uses the vector path when it applies (bit-exact), else
/// the reference (detail::quantize_ref_into).
/// Throws std::invalid_argument for bad shapes, sizes, granularity/operand pairs, mx.
/// ctx: who runs the bands of scale rows in parallel and the scratch (exec.hpp); the fast path
/// allocates nothing (its scratch: quantize_workspace_size).
template <low_bit_type T, class In>
scale_map quantize_into(const exec_context& ctx, std::span<const In> x, matrix_shape shape,
                        const quantize_params& p, quantized_span<T> out) {
  return detail::quantize_any<T, In>(ctx, x, shape, p, out, {});
}

/// The same with default_exec().
template <low_bit_type T, class In>
scale_map quantize_into(std::span<const In> x, matrix_shape shape, const quantize_params& p,
                        quantized_span<T> out) {
  return quantize_into<T, In>(default_exec(), x, shape, p, out);
}

/// Bytes of the workspace quantize_into(ctx, ...) needs for In input of this shape and
/// granularity with ctx's thread count (exec_context::workspace). packed: the codes go to 4-bit
/// storage (the quantize_into overloads with packed bytes or int32 words), which adds one byte
/// per code.
template <class In>
std::size_t quantize_workspace_size(matrix_shape shape, const quantize_params& p, const exec_context& ctx,
                                    bool packed = false) {
  const scale_map map = make_scale_map(p.gran, p.side, shape);
  const std::size_t own = detail::workspace_bytes(detail::quantize_tasks(ctx, map) *
                                                  detail::quantize_task_bytes<In>(map, !p.smooth.empty()));
  return packed ? detail::workspace_bytes(detail::slice_bytes<std::uint8_t>(shape.size()) + own) : own;
}

namespace detail {

/// The storage overloads' checks, then quantize_any into bytes (two codes per byte).
template <four_bit_type T, class In>
scale_map quantize_stored(const exec_context& ctx, std::span<const In> x, matrix_shape shape,
                          const quantize_params& p, std::size_t per_unit, std::size_t have,
                          std::string_view what, std::span<std::uint8_t> bytes, std::span<float> scales,
                          std::span<float> offsets) {
  if (shape.cols % per_unit != 0)
    throw std::invalid_argument(std::string(what) + ": the last axis (" + std::to_string(shape.cols) +
                                ") must be a multiple of " + std::to_string(per_unit));
  check_count(x.size(), shape.size(), "input");
  check_count(have, shape.size() / per_unit, what);
  return quantize_any<T, In>(ctx, x, shape, p, quantized_span<T>{{}, scales, offsets, {}}, bytes);
}

}  // namespace detail

/// quantize_into for a 4-bit format (int4, uint4, fp4) with the codes written straight into
/// storage, two per byte, element 2i in the low nibble (CANN's INT4 / FLOAT4 "x2" layout, spec
/// §1.1): packed holds shape.size() / 2 bytes, the last axis is even. The same codes, scales and
/// offsets as quantize_into; returns the scale map. The fast path (int4) writes the bytes
/// directly; the reference takes one byte per code of scratch more, then packs them
/// (quantize_workspace_size(..., packed = true) covers both). No allocation on the fast path.
template <four_bit_type T, class In>
scale_map quantize_into(const exec_context& ctx, std::span<const In> x, matrix_shape shape,
                        const quantize_params& p, std::span<std::uint8_t> packed, std::span<float> scales,
                        std::span<float> offsets = {}) {
  return detail::quantize_stored<T, In>(ctx, x, shape, p, 2, packed.size(), "packed output", packed, scales,
                                        offsets);
}

/// The same into int32 words, eight codes per word, element 0 in bits 0-3 (CANN's INT4Pack
/// carrier): words holds shape.size() / 8, the last axis is a multiple of 8. On a little-endian
/// host those are the bytes of the two-per-byte layout.
template <four_bit_type T, class In>
scale_map quantize_into(const exec_context& ctx, std::span<const In> x, matrix_shape shape,
                        const quantize_params& p, std::span<std::int32_t> words, std::span<float> scales,
                        std::span<float> offsets = {}) {
  const std::span<std::uint8_t> bytes(reinterpret_cast<std::uint8_t*>(words.data()), words.size_bytes());
  const scale_map map = detail::quantize_stored<T, In>(ctx, x, shape, p, 8, words.size(), "int32 output",
                                                       bytes, scales, offsets);
  if constexpr (std::endian::native == std::endian::big)
    for (std::int32_t& w : words) {  // element 0 in bits 0-3 of the word, not of its first byte
      std::uint32_t v = 0;
      for (int j = 0; j < 4; ++j)
        v |= std::uint32_t((static_cast<std::uint32_t>(w) >> (8 * j)) & 0xffu) << (24 - 8 * j);
      w = static_cast<std::int32_t>(v);
    }
  return map;
}

/// Both with default_exec().
template <four_bit_type T, class In>
scale_map quantize_into(std::span<const In> x, matrix_shape shape, const quantize_params& p,
                        std::span<std::uint8_t> packed, std::span<float> scales,
                        std::span<float> offsets = {}) {
  return quantize_into<T, In>(default_exec(), x, shape, p, packed, scales, offsets);
}
template <four_bit_type T, class In>
scale_map quantize_into(std::span<const In> x, matrix_shape shape, const quantize_params& p,
                        std::span<std::int32_t> words, std::span<float> scales,
                        std::span<float> offsets = {}) {
  return quantize_into<T, In>(default_exec(), x, shape, p, words, scales, offsets);
}

/// Dynamic quantization returning owning storage. Example:
/// `auto q = lowbit::quantize<lowbit::float8_e4m3fn>(std::span<const float>(x), {m, k},
///                                                   {.gran = lowbit::granularity::token()});`
template <low_bit_type T, class In>
quantized<T> quantize(std::span<const In> x, matrix_shape shape, const quantize_params& p) {
  if (p.gran.kind == granularity_kind::mx)
    throw std::invalid_argument("granularity mx has e8m0 scales: use quantize_mx");
  quantized<T> q;
  q.map = make_scale_map(p.gran, p.side, shape);
  q.values.resize(shape.size());
  q.scales.resize(q.map.size());
  q.offsets.resize(p.asymmetric ? q.map.size() : 0);
  quantize_into<T, In>(x, shape, p, q.span());
  return q;
}

/// Static quantization with given scales (and offsets); see static_form.
template <low_bit_type T, class In>
quantized<T> quantize_static(std::span<const In> x, matrix_shape shape, const static_params& p) {
  if (p.gran.kind == granularity_kind::mx)
    throw std::invalid_argument("static quantization does not take granularity mx");
  quantized<T> q;
  q.map = make_scale_map(p.gran, p.side, shape);
  detail::check_count(x.size(), shape.size(), "input");
  detail::check_count(p.scales.size(), q.map.size(), "static scale");
  if (!p.offsets.empty()) detail::check_count(p.offsets.size(), q.map.size(), "static offset");
  detail::check_smooth(p.smooth, q.map);
  // A zero, NaN or infinite scale (or a NaN / infinite offset) would silently saturate or zero
  // every code of its block: an error naming the first one.
  for (std::size_t i = 0; i < p.scales.size(); ++i)
    if (!(p.scales[i] != 0) || !detail::finite(p.scales[i]))
      throw std::invalid_argument("static scale " + std::to_string(i) + " is " + std::to_string(p.scales[i]) +
                                  ": scales must be finite and non-zero");
  for (std::size_t i = 0; i < p.offsets.size(); ++i)
    if (!detail::finite(p.offsets[i]))
      throw std::invalid_argument("static offset " + std::to_string(i) + " is " +
                                  std::to_string(p.offsets[i]) + ": offsets must be finite");
  const convert_policy pol = p.policy.value_or(default_policy_v<T>);
  detail::count(false);
  q.scales.assign(p.scales.begin(), p.scales.end());
  q.offsets.assign(p.offsets.begin(), p.offsets.end());
  q.values.resize(shape.size());
  for (std::size_t r = 0; r < detail::element_rows(shape); ++r)
    for (std::size_t c = 0; c < shape.cols; ++c) {
      const float v = detail::smoothed(x, p.smooth, q.map, r, c);
      const std::size_t s = q.map(r, c);
      float t = p.form == static_form::divide ? v / p.scales[s] : detail::fp::mul(v, p.scales[s]);
      if (!p.offsets.empty()) t = t + p.offsets[s];
      q.values[r * shape.cols + c] = convert<T>(t, pol);
    }
  return q;
}

/// The element formats MX quantization accepts (spec §2.5).
template <class T>
concept mx_element =
    std::is_same_v<T, float8_e4m3fn> || std::is_same_v<T, float8_e5m2> || std::is_same_v<T, float6_e2m3fn> ||
    std::is_same_v<T, float6_e3m2fn> || std::is_same_v<T, float4_e2m1fn> || std::is_same_v<T, float4_e1m2fn>;

namespace detail {

/// e8m0 scale code of one MX block (spec §2.5). amax is over |v| of the block; a block with
/// NaN or Inf is handled by the caller.
template <mx_element T>
std::uint8_t mx_scale_code(float amax, mx_scale_rule rule) {
  if (amax == 0) return 0;
  if (rule == mx_scale_rule::ocp) {
    // shared_exp = floor(log2 amax) - emax_elem, clamped below at -127 (never above 127).
    // floor(log2 amax) from the bits (amax is finite and > 0): ilogb without the libm call
    const auto bits = std::bit_cast<std::uint32_t>(amax);
    const int biased = static_cast<int>(bits >> 23);
    const int lg = biased > 0 ? biased - 127 : static_cast<int>(std::bit_width(bits & 0x7fffffu)) - 150;
    const int e = lg - format_traits<T>::mx_emax;
    return static_cast<std::uint8_t>((e < -127 ? -127 : e) + 127);
  }
  // cuBLAS style (scaleAlg 1): S = amax / max (fp32 division, as CANN's golden); take S's
  // biased exponent E and round up when the mantissa is non-zero (normal S, E < 254) or
  // above one half (subnormal S).
  const float s = amax / format_traits<T>::dtype_max;
  const auto bits = std::bit_cast<std::uint32_t>(s);
  unsigned e = (bits >> 23) & 0xffu;
  const unsigned m = bits & 0x7fffffu;
  if (e > 0 && e < 254 && m > 0)
    ++e;
  else if (e == 0 && m > 0x400000u)
    e = 1;
  return static_cast<std::uint8_t>(e);
}

}  // namespace detail

/// MX quantization (OCP MX v1.0 / CANN DynamicMxQuant, spec §2.5): blocks of 32 along k.
///   ocp rule:  scale = 2^(floor(log2 amax) - emax_elem), clamped to >= 2^-127
///   ceil rule: see mx_scale_rule
///   elements:  cast(v / scale), exact scaling by a power of two, then one rounding with
///              p.round; elements always saturate and NaN gives 0.
/// A block holding NaN or +-Inf gets the NaN scale 0xff and zero elements; an all-zero block
/// gets 0x00 (2^-127) and zero elements. Scales are returned in the natural layout
/// (m, ceil(k/32)) or (ceil(k/32), n); see mx_scales_to_cann for CANN's layout.
namespace detail {

/// The scalar reference of quantize_mx.
template <mx_element T, class In>
quantized<T, float8_e8m0fnu> quantize_mx_ref(std::span<const In> x, matrix_shape shape, const mx_params& p) {
  quantized<T, float8_e8m0fnu> q;
  q.map = make_scale_map(granularity::mx(), p.side, shape);
  check_count(x.size(), shape.size(), "input");
  check_smooth(p.smooth, q.map);
  std::vector<float> amax(q.map.size(), 0.0f);
  std::vector<bool> bad(q.map.size(), false);
  for (std::size_t r = 0; r < detail::element_rows(shape); ++r)
    for (std::size_t c = 0; c < shape.cols; ++c) {
      const float v = smoothed(x, p.smooth, q.map, r, c);
      const std::size_t s = q.map(r, c);
      if (!finite(v))
        bad[s] = true;
      else if (std::fabs(v) > amax[s])
        amax[s] = std::fabs(v);
    }
  q.scales.resize(q.map.size());
  for (std::size_t s = 0; s < q.map.size(); ++s)
    q.scales[s] = float8_e8m0fnu::from_bits(bad[s] ? std::uint8_t{0xff} : mx_scale_code<T>(amax[s], p.rule));
  const convert_policy pol{p.round, overflow::saturate, nan_policy::zero};
  q.values.resize(shape.size());
  for (std::size_t r = 0; r < detail::element_rows(shape); ++r)
    for (std::size_t c = 0; c < shape.cols; ++c) {
      const std::size_t s = q.map(r, c);
      const float v = smoothed(x, p.smooth, q.map, r, c);
      const int shift = 127 - static_cast<int>(q.scales[s].bits());  // v / 2^(e-127), exact in double
      q.values[r * shape.cols + c] =
          bad[s] ? T{} : convert_exact<T>(std::ldexp(static_cast<double>(v), shift), pol);
    }
  return q;
}

}  // namespace detail

namespace detail {

/// One row of the MX fast path, for a kernel set (avx512, neon) and element format T (fp4 e2m1 or
/// fp8 e4m3fn): each block of 32 gets its e8m0 scale code (mx_scale_code, 0xff for a block holding
/// NaN or Inf) and its element codes (zero for a 0xff block). Returns false when a block's scale
/// is above 2^126 (2^(127 - code) would not be a normal float): the caller then runs the
/// reference. Always inlined into one target function per kernel set, so the per-block steps
/// inline too. Elements: e2m1 by e2m1_block32 (x * 2^(127 - code), rint, saturating); e4m3 by the
/// per-token kernels' cast after x / 2^(code - 127), which is exact (a power of two, code <= 253;
/// a result below fp32's normal range is far below e4m3's smallest code, so its fp32 rounding
/// cannot change the one e4m3 rounding): quantize_mx_ref's ldexp in double and one rounding.
template <class T, class Isa>
[[gnu::always_inline]] inline bool mx_row(Isa isa, const float* x, std::size_t cols, mx_scale_rule rule,
                                          std::uint8_t* codes, std::uint8_t* scales, const float* next) {
  std::size_t c0 = 0, j = 0;
#if defined(LOWBIT_X86_64)
  if constexpr (std::is_same_v<Isa, avx512::isa> && std::is_same_v<T, float8_e4m3fn>)  // 16 blocks at a time
    for (; c0 + 512 <= cols; c0 += 512, j += 16) {
      if (next)
        for (std::size_t i = 0; i < 512; i += 64)
          prefetch_next(reinterpret_cast<const char*>(next + c0), 4, i);
      if (!avx512::mx_blocks16_e4m3(x + c0, format_traits<T>::mx_emax, format_traits<T>::dtype_max,
                                    rule == mx_scale_rule::ceil, codes + c0, scales + j))
        return false;
    }
#endif
  for (; c0 < cols; c0 += 32, ++j) {
    if (next) {  // the next row's block meanwhile (see avx512::prefetch_next)
      __builtin_prefetch(next + c0);
      __builtin_prefetch(next + c0 + 16);
    }
    const std::size_t len = cols - c0 < 32 ? cols - c0 : 32;
    bool bad = false;
    const float amax = block_amax32(isa, x + c0, len, bad);
    const std::uint8_t code = bad ? std::uint8_t{0xff} : mx_scale_code<T>(amax, rule);
    if (!bad && code > 253) return false;
    scales[j] = code;
    if (bad)
      std::memset(codes + c0, 0, len);
    else if constexpr (std::is_same_v<T, float4_e2m1fn>)
      e2m1_block32(isa, x + c0, len, code, codes + c0);
    else
      quantize_segment<code_kind::e4m3>(isa, x + c0, std::ldexp(1.0f, int(code) - 127), codes + c0, len);
  }
  return true;
}
#if defined(LOWBIT_X86_64)
template <class T>
LOWBIT_TARGET_AVX512 inline bool mx_row_avx512(const float* x, std::size_t cols, mx_scale_rule rule,
                                               const float* next, std::uint8_t* codes, std::uint8_t* scales) {
  return mx_row<T>(avx512::isa{}, x, cols, rule, codes, scales, next);
}
#elif defined(LOWBIT_ARM64)
template <class T>
inline bool mx_row_neon(const float* x, std::size_t cols, mx_scale_rule rule, const float* next,
                        std::uint8_t* codes, std::uint8_t* scales) {
  return mx_row<T>(neon::isa{}, x, cols, rule, codes, scales, next);
}
#endif

/// MX quantization fast path (avx512 and neon backends) for fp4 e2m1 (MXFP4) and fp8 e4m3fn
/// (MXFP8) elements of a left operand (blocks along the contiguous axis), fp32 input, rint:
/// bit-exact to quantize_mx_ref.
template <mx_element T, class In>
bool quantize_mx_fast(const exec_context& ctx, std::span<const In> x, matrix_shape shape, const mx_params& p,
                      quantized_span<T, float8_e8m0fnu> q) {
#if defined(LOWBIT_X86_64) || defined(LOWBIT_ARM64)
  constexpr bool e2m1 = std::is_same_v<T, float4_e2m1fn>, e4m3 = std::is_same_v<T, float8_e4m3fn>;
  if constexpr ((e2m1 || e4m3) && std::is_same_v<In, float>) {
#if defined(LOWBIT_X86_64)
    const auto row = mx_row_avx512<T>;
    if (!use_avx512()) return false;
#else
    const auto row = mx_row_neon<T>;
    if (!use_neon()) return false;
#endif
    if (p.side != operand::left || p.round != rounding::rint || !p.smooth.empty()) return false;
    const std::size_t rows = shape.rows, cols = shape.cols;
    auto* codes = reinterpret_cast<std::uint8_t*>(q.values.data());
    auto* scales = reinterpret_cast<std::uint8_t*>(q.scales.data());
    std::atomic<bool> fallback{false};  // a block the kernel leaves to the reference (scale > 253)
    const std::size_t tasks = task_count(ctx, rows, cols, min_task_elements);
    run_tasks(ctx, tasks, [&](std::size_t t) {
      const auto [first, last] = task_range(t, tasks, rows);
      for (std::size_t r = first; r < last; ++r)
        if (!row(x.data() + r * cols, cols, p.rule, r + 1 < rows ? x.data() + (r + 1) * cols : nullptr,
                 codes + r * cols, scales + r * q.map.grid.cols))
          fallback.store(true, std::memory_order_relaxed);
    });
    return !fallback.load();
  }
#endif
  (void)ctx, (void)x, (void)shape, (void)p, (void)q;
  return false;
}

}  // namespace detail

/// MX quantization into caller memory (same rules as quantize_mx): out.values holds shape.size()
/// codes and out.scales the map's e8m0 scales (natural layout); returns the scale map. No
/// allocation on the fast path (fp4 e2m1 or fp8 e4m3fn, left operand, rint, fp32 input); ctx runs its rows.
template <mx_element T, class In>
scale_map quantize_mx_into(const exec_context& ctx, std::span<const In> x, matrix_shape shape,
                           const mx_params& p, quantized_span<T, float8_e8m0fnu> out) {
  const scale_map map = make_scale_map(granularity::mx(), p.side, shape);
  detail::check_count(x.size(), shape.size(), "input");
  detail::check_count(out.values.size(), shape.size(), "values output");
  detail::check_count(out.scales.size(), map.size(), "scale output");
  detail::check_smooth(p.smooth, map);
  out.map = map;
  const bool fast = shape.size() > 0 && detail::quantize_mx_fast<T, In>(ctx, x, shape, p, out);
  detail::count(fast);
  if (fast) return map;
  const auto ref = detail::quantize_mx_ref<T, In>(x, shape, p);
  std::copy(ref.values.begin(), ref.values.end(), out.values.begin());
  std::copy(ref.scales.begin(), ref.scales.end(), out.scales.begin());
  return map;
}

/// The same with default_exec().
template <mx_element T, class In>
scale_map quantize_mx_into(std::span<const In> x, matrix_shape shape, const mx_params& p,
                           quantized_span<T, float8_e8m0fnu> out) {
  return quantize_mx_into<T, In>(default_exec(), x, shape, p, out);
}

/// MX quantization (OCP MX v1.0 / CANN DynamicMxQuant, spec §2.5): blocks of 32 along k.
///   ocp rule:  scale = 2^(floor(log2 amax) - emax_elem), clamped to >= 2^-127
///   ceil rule: see mx_scale_rule
///   elements:  cast(v / scale), exact scaling by a power of two, then one rounding with
///              p.round; elements always saturate and NaN gives 0.
/// A block holding NaN or +-Inf gets the NaN scale 0xff and zero elements; an all-zero block
/// gets 0x00 (2^-127) and zero elements. Scales are returned in the natural layout
/// (m, ceil(k/32)) or (ceil(k/32), n); see mx_scales_to_cann for CANN's layout. fp4 e2m1 and fp8 e4m3fn of a
/// left fp32 operand with rint take the AVX-512 or NEON path (bit-exact).
template <mx_element T, class In>
quantized<T, float8_e8m0fnu> quantize_mx(std::span<const In> x, matrix_shape shape, const mx_params& p) {
  quantized<T, float8_e8m0fnu> q;
  q.map = make_scale_map(granularity::mx(), p.side, shape);
  q.scales.resize(q.map.size());
  q.values.resize(shape.size());
  quantize_mx_into<T, In>(x, shape, p, q.span());
  return q;
}

namespace detail {

/// CANN's pair layout of MX scales (spec §2.5): the block count nb along k padded to even with
/// 0x00, pairs of consecutive blocks stored together:
///   left  (m, nb)  -> (m, ceil(nb/2), 2)       a reshape
///   right (nb, n)  -> (ceil(nb/2), n, 2)       out[j][c][t] = block 2j+t of column c
struct cann_pairs {
  bool left;
  std::size_t nb, other, half;
  cann_pairs(operand side, matrix_shape grid) noexcept
      : left(side == operand::left),
        nb(left ? grid.cols : grid.rows),
        other(left ? grid.rows : grid.cols),
        half(ceil_div(nb, 2)) {}
  std::size_t size() const noexcept { return other * half * 2; }
  std::size_t natural(std::size_t o, std::size_t b) const noexcept {
    return left ? o * nb + b : b * other + o;
  }
  std::size_t paired(std::size_t o, std::size_t b) const noexcept {
    return left ? (o * half + b / 2) * 2 + b % 2 : (b / 2 * other + o) * 2 + b % 2;
  }
  /// out (size()) = in (natural) in the pair layout, the pad 0x00.
  template <class S>
  void to(const S* in, S* out) const noexcept {
    std::fill(out, out + size(), S{});
    for (std::size_t o = 0; o < other; ++o)
      for (std::size_t b = 0; b < nb; ++b) out[paired(o, b)] = in[natural(o, b)];
  }
  template <class S>
  void from(const S* in, S* out) const noexcept {
    for (std::size_t o = 0; o < other; ++o)
      for (std::size_t b = 0; b < nb; ++b) out[natural(o, b)] = in[paired(o, b)];
  }
};

}  // namespace detail

/// Natural MX scale layout -> CANN's pair layout (detail::cann_pairs, spec §2.5), as e8m0 bytes
/// or float8_e8m0fnu.
inline std::vector<std::uint8_t> mx_scales_to_cann(std::span<const std::uint8_t> natural, operand side,
                                                   matrix_shape grid) {
  detail::check_count(natural.size(), grid.size(), "MX scale");
  const detail::cann_pairs c(side, grid);
  std::vector<std::uint8_t> out(c.size());
  c.to(natural.data(), out.data());
  return out;
}
inline std::vector<float8_e8m0fnu> mx_scales_to_cann(std::span<const float8_e8m0fnu> natural, operand side,
                                                     matrix_shape grid) {
  detail::check_count(natural.size(), grid.size(), "MX scale");
  const detail::cann_pairs c(side, grid);
  std::vector<float8_e8m0fnu> out(c.size());
  c.to(natural.data(), out.data());
  return out;
}

/// CANN's pair layout -> natural layout (inverse of mx_scales_to_cann; the pad is dropped).
inline std::vector<std::uint8_t> mx_scales_from_cann(std::span<const std::uint8_t> cann, operand side,
                                                     matrix_shape grid) {
  const detail::cann_pairs c(side, grid);
  detail::check_count(cann.size(), c.size(), "MX scale (CANN layout)");
  std::vector<std::uint8_t> out(grid.size());
  c.from(cann.data(), out.data());
  return out;
}
inline std::vector<float8_e8m0fnu> mx_scales_from_cann(std::span<const float8_e8m0fnu> cann, operand side,
                                                       matrix_shape grid) {
  const detail::cann_pairs c(side, grid);
  detail::check_count(cann.size(), c.size(), "MX scale (CANN layout)");
  std::vector<float8_e8m0fnu> out(grid.size());
  c.from(cann.data(), out.data());
  return out;
}

/// Where quantize_mx_into writes e8m0 scales as bytes: the natural layout, or CANN's pair layout.
enum class mx_scale_layout { natural, cann };

/// Bytes of the workspace of quantize_mx_into with storage outputs (its codes and scales pass
/// through scratch once).
inline std::size_t quantize_mx_workspace_size(matrix_shape shape, operand side) {
  const scale_map map = make_scale_map(granularity::mx(), side, shape);
  return detail::workspace_bytes(detail::slice_bytes<std::uint8_t>(shape.size()) +
                                 detail::slice_bytes<std::uint8_t>(map.size()));
}

/// quantize_mx_into with the outputs as stored: codes one per byte (fp8, fp6 in the low bits),
/// fp4 two per byte (element 2i in the low nibble, the last axis even, codes.size() =
/// shape.size() / 2); scales as e8m0 bytes in the natural layout (map.size()) or CANN's pair
/// layout (mx_scales_to_cann's size). The same codes and scales as quantize_mx; returns the
/// scale map. Scratch: quantize_mx_workspace_size; no allocation on the fast path.
template <mx_element T, class In>
scale_map quantize_mx_into(const exec_context& ctx, std::span<const In> x, matrix_shape shape,
                           const mx_params& p, std::span<std::uint8_t> codes, std::span<std::uint8_t> scales,
                           mx_scale_layout layout = mx_scale_layout::natural) {
  constexpr bool four = four_bit_type<T>;
  const scale_map map = make_scale_map(granularity::mx(), p.side, shape);
  const detail::cann_pairs pairs(p.side, map.grid);
  if (four && shape.cols % 2 != 0)
    throw std::invalid_argument("fp4 codes two per byte: the last axis (" + std::to_string(shape.cols) +
                                ") must be even");
  detail::check_count(codes.size(), four ? shape.size() / 2 : shape.size(), "code output");
  detail::check_count(scales.size(), layout == mx_scale_layout::cann ? pairs.size() : map.size(),
                      "scale output");
  const std::size_t codes_bytes = detail::slice_bytes<std::uint8_t>(shape.size());
  // quantize_mx_into(ctx, q) takes no scratch of its own: this call has all of it
  std::byte* const mem = detail::scratch(ctx, codes_bytes + detail::slice_bytes<std::uint8_t>(map.size()));
  quantized_span<T, float8_e8m0fnu> q{{reinterpret_cast<T*>(mem), shape.size()},
                                      {reinterpret_cast<float8_e8m0fnu*>(mem + codes_bytes), map.size()},
                                      {},
                                      {}};
  quantize_mx_into<T, In>(ctx, x, shape, p, q);
  const auto* c = reinterpret_cast<const std::uint8_t*>(mem);
  const auto* s = reinterpret_cast<const std::uint8_t*>(mem + codes_bytes);
  if constexpr (four)
    pack_nibbles({c, shape.size()}, codes);
  else
    std::copy(c, c + shape.size(), codes.data());
  if (layout == mx_scale_layout::cann)
    pairs.to(s, scales.data());
  else
    std::copy(s, s + map.size(), scales.data());
  return map;
}

/// The same with default_exec().
template <mx_element T, class In>
scale_map quantize_mx_into(std::span<const In> x, matrix_shape shape, const mx_params& p,
                           std::span<std::uint8_t> codes, std::span<std::uint8_t> scales,
                           mx_scale_layout layout = mx_scale_layout::natural) {
  return quantize_mx_into<T, In>(default_exec(), x, shape, p, codes, scales, layout);
}

}  // namespace lowbit::inline v0

// Granularity as a layout mapping (R5; CuTe's "stride 0 inside a block"): every granularity
// is a grid of br x bc blocks over the data matrix, and scale_map maps an element (r, c) to
// the index of its scale. Quantize, dequantize and matmul all go through it.
//
//   granularity   left operand x1 (m, k)                 right operand x2 (k, n)
//   tensor        block m x k  -> scale shape (1,)        block k x n  -> (1,)
//   channel       error (channel is for the right)        block k x 1  -> (n,)
//   token         block 1 x k  -> (m,)                    error (token is for the left)
//   group:GS      block 1 x GS -> (m, ceil(k/GS))         block GS x 1 -> (ceil(k/GS), n)
//   block:BR,BC   block BR x BC -> (ceil(m/BR), ceil(k/BC))  BR x BC -> (ceil(k/BR), ceil(n/BC))
//   mx            group:32 with e8m0 scales
// Spec §6, cli.md. A block that does not divide its dimension leaves a trailing partial block
// with its own scale; a block larger than the dimension is one partial block.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../detail/checked.hpp"
#include "../version.hpp"

namespace lowbit::inline v0 {

/// Which matrix of a matmul y = x1 @ x2 is meant: left x1 (m, k) or right x2 (k, n).
/// The reduce axis k is the columns of the left operand and the rows of the right one.
enum class operand : std::uint8_t { left, right };

enum class granularity_kind : std::uint8_t { tensor, channel, token, group, block, mx };

/// A granularity as named on the command line. Build with the factories:
/// `granularity::group(128)`, `granularity::block(128, 128)`.
struct granularity {
  granularity_kind kind = granularity_kind::tensor;
  std::size_t block_rows = 0;  // block: rows of a block (BM for left, BK for right)
  std::size_t block_cols = 0;  // block: cols of a block (BK for left, BN for right)
  std::size_t group_size = 0;  // group: GS along k; mx: 32

  static constexpr granularity tensor() { return {granularity_kind::tensor}; }
  static constexpr granularity channel() { return {granularity_kind::channel}; }
  static constexpr granularity token() { return {granularity_kind::token}; }
  static constexpr granularity group(std::size_t gs) { return {granularity_kind::group, 0, 0, gs}; }
  static constexpr granularity block(std::size_t br, std::size_t bc) {
    return {granularity_kind::block, br, bc, 0};
  }
  static constexpr granularity mx() { return {granularity_kind::mx, 0, 0, 32}; }
  friend constexpr bool operator==(const granularity&, const granularity&) = default;
};

/// Rows and columns of a row-major matrix.
struct matrix_shape {
  std::size_t rows = 0, cols = 0;
  constexpr std::size_t size() const noexcept { return rows * cols; }
  friend constexpr bool operator==(matrix_shape, matrix_shape) = default;
};

/// ceil(a / b) for b > 0, without the overflow of (a + b - 1) / b: a group of SIZE_MAX over a
/// dimension of 10 is one partial group, not zero groups.
constexpr std::size_t ceil_div(std::size_t a, std::size_t b) noexcept {
  return a / b + (a % b != 0 ? 1 : 0);
}

/// The mapping from element (r, c) of a rows x cols matrix to its scale: a grid of
/// block_rows x block_cols blocks, numbered row-major.
struct scale_map {
  granularity gran;
  operand side = operand::left;
  matrix_shape data;           // the quantized matrix
  std::size_t br = 1, bc = 1;  // block extents (>= 1)
  matrix_shape grid;           // ceil(rows / br) x ceil(cols / bc)
  bool transposed = false;  // the scales stored grid.cols x grid.rows (packed_weights' scale_order::n_major)

  constexpr std::size_t operator()(std::size_t r, std::size_t c) const noexcept {
    return transposed ? (c / bc) * grid.rows + r / br : (r / br) * grid.cols + c / bc;
  }
  constexpr std::size_t size() const noexcept { return grid.size(); }

  /// The shape of the scale array as CANN and cli.md write it: (1,) for tensor, (n,) for
  /// channel, (m,) for token, 2-D otherwise.
  std::vector<std::size_t> scale_shape() const {
    switch (gran.kind) {
      case granularity_kind::tensor:
        return {1};
      case granularity_kind::channel:
        return {grid.cols};
      case granularity_kind::token:
        return {grid.rows};
      default:
        return {grid.rows, grid.cols};
    }
  }
};

/// Builds the scale map of granularity g for operand side with the given data shape.
/// Throws std::invalid_argument for channel on the left, token on the right, and group or
/// block sizes of 0.
inline scale_map make_scale_map(granularity g, operand side, matrix_shape data) {
  (void)detail::checked_mul(data.rows, data.cols, "matrix shape");
  const bool left = side == operand::left;
  std::size_t br = 1, bc = 1;
  switch (g.kind) {
    case granularity_kind::tensor:
      br = data.rows, bc = data.cols;
      break;
    case granularity_kind::channel:
      if (left)
        throw std::invalid_argument(
            "granularity channel applies to the right operand (k, n); use token for the left");
      br = data.rows;
      break;
    case granularity_kind::token:
      if (!left)
        throw std::invalid_argument(
            "granularity token applies to the left operand (m, k); use channel for the right");
      bc = data.cols;
      break;
    case granularity_kind::group:
    case granularity_kind::mx:
      if (g.group_size == 0) throw std::invalid_argument("group size must be at least 1");
      (left ? bc : br) = g.group_size;
      break;
    case granularity_kind::block:
      if (g.block_rows == 0 || g.block_cols == 0)
        throw std::invalid_argument("block sizes must be at least 1");
      br = g.block_rows, bc = g.block_cols;
      break;
  }
  br = br == 0 ? 1 : br;  // empty dimensions: keep the divisor valid
  bc = bc == 0 ? 1 : bc;
  matrix_shape grid{ceil_div(data.rows, br), ceil_div(data.cols, bc)};
  // A whole-dimension block keeps its one scale even when the dimension is empty, so the
  // scale shapes (1,), (n,) and (m,) hold for every data shape.
  if (g.kind == granularity_kind::tensor) grid = {1, 1};
  if (g.kind == granularity_kind::channel) grid.rows = 1;
  if (g.kind == granularity_kind::token) grid.cols = 1;
  return {g, side, data, br, bc, grid};
}

namespace detail {

/// The rows an element loop visits: none when there are no columns, so that a (10^12, 0) array
/// costs nothing rather than 10^12 empty iterations.
constexpr std::size_t element_rows(matrix_shape s) noexcept {
  return s.cols != 0 ? s.rows : 0;
}

/// A scale_map built by hand must be the one make_scale_map builds for its granularity, side and
/// shape: its block extents index the scales, so a disagreeing grid or a zero block would read out
/// of bounds (or divide by zero). Throws std::invalid_argument.
inline void check_map(const scale_map& m) {
  const scale_map ok = make_scale_map(m.gran, m.side, m.data);
  if (m.br != ok.br || m.bc != ok.bc || !(m.grid == ok.grid))
    throw std::invalid_argument("scale map of " + std::to_string(m.data.rows) + " x " +
                                std::to_string(m.data.cols) + " does not match its granularity: blocks " +
                                std::to_string(m.br) + " x " + std::to_string(m.bc) + ", grid " +
                                std::to_string(m.grid.rows) + " x " + std::to_string(m.grid.cols) +
                                " (expected " + std::to_string(ok.br) + " x " + std::to_string(ok.bc) + ", " +
                                std::to_string(ok.grid.rows) + " x " + std::to_string(ok.grid.cols) + ")");
}

}  // namespace detail

/// Parses cli.md's granularity names: tensor, channel, token, group:GS, block:B,
/// block:BR,BC, mx. Returns nullopt on a malformed name.
inline std::optional<granularity> parse_granularity(std::string_view s) {
  const auto number = [](std::string_view t) -> std::optional<std::size_t> {
    std::size_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size() || t.empty()) return std::nullopt;
    return v;
  };
  if (s == "tensor") return granularity::tensor();
  if (s == "channel") return granularity::channel();
  if (s == "token") return granularity::token();
  if (s == "mx") return granularity::mx();
  if (s.substr(0, 6) == "group:") {
    if (auto gs = number(s.substr(6))) return granularity::group(*gs);
    return std::nullopt;
  }
  if (s.substr(0, 6) == "block:") {
    const auto rest = s.substr(6);
    const auto comma = rest.find(',');
    if (comma == std::string_view::npos) {
      if (auto b = number(rest)) return granularity::block(*b, *b);
      return std::nullopt;
    }
    auto a = number(rest.substr(0, comma)), b = number(rest.substr(comma + 1));
    if (a && b) return granularity::block(*a, *b);
  }
  return std::nullopt;
}

inline std::string to_string(granularity g) {
  switch (g.kind) {
    case granularity_kind::tensor:
      return "tensor";
    case granularity_kind::channel:
      return "channel";
    case granularity_kind::token:
      return "token";
    case granularity_kind::group:
      return "group:" + std::to_string(g.group_size);
    case granularity_kind::block:
      return "block:" + std::to_string(g.block_rows) + "," + std::to_string(g.block_cols);
    case granularity_kind::mx:
      return "mx";
  }
  return "?";
}

}  // namespace lowbit::inline v0

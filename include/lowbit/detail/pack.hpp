// The left operand of the dot-product kernels, laid out once per call into the call's scratch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace lowbit::inline v0::detail {

/// Elements of m rows of k padded to a multiple of `group`.
constexpr std::size_t packed_rows_size(std::size_t m, std::size_t k, std::size_t group) noexcept {
  return m * ((k + group - 1) / group * group);
}

/// m rows of k values a(i, kk) converted to T into u (packed_rows_size elements), each row padded
/// to a multiple of `group` (the k the kernel's instruction consumes at once) with `pad`, the
/// value that adds nothing to a sum (0, or 128 for VNNI's unsigned x + 128).
template <class T, class Get>
void pack_rows(T* u, std::size_t m, std::size_t k, std::size_t group, T pad, Get&& a) {
  const std::size_t kp = (k + group - 1) / group * group;
  // a local copy of the getter: the byte stores to u may alias anything reached through a
  // reference, so reading the getter's state through `a` reloads it on every element
  const std::remove_cvref_t<Get> get = a;
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t kk = 0; kk < k; ++kk) u[i * kp + kk] = static_cast<T>(get(i, kk));
    for (std::size_t kk = k; kk < kp; ++kk) u[i * kp + kk] = pad;
  }
}

/// 4-bit weight codes column by column, for the small-m weight-only kernels (wo::columns,
/// wo::columns_bf16): two per byte with even k in the low nibble (CANN's int4 order along k),
/// each column padded with code 0 to kp (a multiple of 32) and its bytes to whole chunks of 32
/// (64 k). Columns go in groups of `lanes`, the group's chunks interleaved: chunk c of column j
/// at at(j) + c * chunk_stride, so that a kernel reading the 8 columns of a group chunk by chunk
/// reads one sequential stream, which it prefetches far ahead (wo::prefetch_ahead). n is padded
/// to whole groups with code 0.
struct nibble_columns {
  static constexpr std::size_t lanes = 8, chunk = 32, chunk_stride = lanes * chunk;
  std::size_t kp = 0, chunks = 0;  // codes and 32-byte chunks per column
  std::vector<std::uint8_t> data;

  template <class Code>
  nibble_columns(std::size_t k, std::size_t n, Code&& code)
      : kp((k + 31) / 32 * 32),
        chunks((k + 63) / 64),
        data((n + lanes - 1) / lanes * chunks * chunk_stride, 0) {
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t kk = 0; kk < k; ++kk)
        at(j)[kk / 64 * chunk_stride + kk % 64 / 2] |=
            static_cast<std::uint8_t>((code(kk, j) & 0xfu) << (4 * (kk % 2)));
  }
  /// Chunk 0 of column j.
  std::uint8_t* at(std::size_t j) noexcept {
    return data.data() + j / lanes * chunks * chunk_stride + j % lanes * chunk;
  }
  const std::uint8_t* at(std::size_t j) const noexcept {
    return data.data() + j / lanes * chunks * chunk_stride + j % lanes * chunk;
  }
};

}  // namespace lowbit::inline v0::detail

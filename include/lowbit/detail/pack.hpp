// The left operand of the dot-product kernels, laid out once per call into the call's scratch.
#pragma once

#include <cstddef>
#include <cstdint>
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
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t kk = 0; kk < k; ++kk) u[i * kp + kk] = static_cast<T>(a(i, kk));
    for (std::size_t kk = k; kk < kp; ++kk) u[i * kp + kk] = pad;
  }
}

/// 4-bit weight codes column by column, for the small-m weight-only kernel (wo::columns): column
/// j's k codes contiguous from data[j * kp / 2], two per byte with even k in the low nibble
/// (CANN's int4 order along k), each column padded with code 0 to kp, a multiple of 32.
struct nibble_columns {
  std::size_t kp = 0;
  std::vector<std::uint8_t> data;

  template <class Code>
  nibble_columns(std::size_t k, std::size_t n, Code&& code)
      : kp((k + 31) / 32 * 32), data(n * ((k + 31) / 32 * 16), 0) {
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t kk = 0; kk < k; ++kk)
        data[j * (kp / 2) + kk / 2] |= static_cast<std::uint8_t>((code(kk, j) & 0xfu) << (4 * (kk % 2)));
  }
};

}  // namespace lowbit::inline v0::detail

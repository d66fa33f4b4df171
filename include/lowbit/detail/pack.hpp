// The left operand of the dot-product kernels, laid out once per call into the call's scratch.
#pragma once

#include <cstddef>

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

}  // namespace lowbit::inline v0::detail

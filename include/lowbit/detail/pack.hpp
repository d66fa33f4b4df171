// The left operand of the dot-product kernels, laid out once per call.
#pragma once

#include <cstddef>
#include <vector>

namespace lowbit::inline v0::detail {

/// m rows of k values a(i, kk) converted to T, each row padded to a multiple of `group` (the k the
/// kernel's instruction consumes at once) with `pad`, the value that adds nothing to a sum (0, or
/// 128 for VNNI's unsigned x + 128).
template <class T, class Get>
std::vector<T> pack_rows(std::size_t m, std::size_t k, std::size_t group, T pad, Get&& a) {
  const std::size_t kp = (k + group - 1) / group * group;
  std::vector<T> u(m * kp, pad);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t kk = 0; kk < k; ++kk) u[i * kp + kk] = static_cast<T>(a(i, kk));
  return u;
}

}  // namespace lowbit::inline v0::detail

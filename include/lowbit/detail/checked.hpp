// Size arithmetic that cannot wrap (README "Bad input"): a product of extents that does not fit
// std::size_t is an std::invalid_argument naming the extents, never a wrapped small number that
// a later check would accept (a (2^32, 0) x (0, 2^32) matmul, a {2^62, 4} shape).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace lowbit::inline v0::detail {

/// a * b, or std::invalid_argument("WHAT: A x B does not fit the size type").
inline std::size_t checked_mul(std::size_t a, std::size_t b, const char* what) {
  std::size_t r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(a) + " x " + std::to_string(b) +
                                " elements do not fit the size type");
  return r;
}

}  // namespace lowbit::inline v0::detail

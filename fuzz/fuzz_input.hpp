// Reads fuzz bytes as a stream of small integers, choices and raw float bit patterns (so NaN,
// Inf and subnormals all occur).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

struct fuzz_input {
  const std::uint8_t* p;
  std::size_t n;
  std::uint32_t u32() {
    std::uint32_t v = 0;
    const std::size_t k = n < 4 ? n : 4;
    std::memcpy(&v, p, k);
    p += k, n -= k;
    return v;
  }
  std::size_t upto(std::size_t m) { return m == 0 ? 0 : u32() % (m + 1); }
  float f32() {
    const std::uint32_t b = u32();
    switch (b & 3) {  // half raw bit patterns, half ordinary magnitudes
      case 0:
        return std::bit_cast<float>(b);
      default:
        return static_cast<float>(static_cast<std::int32_t>(b)) * 1e-6f;
    }
  }
  std::vector<float> floats(std::size_t count) {
    std::vector<float> v(count);
    for (auto& x : v) x = f32();
    return v;
  }
};

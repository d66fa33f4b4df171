// Sub-byte packing (spec §1.1). The nibble order is part of the format:
//   two per byte:  element 2i in the low nibble (bits 0-3), element 2i+1 in the high nibble;
//                  the innermost axis must be even (CANN INT4 / FLOAT4 "x2" layout).
//   int32 carrier: 8 per word, element j at bits [4j, 4j+3], element 0 lowest (CANN
//                  "INT4Pack", dstType = 3); byte-identical to the two-per-byte layout on a
//                  little-endian host. The innermost axis must be a multiple of 8.
// Codes are the 4-bit patterns (int4 two's complement, fp4 sign in bit 3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

namespace lowbit::inline v0 {

/// Packs 4-bit codes two per byte. Throws std::invalid_argument unless codes.size() is even
/// and packed.size() == codes.size() / 2. Upper bits of each code are ignored.
inline void pack_nibbles(std::span<const std::uint8_t> codes, std::span<std::uint8_t> packed) {
  if (codes.size() % 2 != 0)
    throw std::invalid_argument("pack_nibbles: odd number of 4-bit codes (" + std::to_string(codes.size()) +
                                "); the last axis must be even");
  if (packed.size() != codes.size() / 2)
    throw std::invalid_argument("pack_nibbles: output holds " + std::to_string(packed.size()) +
                                " bytes, need " + std::to_string(codes.size() / 2));
  for (std::size_t i = 0; i < packed.size(); ++i)
    packed[i] = static_cast<std::uint8_t>((codes[2 * i] & 0xfu) | ((codes[2 * i + 1] & 0xfu) << 4));
}

/// Unpacks two codes per byte, low nibble first. codes.size() must be 2 * packed.size().
inline void unpack_nibbles(std::span<const std::uint8_t> packed, std::span<std::uint8_t> codes) {
  if (codes.size() != 2 * packed.size())
    throw std::invalid_argument("unpack_nibbles: output holds " + std::to_string(codes.size()) +
                                " codes, need " + std::to_string(2 * packed.size()));
  for (std::size_t i = 0; i < packed.size(); ++i) {
    codes[2 * i] = packed[i] & 0xfu;
    codes[2 * i + 1] = static_cast<std::uint8_t>(packed[i] >> 4);
  }
}

/// Packs 4-bit codes eight per int32 word, element 0 in bits 0-3.
inline void pack_int32(std::span<const std::uint8_t> codes, std::span<std::int32_t> words) {
  if (codes.size() % 8 != 0 || words.size() != codes.size() / 8)
    throw std::invalid_argument("pack_int32: need a multiple of 8 codes (" + std::to_string(codes.size()) +
                                ") and size/8 words");
  for (std::size_t w = 0; w < words.size(); ++w) {
    std::uint32_t v = 0;
    for (unsigned j = 0; j < 8; ++j) v |= static_cast<std::uint32_t>(codes[8 * w + j] & 0xfu) << (4 * j);
    words[w] = static_cast<std::int32_t>(v);
  }
}

/// Unpacks eight 4-bit codes per int32 word, element 0 from bits 0-3.
inline void unpack_int32(std::span<const std::int32_t> words, std::span<std::uint8_t> codes) {
  if (codes.size() != 8 * words.size())
    throw std::invalid_argument("unpack_int32: output must hold 8 codes per word");
  for (std::size_t w = 0; w < words.size(); ++w)
    for (unsigned j = 0; j < 8; ++j)
      codes[8 * w + j] = static_cast<std::uint8_t>((static_cast<std::uint32_t>(words[w]) >> (4 * j)) & 0xfu);
}

}  // namespace lowbit::inline v0

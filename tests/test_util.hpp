// Shared test helpers: CSV reading, bit casts, fixed-seed random data.
#pragma once

#include <bit>
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace lowbit_test {

inline std::uint32_t float_bits(float x) {
  return std::bit_cast<std::uint32_t>(x);
}
inline float bits_float(std::uint32_t b) {
  return std::bit_cast<float>(b);
}

/// Rows of a golden CSV (header skipped), each as its hex fields.
inline std::vector<std::vector<std::uint32_t>> read_hex_csv(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open golden file " + path);
  std::vector<std::vector<std::uint32_t>> rows;
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    std::vector<std::uint32_t> row;
    std::stringstream ss(line);
    std::string field;
    for (int i = 0; i < 2 && std::getline(ss, field, ','); ++i)
      row.push_back(static_cast<std::uint32_t>(std::stoul(field, nullptr, 16)));
    if (std::getline(ss, field, ',') && field.rfind("0x", 0) == 0)
      row.push_back(static_cast<std::uint32_t>(std::stoul(field, nullptr, 16)));
    rows.push_back(std::move(row));
  }
  return rows;
}

inline std::string golden(const std::string& file) {
  return std::string(LOWBIT_GOLDEN_DIR) + "/" + file;
}

}  // namespace lowbit_test

// Fuzz the .npy parser: any bytes either parse into a consistent array or raise npy::error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <lowbit/io/npy.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto a = lowbit::npy::parse({reinterpret_cast<const std::byte*>(data), size}, "fuzz");
    if (a.data.size() != a.size() * lowbit::npy::itemsize(a.type)) std::abort();
    if (lowbit::npy::parse(lowbit::npy::serialize(a)).data != a.data) std::abort();  // round trip
  } catch (const lowbit::npy::error&) {
  }
  return 0;
}

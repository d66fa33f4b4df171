// Compile-time selection of the fast paths (R7). lowbit dispatches at compile time only: the
// best ISA the translation unit's flags enable. LOWBIT_FORCE_SCALAR turns every fast path off,
// leaving the scalar reference, which is the specification and is always compiled.
//   LOWBIT_HAS_AVX512       AVX-512 F/BW/DQ/VL (quantize, dequantize, conversions)
//   LOWBIT_HAS_AVX512_VNNI  + VNNI (int8 matmul with vpdpbusd)
//   LOWBIT_HAS_AVX512_BF16  + BF16 (low-bit float matmul with vdpbf16ps, within a stated bound)
// Fast paths are bit-exact to the reference wherever they are used (tests/fast/).
#pragma once

#if !defined(LOWBIT_FORCE_SCALAR) && defined(__AVX512F__) && defined(__AVX512BW__) && \
    defined(__AVX512DQ__) && defined(__AVX512VL__)
#define LOWBIT_HAS_AVX512 1
#if defined(__AVX512VNNI__)
#define LOWBIT_HAS_AVX512_VNNI 1
#endif
#if defined(__AVX512BF16__)
#define LOWBIT_HAS_AVX512_BF16 1
#endif
#endif

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace lowbit::inline v0 {

/// The name of the fast path compiled into this translation unit ("avx512-vnni", "avx512",
/// or "scalar").
constexpr const char* backend_name() noexcept {
#if defined(LOWBIT_HAS_AVX512_VNNI)
  return "avx512-vnni";
#elif defined(LOWBIT_HAS_AVX512)
  return "avx512";
#else
  return "scalar";
#endif
}

}  // namespace lowbit::inline v0

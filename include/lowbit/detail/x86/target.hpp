// Per-function ISA targets for the x86-64 kernels (README "Backends"). A kernel carries its ISA
// in its own attribute, so it is compiled the same way in every translation unit whatever the
// consumer's -march, and runs only after detail::use_avx512() has checked the CPU at run time.
// Kernels take plain pointers and sizes: no vector type crosses from generic code into them,
// and the parallel loop (exec.hpp) lives outside them.
#pragma once

#include "../../backend.hpp"
#include "../../exec.hpp"

#if defined(LOWBIT_X86_64)
#include <immintrin.h>

#include <cstddef>

// AVX2 + FMA (Haswell and later, every x86-64-v3 CPU)
#define LOWBIT_TARGET_AVX2 __attribute__((target("avx2,fma,f16c,bmi,bmi2,popcnt,lzcnt")))
// + AVX-VNNI (the VEX vpdpwssd of Alder Lake and later): only behind cpu().avx_vnni
#define LOWBIT_TARGET_AVX_VNNI __attribute__((target("avx2,fma,f16c,bmi,bmi2,popcnt,lzcnt,avxvnni")))
// AVX-512 F/BW/DQ/VL + VNNI (and the AVX2/FMA/F16C/BMI they imply on every such CPU)
#define LOWBIT_TARGET_AVX512                                                                \
  __attribute__((                                                                           \
      target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c,bmi,bmi2,popcnt," \
             "lzcnt")))
// + AVX-512 BF16 (vdpbf16ps, vcvtneps2bf16): only behind detail::use_avx512_bf16()
// GCC 12 reports the `__Y` of its own _mm512_undefined_* helpers as uninitialized when they are
// inlined into our kernels (GCC bug 105593, a false positive): silenced around the kernels only.
#if defined(__GNUC__) && !defined(__clang__)
#define LOWBIT_KERNELS_BEGIN                                                           \
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wuninitialized\"") \
      _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define LOWBIT_KERNELS_END _Pragma("GCC diagnostic pop")
#else
#define LOWBIT_KERNELS_BEGIN
#define LOWBIT_KERNELS_END
#endif
#define LOWBIT_TARGET_AVX512_BF16                                                                      \
  __attribute__((                                                                                      \
      target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512bf16,avx2,fma,f16c,bmi,bmi2,popcnt," \
             "lzcnt")))

namespace lowbit::inline v0::detail {
/// The mask of a vector's first min(n, 16) 32-bit lanes: the tail of every AVX-512 loop.
LOWBIT_TARGET_AVX512 inline __mmask16 tail_mask(std::size_t n) noexcept {
  return n >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << n) - 1);
}
}  // namespace lowbit::inline v0::detail
#endif

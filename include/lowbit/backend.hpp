// Run-time backend selection (README "Backends"). Every fast kernel is compiled into every
// translation unit with per-function target attributes (detail/x86/target.hpp), whatever the
// consumer's -march; which one runs is decided once per process from the CPU (CPUID and XGETBV
// on x86-64), and can be overridden by the environment variable LOWBIT_BACKEND or by
// set_backend(). No type, layout or inline body depends on the TU's flags.
//
//   scalar   the reference (the specification), on every machine
//   avx2     x86-64 with AVX2, FMA, F16C, BMI1/2 (x86-64-v3): quantize, dequantize, every
//            integer matmul mode on vpmaddwd
//   avx512   x86-64 with AVX-512 F/BW/DQ/VL and VNNI: quantize, dequantize, every integer
//            matmul mode on vpdpbusd; with AVX-512 BF16 also the opt-in `approx` float paths
//   neon     AArch64 (getauxval(AT_HWCAP)): quantize (int8 / int4 / e4m3), int8 dequantize, and
//            every integer matmul mode on SDOT where the CPU has the dot product (asimddp, e.g.
//            Kunpeng 920; the reference otherwise)
//
// Every exact fast path is bit-identical to the reference, so the backend changes speed, never
// bits (tests/flags/run.sh runs every case under every backend).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define LOWBIT_X86_64 1
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define LOWBIT_ARM64 1
#include <sys/auxv.h>
#endif

namespace lowbit::inline v0 {

enum class backend : std::uint8_t { scalar, avx2, avx512, neon };

constexpr std::string_view to_string(backend b) noexcept {
  switch (b) {
    case backend::scalar:
      return "scalar";
    case backend::avx2:
      return "avx2";
    case backend::avx512:
      return "avx512";
    case backend::neon:
      return "neon";
  }
  return "?";
}

/// What this CPU offers, as the kernels need it.
struct cpu_features {
  bool avx2 = false;         // AVX2, FMA, F16C, BMI1, BMI2, LZCNT, POPCNT, with the OS saving YMM state
  bool avx512 = false;       // F, BW, DQ, VL, VNNI, with the OS saving ZMM and opmask state
  bool avx512_bf16 = false;  // + BF16 (the approx float paths)
  bool avx_vnni = false;     // AVX2 + AVX-VNNI (VEX vpdpwssd/vpdpbusd): the avx2 backend's dot product
  bool neon = false;         // AArch64 Advanced SIMD (every AArch64 Linux CPU)
  bool dotprod = false;      // + the int8 dot product SDOT/UDOT (asimddp, Armv8.2-A and later)
};

namespace detail {

inline cpu_features detect_cpu() noexcept {
  cpu_features f;
#if defined(LOWBIT_X86_64)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1u, fma = (c >> 12) & 1u, popcnt = (c >> 23) & 1u, f16c = (c >> 29) & 1u;
  if (!osxsave || static_cast<unsigned>(__get_cpuid_max(0, nullptr)) < 7u) return f;
  unsigned xlo = 0, xhi = 0;
  asm volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  // XCR0: SSE (1), AVX (2), opmask (5), ZMM_Hi256 (6), Hi16_ZMM (7) state saved by the OS
  const bool ymm_state = (xlo & 0x6u) == 0x6u, zmm_state = (xlo & 0xe6u) == 0xe6u;
  bool lzcnt = false;
  if (static_cast<unsigned>(__get_cpuid_max(0x80000000u, nullptr)) >= 0x80000001u) {
    unsigned ea = 0, eb = 0, ec = 0, ed = 0;
    __cpuid(0x80000001u, ea, eb, ec, ed);
    lzcnt = (ec >> 5) & 1u;
  }
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = (b >> 5) & 1u, bmi1 = (b >> 3) & 1u, bmi2 = (b >> 8) & 1u;
  f.avx2 = ymm_state && avx2 && fma && f16c && bmi1 && bmi2 && lzcnt && popcnt;
  const bool f512 = (b >> 16) & 1u, dq = (b >> 17) & 1u, bw = (b >> 30) & 1u, vl = (b >> 31) & 1u;
  const bool vnni = (c >> 11) & 1u;
  f.avx512 = f.avx2 && zmm_state && f512 && dq && bw && vl && vnni;
  __cpuid_count(7, 1, a, b, c, d);
  f.avx512_bf16 = f.avx512 && ((a >> 5) & 1u);
  f.avx_vnni = f.avx2 && ((a >> 4) & 1u);
#endif
#if defined(LOWBIT_ARM64)
  const unsigned long hw = ::getauxval(AT_HWCAP);
  f.neon = (hw & (1ul << 1)) != 0;                // HWCAP_ASIMD
  f.dotprod = f.neon && (hw & (1ul << 20)) != 0;  // HWCAP_ASIMDDP
#endif
  return f;
}

inline const cpu_features& cpu() noexcept {
  static const cpu_features f = detect_cpu();
  return f;
}

inline bool supported(backend b) noexcept {
  return b == backend::scalar || (b == backend::avx2 && cpu().avx2) ||
         (b == backend::avx512 && cpu().avx512) || (b == backend::neon && cpu().neon);
}

inline backend best_backend() noexcept {
  return supported(backend::avx512) ? backend::avx512
         : supported(backend::avx2) ? backend::avx2
         : supported(backend::neon) ? backend::neon
                                    : backend::scalar;
}

/// The first choice: LOWBIT_BACKEND when it names a backend this CPU has, else the best one. An
/// unknown or unsupported name is reported once on stderr (the best backend runs instead).
inline backend initial_backend() noexcept {
  const char* env = std::getenv("LOWBIT_BACKEND");
  if (!env || !*env) return best_backend();
  for (backend b : {backend::scalar, backend::avx2, backend::avx512, backend::neon})
    if (to_string(b) == env) {
      if (supported(b)) return b;
      std::fprintf(stderr, "lowbit: LOWBIT_BACKEND=%s is not supported by this CPU; using %s\n", env,
                   to_string(best_backend()).data());
      return best_backend();
    }
  std::fprintf(stderr, "lowbit: LOWBIT_BACKEND=%s is not a backend (scalar, avx2, avx512, neon); using %s\n",
               env, to_string(best_backend()).data());
  return best_backend();
}

inline std::atomic<backend>& active() noexcept {
  static std::atomic<backend> b{initial_backend()};
  return b;
}

/// Calls that ran a fast kernel, and calls that ran the reference (no kernel for the case, or
/// the scalar backend).
inline std::atomic<std::uint64_t> fast_calls{0}, reference_calls{0};

inline void count(bool fast) noexcept {
  (fast ? fast_calls : reference_calls).fetch_add(1, std::memory_order_relaxed);
}

/// True when the active backend is avx512 (kernels in detail/x86/ may run).
inline bool use_avx512() noexcept {
  return active().load(std::memory_order_relaxed) == backend::avx512;
}
/// True when the active backend is avx2 (the avx2 kernels run; avx512 has its own).
inline bool use_avx2() noexcept {
  return active().load(std::memory_order_relaxed) == backend::avx2;
}
/// True when the active backend is neon (the arm64 quantize / dequantize kernels run).
inline bool use_neon() noexcept {
  return active().load(std::memory_order_relaxed) == backend::neon;
}
/// True when the active backend is neon and the CPU has SDOT (the arm64 matmul kernels run).
inline bool use_neon_dot() noexcept {
  return active().load(std::memory_order_relaxed) == backend::neon && cpu().dotprod;
}
inline bool use_avx512_bf16() noexcept {
  return use_avx512() && cpu().avx512_bf16;
}

}  // namespace detail

/// What this CPU offers.
inline const cpu_features& cpu() noexcept {
  return detail::cpu();
}

/// The backend that runs now (chosen once per process, see the file comment).
inline backend active_backend() noexcept {
  return detail::active().load(std::memory_order_relaxed);
}

/// The name of the active backend ("scalar", "avx2", "avx512", "neon").
inline const char* backend_name() noexcept {
  return to_string(active_backend()).data();
}

/// Selects the backend for the whole process (all threads). Throws std::invalid_argument when
/// this CPU does not support it. Results never change with the backend, only the speed.
inline void set_backend(backend b) {
  if (!detail::supported(b))
    throw std::invalid_argument("lowbit: backend " + std::string(to_string(b)) +
                                " is not supported by this CPU");
  detail::active().store(b, std::memory_order_relaxed);
}

/// How many public calls ran a fast kernel and how many the reference, since the start or the
/// last reset: a test can assert "no fallback" with `dispatch_counts().reference == 0`.
struct dispatch_count {
  std::uint64_t fast = 0, reference = 0;
};
inline dispatch_count dispatch_counts() noexcept {
  return {detail::fast_calls.load(std::memory_order_relaxed),
          detail::reference_calls.load(std::memory_order_relaxed)};
}
inline void reset_dispatch_counts() noexcept {
  detail::fast_calls.store(0, std::memory_order_relaxed);
  detail::reference_calls.store(0, std::memory_order_relaxed);
}

}  // namespace lowbit::inline v0

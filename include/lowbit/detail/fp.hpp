// One fp32 (or fp64) operation, rounded on its own, whatever the consumer's flags.
//
// CANN's goldens round after every multiply and add. A compiler may fuse a * b + c into one FMA
// (one rounding instead of two) whenever the consumer allows it: GCC in GNU mode by default,
// any compiler under -ffp-contract=fast, and every AArch64 compiler by default. Clang ignores
// `#pragma STDC FP_CONTRACT OFF` under -ffp-contract=fast and GCC ignores it always, so the
// pragma is not enough. Instead the result of each product that feeds an addition goes through
// opaque(): an empty asm statement that claims to modify the value in its register, so the
// compiler cannot see that the add consumes a product and has nothing to fuse. It emits no
// instruction. (README "Bits independent of the build"; tests/flags/.)
#pragma once

// Golden bits need IEEE arithmetic as written: fast-math lets the compiler reassociate sums,
// replace divisions by reciprocals, drop signed zeros and assume no NaN or Inf, each of which
// changes results (and NaN/Inf detection) silently. Refuse rather than compute wrong bits.
#if defined(__FAST_MATH__) || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__) || \
    defined(__ASSOCIATIVE_MATH__) || defined(__RECIPROCAL_MATH__) || defined(__NO_SIGNED_ZEROS__)
#error \
    "lowbit needs IEEE floating point: compile without -ffast-math (and without -ffinite-math-only, -fassociative-math, -freciprocal-math, -fno-signed-zeros); -ffp-contract and -march are fine"
#endif

#include <type_traits>

namespace lowbit::inline v0::detail::fp {

/// v itself, materialized in a register: no operation after it can be fused with the one that
/// produced it.
template <class T>
[[gnu::always_inline]] inline T opaque(T v) noexcept {
  static_assert(std::is_floating_point_v<T>);
#if defined(__x86_64__) || defined(__i386__)
  asm("" : "+x"(v));
#elif defined(__aarch64__) || defined(__arm__)
  asm("" : "+w"(v));
#else
  volatile T t = v;  // any other target: a memory round trip has the same effect
  v = t;
#endif
  return v;
}

/// a * b rounded to T (nearest even), never fused with what consumes it.
template <class T>
[[gnu::always_inline]] inline T mul(T a, T b) noexcept {
  return opaque(a * b);
}

}  // namespace lowbit::inline v0::detail::fp

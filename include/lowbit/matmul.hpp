// Quantized matmul y (m, n) = x1 (m, k) @ x2 (k, n) in every CANN mode (spec §4, §5; cli.md
// `lowbit matmul`). This is the scalar reference: exact accumulation, then the epilogue in
// CANN's order, one fp32 operation at a time (the build uses -ffp-contract=off so that no
// multiply-add is fused), and a final round-to-nearest-even cast.
//
// Accumulation (decision, documented in the README):
//  * integer codes (int8, int4): exact (int64/int128); never wraps. `fp32(acc)` rounds the
//    exact sum to nearest even. The int32 result of matmul_int32 is range-checked.
//  * low-bit float codes (fp8, HiFloat8, fp6, fp4): every product is exact, so the partial
//    sum over each scale block of k is computed exactly (detail/exact_sum.hpp) and rounded
//    once to fp32; blocks are then combined in fp32 in ascending k order, as the golden does.
//    NaN/Inf codes follow IEEE (they make the affected outputs Inf or NaN).
//  * weight-only (high-precision x): products of the rounded operands are exact in double;
//    they are summed in double in ascending k and rounded once to fp32.
// Output casts: fp32 as is, bf16 / fp16 round to nearest even (overflow to Inf), int8 only
// through the fixpipe requantization, int32 only for matmul_int32.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "detail/arm64/matmul_sdot.hpp"
#include "detail/exact_sum.hpp"
#include "detail/float_sums.hpp"
#include "detail/fp.hpp"
#include "detail/pack.hpp"
#include "detail/x86/matmul_avx2.hpp"
#include "detail/x86/matmul_bf16.hpp"
#include "detail/x86/matmul_vnni.hpp"
#include "detail/x86/weight_only_avx512.hpp"
#include "layout/granularity.hpp"
#include "numeric/convert.hpp"
#include "quantize.hpp"
#include "types/e8m0.hpp"

namespace lowbit::inline v0 {

/// Extents of y (m, n) = x1 (m, k) @ x2 (k, n). x1 is row-major (m, k); x2 is row-major (k, n),
/// or (n, k) when x2_transposed (CANN transposeX2).
struct matmul_dims {
  std::size_t m = 0, k = 0, n = 0;
  bool x2_transposed = false;
};

/// Bias of length n: at most one of the two. An int32 bias is added to the integer accumulator
/// before scaling; a float bias after scaling (spec §4.2-4.3), except where a mode says
/// otherwise.
struct matmul_bias {
  std::span<const std::int32_t> i32{};
  std::span<const float> f32{};
};

/// The packed UINT64 "fixpipe" scale of CANN (aclnnTransQuantParamV2, spec §1.7):
/// bits 0-31 the fp32 scale with its low 13 bits cleared (19-bit "FP19", truncation),
/// bits 37-45 a 9-bit two's-complement offset, bit 46 set.
namespace fixpipe {

/// fp32 -> FP19 by truncation (low 13 mantissa bits cleared).
constexpr float trunc19(float s) noexcept {
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(s) & 0xffffe000u);
}
/// Packs a scale and an offset: scale truncated to 19 bits, offset rounded to nearest even
/// and clamped to [-256, 255].
constexpr std::uint64_t pack(float scale, float offset = 0.0f) noexcept {
  const int o = detail::round_clamp(offset, rounding::rint, -256, 255);
  return (std::uint64_t{1} << 46) | (static_cast<std::uint64_t>(o & 0x1ff) << 37) |
         (std::bit_cast<std::uint32_t>(scale) & 0xffffe000u);
}
/// The FP19 scale of a packed value (as the goldens decode it).
constexpr float scale(std::uint64_t v) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(v) & 0xffffe000u);
}
/// The 9-bit signed offset of a packed value.
constexpr int offset(std::uint64_t v) noexcept {
  const int o = static_cast<int>((v >> 37) & 0x1ff);
  return o >= 256 ? o - 512 : o;
}

}  // namespace fixpipe

/// Execution tag for the fast paths whose results are within a stated bound of the reference
/// rather than bit-exact: low-bit float block sums accumulated in fp32 by vdpbf16ps
/// (detail/x86/matmul_bf16.hpp). Like std::execution::par, it is the first argument:
/// `lowbit::matmul_mx(lowbit::approx, x1, x2, ...)`. Without it every function is exact (integer
/// fast paths are exact and are always used).
struct approx_t {
  explicit approx_t() = default;
};
inline constexpr approx_t approx{};

template <class T>
concept integer_code = std::is_same_v<T, std::int8_t> || std::is_same_v<T, int4>;
template <class T>
concept float_code = is_basic_float<T>::value && !std::is_same_v<T, float8_e8m0fnu> &&
                     !std::is_same_v<T, bfloat16> && !std::is_same_v<T, float16>;
template <class T>
concept matmul_code = integer_code<T> || float_code<T>;
/// Output element types: fp32, bf16, fp16 (and int8 / int32 where a mode allows them).
template <class T>
concept float_output = std::is_same_v<T, float> || std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>;

/// The output cast of every float mode: each mode computes its fp32 value v, and its Out result
/// is cast_output<Out>(v): fp32 as is, bf16 / fp16 rounded to nearest even (IEEE overflow to
/// Inf). So a bf16 or fp16 result is always the fp32 result cast by this function (tested for
/// every mode in tests/matmul/output_cast_test.cpp). Every NaN becomes the canonical quiet NaN
/// (+, fp32 0x7fc00000, bf16 0x7fc0, fp16 0x7e00): which NaN an IEEE operation returns (its sign,
/// its payload) depends on operand order and on the instruction the compiler picked, so only a
/// canonical NaN is the same bits in every build.
template <float_output Out>
Out cast_output(float y) {
  if (y != y) y = std::numeric_limits<float>::quiet_NaN();
  if constexpr (std::is_same_v<Out, float>)
    return y;
  else
    return Out(y);
}

namespace detail {

/// Codes whose values times 2^int_shift<T> are all integers of int8 (issue 11: low-bit float codes
/// are scaled integers): int8 / int4 (0), fp4 e2m1 (x 2: 0..12), fp4 e1m2 (x 4: 0..7), fp6 e2m3
/// (x 8: 0..60). Their block sums are exact on the integer dot-product kernels; -1 for the others.
template <class T>
inline constexpr int int_shift = integer_code<T> ? 0 : -1;
template <>
inline constexpr int int_shift<float4_e2m1fn> = 1;
template <>
inline constexpr int int_shift<float4_e1m2fn> = 2;
template <>
inline constexpr int int_shift<float6_e2m3fn> = 3;
template <class T>
concept int8_code = int_shift<T>
>= 0;

/// The integer a code stands for on the integer kernels: the code itself (int8 / int4) or its
/// value times 2^int_shift (exact: every such product is an integer of at most 60 in magnitude).
template <int8_code T>
int int_value(T v) noexcept {
  if constexpr (integer_code<T>) {
    return int(v);
  } else {
    static const auto table = [] {
      std::array<std::int8_t, std::size_t{T::mask} + 1> t{};
      for (std::size_t c = 0; c < t.size(); ++c)
        t[c] = static_cast<std::int8_t>(
            std::ldexp(static_cast<float>(T::from_bits(static_cast<typename T::storage>(c))), int_shift<T>));
      return t;
    }();
    return table[v.bits()];
  }
}

/// 4-bit codes (int4, fp4 e2m1 / e1m2): the integer kernels' panels hold them two per byte
/// (vnni::packed_b::nib), so packed weights take their stored size.
template <class T>
concept nibble_code = four_bit_type<T> && int8_code<T>;

/// The int8 value (int_value) of each 4-bit code: the table the kernels expand nibbles with.
template <nibble_code T>
const std::array<std::int8_t, 16>& nibble_lut() noexcept {
  static const auto table = [] {
    std::array<std::int8_t, 16> t{};
    for (unsigned c = 0; c < 16; ++c)
      t[c] = static_cast<std::int8_t>(int_value(T::from_bits(static_cast<decltype(T{}.bits())>(c))));
    return t;
  }();
  return table;
}

/// The code of int8 value v (int_value's inverse; +0 for 0): fp6 e2m3 read back from its panels.
template <int8_code T>
T code_of_value(int v) noexcept {
  static const auto table = [] {
    std::array<std::uint8_t, 256> t{};
    std::array<bool, 256> set{};
    for (std::size_t c = 0; c <= std::size_t{T::mask}; ++c) {  // ascending: +0 before -0
      const auto code = T::from_bits(static_cast<typename T::storage>(c));
      const std::size_t i = static_cast<std::size_t>(int_value(code) + 128);
      if (!set[i]) t[i] = static_cast<std::uint8_t>(c), set[i] = true;
    }
    return t;
  }();
  return T::from_bits(static_cast<typename T::storage>(table[static_cast<std::size_t>(v + 128)]));
}

/// VNNI / SDOT panels of x2 (k, n), blocks of kb along k; at(k, j) gives the code: int8 values,
/// or 4-bit codes two per byte for nibble_code.
template <int8_code T2, class At>
vnni::packed_b vnni_panels(std::size_t k, std::size_t n, std::size_t kb, At&& at) {
  if constexpr (nibble_code<T2>)
    return vnni::packed_b(k, n, kb, nibble_lut<T2>(),
                          [&](std::size_t kk, std::size_t j) { return at(kk, j).bits(); });
  else
    return vnni::packed_b(
        k, n, kb,
        [&](std::size_t kk, std::size_t j) { return static_cast<std::int8_t>(int_value(at(kk, j))); },
        !integer_code<T2>);  // fp6 e2m3: within +-60
}

/// AVX2 panels of x2 (k, n): int8 values, or 4-bit codes two per byte for nibble_code.
template <int8_code T2, class At>
avx2mm::packed_b avx2_panels(std::size_t k, std::size_t n, At&& at) {
  if constexpr (nibble_code<T2>)
    return avx2mm::packed_b(k, n, nibble_lut<T2>(),
                            [&](std::size_t kk, std::size_t j) { return at(kk, j).bits(); });
  else
    return avx2mm::packed_b(
        k, n, [&](std::size_t kk, std::size_t j) { return static_cast<std::int8_t>(int_value(at(kk, j))); });
}

/// The x86 kernels' panel kind of T2's codes (vnni::b_int8, b_nibbles, b_biased).
template <int8_code T2>
inline constexpr int vnni_kind = nibble_code<T2>    ? vnni::b_nibbles
                                 : integer_code<T2> ? vnni::b_int8
                                                    : vnni::b_biased;

/// ok, else std::invalid_argument(what): a string, or a callable building the message (only when
/// the check fails: passing checks allocate nothing).
template <class What>
void need(bool ok, const What& what) {
  if (ok) return;
  if constexpr (std::is_invocable_v<const What&>)
    throw std::invalid_argument(what());
  else
    throw std::invalid_argument(what);
}

inline void check_dims(std::size_t x1, std::size_t x2, std::size_t y, const matmul_dims& d) {
  const std::size_t mk = checked_mul(d.m, d.k, "x1 (m x k)"), kn = checked_mul(d.k, d.n, "x2 (k x n)"),
                    mn = checked_mul(d.m, d.n, "output (m x n)");
  if (x1 != mk) check_count(x1, mk, "x1 (m x k = " + std::to_string(d.m) + " x " + std::to_string(d.k) + ")");
  if (x2 != kn) check_count(x2, kn, "x2 (k x n = " + std::to_string(d.k) + " x " + std::to_string(d.n) + ")");
  check_count(y, mn, "output (m x n)");
}

inline void check_bias(const matmul_bias& b, std::size_t n) {
  need(b.i32.empty() || b.f32.empty(), "give either an int32 or a float bias, not both");
  if (!b.i32.empty()) check_count(b.i32.size(), n, "bias (n)");
  if (!b.f32.empty()) check_count(b.f32.size(), n, "bias (n)");
}

/// Both operands as exact fixed-point integers; sums over any k range are exact.
template <class T1, class T2>
class exact_dot {
 public:
  exact_dot(std::span<const T1> x1, std::span<const T2> x2, const matmul_dims& d)
      : d_(d), a_(to_fixed(x1, &abad_)), b_(to_fixed(x2, &bbad_)) {
    for (bool v : abad_) special_ = special_ || v;
    for (bool v : bbad_) special_ = special_ || v;
    if (special_) {  // keep the decoded values for the IEEE handling of Inf/NaN codes
      for (auto c : x1) av_.push_back(static_cast<double>(static_cast<float>(c)));
      for (auto c : x2) bv_.push_back(static_cast<double>(static_cast<float>(c)));
    }
  }
  static constexpr int lsb = fixed_lsb<T1>() + fixed_lsb<T2>();

  /// Exact sum over k in [k0, k1) as an integer in units of 2^lsb (Inf/NaN codes count as 0).
  int128 sum(std::size_t m, std::size_t n, std::size_t k0, std::size_t k1) const {
    int128 s = 0;
    for (std::size_t k = k0; k < k1; ++k) s += static_cast<int128>(a_[m * d_.k + k]) * b_[x2i(k, n)];
    return s;
  }
  /// The sum times 2^extra_exp, rounded once to fp32. Inf/NaN codes in the range give the
  /// IEEE result (Inf * finite non-zero = Inf, Inf * 0 = NaN, Inf - Inf = NaN).
  float sum_f32(std::size_t m, std::size_t n, std::size_t k0, std::size_t k1, int extra_exp = 0) const {
    double sp = 0;
    bool any = false;
    for (std::size_t k = k0; special_ && k < k1; ++k) {
      const std::size_t i = m * d_.k + k, j = x2i(k, n);
      if (abad_[i] || bbad_[j]) sp += av_[i] * bv_[j], any = true;
    }
    return round_block_sum(sum(m, n, k0, k1), lsb + extra_exp, any, sp);
  }
  std::size_t x2i(std::size_t k, std::size_t n) const {
    return d_.x2_transposed ? n * d_.k + k : k * d_.n + n;
  }

 private:
  matmul_dims d_;
  std::vector<bool> abad_, bbad_;
  std::vector<std::int64_t> a_, b_;
  std::vector<double> av_, bv_;
  bool special_ = false;
};

/// bf16 bits of every code of a low-bit float format (all exactly representable), built once.
template <class T>
const std::array<std::uint16_t, std::size_t{T::mask} + 1>& bf16_table() {
  static const auto table = [] {
    std::array<std::uint16_t, std::size_t{T::mask} + 1> t{};
    for (std::size_t c = 0; c < t.size(); ++c)
      t[c] = bfloat16(static_cast<float>(T::from_bits(static_cast<typename T::storage>(c))),
                      {rounding::rint, overflow::propagate, nan_policy::keep})
                 .bits();
    return t;
  }();
  return table;
}

inline float add_f32_bias(float y, const matmul_bias& b, std::size_t n) {
  return b.f32.empty() ? y : y + b.f32[n];
}

// ---------------------------------------------------------------------------------------------
// One accumulate stage, one epilogue per mode (issue "Compute core", item 1).
//
// The accumulate stage produces, for each output (i, n), the exact sums P_j of x1[i, k] * x2[k, n]
// over the k-blocks j = [j kb, (j + 1) kb) of the mode (one block: kb = k), in ascending j: for
// integer codes as integers (exact_dot in the reference, int32 in the VNNI and AVX2 kernels,
// exact for k <= 65536), for low-bit float codes rounded once to fp32 (accumulate_float). An
// epilogue turns them into y in the mode's fp32 order; it never knows who made the sums:
//   epi_scale    K-C / K-T, T-C / T-T with fp32 scales
//   epi_fixpipe  T-C / T-T with uint64 scales (int8 requant, float outputs), T-CG's y scale
//   epi_int32    int32
//   epi_blocks   G-B, B-B, K-G, and MX (unit scales: its e8m0 scales are inside the block sums)
//   epi_weight_only  weight-only: its accumulate stage is a double sum of x * dequantized W
//                (matmul_weight_only), not an integer one; the epilogue rounds it to fp32
// one() (single-block modes) and step()/last() (the blocked modes) are the rule for one output,
// in scalar fp32, and the reference runs exactly them. A kernel calls single(i, n0, cnt, P) or,
// for epi_blocks, performs step() itself in registers (vnni::kernel_blocks) and calls
// finish(i, n0, cnt, tot); those may use vector code of the active backend, which performs the
// same fp32 operations in the same order (tested bit for bit in tests/fast/ and tests/flags/).
// ---------------------------------------------------------------------------------------------

/// K-C / K-T and T-C / T-T with fp32 scales (spec §4.2-4.3):
///   y = cast(fp32(P + bias_i32[n]) * s2[n] (* s1[i]) (+ bias_f32[n]))
/// s2 is per channel or one value (T-C's fixpipe truncation is applied by the caller); s1 is per
/// row (K-C), one value (T-C's x1 scale) or absent. Two fp32 multiplies, in this order.
template <class Out>
struct epi_scale {
  static constexpr bool blocked = false;
  const float* s2 = nullptr;
  bool s2_one = false;
  const float* s1 = nullptr;  // null: no x1 scale
  bool s1_one = false;
  matmul_bias bias{};
  Out* y = nullptr;
  std::size_t ldy = 0;

  float sc2(std::size_t n) const { return s2[s2_one ? 0 : n]; }
  /// From the fp32 accumulator (float codes: the exactly rounded sum).
  Out one_f(std::size_t i, std::size_t n, float acc) const {
    const float v = s1 ? fp::mul(fp::mul(acc, sc2(n)), s1[s1_one ? 0 : i]) : fp::mul(acc, sc2(n));
    return cast_output<Out>(add_f32_bias(v, bias, n));
  }
  /// From the exact integer sum: the int32 bias joins it before the one rounding to fp32.
  template <class I>
  Out one(std::size_t i, std::size_t n, I P) const {
    return one_f(i, n, to_float(int128{P} + (bias.i32.empty() ? 0 : bias.i32[n]), 0));
  }
  [[gnu::always_inline]] void single(std::size_t i, std::size_t n0, std::size_t cnt,
                                     const std::int32_t* P) const {
#if defined(LOWBIT_X86_64)
    if constexpr (std::is_same_v<Out, float> || std::is_same_v<Out, bfloat16>)
      if (bias.i32.empty() && use_avx512()) {  // s1 absent: times 1.0f, exact
        vnni::kc_epilogue<Out>(P, cnt, s2 + (s2_one ? 0 : n0), s2_one, s1 ? s1[s1_one ? 0 : i] : 1.0f,
                               bias.f32.empty() ? nullptr : bias.f32.data() + n0, y + i * ldy + n0);
        return;
      }
#endif
    for (std::size_t c = 0; c < cnt; ++c) y[i * ldy + n0 + c] = one(i, n0 + c, P[c]);
  }
};

/// T-C / T-T with packed uint64 fixpipe scales, integer codes (spec §4.2):
///   int8 output (requant): t = clamp(rint(fp32(P + bias_i32) * s19[n]), -256, 255),
///                          y = clamp(t + offset9[n], -128, 127)
///   float output:          y = cast(fp32(P + bias_i32) * s19[n])
template <class Out>
struct epi_fixpipe {
  static constexpr bool blocked = false;
  std::span<const std::uint64_t> u;
  std::span<const std::int32_t> bias;
  Out* y = nullptr;
  std::size_t ldy = 0;
  float* s19 = nullptr;         // per column: fixpipe::scale(u[n]) (filled by prepare())
  std::int32_t* off = nullptr;  // per column: fixpipe::offset(u[n])

  /// Unpacks the per-column scales and offsets once into a's slices (the vector epilogue reads
  /// them).
  epi_fixpipe& prepare(std::size_t n, arena& a) {
    s19 = a.take<float>(n);
    off = a.take<std::int32_t>(n);
    for (std::size_t c = 0; c < n; ++c) {
      s19[c] = fixpipe::scale(u[u.size() == 1 ? 0 : c]);
      off[c] = fixpipe::offset(u[u.size() == 1 ? 0 : c]);
    }
    return *this;
  }

  std::span<const float> fbias{};  // float codes: a float bias, added before the scale

  /// Float codes (and T-CG): y = cast((acc + bias_f32[n]) * s19[n]).
  Out one_f(std::size_t, std::size_t n, float acc) const {
    if constexpr (std::is_same_v<Out, std::int8_t>) {
      return 0;  // refused by the callers: requantization takes integer codes
    } else {
      const float s = fixpipe::scale(u[u.size() == 1 ? 0 : n]);
      return cast_output<Out>((fbias.empty() ? acc : acc + fbias[n]) * s);
    }
  }
  template <class I>
  Out one(std::size_t, std::size_t n, I P) const {
    const std::uint64_t packed = u[u.size() == 1 ? 0 : n];
    const float acc = to_float(int128{P} + (bias.empty() ? 0 : bias[n]), 0);
    const float v = acc * fixpipe::scale(packed);
    if constexpr (std::is_same_v<Out, std::int8_t>) {
      const int o = round_clamp(v, rounding::rint, -256, 255) + fixpipe::offset(packed);
      return static_cast<std::int8_t>(o < -128 ? -128 : (o > 127 ? 127 : o));
    } else {
      return cast_output<Out>(v);
    }
  }
  [[gnu::always_inline]] void single(std::size_t i, std::size_t n0, std::size_t cnt,
                                     const std::int32_t* P) const {
#if defined(LOWBIT_X86_64)
    if constexpr (std::is_same_v<Out, std::int8_t> || std::is_same_v<Out, float>)
      if (use_avx512() && s19) {
        vnni::fixpipe_epilogue(P, bias.empty() ? nullptr : bias.data() + n0, s19 + n0, off + n0,
                               std::is_same_v<Out, std::int8_t>, y + i * ldy + n0, cnt);
        return;
      }
#endif
    for (std::size_t c = 0; c < cnt; ++c) y[i * ldy + n0 + c] = one(i, n0 + c, P[c]);
  }
};

/// int32 (spec §4.1): y = P + bias; a value outside int32 is an error. The overflow reported is
/// the one with the smallest row-major index, whatever the thread count.
struct epi_int32 {
  static constexpr bool blocked = false;
  std::span<const std::int32_t> bias;
  std::int32_t* y = nullptr;
  std::size_t ldy = 0;
  std::atomic<std::size_t>* first_overflow = nullptr;  // row-major index, SIZE_MAX: none

  template <class I>
  std::int32_t one(std::size_t i, std::size_t n, I P) const {
    const int128 v = int128{P} + (bias.empty() ? 0 : bias[n]);
    if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max()) {
      std::size_t idx = i * ldy + n, cur = first_overflow->load(std::memory_order_relaxed);
      while (idx < cur && !first_overflow->compare_exchange_weak(cur, idx, std::memory_order_relaxed)) {
      }
      return 0;
    }
    return static_cast<std::int32_t>(v);
  }
  void single(std::size_t i, std::size_t n0, std::size_t cnt, const std::int32_t* P) const {
    for (std::size_t c = 0; c < cnt; ++c) y[i * ldy + n0 + c] = one(i, n0 + c, P[c]);
  }
};

/// G-B, B-B and K-G (spec §4.4, §4.5, §4.8), blocks of kb along k:
///   tot = sum_j fp32(P_j) * (a[i, j] * b[j, n])   (fp32, j ascending; the scale product first)
///   y   = cast((s1[i] * tot) (+ bias[n]))        (s1 only for K-G)
/// a[i, j] is x1's block scale (G-B, B-B) or 1 (K-G: 1 * b is exact); b[j, n] is x2's. a and b
/// null (MX, whose scales are inside the block sums): unit scales, tot + p * (1 * 1) = tot + p.
template <class Out>
struct epi_blocks {
  static constexpr bool blocked = true;
  std::size_t nblk = 0, n = 0;
  const float* a = nullptr;   // m x nblk
  const float* b = nullptr;   // nblk x n (x2's scale of each block and column)
  const float* s1 = nullptr;  // K-G: x1's per-token scale; null otherwise
  bool a_one = false;         // every a is 1 (K-G): 1 * b is b exactly, the kernel skips it
  bool b_uniform64 = false;   // b is constant over each aligned run of 64 columns
  std::span<const float> bias;
  Out* y = nullptr;
  std::size_t ldy = 0;  // n

  void step(std::size_t i, std::size_t nn, std::size_t j, float p, float& tot) const {
    const float s = a ? a[i * nblk + j] * b[j * n + nn] : 1.0f;
    tot = tot + fp::mul(p, s);
  }
  Out last(std::size_t i, std::size_t nn, float tot) const {
    const float v = s1 ? fp::mul(s1[i], tot) : tot;
    return cast_output<Out>(bias.empty() ? v : v + bias[nn]);
  }
  [[gnu::always_inline]] void finish(std::size_t i, std::size_t n0, std::size_t cnt, const float* tot) const {
#if defined(LOWBIT_X86_64)
    if constexpr (std::is_same_v<Out, float>)
      if (use_avx512())
        return vnni::finish_f32(tot, s1 != nullptr, s1 ? s1[i] : 0.0f,
                                bias.empty() ? nullptr : bias.data() + n0, y + i * ldy + n0, cnt);
#endif
    for (std::size_t c = 0; c < cnt; ++c) y[i * ldy + n0 + c] = last(i, n0 + c, tot[c]);
  }
};

/// x2 as the accumulate stage sees it: the codes, and the VNNI panels when they were packed
/// (packed_weights). With panels, d.x2_transposed is the layout of `codes`.
template <class T2>
struct weights_ref {
  std::span<const T2> codes;                   // empty when packed weights keep only their panels
  const vnni::packed_b* packed = nullptr;      // avx512 / SDOT panels
  const avx2mm::packed_b* packed16 = nullptr;  // avx2 panels
  std::size_t size = codes.size();             // k * n
  const void* owner = nullptr;                 // the packed_weights, for all()
  std::span<const T2> (*unpack)(const void*) = nullptr;
  bool scales_transposed = false;  // x2's group / block / MX scales are (n, nblk): scale_order::n_major

  /// The codes (layout d.x2_transposed), rebuilt from the panels on first use when the packed
  /// weights dropped them: only the paths without a kernel need them.
  std::span<const T2> all() const { return unpack && codes.empty() ? unpack(owner) : codes; }
};

/// The reference accumulate stage for integer codes: exact sums per block (exact_dot), then the
/// epilogue's one-output rule.
template <class T1, class T2, class Epi>
void accumulate_reference(std::span<const T1> x1, std::span<const T2> x2, const matmul_dims& d,
                          std::size_t kb, const Epi& epi) {
  const exact_dot<T1, T2> dot(x1, x2, d);
  for (std::size_t m = 0; m < detail::element_rows({d.m, d.n}); ++m)
    for (std::size_t n = 0; n < d.n; ++n) {
      if constexpr (Epi::blocked) {
        float tot = 0.0f;
        for (std::size_t j = 0, k0 = 0; k0 < d.k; ++j, k0 += kb)
          epi.step(m, n, j, to_float(dot.sum(m, n, k0, std::min(k0 + kb, d.k)), 0), tot);
        epi.y[m * epi.ldy + n] = epi.last(m, n, tot);
      } else {
        epi.y[m * epi.ldy + n] = epi.one(m, n, static_cast<std::int64_t>(dot.sum(m, n, 0, d.k)));
      }
    }
}

/// The accumulate stage of low-bit float codes (the reference; spec §9.13): the sum of each block
/// of kb along k is exact and rounded once to fp32 by sum(m, n, j, k0, k1) (exact_dot::sum_f32,
/// MX adds its scale exponents before that rounding), then the epilogue's rule: one_f() for a
/// single block, step() per block and last() for epi_blocks.
template <class Epi, class Sum>
void accumulate_float(const matmul_dims& d, std::size_t kb, const Epi& epi, Sum&& sum) {
  count(false);
  for (std::size_t m = 0; m < detail::element_rows({d.m, d.n}); ++m)
    for (std::size_t n = 0; n < d.n; ++n) {
      if constexpr (Epi::blocked) {
        float tot = 0.0f;
        for (std::size_t j = 0, k0 = 0; k0 < d.k; ++j, k0 += kb)
          epi.step(m, n, j, sum(m, n, j, k0, std::min(k0 + kb, d.k)), tot);
        epi.y[m * epi.ldy + n] = epi.last(m, n, tot);
      } else {
        epi.y[m * epi.ldy + n] = epi.one_f(m, n, sum(m, n, 0, std::size_t{0}, d.k));
      }
    }
}

/// The block sums of exact_dot, rounded once (the default of accumulate_float).
template <class T1, class T2>
auto block_sums(const exact_dot<T1, T2>& dot) {
  return [&dot](std::size_t m, std::size_t n, std::size_t, std::size_t k0, std::size_t k1) {
    return dot.sum_f32(m, n, k0, k1);
  };
}

/// The accumulate stage of float codes (T-C, K-C, G-B, B-B, T-CG; MX has its own for its scales):
/// the double sums of float_sums.hpp on every backend but scalar, else the reference; the same
/// bits.
/// Scratch: float_sums_bytes from ar, or from ctx's scratch when ar is null.
template <class T1, class T2, class Epi>
void accumulate_float_codes(const exec_context& ctx, std::span<const T1> x1, std::span<const T2> x2,
                            const matmul_dims& d, std::size_t kb, const Epi& epi, arena* ar = nullptr) {
  if (!ar) {
    arena own(scratch(ctx, float_sums_bytes(ctx, d.m, d.k, d.n, kb)));
    return accumulate_float_codes(ctx, x1, x2, d, kb, epi, &own);
  }
  if (accumulate_f64(ctx, x1, x2, d.m, d.k, d.n, d.x2_transposed, kb, epi, *ar)) return;
  const exact_dot<T1, T2> dot(x1, x2, d);
  accumulate_float(d, kb, epi, block_sums(dot));
}

/// Scratch bytes of accumulate: x1's rows packed for whichever kernel runs (at most int16 values
/// padded to a multiple of 4 in k), and their block row sums for 4-bit panels (at most one block
/// per group of 4 k, and the total).
inline std::size_t accumulate_bytes(const matmul_dims& d) noexcept {
  if (d.m == 0 || d.k == 0 || d.n == 0) return 0;  // no kernel runs
  return slice_bytes<std::int16_t>(packed_rows_size(d.m, d.k, 4)) +
         slice_bytes<std::int32_t>(d.m * (ceil_div(d.k, 4) + 2));  // the row sums of 4-bit panels
}

/// Scratch of the blocked modes: x1's block scales (m x nblk), x2's (nblk x n), then
/// accumulate's (integer codes).
inline std::size_t blocks_bytes(const matmul_dims& d, std::size_t kb, bool integer) noexcept {
  const std::size_t nblk = kb == 0 ? 1 : ceil_div(d.k, kb);
  return slice_bytes<float>(d.m * nblk) + slice_bytes<float>(nblk * d.n) +
         (integer ? accumulate_bytes(d) : 0);
}

/// The accumulate stage for integer codes, blocks of kb along k (kb >= k: one block): the VNNI
/// kernel (avx512), the vpmaddwd kernel (avx2) or the SDOT kernel (neon with the dot product)
/// when the active backend has it and the sums fit int32 exactly (k <= 65536, blocks of a
/// multiple of 4, resp. 2), on x2's panels when they were packed for it (else packed here, an
/// allocation), otherwise the reference. x1's packed rows take accumulate_bytes(d) from `a`;
/// panels run as ctx's tasks. Counts the call (dispatch_counts).
/// True when accumulate runs an integer kernel for these dimensions on the active backend (not
/// the reference).
inline bool integer_kernel(const matmul_dims& d, std::size_t kb) noexcept {
  if (d.k == 0 || d.m * d.n == 0) return false;
#if defined(LOWBIT_X86_64)
  if (use_avx512()) return d.k <= vnni::max_k && vnni::packed_b::blocks_fit(d.k, kb);
  if (use_avx2()) return d.k <= avx2mm::max_k && avx2mm::packed_b::blocks_fit(d.k, kb);
#endif
#if defined(LOWBIT_ARM64)
  if (use_neon_dot()) return d.k <= neon::max_k && vnni::packed_b::blocks_fit(d.k, kb);
#endif
  return false;
}

/// Codes are read through int_value: low-bit float codes (int_shift > 0) must only come here
/// when integer_kernel() holds (their reference is accumulate_float, with other block sums).
template <class T1, class T2, class Epi>
void accumulate(const exec_context& ctx, std::span<const T1> x1, weights_ref<T2> x2, const matmul_dims& d,
                std::size_t kb, const Epi& epi, arena& ar) {
  // by value: pack_rows copies it, so that its state stays in registers (see there)
  [[maybe_unused]] const auto x1_at = [x1p = x1.data(), k1 = d.k](std::size_t i, std::size_t k) {
    return int_value(x1p[i * k1 + k]);
  };
  // x2's codes, for packing its panels here (x2 has none for this call: an allocation, as is
  // rebuilding the codes of packed weights that kept only their panels)
  [[maybe_unused]] const auto x2_code = [&](std::span<const T2> codes, std::size_t k, std::size_t j) {
    return codes[d.x2_transposed ? j * d.k + k : k * d.n + j];
  };
  [[maybe_unused]] const auto x2_at = [&](std::span<const T2> codes, std::size_t k, std::size_t j) {
    return int_value(x2_code(codes, k, j));
  };
  const bool kernel = integer_kernel(d, kb);
#if defined(LOWBIT_X86_64)
  if (kernel && use_avx512()) {
    count(true);
    // x1's rows: + 128 for int8 panels; signed, with their row sums over b's blocks, for the
    // others (vnni::b_bias)
    const auto run = [&](const vnni::packed_b& b) {
      constexpr int kind = vnni_kind<T2>;
      auto* a = ar.take<std::uint8_t>(packed_rows_size(d.m, d.k, 4));
      std::int32_t* rs = nullptr;
      if constexpr (kind != vnni::b_int8) {
        auto* as = reinterpret_cast<std::int8_t*>(a);
        vnni::pack_a_signed(as, d.m, d.k, x1_at);
        rs = ar.take<std::int32_t>(d.m * (b.nblk + 1));
        vnni::row_sums(as, d.m, b.kq, b.nblk == 1 ? b.kq : b.kb / 4, b.nblk, rs);
      } else {
        vnni::pack_a(a, d.m, d.k, x1_at);
      }
      vnni::gemm<kind>(ctx, a, rs, d.m, b, epi);
    };
    if (x2.packed && (!Epi::blocked || x2.packed->has_blocks(kb))) return run(*x2.packed);
    run(vnni_panels<T2>(
        d.k, d.n, kb, [&, codes = x2.all()](std::size_t k, std::size_t j) { return x2_code(codes, k, j); }));
    return;
  }
  if (kernel && use_avx2()) {
    count(true);
    auto* a = ar.take<std::int16_t>(packed_rows_size(d.m, d.k, 2));
    avx2mm::pack_a(a, d.m, d.k, x1_at);
    if (x2.packed16) {
      avx2mm::gemm<nibble_code<T2>>(ctx, a, d.m, *x2.packed16, kb, epi);
      return;
    }
    avx2mm::gemm<nibble_code<T2>>(
        ctx, a, d.m,
        avx2_panels<T2>(d.k, d.n,
                        [&, codes = x2.all()](std::size_t k, std::size_t j) { return x2_code(codes, k, j); }),
        kb, epi);
    return;
  }
#endif
#if defined(LOWBIT_ARM64)
  if (kernel && use_neon_dot()) {
    count(true);
    auto* a = ar.take<std::int8_t>(packed_rows_size(d.m, d.k, 4));
    neon::pack_a(a, d.m, d.k, x1_at);
    if (x2.packed) {  // the panel layout does not depend on the k-block
      neon::gemm<nibble_code<T2>>(ctx, a, d.m, *x2.packed, kb, epi);
      return;
    }
    const vnni::packed_b b = vnni_panels<T2>(
        d.k, d.n, kb, [&, codes = x2.all()](std::size_t k, std::size_t j) { return x2_code(codes, k, j); });
    neon::gemm<nibble_code<T2>>(ctx, a, d.m, b, kb, epi);
    return;
  }
#endif
  (void)ctx, (void)ar, (void)kernel;
  count(false);
  if constexpr (integer_code<T1> && integer_code<T2>) accumulate_reference(x1, x2.all(), d, kb, epi);
}

}  // namespace detail

/// The layout of x2's group, block and MX scales that the matmuls on packed weights read: the
/// modes' (ceil(k/gs), n) (k_major, the spec's), or (n, ceil(k/gs)) (n_major), as checkpoints of
/// PyTorch-style (out, in) weights hold them. Per-tensor and per-channel scales read the same in
/// both. Per call, n_major costs one pass over the scales into the modes' tables (the K-G
/// epilogue's table is a transposed copy in the workspace; the others are built anyway).
enum class scale_order { k_major, n_major };

/// Weights x2 (k, n) laid out once for the fast matmuls, as oneDNN's reordered weights are: pack
/// once, multiply many times. Codes that are int8 values (int8, int4, fp4, fp6 e2m3) get the
/// integer kernels' panels (VNNI / SDOT / AVX2; 4-bit codes two per byte) when the active backend
/// runs them, and keep nothing else: the reference reads the codes back from the panels. Other
/// codes (fp8, HiFloat8, fp6 e3m2), and every code on a backend without an integer kernel or with
/// k beyond the exact int32 bound, are kept as codes; low-bit float codes get bf16 panels on the
/// first approx call. The layout is the same in every translation unit.
template <matmul_code T2>
class packed_weights {
 public:
  /// block_k: the k-block of the mode the weights serve (G-B / B-B / K-G group size); 0 for
  /// the single-block modes (K-C, T-C, int32). Panels packed for blocks also serve those.
  /// scales: the layout of the group / block / MX scales the calls will pass (scale_order).
  packed_weights(std::span<const T2> x2, std::size_t k, std::size_t n, bool transposed = false,
                 std::size_t block_k = 0, scale_order scales = scale_order::k_major)
      : packed_weights(stored{x2.size(), 1, "x2 (k x n)"}, k, n, transposed, block_k, scales,
                       [x2](std::size_t i) { return x2[i]; }) {}

  /// 4-bit weights straight from storage: two codes per byte, element 2i in the low nibble
  /// (CANN's INT4 / FLOAT4 "x2" layout, types/packed.hpp); the innermost axis (n, or k when
  /// transposed) even. The same object as from the unpacked codes.
  packed_weights(std::span<const std::uint8_t> packed, std::size_t k, std::size_t n, bool transposed = false,
                 std::size_t block_k = 0,
                 scale_order scales = scale_order::k_major) requires detail::nibble_code<T2>
      : packed_weights(stored{packed.size(), 2, "x2 (k x n, two per byte)"}, k, n, transposed, block_k,
                       scales, [packed](std::size_t i) { return nibble(packed[i / 2] >> (4 * (i % 2))); }) {}

  /// 4-bit weights in int32 words, eight codes per word, element 0 in bits 0-3 (CANN's INT4Pack
  /// carrier); the innermost axis a multiple of 8.
  packed_weights(std::span<const std::int32_t> words, std::size_t k, std::size_t n, bool transposed = false,
                 std::size_t block_k = 0,
                 scale_order scales = scale_order::k_major) requires detail::nibble_code<T2>
      : packed_weights(stored{words.size(), 8, "x2 (k x n, eight per int32)"}, k, n, transposed, block_k,
                       scales, [words](std::size_t i) {
                         return nibble(static_cast<std::uint32_t>(words[i / 8]) >> (4 * (i % 8)));
                       }) {}

  std::size_t k() const noexcept { return k_; }
  std::size_t n() const noexcept { return n_; }
  bool transposed() const noexcept { return transposed_; }
  scale_order scales() const noexcept { return scales_; }
  matmul_dims dims(std::size_t m) const noexcept { return {m, k_, n_, transposed_}; }
  const std::optional<detail::vnni::packed_b>& vnni() const noexcept { return vnni_; }

  /// The codes as given ((k, n), or (n, k) when transposed). Rebuilt from the panels on the
  /// first call when they were not kept (a one-time allocation, kept: only the paths without a
  /// kernel need them).
  std::span<const T2> codes() const {
    if constexpr (from_panels) {
      if (codes_.empty() && k_ * n_ != 0) {
        std::call_once(lazy_->codes_once, [this] {
          lazy_->codes.resize(k_ * n_);
          for (std::size_t kk = 0; kk < k_; ++kk)
            for (std::size_t j = 0; j < n_; ++j)
              lazy_->codes[transposed_ ? j * k_ + kk : kk * n_ + j] = code(kk, j);
        });
        return lazy_->codes;
      }
    }
    return codes_;
  }
  detail::weights_ref<T2> ref() const noexcept {
    return {codes_,
            vnni_ ? &*vnni_ : nullptr,
            avx2_ ? &*avx2_ : nullptr,
            k_ * n_,
            this,
            [](const void* self) { return static_cast<const packed_weights*>(self)->codes(); },
            scales_ == scale_order::n_major};
  }

  /// bf16 panels of low-bit float codes for the approx paths, built on first use; empty without
  /// AVX-512 BF16.
  const std::optional<detail::bf16dp::packed_b>& bf16() const {
    if constexpr (float_code<T2>) {
      if (detail::use_avx512_bf16())
        std::call_once(lazy_->bf16_once, [this] {
          const auto& t = detail::bf16_table<T2>();
          lazy_->bf16.emplace(k_, n_, [&](std::size_t kk, std::size_t j) { return t[code(kk, j).bits()]; });
        });
    }
    return lazy_->bf16;
  }
  /// The codes column by column (detail::nibble_columns) for the approx weight-only kernel at
  /// small m, built on first use (4-bit codes only).
  const detail::nibble_columns& columns() const requires detail::nibble_code<T2> {
    std::call_once(lazy_->columns_once, [this] {
      lazy_->columns.emplace(k_, n_,
                             [&](std::size_t kk, std::size_t j) { return unsigned{code(kk, j).bits()}; });
    });
    return *lazy_->columns;
  }
  /// Heap bytes this object holds now: the codes when kept, every panel set, and what was built
  /// on first use.
  std::size_t memory_bytes() const noexcept {
    const auto bytes = [](const auto& v) { return v.size() * sizeof(v[0]); };
    std::size_t b = bytes(codes_) + bytes(lazy_->codes) + bytes(neg_zero_);
    if (vnni_) b += bytes(vnni_->data) + bytes(vnni_->colsum) + bytes(vnni_->colsum_k);
    if (avx2_) b += bytes(avx2_->data);
    if (lazy_->bf16) b += bytes(lazy_->bf16->data);
    if (lazy_->columns) b += bytes(lazy_->columns->data);
    return b;
  }

 private:
  /// How the codes arrive: `have` storage units of `per_unit` codes each.
  struct stored {
    std::size_t have, per_unit;
    const char* what;
  };
  static T2 nibble(unsigned bits) noexcept {
    if constexpr (detail::nibble_code<T2>)
      return T2::from_bits(static_cast<decltype(T2{}.bits())>(bits & 0xfu));
    else
      return T2{};
  }
  /// code(i): the i-th code in storage order ((k, n), or (n, k) when transposed).
  template <class Code>
  packed_weights(stored s, std::size_t k, std::size_t n, bool transposed, std::size_t block_k,
                 scale_order scales, Code&& code)
      : k_(k), n_(n), transposed_(transposed), scales_(scales), lazy_(std::make_unique<lazy>()) {
    const std::size_t inner = transposed ? k : n;
    detail::need(inner % s.per_unit == 0, [&] {
      return std::string(s.what) + ": the innermost axis (" + std::to_string(inner) +
             ") must be a multiple of " + std::to_string(s.per_unit);
    });
    detail::check_count(s.have, detail::checked_mul(k, n, s.what) / s.per_unit, s.what);
    [[maybe_unused]] const auto at = [&](std::size_t kk, std::size_t j) {
      return code(transposed ? j * k + kk : kk * n + j);
    };
    // Panels only for the kernels the active backend runs. Low-bit float codes that are scaled
    // int8 (detail::int_shift) get integer panels for the exact MX path, with blocks of 32 unless
    // block_k says otherwise (16: NVFP4).
    const std::size_t kb = block_k != 0 ? block_k : (integer_code<T2> ? k : 32);
    if constexpr (detail::int8_code<T2>)
      if ((detail::use_avx512() || detail::use_neon_dot()) && k <= detail::vnni::max_k &&
          detail::vnni::packed_b::blocks_fit(k, kb))
        vnni_ = detail::vnni_panels<T2>(k, n, kb, at);
    if constexpr (detail::int8_code<T2>)
      if (detail::use_avx2() && k <= detail::avx2mm::max_k) avx2_ = detail::avx2_panels<T2>(k, n, at);
    // Codes with panels keep nothing else when the panels hold every code exactly (codes() and
    // the reference read them back): int8, int4, fp4, and fp6 e2m3, whose -0 codes (the one
    // value the panels cannot tell from +0) are listed by position. Everything else keeps them.
    const bool panels = vnni_ || avx2_;
    bool exact = from_panels;
    if constexpr (from_panels && !integer_code<T2> && !detail::nibble_code<T2>) {
      exact = k * n <= std::numeric_limits<std::uint32_t>::max();
      for (std::size_t i = 0; i < k * n && exact && panels; ++i)
        if (detail::int_value(code(i)) == 0 && code(i).bits() != 0)
          neg_zero_.push_back(static_cast<std::uint32_t>(i));
      neg_zero_.shrink_to_fit();
    }
    if (!(exact && panels)) {
      neg_zero_ = {};
      codes_.resize(k * n);
      for (std::size_t i = 0; i < codes_.size(); ++i) codes_[i] = code(i);
    }
  }

  /// Codes that are int8 values (detail::int8_code) can be rebuilt from the VNNI panels: the int8
  /// value, the nibble itself, or (fp6 e2m3) the code of the value.
  static constexpr bool from_panels = detail::int8_code<T2>;
  /// The int8 value of (kk, j) in the panels (VNNI / SDOT, else AVX2; one of them exists).
  int panel_value(std::size_t kk, std::size_t j) const {
    return vnni_ ? vnni_->value(kk, j) : avx2_->value(kk, j);
  }
  /// Code (kk, j): kept, or read back from the panels.
  T2 code(std::size_t kk, std::size_t j) const {
    if constexpr (from_panels) {
      if (codes_.empty()) {
        if constexpr (detail::nibble_code<T2>)
          return T2::from_bits(
              static_cast<decltype(T2{}.bits())>(vnni_ ? vnni_->code(kk, j) : avx2_->code(kk, j)));
        else if constexpr (integer_code<T2>)
          return static_cast<std::int8_t>(panel_value(kk, j));
        else {
          const int v = panel_value(kk, j);
          const auto i = static_cast<std::uint32_t>(transposed_ ? j * k_ + kk : kk * n_ + j);
          if (v == 0 && std::binary_search(neg_zero_.begin(), neg_zero_.end(), i))
            return T2::from_bits(static_cast<typename T2::storage>(T2::codec::sign_mask));
          return detail::code_of_value<T2>(v);
        }
      }
    }
    return codes_[transposed_ ? j * k_ + kk : kk * n_ + j];
  }
  /// The integer value of code (kk, j).
  int value(std::size_t kk, std::size_t j) const {
    if constexpr (detail::int8_code<T2>)
      return codes_.empty() ? panel_value(kk, j) : detail::int_value(code(kk, j));
    else
      return 0;
  }
  struct lazy {  // built on first use, at most once, safe from concurrent calls
    std::once_flag codes_once, bf16_once, columns_once;
    std::vector<T2> codes;
    std::optional<detail::bf16dp::packed_b> bf16;
    std::optional<detail::nibble_columns> columns;
  };

  std::vector<T2> codes_;
  std::vector<std::uint32_t> neg_zero_;  // fp6 e2m3 without codes_: storage positions of -0, ascending
  std::size_t k_, n_;
  bool transposed_;
  scale_order scales_;
  std::optional<detail::vnni::packed_b> vnni_;
  std::optional<detail::avx2mm::packed_b> avx2_;
  std::unique_ptr<lazy> lazy_;
};

namespace detail {

template <integer_code T1, integer_code T2>
void int32_impl(const exec_context& ctx, std::span<const T1> x1, weights_ref<T2> w, matmul_dims d,
                std::span<const std::int32_t> bias, std::span<std::int32_t> y) {
  detail::check_dims(x1.size(), w.size, y.size(), d);
  if (!bias.empty()) detail::check_count(bias.size(), d.n, "bias (n)");
  std::atomic<std::size_t> first{std::numeric_limits<std::size_t>::max()};
  arena ar(scratch(ctx, accumulate_bytes(d)));
  detail::accumulate(ctx, x1, w, d, d.k, detail::epi_int32{bias, y.data(), d.n, &first}, ar);
  if (const std::size_t idx = first.load(); idx != std::numeric_limits<std::size_t>::max()) {
    const std::size_t m = idx / d.n, n = idx % d.n;
    const std::span<const T2> x2 = w.all();
    long long v = bias.empty() ? 0 : bias[n];
    for (std::size_t k = 0; k < d.k; ++k)
      v +=
          static_cast<long long>(int(x1[m * d.k + k])) * int(x2[d.x2_transposed ? n * d.k + k : k * d.n + n]);
    throw std::range_error("int32 matmul: y[" + std::to_string(m) + ", " + std::to_string(n) + "] = " +
                           std::to_string(v) + " does not fit int32 (k = " + std::to_string(d.k) + ")");
  }
}

}  // namespace detail

/// Bytes of the workspace (exec_context::workspace) any integer-code matmul on packed weights of
/// (k, n) with m rows of x1 needs: x1's packed rows, the block scales of k-blocks of `group` (0:
/// one block) and the fixpipe's per-column scales. Independent of the thread count.
inline std::size_t matmul_workspace_size(std::size_t m, std::size_t k, std::size_t n, std::size_t group = 0) {
  const matmul_dims d{m, k, n, false};
  (void)detail::checked_mul(detail::checked_mul(m, k, "x1 (m x k)"), 4, "x1 (m x k)");
  return detail::workspace_bytes(detail::blocks_bytes(d, group == 0 ? (k == 0 ? 1 : k) : group, true) +
                                 detail::slice_bytes<float>(n) + detail::slice_bytes<std::int32_t>(n) +
                                 detail::slice_bytes<float>(m));
}

/// MODE int32: y = x1 @ x2 + bias (int32), exact. A result outside int32 is an error
/// (std::range_error naming the element), never wrapped.
template <integer_code T1, integer_code T2>
void matmul_int32(std::span<const T1> x1, std::span<const T2> x2, matmul_dims d,
                  std::span<const std::int32_t> bias, std::span<std::int32_t> y) {
  detail::int32_impl<T1, T2>(default_exec(), x1, detail::weights_ref<T2>{x2}, d, bias, y);
}

/// MODE int32 with pre-packed weights (packed_weights); m rows of x1; ctx runs the panels.
template <integer_code T1, integer_code T2>
void matmul_int32(const exec_context& ctx, std::span<const T1> x1, const packed_weights<T2>& x2,
                  std::size_t m, std::span<const std::int32_t> bias, std::span<std::int32_t> y) {
  detail::int32_impl<T1, T2>(ctx, x1, x2.ref(), x2.dims(m), bias, y);
}
template <integer_code T1, integer_code T2>
void matmul_int32(std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m,
                  std::span<const std::int32_t> bias, std::span<std::int32_t> y) {
  detail::int32_impl<T1, T2>(default_exec(), x1, x2.ref(), x2.dims(m), bias, y);
}

namespace detail {

template <float_output Out, matmul_code T1, matmul_code T2>
void tc_impl(const exec_context& ctx, std::span<const T1> x1, weights_ref<T2> w, matmul_dims d,
             std::span<const float> x2_scale, const float* x1p, matmul_bias bias, std::span<Out> y) {
  // x1's optional scale arrives as a pointer (null: none): GCC 12 reports copies of a disengaged
  // std::optional<float> as maybe-uninitialized in consumers' -O3 -Werror builds
  detail::check_dims(x1.size(), w.size, y.size(), d);
  detail::check_bias(bias, d.n);
  const bool per_tensor = x2_scale.size() == 1;
  detail::need(per_tensor || x2_scale.size() == d.n, [&] {
    return "x2 scale has " + std::to_string(x2_scale.size()) +
           " elements, expected n = " + std::to_string(d.n) + " (per channel) or 1 (per tensor)";
  });
  detail::need(integer_code<T1> || bias.i32.empty(), "float inputs take a float bias, not int32");
  if constexpr (integer_code<T1> && integer_code<T2>) {
    // per-tensor x2 scale, no x1 scale, no float bias: the fixpipe truncates it to 19 bits
    const float s19 = fixpipe::trunc19(x2_scale[0]);
    const bool fixpipe19 = !x1p && per_tensor && bias.f32.empty();
    arena ar(scratch(ctx, accumulate_bytes(d)));
    detail::accumulate(ctx, x1, w, d, d.k,
                       detail::epi_scale<Out>{fixpipe19 ? &s19 : x2_scale.data(), per_tensor, x1p, true, bias,
                                              y.data(), d.n},
                       ar);
  } else {
    static_assert(integer_code<T1> == integer_code<T2>, "integer codes multiply integer codes");
    // float codes: T-T with x1 scale and no bias merges the two scales into one fixpipe scale,
    // trunc19(x2s * x1s); otherwise y = acc * x2s[n] (* x1s) (+ bias_f32), the same epilogue
    const float merged = x1p ? fixpipe::trunc19(x2_scale[0] * *x1p) : 0.0f;
    const bool merge = x1p && per_tensor && bias.f32.empty();
    detail::accumulate_float_codes(ctx, x1, w.all(), d, d.k,
                                   detail::epi_scale<Out>{merge ? &merged : x2_scale.data(), per_tensor,
                                                          merge ? nullptr : x1p, true, bias, y.data(), d.n});
  }
}

}  // namespace detail

/// MODE T-C / T-T with fp32 scales (spec §4.2, cli.md). x2_scale has n entries (per channel)
/// or 1 (per tensor); x1_scale is the optional per-tensor x1 scale.
///   integer codes: y = fp32(acc + bias_i32) * x2s[n] (* x1s) (+ bias_f32); a per-tensor x2
///                  scale without x1 scale and without float bias goes through the fixpipe and
///                  is truncated to 19 bits first.
///   float codes:   with x1s, T-T and no bias: y = acc * trunc19(x2s * x1s) (merged scale);
///                  otherwise y = acc * x2s[n] (* x1s) (+ bias_f32), separate fp32 multiplies.
template <float_output Out, matmul_code T1, matmul_code T2>
void matmul_tc(std::span<const T1> x1, std::span<const T2> x2, matmul_dims d, std::span<const float> x2_scale,
               std::optional<float> x1_scale, matmul_bias bias, std::span<Out> y) {
  const float x1v = x1_scale.value_or(0.0f);
  detail::tc_impl<Out, T1, T2>(default_exec(), x1, detail::weights_ref<T2>{x2}, d, x2_scale,
                               x1_scale ? &x1v : nullptr, bias, y);
}

/// MODE T-C / T-T with fp32 scales and pre-packed integer weights; m rows of x1; ctx runs the
/// panels.
template <float_output Out, integer_code T1, integer_code T2>
void matmul_tc(const exec_context& ctx, std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m,
               std::span<const float> x2_scale, std::optional<float> x1_scale, matmul_bias bias,
               std::span<Out> y) {
  const float x1v = x1_scale.value_or(0.0f);
  detail::tc_impl<Out, T1, T2>(ctx, x1, x2.ref(), x2.dims(m), x2_scale, x1_scale ? &x1v : nullptr, bias, y);
}
template <float_output Out, integer_code T1, integer_code T2>
void matmul_tc(std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m,
               std::span<const float> x2_scale, std::optional<float> x1_scale, matmul_bias bias,
               std::span<Out> y) {
  matmul_tc<Out, T1, T2>(default_exec(), x1, x2, m, x2_scale, x1_scale, bias, y);
}

namespace detail {

template <class Out, class T1, class T2>
void tc_u64_impl(const exec_context& ctx, std::span<const T1> x1, weights_ref<T2> w, matmul_dims d,
                 std::span<const std::uint64_t> x2_scale, matmul_bias bias, std::span<Out> y) {
  detail::check_dims(x1.size(), w.size, y.size(), d);
  detail::check_bias(bias, d.n);
  const bool per_tensor = x2_scale.size() == 1;
  detail::need(per_tensor || x2_scale.size() == d.n, [&] {
    return "x2 scale has " + std::to_string(x2_scale.size()) +
           " elements, expected n = " + std::to_string(d.n) + " or 1";
  });
  constexpr bool integer = integer_code<T1>;
  detail::need(integer ? bias.f32.empty() : bias.i32.empty(),
               integer ? "integer inputs with a uint64 scale take an int32 bias"
                       : "float inputs take a float bias, not int32");
  if constexpr (std::is_same_v<Out, std::int8_t>)
    detail::need(integer, "int8 output (requantization) needs int8 or int4 inputs");
  if constexpr (integer_code<T1> && integer_code<T2>) {
    arena ar(scratch(ctx, slice_bytes<float>(d.n) + slice_bytes<std::int32_t>(d.n) + accumulate_bytes(d)));
    detail::epi_fixpipe<Out> epi{x2_scale, bias.i32, y.data(), d.n, {}, {}};
    detail::accumulate(ctx, x1, w, d, d.k, epi.prepare(d.n, ar), ar);
  } else if constexpr (!std::is_same_v<Out, std::int8_t>) {
    static_assert(integer_code<T1> == integer_code<T2>, "integer codes multiply integer codes");
    detail::epi_fixpipe<Out> epi{x2_scale, {}, y.data(), d.n, {}, {}};
    epi.fbias = bias.f32;
    detail::accumulate_float_codes(ctx, x1, w.all(), d, d.k, epi);
  }
}

}  // namespace detail

/// MODE T-C / T-T with packed uint64 fixpipe scales (n or 1 entries; spec §4.2).
///   integer codes, int8 output (requant): t = clamp(rint(fp32(acc + bias_i32) * s19[n]), -256, 255),
///                                         y = clamp(t + offset9[n], -128, 127)
///   integer codes, float output:          y = fp32(acc + bias_i32) * s19[n]
///   float codes:                          y = (acc + bias_f32) * s19[n]   (bias before scaling)
template <class Out, matmul_code T1, matmul_code T2>
requires(float_output<Out> ||
         std::is_same_v<Out, std::int8_t>) void matmul_tc(std::span<const T1> x1, std::span<const T2> x2,
                                                          matmul_dims d,
                                                          std::span<const std::uint64_t> x2_scale,
                                                          matmul_bias bias, std::span<Out> y) {
  detail::tc_u64_impl<Out, T1, T2>(default_exec(), x1, detail::weights_ref<T2>{x2}, d, x2_scale, bias, y);
}

/// MODE T-C / T-T with packed uint64 scales and pre-packed integer weights; m rows of x1; ctx
/// runs the panels.
template <class Out, integer_code T1, integer_code T2>
requires(float_output<Out> ||
         std::is_same_v<Out, std::int8_t>) void matmul_tc(const exec_context& ctx, std::span<const T1> x1,
                                                          const packed_weights<T2>& x2, std::size_t m,
                                                          std::span<const std::uint64_t> x2_scale,
                                                          matmul_bias bias, std::span<Out> y) {
  detail::tc_u64_impl<Out, T1, T2>(ctx, x1, x2.ref(), x2.dims(m), x2_scale, bias, y);
}
template <class Out, integer_code T1, integer_code T2>
requires(float_output<Out> ||
         std::is_same_v<Out, std::int8_t>) void matmul_tc(std::span<const T1> x1,
                                                          const packed_weights<T2>& x2, std::size_t m,
                                                          std::span<const std::uint64_t> x2_scale,
                                                          matmul_bias bias, std::span<Out> y) {
  detail::tc_u64_impl<Out, T1, T2>(default_exec(), x1, x2.ref(), x2.dims(m), x2_scale, bias, y);
}

namespace detail {

/// The checks of K-C / K-T (one place for every entry point).
template <class T1, class Out>
void check_kc(std::size_t x1, std::size_t x2, std::size_t y, const matmul_dims& d,
              std::span<const float> x1_scale, std::span<const float> x2_scale, const matmul_bias& bias) {
  check_dims(x1, x2, y, d);
  check_bias(bias, d.n);
  check_count(x1_scale.size(), d.m, "x1 scale (m, per token)");
  need(x2_scale.size() == 1 || x2_scale.size() == d.n, [&] {
    return "x2 scale has " + std::to_string(x2_scale.size()) +
           " elements, expected n = " + std::to_string(d.n) + " or 1";
  });
  need(integer_code<T1> || bias.i32.empty(), "float inputs take a float bias, not int32");
}

/// The K-C epilogue: x1 per token, x2 per channel or per tensor.
template <class Out>
epi_scale<Out> epi_kc(std::span<const float> x1_scale, std::span<const float> x2_scale,
                      const matmul_bias& bias, std::span<Out> y, std::size_t n) {
  return {x2_scale.data(), x2_scale.size() == 1, x1_scale.data(), false, bias, y.data(), n};
}

/// The scalar reference of matmul_kc (K-C / K-T).
///   y = fp32(acc + bias_i32) * x2s[n] * x1s[m] (+ bias_f32)   -- two fp32 multiplies, in order
template <float_output Out, matmul_code T1, matmul_code T2>
void matmul_kc_ref(std::span<const T1> x1, std::span<const T2> x2, matmul_dims d,
                   std::span<const float> x1_scale, std::span<const float> x2_scale, matmul_bias bias,
                   std::span<Out> y) {
  check_kc<T1, Out>(x1.size(), x2.size(), y.size(), d, x1_scale, x2_scale, bias);
  if constexpr (integer_code<T1> && integer_code<T2>) {
    accumulate_reference(x1, x2, d, d.k, epi_kc(x1_scale, x2_scale, bias, y, d.n));
  } else {
    static_assert(integer_code<T1> == integer_code<T2>, "integer codes multiply integer codes");
    const exact_dot<T1, T2> dot(x1, x2, d);
    accumulate_float(d, d.k, epi_kc(x1_scale, x2_scale, bias, y, d.n), block_sums(dot));
  }
}

}  // namespace detail

/// MODE K-C / K-T (spec §4.3) with pre-packed integer weights; m rows of x1.
///   y = fp32(acc + bias_i32) * x2s[n] * x1s[m] (+ bias_f32)   -- two fp32 multiplies, in order
/// Bit-exact to the reference: the int32 sums are exact and the epilogue is the same.
/// ctx runs the panels; no allocation (scratch: matmul_workspace_size).
template <float_output Out, integer_code T1, integer_code T2>
void matmul_kc(const exec_context& ctx, std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m,
               std::span<const float> x1_scale, std::span<const float> x2_scale, matmul_bias bias,
               std::span<Out> y) {
  const matmul_dims d{m, x2.k(), x2.n(), x2.transposed()};
  detail::check_kc<T1, Out>(x1.size(), x2.k() * x2.n(), y.size(), d, x1_scale, x2_scale, bias);
  detail::arena ar(detail::scratch(ctx, detail::accumulate_bytes(d)));
  detail::accumulate(ctx, x1, x2.ref(), d, d.k, detail::epi_kc(x1_scale, x2_scale, bias, y, d.n), ar);
}
template <float_output Out, integer_code T1, integer_code T2>
void matmul_kc(std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m,
               std::span<const float> x1_scale, std::span<const float> x2_scale, matmul_bias bias,
               std::span<Out> y) {
  matmul_kc<Out, T1, T2>(default_exec(), x1, x2, m, x1_scale, x2_scale, bias, y);
}

/// MODE K-C / K-T (spec §4.3): x1_scale (m), x2_scale (n) or (1).
///   y = fp32(acc + bias_i32) * x2s[n] * x1s[m] (+ bias_f32)   -- two fp32 multiplies, in order
/// Integer codes run on the dot-product kernel of the active backend (packing x2 on every call:
/// pre-pack with packed_weights to multiply the same weights many times).
template <float_output Out, matmul_code T1, matmul_code T2>
void matmul_kc(std::span<const T1> x1, std::span<const T2> x2, matmul_dims d, std::span<const float> x1_scale,
               std::span<const float> x2_scale, matmul_bias bias, std::span<Out> y) {
  if constexpr (integer_code<T1> && integer_code<T2>) {
    detail::check_kc<T1, Out>(x1.size(), x2.size(), y.size(), d, x1_scale, x2_scale, bias);
    const exec_context ctx = default_exec();
    detail::arena ar(detail::scratch(ctx, detail::accumulate_bytes(d)));
    detail::accumulate(ctx, x1, detail::weights_ref<T2>{x2}, d, d.k,
                       detail::epi_kc(x1_scale, x2_scale, bias, y, d.n), ar);
  } else {
    static_assert(integer_code<T1> == integer_code<T2>, "integer codes multiply integer codes");
    detail::check_kc<T1, Out>(x1.size(), x2.size(), y.size(), d, x1_scale, x2_scale, bias);
    detail::accumulate_float_codes(default_exec(), x1, x2, d, d.k,
                                   detail::epi_kc(x1_scale, x2_scale, bias, y, d.n));
  }
}

namespace detail {

template <float_output Out, matmul_code T1, matmul_code T2>
void blockwise_impl(const exec_context& ctx, std::span<const T1> x1, weights_ref<T2> w, matmul_dims d,
                    std::span<const float> x1_scale, const scale_map& map1, std::span<const float> x2_scale,
                    const scale_map& map2, std::span<const float> bias, std::span<Out> y) {
  detail::check_dims(x1.size(), w.size, y.size(), d);
  detail::check_count(x1_scale.size(), map1.size(), "x1 scale");
  detail::check_count(x2_scale.size(), map2.size(), "x2 scale");
  if (!bias.empty()) detail::check_count(bias.size(), d.n, "bias (n)");
  detail::need(map1.data == matrix_shape{d.m, d.k} && map2.data == matrix_shape{d.k, d.n},
               "scale maps do not match the operand shapes");
  detail::check_map(map1);
  detail::check_map(map2);
  detail::need(map1.bc == map2.br, "x1 and x2 scale blocks must cut k the same way");
  const std::size_t kb = map1.bc;
  detail::epi_blocks<Out> epi;
  epi.nblk = ceil_div(d.k, kb), epi.n = d.n, epi.bias = bias, epi.y = y.data(), epi.ldy = d.n;
  epi.b_uniform64 = map2.bc % 64 == 0;
  arena ar(scratch(ctx, blocks_bytes(d, kb, integer_code<T1> && integer_code<T2>) +
                            (integer_code<T1> ? 0 : float_sums_bytes(ctx, d.m, d.k, d.n, kb))));
  float* const a = ar.take<float>(d.m * epi.nblk);
  float* const b = ar.take<float>(epi.nblk * d.n);
  for (std::size_t j = 0; j < epi.nblk; ++j) {  // one map lookup per block of rows / columns
    for (std::size_t i0 = 0; i0 < d.m; i0 += map1.br) {
      const float v = x1_scale[map1(i0, j * kb)];
      for (std::size_t i = i0; i < std::min(i0 + map1.br, d.m); ++i) a[i * epi.nblk + j] = v;
    }
    for (std::size_t n0 = 0; n0 < d.n; n0 += map2.bc)
      std::fill(b + j * d.n + n0, b + j * d.n + std::min(n0 + map2.bc, d.n), x2_scale[map2(j * kb, n0)]);
  }
  epi.a = a, epi.b = b;
  if constexpr (integer_code<T1> && integer_code<T2>) {
    detail::accumulate(ctx, x1, w, d, kb, epi, ar);
  } else {
    static_assert(integer_code<T1> == integer_code<T2>, "integer codes multiply integer codes");
    detail::accumulate_float_codes(ctx, x1, w.all(), d, kb, epi, &ar);
  }
}

}  // namespace detail

/// Block-wise scaled matmul, the common form of G-B and B-B (spec §4.4-4.5): the k axis is cut
/// into blocks of `kb`; x1 scales follow map1 over (m, k), x2 scales follow map2 over (k, n).
///   P_j = exact sum over block j, rounded once to fp32
///   s_j = x1s[m, j] * x2s[j, n]                      (fp32 product first)
///   y   = sum_j P_j * s_j  (fp32, j ascending)  + bias_f32
template <float_output Out, matmul_code T1, matmul_code T2>
void matmul_blockwise(std::span<const T1> x1, std::span<const T2> x2, matmul_dims d,
                      std::span<const float> x1_scale, const scale_map& map1, std::span<const float> x2_scale,
                      const scale_map& map2, std::span<const float> bias, std::span<Out> y) {
  detail::blockwise_impl<Out, T1, T2>(default_exec(), x1, detail::weights_ref<T2>{x2}, d, x1_scale, map1,
                                      x2_scale, map2, bias, y);
}

namespace detail {

/// x2's (gs x gs) block-scale map for packed weights w: the mode's layout, or transposed
/// (scale_order::n_major).
template <class T2>
scale_map block_map2(std::size_t gs, const weights_ref<T2>& w, const matmul_dims& d) {
  scale_map map = make_scale_map(granularity::block(gs, gs), operand::right, {d.k, d.n});
  map.transposed = w.scales_transposed;
  return map;
}

}  // namespace detail

/// MODE G-B: x1 per (1 x gs) group, x2 per (gs x gs) block. Scales (m, ceil(k/gs)) and
/// (ceil(k/gs), ceil(n/gs)).
template <float_output Out, matmul_code T1, matmul_code T2>
void matmul_gb(std::span<const T1> x1, std::span<const T2> x2, matmul_dims d, std::size_t gs,
               std::span<const float> x1_scale, std::span<const float> x2_scale, std::span<const float> bias,
               std::span<Out> y) {
  detail::need(gs > 0, "group size must be at least 1");
  detail::blockwise_impl<Out, T1, T2>(
      default_exec(), x1, detail::weights_ref<T2>{x2}, d, x1_scale,
      make_scale_map(granularity::group(gs), operand::left, {d.m, d.k}), x2_scale,
      make_scale_map(granularity::block(gs, gs), operand::right, {d.k, d.n}), bias, y);
}

/// The same with pre-packed integer weights (pack with block_k = gs to avoid repacking per call);
/// m rows of x1.
template <float_output Out, integer_code T1, integer_code T2>
void matmul_gb(const exec_context& ctx, std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m,
               std::size_t gs, std::span<const float> x1_scale, std::span<const float> x2_scale,
               std::span<const float> bias, std::span<Out> y) {
  detail::need(gs > 0, "group size must be at least 1");
  const matmul_dims d = x2.dims(m);
  detail::blockwise_impl<Out, T1, T2>(ctx, x1, x2.ref(), d, x1_scale,
                                      make_scale_map(granularity::group(gs), operand::left, {d.m, d.k}),
                                      x2_scale, detail::block_map2(gs, x2.ref(), d), bias, y);
}
template <float_output Out, integer_code T1, integer_code T2>
void matmul_gb(std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m, std::size_t gs,
               std::span<const float> x1_scale, std::span<const float> x2_scale, std::span<const float> bias,
               std::span<Out> y) {
  matmul_gb<Out, T1, T2>(default_exec(), x1, x2, m, gs, x1_scale, x2_scale, bias, y);
}

/// MODE B-B: x1 per (gs x gs) block, x2 per (gs x gs) block. Scales (ceil(m/gs), ceil(k/gs))
/// and (ceil(k/gs), ceil(n/gs)).
template <float_output Out, matmul_code T1, matmul_code T2>
void matmul_bb(std::span<const T1> x1, std::span<const T2> x2, matmul_dims d, std::size_t gs,
               std::span<const float> x1_scale, std::span<const float> x2_scale, std::span<const float> bias,
               std::span<Out> y) {
  detail::need(gs > 0, "group size must be at least 1");
  detail::blockwise_impl<Out, T1, T2>(
      default_exec(), x1, detail::weights_ref<T2>{x2}, d, x1_scale,
      make_scale_map(granularity::block(gs, gs), operand::left, {d.m, d.k}), x2_scale,
      make_scale_map(granularity::block(gs, gs), operand::right, {d.k, d.n}), bias, y);
}

/// The same with pre-packed integer weights (pack with block_k = gs to avoid repacking per call);
/// m rows of x1.
template <float_output Out, integer_code T1, integer_code T2>
void matmul_bb(const exec_context& ctx, std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m,
               std::size_t gs, std::span<const float> x1_scale, std::span<const float> x2_scale,
               std::span<const float> bias, std::span<Out> y) {
  detail::need(gs > 0, "group size must be at least 1");
  const matmul_dims d = x2.dims(m);
  detail::blockwise_impl<Out, T1, T2>(ctx, x1, x2.ref(), d, x1_scale,
                                      make_scale_map(granularity::block(gs, gs), operand::left, {d.m, d.k}),
                                      x2_scale, detail::block_map2(gs, x2.ref(), d), bias, y);
}
template <float_output Out, integer_code T1, integer_code T2>
void matmul_bb(std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m, std::size_t gs,
               std::span<const float> x1_scale, std::span<const float> x2_scale, std::span<const float> bias,
               std::span<Out> y) {
  matmul_bb<Out, T1, T2>(default_exec(), x1, x2, m, gs, x1_scale, x2_scale, bias, y);
}

namespace detail {

/// The checks of the block-scaled float modes (MX: blocks of 32, e8m0; NVFP4: 16, e4m3).
inline void check_block_scaled(const matmul_dims& d, std::size_t x1, std::size_t x2, std::size_t y,
                               std::size_t block, std::size_t s1, std::size_t s2, std::size_t bias,
                               std::string_view what1, std::string_view what2) {
  check_dims(x1, x2, y, d);
  const std::size_t nb = ceil_div(d.k, block);
  check_count(s1, d.m * nb, what1);
  check_count(s2, nb * d.n, what2);
  if (bias != 0) check_count(bias, d.n, "bias (n)");
}

/// The exact MX matmul on the integer kernels (issue 11) for codes that are scaled int8 (e2m1,
/// e1m2, e2m3: int_value = code * 2^f): the kernels give each block's exact integer sum P_int,
/// and epi_blocks' step tot + fl(P_int) * (a * b) with a = 2^(e1 - 127 - f1), b = 2^(e2 - 127 - f2)
/// rounds P_int * 2^(e1 + e2 - 254 - f) = P_j * 2^(e1 - 127) * 2^(e2 - 127) once, as the reference
/// does, provided a, b and a * b are fp32 numbers (normal or subnormal, checked over the finite
/// scales; else false: the reference runs). |P_int| <= 32 * 60 * 60 < 2^24 converts exactly; a
/// NaN scale (0xff) makes a or b NaN, so the block and the output are NaN, as in the reference.
template <float_output Out, class T1, class T2>
bool mx_integer(const exec_context& ctx, std::span<const T1> x1, weights_ref<T2> w, const matmul_dims& d,
                std::span<const float8_e8m0fnu> e1, std::span<const float8_e8m0fnu> e2,
                std::span<const float> bias, std::span<Out> y) {
  if constexpr (int_shift<T1> <= 0 || int_shift<T2> <= 0) {
    (void)ctx, (void)x1, (void)w, (void)d, (void)e1, (void)e2, (void)bias, (void)y;
    return false;
  } else {
    if (!integer_kernel(d, 32)) return false;
    // the finite scales' range (NaN, 0xff, excluded: 255 is neutral for the minimum, and the
    // maximum is taken of bits + 1 mod 256, where 0xff is 0); branch-free, so that it vectorises
    // (x2's scales are ceil(k/32) x n: the scalar scan took about 4% of an MXFP4 4096 x 4096 call)
    const auto range = [](std::span<const float8_e8m0fnu> e, int& lo, int& hi) {
      static_assert(sizeof(float8_e8m0fnu) == 1);
      const auto* p = reinterpret_cast<const std::uint8_t*>(e.data());  // the codes' bytes
      std::uint8_t l = 255, h1 = 0;
      for (std::size_t i = 0; i < e.size(); ++i) {
        const std::uint8_t b = p[i], b1 = static_cast<std::uint8_t>(b + 1);
        l = b < l ? b : l, h1 = b1 > h1 ? b1 : h1;
      }
      lo = l, hi = int(h1) - 1;
    };
    int lo1, hi1, lo2, hi2;
    range(e1, lo1, hi1);
    range(e2, lo2, hi2);
    const int f1 = int_shift<T1>, f2 = int_shift<T2>;
    if (hi1 >= 0 && hi2 >= 0 && (lo1 + lo2 - 254 - f1 - f2 < -149 || hi1 + hi2 - 254 - f1 - f2 > 127))
      return false;
    std::array<float, 256> p1{}, p2{};  // 2^(e - 127 - f) for every code, NaN for 0xff
    for (int e = 0; e < 255; ++e)
      p1[std::size_t(e)] = std::ldexp(1.0f, e - 127 - f1),
      p2[std::size_t(e)] = std::ldexp(1.0f, e - 127 - f2);
    p1[255] = p2[255] = std::numeric_limits<float>::quiet_NaN();
    const std::size_t nb = ceil_div(d.k, 32);
    arena ar(scratch(ctx, blocks_bytes(d, 32, true)));
    float* const a = ar.take<float>(d.m * nb);
    float* const b = ar.take<float>(nb * d.n);
    for (std::size_t i = 0; i < d.m * nb; ++i) a[i] = p1[e1[i].bits()];
    for (std::size_t j = 0; j < nb; ++j)  // e2 is (nb, n), or (n, nb) (scale_order::n_major)
      for (std::size_t c = 0; c < d.n; ++c)
        b[j * d.n + c] = p2[e2[w.scales_transposed ? c * nb + j : j * d.n + c].bits()];
    epi_blocks<Out> epi;
    epi.nblk = nb, epi.n = d.n, epi.a = a, epi.b = b, epi.bias = bias, epi.y = y.data(), epi.ldy = d.n;
    accumulate(ctx, x1, w, d, 32, epi, ar);
    return true;
  }
}

/// The MX matmul of codes without integer kernels: the double sums of float_sums.hpp (every
/// backend but scalar), else the reference (matmul_mx's formula, one output at a time).
template <float_output Out, float_code T1, float_code T2>
void mx_float(const exec_context& ctx, std::span<const T1> x1, std::span<const T2> x2, const matmul_dims& d,
              std::span<const float8_e8m0fnu> x1_scale, std::span<const float8_e8m0fnu> x2_scale,
              bool x2_scale_transposed, std::span<const float> bias, std::span<Out> y) {
  // The power-of-two scales enter each block sum before its one rounding, so the block step is
  // epi_blocks' with unit scales (a, b null): tot + p * (1 * 1) = tot + p exactly.
  const std::size_t nb = ceil_div(d.k, 32);
  epi_blocks<Out> epi;
  epi.nblk = nb, epi.n = d.n, epi.bias = bias, epi.y = y.data(), epi.ldy = d.n;
  // matmul_workspace_size does not count the double sums' scratch: a caller's workspace too
  // small for it gives way to the thread's buffer (before this path the reference allocated)
  const std::size_t need = float_sums_bytes(ctx, d.m, d.k, d.n, 32);
  exec_context c = ctx;
  if (!c.workspace.empty() && c.workspace.size() < workspace_bytes(need)) c.workspace = {};
  arena ar(scratch(c, need));
  if (accumulate_f64(ctx, x1, x2, d.m, d.k, d.n, d.x2_transposed, 32, epi, ar,
                     mx_exps{x1_scale.data(), x2_scale.data(), x2_scale_transposed}))
    return;
  const exact_dot<T1, T2> dot(x1, x2, d);
  accumulate_float(d, 32, epi,
                   [&](std::size_t m, std::size_t n, std::size_t j, std::size_t k0, std::size_t k1) {
                     const auto s1 = x1_scale[m * nb + j].bits(),
                                s2 = x2_scale[x2_scale_transposed ? n * nb + j : j * d.n + n].bits();
                     return (s1 == 0xff || s2 == 0xff) ? std::numeric_limits<float>::quiet_NaN()
                                                       : dot.sum_f32(m, n, k0, k1, int(s1) + int(s2) - 254);
                   });
}

}  // namespace detail

/// MODE MX (spec §4.6): e8m0 scales per 32 along k, natural layout x1 (m, ceil(k/32)),
/// x2 (ceil(k/32), n) (see mx_scales_from_cann for CANN's layout).
///   y = sum_j fp32(P_j * 2^(e1[m,j] - 127) * 2^(e2[j,n] - 127))  (fp32, j ascending) + bias_f32
/// P_j is exact and the power-of-two scaling is applied before its single rounding; a NaN
/// scale (0xff) makes the output NaN. fp4 e2m1 / e1m2 and fp6 e2m3 codes run on the integer
/// kernels (detail::mx_integer, bit-exact; x2 packed on every call: see the packed overload),
/// the other formats run the reference.
template <float_output Out, float_code T1, float_code T2>
void matmul_mx(std::span<const T1> x1, std::span<const T2> x2, matmul_dims d,
               std::span<const float8_e8m0fnu> x1_scale, std::span<const float8_e8m0fnu> x2_scale,
               std::span<const float> bias, std::span<Out> y) {
  detail::check_block_scaled(d, x1.size(), x2.size(), y.size(), 32, x1_scale.size(), x2_scale.size(),
                             bias.size(), "x1 e8m0 scale (m x ceil(k/32))", "x2 e8m0 scale (ceil(k/32) x n)");
  if (detail::mx_integer<Out>(default_exec(), x1, detail::weights_ref<T2>{x2}, d, x1_scale, x2_scale, bias,
                              y))
    return;
  detail::mx_float<Out>(default_exec(), x1, x2, d, x1_scale, x2_scale, false, bias, y);
}

/// MODE MX with pre-packed weights (packed_weights: integer panels with blocks of 32 for e2m1,
/// e1m2, e2m3 codes); m rows of x1; ctx runs the panels. No allocation on the integer path.
template <float_output Out, float_code T1, float_code T2>
void matmul_mx(const exec_context& ctx, std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m,
               std::span<const float8_e8m0fnu> x1_scale, std::span<const float8_e8m0fnu> x2_scale,
               std::span<const float> bias, std::span<Out> y) {
  const matmul_dims d = x2.dims(m);
  detail::check_block_scaled(d, x1.size(), x2.k() * x2.n(), y.size(), 32, x1_scale.size(), x2_scale.size(),
                             bias.size(), "x1 e8m0 scale (m x ceil(k/32))", "x2 e8m0 scale (ceil(k/32) x n)");
  if (detail::mx_integer<Out>(ctx, x1, x2.ref(), d, x1_scale, x2_scale, bias, y)) return;
  detail::mx_float<Out>(ctx, x1, x2.codes(), d, x1_scale, x2_scale, x2.scales() == scale_order::n_major, bias,
                        y);
}
template <float_output Out, float_code T1, float_code T2>
void matmul_mx(std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m,
               std::span<const float8_e8m0fnu> x1_scale, std::span<const float8_e8m0fnu> x2_scale,
               std::span<const float> bias, std::span<Out> y) {
  matmul_mx<Out, T1, T2>(default_exec(), x1, x2, m, x1_scale, x2_scale, bias, y);
}

/// MODE NVFP4 (presets.md §2, the issue "Numerics presets"): fp4 e2m1 codes with e4m3fn block
/// scales per 16 along k, x1 (m, ceil(k/16)), x2 (ceil(k/16), n), and alpha, the product of the
/// two per-tensor decode scales as the block-scaled GEMM receives it (cuBLASLt / CUTLASS alpha):
///   y = fl(alpha * sum_j fl(P_j * fl(s1[m,j] * s2[j,n]))) + bias_f32   (fp32, j ascending)
/// P_j is exact, and so are s1 * s2 and P_j * (s1 * s2) (4-bit significands): each block term is
/// exact, only the fp32 sum, the alpha product and the bias add round. A NaN scale (0x7f / 0xff)
/// makes the output NaN. On the integer kernels (bit-exact): P_int = 4 P_j and the scales halved,
/// (s1 / 2) * (s2 / 2) and P_int times it still exact (e4m3 scales are at least 2^-9).
template <float_output Out>
void matmul_nvfp4(std::span<const float4_e2m1fn> x1, std::span<const float4_e2m1fn> x2, matmul_dims d,
                  std::span<const float8_e4m3fn> x1_scale, std::span<const float8_e4m3fn> x2_scale,
                  float alpha, std::span<const float> bias, std::span<Out> y);

namespace detail {

/// matmul_nvfp4 on x2 as given or packed (packed_weights(..., block_k = 16)), in ctx, its scale
/// tables in ctx's scratch.
template <float_output Out>
void nvfp4_impl(const exec_context& ctx, std::span<const float4_e2m1fn> x1, weights_ref<float4_e2m1fn> w,
                matmul_dims d, std::span<const float8_e4m3fn> x1_scale,
                std::span<const float8_e4m3fn> x2_scale, float alpha, std::span<const float> bias,
                std::span<Out> y) {
  check_block_scaled(d, x1.size(), w.size, y.size(), 16, x1_scale.size(), x2_scale.size(), bias.size(),
                     "x1 e4m3 scale (m x ceil(k/16))", "x2 e4m3 scale (ceil(k/16) x n)");
  const std::size_t nb = ceil_div(d.k, 16);
  const bool integer = integer_kernel(d, 16);
  const float half = integer ? 0.5f : 1.0f;  // P_int = 4 P_j on the integer kernels
  arena ar(scratch(ctx, blocks_bytes(d, 16, integer) + slice_bytes<float>(d.m)));
  float* const a = ar.take<float>(d.m * nb);
  float* const b = ar.take<float>(nb * d.n);
  float* const alphas = ar.take<float>(d.m);  // the epilogue's per-row factor: fl(alpha * tot)
  for (std::size_t i = 0; i < d.m * nb; ++i) a[i] = static_cast<float>(x1_scale[i]) * half;
  for (std::size_t j = 0; j < nb; ++j)  // x2_scale is (nb, n), or (n, nb) (scale_order::n_major)
    for (std::size_t c = 0; c < d.n; ++c)
      b[j * d.n + c] = static_cast<float>(x2_scale[w.scales_transposed ? c * nb + j : j * d.n + c]) * half;
  std::fill(alphas, alphas + d.m, alpha);
  epi_blocks<Out> epi;
  epi.nblk = nb, epi.n = d.n, epi.bias = bias, epi.y = y.data(), epi.ldy = d.n;
  epi.a = a, epi.b = b, epi.s1 = alphas;
  if (integer) {
    accumulate(ctx, x1, w, d, 16, epi, ar);
    return;
  }
  const exact_dot<float4_e2m1fn, float4_e2m1fn> dot(x1, w.all(), d);
  accumulate_float(d, 16, epi,
                   [&](std::size_t m, std::size_t n, std::size_t, std::size_t k0, std::size_t k1) {
                     return dot.sum_f32(m, n, k0, k1, 0);
                   });
}

}  // namespace detail

template <float_output Out>
void matmul_nvfp4(std::span<const float4_e2m1fn> x1, std::span<const float4_e2m1fn> x2, matmul_dims d,
                  std::span<const float8_e4m3fn> x1_scale, std::span<const float8_e4m3fn> x2_scale,
                  float alpha, std::span<const float> bias, std::span<Out> y) {
  detail::nvfp4_impl<Out>(default_exec(), x1, detail::weights_ref<float4_e2m1fn>{x2}, d, x1_scale, x2_scale,
                          alpha, bias, y);
}

/// MODE NVFP4 on pre-packed weights: pack them with block_k = 16 (packed_weights(w, k, n,
/// transposed, 16)) for the integer path without repacking; m rows of x1; ctx runs the panels.
/// No allocation on the integer path.
template <float_output Out>
void matmul_nvfp4(const exec_context& ctx, std::span<const float4_e2m1fn> x1,
                  const packed_weights<float4_e2m1fn>& x2, std::size_t m,
                  std::span<const float8_e4m3fn> x1_scale, std::span<const float8_e4m3fn> x2_scale,
                  float alpha, std::span<const float> bias, std::span<Out> y) {
  detail::nvfp4_impl<Out>(ctx, x1, x2.ref(), x2.dims(m), x1_scale, x2_scale, alpha, bias, y);
}
template <float_output Out>
void matmul_nvfp4(std::span<const float4_e2m1fn> x1, const packed_weights<float4_e2m1fn>& x2, std::size_t m,
                  std::span<const float8_e4m3fn> x1_scale, std::span<const float8_e4m3fn> x2_scale,
                  float alpha, std::span<const float> bias, std::span<Out> y) {
  matmul_nvfp4<Out>(default_exec(), x1, x2, m, x1_scale, x2_scale, alpha, bias, y);
}

namespace detail {

/// x1 decoded to bf16 rows, times pre-packed bf16 weights, block by block (bf16dp::gemm); the
/// packed rows and the gemm's scale tables in ctx's scratch.
template <float_output Out, class T1, class RowScale, class ColScale>
void bf16_blocks([[maybe_unused]] const exec_context& ctx, [[maybe_unused]] std::span<const T1> x1,
                 [[maybe_unused]] std::size_t m, [[maybe_unused]] const bf16dp::packed_b& b,
                 [[maybe_unused]] std::size_t kb, [[maybe_unused]] RowScale&& rs,
                 [[maybe_unused]] ColScale&& cs, [[maybe_unused]] std::span<const float> bias,
                 [[maybe_unused]] std::span<Out> y) {
#if defined(LOWBIT_X86_64)
  const auto& t1 = bf16_table<T1>();
  const std::size_t k = b.k, n = b.n, rows = packed_rows_size(m, k, 2);
  std::byte* const mem =
      scratch(ctx, slice_bytes<std::uint16_t>(rows) +
                       bf16dp::gemm_scratch_bytes(m, k, kb, bf16dp::gemm_tasks(ctx, m, b)));
  arena ar(mem);
  auto* const a = ar.take<std::uint16_t>(rows);
  bf16dp::pack_a(a, m, k, [&](std::size_t i, std::size_t kk) { return t1[x1[i * k + kk].bits()]; });
  bf16dp::gemm(ctx, a, m, b, kb, mem + slice_bytes<std::uint16_t>(rows), rs, cs,
               [&](std::size_t i, std::size_t n0, std::size_t cnt, const float* tot) {
                 for (std::size_t c = 0; c < cnt; ++c)
                   y[i * n + n0 + c] = cast_output<Out>(bias.empty() ? tot[c] : tot[c] + bias[n0 + c]);
               });
#endif
}

}  // namespace detail

/// MODE G-B with the approx tag and pre-packed weights: each block sum of low-bit float codes
/// in fp32 (BF16 path, within (L + 1) * 2^-24 * sum |a*b| of the exactly rounded sum; see
/// detail/x86/matmul_bf16.hpp), the rest as the reference. Exact (matmul_gb) where the path does
/// not apply.
template <float_output Out, matmul_code T1, matmul_code T2>
void matmul_gb(approx_t, std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m, std::size_t gs,
               std::span<const float> x1_scale, std::span<const float> x2_scale, std::span<const float> bias,
               std::span<Out> y) {
  const matmul_dims d{m, x2.k(), x2.n(), x2.transposed()};
  detail::need(gs > 0, "group size must be at least 1");
  const auto map1 = make_scale_map(granularity::group(gs), operand::left, {d.m, d.k});
  const auto map2 = detail::block_map2(gs, x2.ref(), d);
#if defined(LOWBIT_X86_64)
  if constexpr (float_code<T1> && float_code<T2>) {
    if (detail::use_avx512_bf16() && gs % 2 == 0 && x2.bf16()) {
      detail::check_dims(x1.size(), x2.k() * x2.n(), y.size(), d);
      detail::check_count(x1_scale.size(), map1.size(), "x1 scale");
      detail::check_count(x2_scale.size(), map2.size(), "x2 scale");
      if (!bias.empty()) detail::check_count(bias.size(), d.n, "bias (n)");
      detail::count(true);
      detail::bf16_blocks<Out, T1>(
          default_exec(), x1, m, *x2.bf16(), gs,
          [&](std::size_t i, std::size_t j) { return x1_scale[map1(i, j * gs)]; },
          [&](std::size_t j, std::size_t n) { return x2_scale[map2(j * gs, n)]; }, bias, y);
      return;
    }
  }
#endif
  detail::blockwise_impl<Out, T1, T2>(default_exec(), x1, x2.ref(), d, x1_scale, map1, x2_scale, map2, bias,
                                      y);
}

/// MODE G-B with the approx tag (packs x2 on every call; see the pre-packed overload).
template <float_output Out, matmul_code T1, matmul_code T2>
void matmul_gb(approx_t, std::span<const T1> x1, std::span<const T2> x2, matmul_dims d, std::size_t gs,
               std::span<const float> x1_scale, std::span<const float> x2_scale, std::span<const float> bias,
               std::span<Out> y) {
  detail::check_count(x2.size(), d.k * d.n, "x2 (k x n)");
  matmul_gb<Out, T1, T2>(approx, x1, packed_weights<T2>(x2, d.k, d.n, d.x2_transposed), d.m, gs, x1_scale,
                         x2_scale, bias, y);
}

/// MODE MX with the approx tag and pre-packed weights: block sums in fp32 (BF16 path), each
/// times 2^(e1 - 127) * 2^(e2 - 127) in fp32, blocks added in ascending k; exact where the path
/// does not apply.
template <float_output Out, float_code T1, float_code T2>
void matmul_mx(approx_t, std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m,
               std::span<const float8_e8m0fnu> x1_scale, std::span<const float8_e8m0fnu> x2_scale,
               std::span<const float> bias, std::span<Out> y) {
#if defined(LOWBIT_X86_64)
  const matmul_dims d{m, x2.k(), x2.n(), x2.transposed()};
  if (detail::use_avx512_bf16() && x2.bf16()) {
    const std::size_t nb = ceil_div(d.k, 32);
    detail::check_block_scaled(d, x1.size(), x2.k() * x2.n(), y.size(), 32, x1_scale.size(), x2_scale.size(),
                               bias.size(), "x1 e8m0 scale (m x ceil(k/32))",
                               "x2 e8m0 scale (ceil(k/32) x n)");
    detail::count(true);
    detail::bf16_blocks<Out, T1>(
        default_exec(), x1, m, *x2.bf16(), 32,
        [&](std::size_t i, std::size_t j) { return static_cast<float>(x1_scale[i * nb + j]); },
        [&](std::size_t j, std::size_t n) {
          return static_cast<float>(x2_scale[x2.scales() == scale_order::n_major ? n * nb + j : j * d.n + n]);
        },
        bias, y);
    return;
  }
#endif
  matmul_mx<Out, T1, T2>(x1, x2, m, x1_scale, x2_scale, bias, y);
}

/// MODE MX with the approx tag (packs x2 on every call; see the pre-packed overload).
template <float_output Out, float_code T1, float_code T2>
void matmul_mx(approx_t, std::span<const T1> x1, std::span<const T2> x2, matmul_dims d,
               std::span<const float8_e8m0fnu> x1_scale, std::span<const float8_e8m0fnu> x2_scale,
               std::span<const float> bias, std::span<Out> y) {
  detail::check_count(x2.size(), d.k * d.n, "x2 (k x n)");
  matmul_mx<Out, T1, T2>(approx, x1, packed_weights<T2>(x2, d.k, d.n, d.x2_transposed), d.m, x1_scale,
                         x2_scale, bias, y);
}

/// MODE T-CG (spec §4.7): x1 fp8 e4m3fn, x2 fp4 e2m1fn, x2 group scales (ceil(k/32), n) in bf16
/// or fp16 (S), y scales (n) packed uint64 (an fp32 y scale is first truncated to 19 bits:
/// fixpipe::pack). Golden order:
///   w  = S(fp4 value) * x2s[k/32, n] rounded to S; w = e4m3fn(w) (RNE, saturating)
///   y  = fp32(exact x1 @ w) * s19(y_scale[n])
template <float_output Out, class S>
requires(std::is_same_v<S, bfloat16> || std::is_same_v<S, float16>) void matmul_tcg(
    std::span<const float8_e4m3fn> x1, std::span<const float4_e2m1fn> x2, matmul_dims d,
    std::span<const S> x2_scale, std::span<const std::uint64_t> y_scale, std::span<Out> y) {
  detail::check_dims(x1.size(), x2.size(), y.size(), d);
  const std::size_t ng = ceil_div(d.k, 32);
  detail::check_count(x2_scale.size(), ng * d.n, "x2 group scale (ceil(k/32) x n)");
  detail::check_count(y_scale.size(), d.n, "y scale (n)");
  // w depends only on (fp4 code, group scale): the 16 results of each distinct scale are computed
  // once (slot[scale bits] - 1 indexes them), the weights are then table lookups
  std::vector<std::uint32_t> slot(std::size_t{1} << 16, 0);
  std::vector<std::array<float8_e4m3fn, 16>> table;
  const auto requant = [&](S sc) {
    std::uint32_t& id = slot[sc.bits()];
    if (id == 0) {
      std::array<float8_e4m3fn, 16> t{};
      for (std::uint8_t c = 0; c < 16; ++c) {
        const float ws = static_cast<float>(S(static_cast<float>(float4_e2m1fn::from_bits(c))));
        const float scaled = static_cast<float>(S(ws * static_cast<float>(sc)));
        t[c] = float8_e4m3fn(scaled, {rounding::rint, overflow::saturate, nan_policy::keep});
      }
      table.push_back(t);
      id = static_cast<std::uint32_t>(table.size());
    }
    return id - 1;
  };
  std::vector<std::uint32_t> tid(ng * d.n);  // each group scale's table
  for (std::size_t i = 0; i < ng * d.n; ++i) tid[i] = requant(x2_scale[i]);
  std::vector<float8_e4m3fn> w(d.k * d.n);  // re-quantized weights, natural (k, n)
  for (std::size_t k = 0; k < d.k; ++k)
    for (std::size_t n = 0; n < d.n; ++n)
      w[k * d.n + n] = table[tid[(k / 32) * d.n + n]][x2[d.x2_transposed ? n * d.k + k : k * d.n + n].bits()];
  matmul_dims dn = d;
  dn.x2_transposed = false;
  // the fixpipe epilogue of float codes: y = cast(acc * s19(y_scale[n]))
  detail::accumulate_float_codes(default_exec(), x1, std::span<const float8_e4m3fn>(w), dn, d.k,
                                 detail::epi_fixpipe<Out>{y_scale, {}, y.data(), d.n, {}, {}});
}

namespace detail {

template <float_output Out, integer_code T1, integer_code T2>
void kg_impl(const exec_context& ctx, std::span<const T1> x1, weights_ref<T2> w, matmul_dims d,
             std::size_t gs, std::span<const float> x1_scale, std::span<const float> x2_scale,
             std::span<const float> bias, std::span<Out> y) {
  detail::check_dims(x1.size(), w.size, y.size(), d);
  detail::need(gs > 0, "group size must be at least 1");
  const std::size_t ng = ceil_div(d.k, gs);
  detail::check_count(x1_scale.size(), d.m, "x1 scale (m, per token)");
  detail::check_count(x2_scale.size(), ng * d.n, "x2 group scale (ceil(k/gs) x n)");
  if (!bias.empty()) detail::check_count(bias.size(), d.n, "bias (n)");
  // x1's factor inside the block sum is 1 (1 * x2s is exact); x1's per-token scale comes last
  detail::epi_blocks<Out> epi;
  epi.nblk = ng, epi.n = d.n, epi.s1 = x1_scale.data(), epi.bias = bias, epi.y = y.data(), epi.ldy = d.n;
  const bool st = w.scales_transposed;
  arena ar(scratch(
      ctx, slice_bytes<float>(d.m * ng) + (st ? slice_bytes<float>(ng * d.n) : 0) + accumulate_bytes(d)));
  float* const a = ar.take<float>(d.m * ng);
  std::fill(a, a + d.m * ng, 1.0f);
  epi.a = a;
  epi.a_one = true;
  epi.b = x2_scale.data();  // (ceil(k/gs), n): the epilogue's layout already
  if (st) {                 // (n, ceil(k/gs)): transposed into the workspace
    float* const b = ar.take<float>(ng * d.n);
    for (std::size_t j = 0; j < ng; ++j)
      for (std::size_t c = 0; c < d.n; ++c) b[j * d.n + c] = x2_scale[c * ng + j];
    epi.b = b;
  }
  detail::accumulate(ctx, x1, w, d, gs, epi, ar);
}

}  // namespace detail

/// MODE K-G (spec §4.8, cli.md): x1 int8 per token (m), x2 int4 per group of gs along k,
/// scales (ceil(k/gs), n).
///   y = x1s[m] * sum_g fp32(P_g) * x2s[g, n]   (fp32, groups ascending) + bias_f32
template <float_output Out, integer_code T1, integer_code T2>
void matmul_kg(std::span<const T1> x1, std::span<const T2> x2, matmul_dims d, std::size_t gs,
               std::span<const float> x1_scale, std::span<const float> x2_scale, std::span<const float> bias,
               std::span<Out> y) {
  detail::kg_impl<Out, T1, T2>(default_exec(), x1, detail::weights_ref<T2>{x2}, d, gs, x1_scale, x2_scale,
                               bias, y);
}

/// MODE K-G with pre-packed weights (packed_weights(..., block_k = gs) avoids repacking per call);
/// m rows of x1.
template <float_output Out, integer_code T1, integer_code T2>
void matmul_kg(const exec_context& ctx, std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m,
               std::size_t gs, std::span<const float> x1_scale, std::span<const float> x2_scale,
               std::span<const float> bias, std::span<Out> y) {
  detail::kg_impl<Out, T1, T2>(ctx, x1, x2.ref(), x2.dims(m), gs, x1_scale, x2_scale, bias, y);
}
template <float_output Out, integer_code T1, integer_code T2>
void matmul_kg(std::span<const T1> x1, const packed_weights<T2>& x2, std::size_t m, std::size_t gs,
               std::span<const float> x1_scale, std::span<const float> x2_scale, std::span<const float> bias,
               std::span<Out> y) {
  matmul_kg<Out, T1, T2>(default_exec(), x1, x2, m, gs, x1_scale, x2_scale, bias, y);
}

/// Scales of weight-only quantization: per tensor (1), per channel (n), per group
/// (ceil(k/gs), n) as float, or MX (ceil(k/32), n) as e8m0.
struct weight_scales {
  granularity gran = granularity::channel();
  std::span<const float> scale{};
  std::span<const float> offset{};             // optional, same shape as scale
  std::span<const float8_e8m0fnu> mx_scale{};  // MX only
};

namespace detail {

/// Weight-only (spec §5): y = fp32(acc) (+ bias, one fp32 add), then for bf16 x rounded to bf16
/// (RNE) before the cast to Out (cast_output: RNE, canonical NaN). acc is the double sum of x * W.
template <class Out, class In>
struct epi_weight_only {
  std::span<const float> bias;
  Out* y = nullptr;
  std::size_t ldy = 0;

  void one(std::size_t i, std::size_t nn, double acc) const {
    float v = static_cast<float>(acc);
    if (!bias.empty()) v = v + bias[nn];
    if constexpr (std::is_same_v<In, bfloat16>) v = static_cast<float>(bfloat16(v));
    y[i * ldy + nn] = cast_output<Out>(v);
  }
};

}  // namespace detail

namespace detail {

/// The weight-only scales as rows: srows[g * np + n] = the scale of scale row g (k in [g br,
/// (g + 1) br)) and column n < n_cols, zero for n in [n_cols, np): one row per scale row of map.
inline void weight_scale_rows(const scale_map& map, std::span<const float> scale, std::size_t n_cols,
                              std::size_t np, float* srows) {
  for (std::size_t g = 0; g < map.grid.rows; ++g) {
    float* const row = srows + g * np;
    if (!map.transposed && map.bc == 1)  // (k / group, n) scales: the row as stored
      std::copy_n(scale.data() + g * n_cols, n_cols, row);
    else
      for (std::size_t n = 0; n < n_cols; ++n) row[n] = scale[map(g * map.br, n)];
    std::fill(row + n_cols, row + np, 0.0f);
  }
}

/// The weight-only reference on x2's codes decoded to fp32 (wv, exact: every code format is a
/// subset of fp32), the code format erased: compiled once per (Out, In), not per code format too.
/// st: x2's scales (and offsets) are (n, ceil(k/gs)) (scale_order::n_major).
template <float_output Out, class In>
void weight_only_decoded(std::span<const In> x, std::span<const float> wv, matmul_dims d,
                         const weight_scales& s, bool st, std::span<const float> bias, std::span<Out> y) {
  detail::count(false);  // the reference (dims checked by weight_only_ref, its one caller)
  if (!bias.empty()) detail::check_count(bias.size(), d.n, "bias (n)");
  const auto inter = [](float v) { return std::is_same_v<In, float> ? v : static_cast<float>(In(v)); };
  const bool mx = s.gran.kind == granularity_kind::mx;
  scale_map map = make_scale_map(s.gran, operand::right, {d.k, d.n});
  map.transposed = st;
  if (mx) {
    detail::need(s.offset.empty(), "MX weights take no offset");
    detail::check_count(s.mx_scale.size(), map.size(), "x2 e8m0 scale (ceil(k/32) x n)");
  } else {
    detail::check_count(s.scale.size(), map.size(), "x2 scale");
    if (!s.offset.empty()) detail::check_count(s.offset.size(), map.size(), "x2 offset");
  }
  std::vector<double> W(d.k * d.n);
  for (std::size_t k = 0; k < detail::element_rows({d.k, d.n}); ++k)
    for (std::size_t n = 0; n < d.n; ++n) {
      const float c = inter(wv[d.x2_transposed ? n * d.k + k : k * d.n + n]);
      const std::size_t i = map(k, n);
      float v;
      if (mx) {
        v = inter(c * static_cast<float>(s.mx_scale[i]));
      } else {
        const float t = s.offset.empty() ? c : inter(c + inter(s.offset[i]));
        v = inter(t * inter(s.scale[i]));
      }
      W[k * d.n + n] = v;
    }
  const detail::epi_weight_only<Out, In> epi{bias, y.data(), d.n};
  for (std::size_t m = 0; m < detail::element_rows({d.m, d.n}); ++m)
    for (std::size_t n = 0; n < d.n; ++n) {
      // products of two <= 24-bit significands are exact in double; the sum is rounded to
      // double at each step, in ascending k (the golden's order)
      double acc = 0;
      for (std::size_t k = 0; k < d.k; ++k)
        acc += static_cast<double>(static_cast<float>(x[m * d.k + k])) * W[k * d.n + n];
      epi.one(m, n, acc);
    }
}

/// The weight-only reference (spec §5, matmul_weight_only): x2's codes decoded to fp32, then
/// weight_only_decoded. st as there.
template <float_output Out, class In, matmul_code T2>
void weight_only_ref(std::span<const In> x, std::span<const T2> w, matmul_dims d, const weight_scales& s,
                     bool st, std::span<const float> bias, std::span<Out> y) {
  detail::check_dims(x.size(), w.size(), y.size(), d);  // before the decoded copy's allocation
  std::vector<float> wv(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) wv[i] = static_cast<float>(w[i]);
  weight_only_decoded<Out, In>(x, wv, d, s, st, bias, y);
}

}  // namespace detail

/// MODE weight-only / pseudo-quantization (spec §5, aclnnWeightQuantBatchMatmulV2 golden).
/// In (float, bfloat16, float16) is x's dtype and the "inter" dtype: every intermediate is
/// rounded to it (round_inter; a no-op for float):
///   s' = round_inter(scale), o' = round_inter(offset)
///   W  = round_inter(round_inter(w + o') * s')      (without offset: round_inter(w) * s')
///   MX: W = round_inter(w * 2^(e - 127))
///   y  = fp32(sum_k x * W) + bias_f32; for bf16 x, y is rounded to bf16 before the final cast.
template <float_output Out, class In, matmul_code T2>
requires(std::is_same_v<In, float> || std::is_same_v<In, bfloat16> ||
         std::is_same_v<In, float16>) void matmul_weight_only(std::span<const In> x, std::span<const T2> w,
                                                              matmul_dims d, const weight_scales& s,
                                                              std::span<const float> bias, std::span<Out> y) {
  detail::weight_only_ref<Out, In, T2>(x, w, d, s, false, bias, y);
}

namespace detail {

/// The exact weight-only fast path (avx512; detail/x86/weight_only_avx512.hpp): int8 / int4
/// weights with VNNI panels, per tensor / channel / group scales, no offset. The reference's
/// double sums vectorised across columns (bit-identical); false when it does not apply.
template <float_output Out, class In, integer_code T2>
bool weight_only_exact([[maybe_unused]] const exec_context& ctx, [[maybe_unused]] std::span<const In> x,
                       [[maybe_unused]] const packed_weights<T2>& w, [[maybe_unused]] const matmul_dims& d,
                       [[maybe_unused]] const weight_scales& s, [[maybe_unused]] std::span<const float> bias,
                       [[maybe_unused]] std::span<Out> y) {
#if defined(LOWBIT_X86_64)
  const auto kind = s.gran.kind;
  if (!use_avx512() || !w.vnni() || !s.offset.empty() || d.m * d.n == 0 || d.k == 0 ||
      !(kind == granularity_kind::tensor || kind == granularity_kind::channel ||
        kind == granularity_kind::group))
    return false;
  scale_map map = make_scale_map(s.gran, operand::right, {d.k, d.n});
  map.transposed = w.scales() == scale_order::n_major;
  check_count(s.scale.size(), map.size(), "x2 scale");
  constexpr auto I = std::is_same_v<In, bfloat16>  ? wo::inter::bf16
                     : std::is_same_v<In, float16> ? wo::inter::f16
                                                   : wo::inter::f32;
  // A task runs its panels g at a time: for each chunk of kc k rows, W of the g panels is rebuilt
  // (wd: g x kc x 64 doubles, 256 KiB) and the chunk's slice of x (m x kc doubles, 64 KiB at m =
  // 128) stays in L2 while the g panels' sums read it. One panel at a time read all of x from L3
  // per panel: 2 threads ran at 1.4x of 1 thread's speed (now 1.5-1.8x).
  constexpr std::size_t kc = 64, g = 8;
  const vnni::packed_b& pb = *w.vnni();
  const std::size_t np = pb.panels * 64, tasks = task_count(ctx, pb.panels, d.m * d.k * 64, min_task_macs);
  const std::size_t per_task = slice_bytes<double>(g * kc * 64) + slice_bytes<double>(g * d.m * 64);
  arena ar(scratch(ctx, slice_bytes<float>(map.grid.rows * np) + slice_bytes<const float*>(d.k) +
                            slice_bytes<double>(d.m * d.k) + tasks * per_task));
  float* const srows = ar.take<float>(map.grid.rows * np);  // s' = In(s), a row of np per scale row
  const float** const row_of = ar.take<const float*>(d.k);
  double* const xd = ar.take<double>(d.m * d.k);
  std::byte* const task_mem = reinterpret_cast<std::byte*>(ar.take<std::byte>(tasks * per_task));
  weight_scale_rows(map, s.scale, d.n, np, srows);
  if constexpr (!std::is_same_v<In, float>)
    for (std::size_t i = 0; i < map.grid.rows * np; ++i) srows[i] = static_cast<float>(In(srows[i]));
  for (std::size_t k = 0; k < d.k; ++k) row_of[k] = srows + (k / map.br) * np;
  for (std::size_t i = 0; i < d.m * d.k; ++i) xd[i] = static_cast<double>(static_cast<float>(x[i]));
  run_tasks(ctx, tasks, [&](std::size_t t) {
    arena ta(task_mem + t * per_task);
    double* const wd = ta.take<double>(g * kc * 64);
    double* const acc = ta.take<double>(g * d.m * 64);
    const auto [p0, p1] = task_range(t, tasks, pb.panels);
    for (std::size_t q0 = p0; q0 < p1; q0 += g) {
      const std::size_t q1 = std::min(q0 + g, p1);
      for (std::size_t k0 = 0; k0 < d.k; k0 += kc) {
        const std::size_t k1 = std::min(k0 + kc, d.k);
        for (std::size_t p = q0; p < q1; ++p) {
          double* const wp = wd + (p - q0) * kc * 64;
          double* const ap = acc + (p - q0) * d.m * 64;
          wo::exact_w_rows<I, nibble_code<T2>>(
              pb.panel(p), pb.lut.data(), k0, k1, p * 64, [&](std::size_t k) { return row_of[k]; }, wp);
          for (std::size_t h = 0; h < 64; h += 32) {  // two halves of 32 columns, 6 rows at a time
            std::size_t i = 0;
            for (; i + 6 <= d.m; i += 6)
              wo::exact_rows<6, 4>(xd + i * d.k, d.k, k0, k1, wp + h, ap + i * 64 + h);
            for (; i + 2 <= d.m; i += 2)
              wo::exact_rows<2, 4>(xd + i * d.k, d.k, k0, k1, wp + h, ap + i * 64 + h);
            if (i < d.m) wo::exact_rows<1, 4>(xd + i * d.k, d.k, k0, k1, wp + h, ap + i * 64 + h);
          }
        }
      }
      for (std::size_t p = q0; p < q1; ++p) {
        const double* const ap = acc + (p - q0) * d.m * 64;
        const std::size_t n0 = p * 64, cnt = std::min<std::size_t>(64, d.n - n0);
        if constexpr (std::is_same_v<Out, float16>) {  // the scalar epilogue (no vector fp16 store_output)
          const epi_weight_only<Out, In> epi{bias, y.data(), d.n};
          for (std::size_t i = 0; i < d.m; ++i)
            for (std::size_t c = 0; c < cnt; ++c) epi.one(i, n0 + c, ap[i * 64 + c]);
        } else {
          for (std::size_t i = 0; i < d.m; ++i)
            wo::exact_epilogue<I>(ap + i * 64, cnt, bias.empty() ? nullptr : bias.data() + n0,
                                  y.data() + i * d.n + n0);
        }
      }
    }
  });
  count(true);
  return true;
#else
  return false;
#endif
}

}  // namespace detail

/// MODE weight-only (the reference's bits) on pre-packed int8 / int4 weights; m rows of x; ctx
/// runs the 64-column panels. Per tensor / channel / group scales without offset take the exact
/// vector path on avx512 (detail::weight_only_exact); the rest runs the reference.
template <float_output Out, class In, integer_code T2>
requires(std::is_same_v<In, float> || std::is_same_v<In, bfloat16> ||
         std::is_same_v<In, float16>) void matmul_weight_only(const exec_context& ctx, std::span<const In> x,
                                                              const packed_weights<T2>& w, std::size_t m,
                                                              const weight_scales& s,
                                                              std::span<const float> bias, std::span<Out> y) {
  const matmul_dims d = w.dims(m);
  detail::check_dims(x.size(), w.k() * w.n(), y.size(), d);
  if (!bias.empty()) detail::check_count(bias.size(), d.n, "bias (n)");
  if (detail::weight_only_exact<Out, In, T2>(ctx, x, w, d, s, bias, y)) return;
  detail::weight_only_ref<Out, In, T2>(x, w.codes(), d, s, w.scales() == scale_order::n_major, bias, y);
}
template <float_output Out, class In, integer_code T2>
requires(std::is_same_v<In, float> || std::is_same_v<In, bfloat16> ||
         std::is_same_v<In, float16>) void matmul_weight_only(std::span<const In> x,
                                                              const packed_weights<T2>& w, std::size_t m,
                                                              const weight_scales& s,
                                                              std::span<const float> bias, std::span<Out> y) {
  matmul_weight_only<Out, In, T2>(default_exec(), x, w, m, s, bias, y);
}

namespace detail {
#if defined(LOWBIT_X86_64)
/// Whether weight_only_columns applies: 4-bit codes, m <= 4, k > 0, one scale row or groups of a
/// multiple of 32 k. Otherwise the panel kernel (wo::panel) runs.
template <class T2>
bool columns_apply(const matmul_dims& d, const scale_map& map) noexcept {
  return nibble_code<T2> && d.m <= 4 && d.k > 0 && (map.grid.rows == 1 || map.br % 32 == 0);
}
/// weight_only_columns' tasks (each a run of 64-column panels) and scratch bytes.
inline std::size_t columns_tasks(const exec_context& ctx, const matmul_dims& d) noexcept {
  return task_count(ctx, ceil_div(d.n, 64), d.m * d.k * 64, min_task_macs);
}
inline std::size_t columns_scratch(const exec_context& ctx, const matmul_dims& d,
                                   const scale_map& map) noexcept {
  return slice_bytes<float>(d.m * ceil_div(d.k, 32) * 32) +
         slice_bytes<std::uint16_t>(d.m * ceil_div(d.k, 64) * 64) +
         columns_tasks(ctx, d) * slice_bytes<float>(map.grid.rows * 64);
}

/// The approx weight-only sum at m <= 4 on 4-bit codes (where columns_apply): yf (m, n) from the
/// fp32 x (m, k), panel by panel of 64 columns. Each task builds its panels' scale rows itself
/// (rounded to the inter dtype), so that the scales are read in parallel and stay in the core
/// that uses them. A panel runs wo::columns_bf16 (vdpbf16ps) for bf16 x where the guard holds for
/// x and that panel's scales, else wo::columns (fp32 FMA): the choice depends on the panel only,
/// so the result is the same for any thread count. ar: columns_scratch bytes.
template <wo::inter I, class T2>
void weight_only_columns(const exec_context& ctx, const packed_weights<T2>& w, const matmul_dims& d,
                         const scale_map& map, std::span<const float> scale, const float* xs, arena& ar,
                         float* yf) {
  if constexpr (nibble_code<T2>) {
    const nibble_columns& cols = w.columns();
    const std::size_t kp = cols.kp, kc = ceil_div(d.k, 64) * 64, rows = map.grid.rows;
    const std::size_t bpg = rows > 1 ? map.br / 32 : kp / 32, cpg = rows > 1 ? map.br / 64 : kc / 64;
    float* const xb = ar.take<float>(d.m * kp);
    std::uint16_t* const xw = ar.take<std::uint16_t>(d.m * kc);
    const std::size_t tasks = columns_tasks(ctx, d);
    float* const srows = ar.take<float>(tasks * rows * 64);
    float lut[16];
    for (unsigned c = 0; c < 16; ++c)
      lut[c] = static_cast<float>(int_value(T2::from_bits(static_cast<std::uint8_t>(c))));
    // x for wo::columns: per 32-k block its 16 even k, then its 16 odd k (the nibbles' order)
    std::fill(xb, xb + d.m * kp, 0.0f);
    for (std::size_t i = 0; i < d.m; ++i)
      for (std::size_t kk = 0; kk < d.k; ++kk)
        xb[i * kp + kk / 32 * 32 + kk % 2 * 16 + kk % 32 / 2] = xs[i * d.k + kk];
    // bf16 x for wo::columns_bf16 (its bits): per 64-k chunk its 32 even k, then its 32 odd k.
    // Its guard: 64-k chunks within one group, no nonzero x or scale below 2^-126 and no product
    // of them below 2^-100 (x here, the scales per panel).
    bool dot = false;
    double xmin = 0;
    if constexpr (I == wo::inter::bf16) {
      xmin = wo::min_nonzero_abs(xs, d.m * d.k);
      dot = (rows == 1 || map.br % 64 == 0) && xmin >= 0x1p-126;
      std::fill(xw, xw + d.m * kc, std::uint16_t{0});
      for (std::size_t i = 0; i < d.m; ++i)
        for (std::size_t kk = 0; kk < d.k; ++kk)
          xw[i * kc + kk / 64 * 64 + kk % 2 * 32 + kk % 64 / 2] =
              static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(xs[i * d.k + kk]) >> 16);
    }
    // R rows x C columns at once (Cb for columns_bf16, Cf for columns): 2 R C accumulators
    const auto run = [&]<std::size_t R, std::size_t Cb, std::size_t Cf>() {
      run_tasks(ctx, tasks, [&](std::size_t t) {
        float* const sr = srows + t * rows * 64;  // the panel's scale rows, 64 columns each
        const auto [p0, p1] = task_range(t, tasks, ceil_div(d.n, 64));
        for (std::size_t p = p0; p < p1; ++p) {
          const std::size_t base = p * 64, n1 = std::min(d.n, base + 64);
          for (std::size_t g = 0; g < rows; ++g) {
            float* const row = sr + g * 64;
            if (!map.transposed && map.bc == 1)  // (k / group, n) scales: the row as stored
              std::copy_n(scale.data() + g * d.n + base, n1 - base, row);
            else
              for (std::size_t n = base; n < n1; ++n) row[n - base] = scale[map(g * map.br, n)];
            std::fill(row + (n1 - base), row + 64, 0.0f);
          }
          wo::round_inter_array<I>(sr, rows * 64);
          bool dp = false;
          if constexpr (I == wo::inter::bf16) {
            const double smin = wo::min_nonzero_abs(sr, rows * 64);
            dp = dot && smin >= 0x1p-126 && xmin * smin >= 0x1p-100;
          }
          if (dp)
            for (std::size_t n0 = base; n0 < n1; n0 += Cb)
              wo::columns_bf16<R, Cb>(cols.at(n0), d.k, std::min(Cb, n1 - n0), xw, kc, lut, sr + (n0 - base),
                                      64, cpg, yf + n0, d.n);
          else
            for (std::size_t n0 = base; n0 < n1; n0 += Cf)
              wo::columns<I, R, Cf>(cols.at(n0), kp, d.k, std::min(Cf, n1 - n0), xb, kp, lut,
                                    sr + (n0 - base), 64, bpg, yf + n0, d.n);
        }
      });
    };
    switch (d.m) {
      case 1:
        run.template operator()<1, 8, 4>();
        break;
      case 2:
        run.template operator()<2, 4, 4>();
        break;
      case 3:
        run.template operator()<3, 2, 2>();
        break;
      default:
        run.template operator()<4, 2, 2>();
        break;
    }
  }
}
#endif
}  // namespace detail

/// MODE weight-only with the approx tag and pre-packed int4 / int8 weights (per tensor, per
/// channel or per group, no offset): W is rebuilt exactly as the reference rounds it; the sum over
/// k is fp32 FMA chains (detail/x86/weight_only_avx512.hpp: one chain in ascending k per column,
/// or at m <= 4 with int4 32 chains per column added in a fixed order; with bf16 x and groups of
/// a multiple of 64 k, vdpbf16ps where no subnormal can arise), within k * 2^-24 * sum |x W| of
/// the reference's, the same for any thread count. At m <= 4 with int4 the first
/// call lays the codes out a second time (packed_weights::columns). Exact (the reference) where
/// the path does not apply.
template <float_output Out, class In, integer_code T2>
requires(std::is_same_v<In, float> || std::is_same_v<In, bfloat16> ||
         std::is_same_v<In, float16>) void matmul_weight_only(const exec_context& ctx, approx_t,
                                                              std::span<const In> x,
                                                              const packed_weights<T2>& w, std::size_t m,
                                                              const weight_scales& s,
                                                              std::span<const float> bias, std::span<Out> y) {
  const matmul_dims d{m, w.k(), w.n(), w.transposed()};
#if defined(LOWBIT_X86_64)
  if (detail::use_avx512_bf16() && s.gran.kind != granularity_kind::mx && s.offset.empty() && w.vnni()) {
    detail::check_dims(x.size(), w.k() * w.n(), y.size(), d);
    if (!bias.empty()) detail::check_count(bias.size(), d.n, "bias (n)");
    scale_map map = make_scale_map(s.gran, operand::right, {d.k, d.n});
    map.transposed = w.scales() == scale_order::n_major;
    detail::check_count(s.scale.size(), map.size(), "x2 scale");
    constexpr auto I = std::is_same_v<In, bfloat16>  ? detail::wo::inter::bf16
                       : std::is_same_v<In, float16> ? detail::wo::inter::f16
                                                     : detail::wo::inter::f32;
    // scratch: x in fp32, the fp32 outputs, then the columns kernels' (x rearranged, scale rows
    // per task) or the panel kernel's (one row of n scales per scale row of the map, rounded to
    // the inter dtype, and the scale row of each k)
    const bool columns = detail::columns_apply<T2>(d, map);
    const std::size_t np = ceil_div(d.n, 64) * 64;  // padded row length
    detail::arena ar(detail::scratch(ctx, detail::slice_bytes<float>(x.size()) +
                                              detail::slice_bytes<float>(d.m * d.n) +
                                              (columns ? detail::columns_scratch(ctx, d, map)
                                                       : detail::slice_bytes<float>(map.grid.rows * np) +
                                                             detail::slice_bytes<const float*>(d.k))));
    float* const xs = ar.take<float>(x.size());
    float* const yf = ar.take<float>(d.m * d.n);
    for (std::size_t i = 0; i < x.size(); ++i) {
      if constexpr (std::is_same_v<In, bfloat16>)
        xs[i] = std::bit_cast<float>(std::uint32_t{x[i].bits()} << 16);
      else
        xs[i] = static_cast<float>(x[i]);
    }
    if (columns) {
      detail::weight_only_columns<I, T2>(ctx, w, d, map, s.scale, xs, ar, yf);
    } else {
      float* const srows = ar.take<float>(map.grid.rows * np);
      const float** const row_of = ar.take<const float*>(d.k);  // the scale row of each k
      detail::weight_scale_rows(map, s.scale, d.n, np, srows);
      detail::wo::round_inter_array<I>(srows, map.grid.rows * np);
      for (std::size_t k = 0; k < d.k; ++k) row_of[k] = srows + (k / map.br) * np;
      const auto scale_row = [&](std::size_t k) { return row_of[k]; };
      detail::parallel_items(
          ctx, ceil_div(d.n, 64), d.m * d.k * 64, detail::min_task_macs, [&](std::size_t p) {
            const std::size_t n0 = p * 64, cnt = std::min<std::size_t>(64, d.n - n0);
            for (std::size_t i = 0; i < d.m; ++i)
              detail::wo::panel<I, detail::nibble_code<T2>>(w.vnni()->panel(p), w.vnni()->lut.data(),
                                                            xs + i * d.k, d.k, n0, scale_row, yf + i * d.n,
                                                            cnt);
          });
    }
    if (!bias.empty())
      for (std::size_t i = 0; i < d.m * d.n; ++i) yf[i] = yf[i] + bias[i % d.n];
    detail::count(true);
    if constexpr (std::is_same_v<In, bfloat16>) detail::wo::round_inter_array<I>(yf, d.m * d.n);
    for (std::size_t i = 0; i < d.m * d.n; ++i) y[i] = cast_output<Out>(yf[i]);
    return;
  }
#endif
  (void)ctx;
  detail::weight_only_ref<Out, In, T2>(x, w.codes(), d, s, w.scales() == scale_order::n_major, bias, y);
}
template <float_output Out, class In, integer_code T2>
requires(std::is_same_v<In, float> || std::is_same_v<In, bfloat16> ||
         std::is_same_v<In, float16>) void matmul_weight_only(approx_t, std::span<const In> x,
                                                              const packed_weights<T2>& w, std::size_t m,
                                                              const weight_scales& s,
                                                              std::span<const float> bias, std::span<Out> y) {
  matmul_weight_only<Out, In, T2>(default_exec(), approx, x, w, m, s, bias, y);
}

/// Options of lowbit::matmul on quantized operands.
struct matmul_options {
  matmul_bias bias{};  // int32 (integer modes, before scaling) or float (after), as the mode says
};

/// The CANN mode a pair of scale maps forms (spec §4, cli.md's mode table), as named there.
inline std::string_view matmul_mode_name(const scale_map& x1, const scale_map& x2) {
  using k = granularity_kind;
  const auto a = x1.gran.kind, b = x2.gran.kind;
  if (x1.side != operand::left || x2.side != operand::right) return {};
  if (a == k::tensor && b == k::tensor) return "T-T";
  if (a == k::tensor && b == k::channel) return "T-C";
  if (a == k::token && b == k::channel) return "K-C";
  if (a == k::token && b == k::tensor) return "K-T";
  if (a == k::token && b == k::group) return "K-G";
  if (a == k::mx && b == k::mx) return "MX";
  if (a == k::group && b == k::block && x2.br == x1.bc && x2.bc == x1.bc) return "G-B";
  if (a == k::block && b == k::block && x1.br == x1.bc && x2.br == x1.bc && x2.bc == x1.bc) return "B-B";
  return {};
}

/// Quantized matmul of two quantized operands, as quantize() / quantize_mx() return them:
/// x1 quantized as the left operand (m, k), x2 as the right one (k, n). The pair of granularities
/// names the CANN mode (matmul_mode_name): tensor x tensor T-T, tensor x channel T-C, token x
/// channel K-C, token x tensor K-T, token x group K-G, group:GS x block:GS,GS G-B, block x block
/// B-B, mx x mx MX; any other pair, asymmetric operands (offsets) or mismatched shapes are an
/// std::invalid_argument. Runs that mode's function (same rounding, same bits) with the dims,
/// group size and scales taken from the operands; y is (m, n) row-major. Template arguments are
/// deduced: `lowbit::matmul(qx.span(), qw.span(), std::span<float>(y));`
template <class T1, class S1, class T2, class S2, class Out>
void matmul(quantized_span<T1, S1> x1, quantized_span<T2, S2> x2, std::span<Out> y,
            const matmul_options& o = {}) {
  const std::string_view mode = matmul_mode_name(x1.map, x2.map);
  if (mode.empty())
    throw std::invalid_argument(std::string("x1 per ") + std::string(to_string(x1.map.gran)) + " (" +
                                (x1.map.side == operand::left ? "left" : "right") + ") and x2 per " +
                                std::string(to_string(x2.map.gran)) + " (" +
                                (x2.map.side == operand::left ? "left" : "right") +
                                ") do not form a CANN matmul mode");
  if (!x1.offsets.empty() || !x2.offsets.empty())
    throw std::invalid_argument("the quantized matmul modes take symmetric operands (no offsets)");
  const matmul_dims d{x1.map.data.rows, x1.map.data.cols, x2.map.data.cols, false};
  detail::need(x2.map.data.rows == d.k, [&] {
    return "k differs: x1 is " + std::to_string(d.m) + " x " + std::to_string(d.k) + ", x2 is " +
           std::to_string(x2.map.data.rows) + " x " + std::to_string(d.n);
  });
  constexpr bool e8m0 = std::is_same_v<std::remove_const_t<S1>, float8_e8m0fnu> &&
                        std::is_same_v<std::remove_const_t<S2>, float8_e8m0fnu>;
  constexpr bool f32 =
      std::is_same_v<std::remove_const_t<S1>, float> && std::is_same_v<std::remove_const_t<S2>, float>;
  using C1 = std::remove_const_t<T1>;
  using C2 = std::remove_const_t<T2>;
  const std::span<const C1> c1(x1.values.data(), x1.values.size());
  const std::span<const C2> c2(x2.values.data(), x2.values.size());
  if (mode == "MX") {
    if constexpr (e8m0 && float_code<C1> && float_code<C2> && float_output<Out>) {
      detail::need(o.bias.i32.empty(), "MX takes a float bias");
      const std::span<const float8_e8m0fnu> e1(x1.scales.data(), x1.scales.size()),
          e2(x2.scales.data(), x2.scales.size());
      return matmul_mx<Out, C1, C2>(c1, c2, d, e1, e2, o.bias.f32, y);
    }
    throw std::invalid_argument("MX takes low-bit float codes with e8m0 scales and a float output");
  }
  if constexpr (f32 && matmul_code<C1> && matmul_code<C2>) {
    const std::span<const float> s1(x1.scales.data(), x1.scales.size()),
        s2(x2.scales.data(), x2.scales.size());
    if constexpr (std::is_same_v<Out, std::int32_t>) {
      throw std::invalid_argument("int32 output is mode int32 (matmul_int32), which takes no scales");
    } else if constexpr (float_output<Out>) {
      if (mode == "T-T" || mode == "T-C") return matmul_tc<Out, C1, C2>(c1, c2, d, s2, s1[0], o.bias, y);
      if (mode == "K-C" || mode == "K-T") return matmul_kc<Out, C1, C2>(c1, c2, d, s1, s2, o.bias, y);
      detail::need(o.bias.i32.empty(), [&] { return std::string(mode) + " takes a float bias"; });
      if (mode == "G-B") return matmul_gb<Out, C1, C2>(c1, c2, d, x1.map.bc, s1, s2, o.bias.f32, y);
      if (mode == "B-B") return matmul_bb<Out, C1, C2>(c1, c2, d, x1.map.bc, s1, s2, o.bias.f32, y);
      if constexpr (integer_code<C1> && integer_code<C2>)
        if (mode == "K-G") return matmul_kg<Out, C1, C2>(c1, c2, d, x2.map.br, s1, s2, o.bias.f32, y);
      throw std::invalid_argument("K-G takes integer codes (int8 x int4)");
    }
  }
  throw std::invalid_argument("mode " + std::string(mode) +
                              " takes fp32 scales and an fp32, bf16 or fp16 output");
}

/// The same with owning quantized results.
template <class T1, class S1, class T2, class S2, class Out>
void matmul(const quantized<T1, S1>& x1, const quantized<T2, S2>& x2, std::span<Out> y,
            const matmul_options& o = {}) {
  matmul(x1.span(), x2.span(), y, o);
}

}  // namespace lowbit::inline v0

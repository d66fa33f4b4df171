// The exact block sums of low-bit float codes on double-precision multiply-adds (issue 11), the
// fast form of the reference's fixed-point sums (exact_sum.hpp, spec §9.13). Used by every float-
// code matmul mode (T-C, K-C, G-B, B-B, MX, T-CG) on every backend but `scalar`.
//
// Why a double sum is exact here. A code of these formats (fp8 e4m3 / e5m2, HiFloat8, fp6, fp4)
// has a significand of at most 4 bits, so every product of two codes has at most 8 and is exact
// in double. Let every nonzero code of a block of x1 lie in [2^L1, 2^H1) as a multiple of 2^L1
// (L1: the lowest set bit of any of them; H1: above the largest), the same for x2 (L2, H2), and
// let the block have len terms. Every partial sum is then a multiple of 2^(L1 + L2) below
// len * 2^(H1 + H2) in magnitude, an integer of at most H1 + H2 + ceil(log2 len) - L1 - L2 bits in
// those units: when that is <= 53, every partial sum is a double, so the sum is exact in any
// order, fused or not, and equals the reference's exact sum. Rounding it once to fp32 (after the
// MX power-of-two scales, exact in double) gives the reference's block sum bit for bit.
//   - For formats whose whole range passes (e4m3 x e4m3 up to len = 2^17, every fp6 / fp4 mix)
//     nothing is checked.
//   - Otherwise (e5m2, HiFloat8: up to 76 bits of range) L and H are taken per 8-row tile of x1
//     and 24-column strip of x2 per block, and a tile whose block fails the test takes the
//     reference's fixed-point sum (exact_block_sum): slower, never different.
// NaN / Inf codes are left out of L and H: their products make the double sum Inf or NaN exactly
// when the reference's special-product sum does (NaN iff a NaN product or Inf of both signs), and
// the output cast makes every NaN canonical.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <type_traits>

#include "../backend.hpp"
#include "../exec.hpp"
#include "../types/e8m0.hpp"
#include "arm64/matmul_f64.hpp"
#include "exact.hpp"
#include "exact_sum.hpp"
#include "x86/matmul_f64.hpp"

namespace lowbit::inline v0::detail {

/// Every code of T as the float sums read it: its value in double, its fixed-point integer (units
/// 2^fixed_lsb<T>, 0 for NaN / Inf), whether it is NaN / Inf, and the exponent bounds of the
/// exactness test: |v| < 2^hi and v a multiple of 2^lo (zero, NaN and Inf: hi = -big, lo = +big,
/// neutral in a max / min).
inline constexpr int code_none = 1000;  // code_table's hi / lo of zero, NaN and Inf

template <class T>
struct code_table {
  static constexpr std::size_t size = std::size_t{T::mask} + 1;
  static constexpr int none = code_none;
  std::array<double, size> v{};
  std::array<std::int64_t, size> fixed{};
  std::array<bool, size> bad{};
  std::array<std::int16_t, size> hi{}, lo{};
  int max_hi = -none, min_lo = none;  // over every code: the format's static range
  // by m = c & mag (c's bits but the top one): the bounds of every code whose m is <= m (hi_upto)
  // or >= m (lo_from), both values of the top bit; the vector kernels' bounds of a run of codes
  // from its largest and smallest nonzero m (f64mm::code_bounds): never tighter than the codes'
  // own, so a block the exact test passes is exact (a looser bound only sends more to the
  // reference, which gives the same bits)
  static constexpr std::uint8_t mag = static_cast<std::uint8_t>(T::mask >> 1);
  std::array<std::int16_t, size / 2> hi_upto{}, lo_from{};

  static const code_table& get() {
    static const code_table t = [] {
      code_table r;
      for (std::size_t c = 0; c < size; ++c) {
        const double x =
            static_cast<double>(static_cast<float>(T::from_bits(static_cast<typename T::storage>(c))));
        r.v[c] = x;
        r.bad[c] = x - x != 0;
        r.hi[c] = -none, r.lo[c] = none;
        if (r.bad[c] || x == 0) continue;
        r.fixed[c] = static_cast<std::int64_t>(x * static_cast<double>(std::int64_t{1} << (-fixed_lsb<T>())));
        const exact e = decompose(x);
        r.hi[c] = static_cast<std::int16_t>(e.exp + static_cast<int>(std::bit_width(e.sig)));
        r.lo[c] = static_cast<std::int16_t>(e.exp + std::countr_zero(e.sig));
        r.max_hi = std::max<int>(r.max_hi, r.hi[c]);
        r.min_lo = std::min<int>(r.min_lo, r.lo[c]);
      }
      for (std::size_t m = 0; m < size / 2; ++m) {
        const std::size_t up = size / 2 + m;  // the same m with the top bit set
        r.hi_upto[m] = std::max({m ? r.hi_upto[m - 1] : std::int16_t{-none}, r.hi[m], r.hi[up]});
      }
      for (std::size_t m = size / 2; m-- > 0;) {
        const std::size_t up = size / 2 + m;
        r.lo_from[m] =
            std::min({m + 1 < size / 2 ? r.lo_from[m + 1] : std::int16_t{none}, r.lo[m], r.lo[up]});
      }
      return r;
    }();
    return t;
  }
  static std::size_t index(T c) noexcept { return static_cast<std::size_t>(c.bits()); }
};

/// What accumulate_f64 reads of a code table, its format erased (the codes are one byte each,
/// the byte is the table index): one compiled sum for every pair of formats.
struct code_view {
  const double* v;
  const std::int16_t *hi, *lo;
  f64mm::decode how;  // the vector kernels' way to v (f64mm::to_doubles)
  std::uint8_t mag;   // code_table's, and its hi_upto / lo_from
  const std::int16_t *hi_upto, *lo_from;
};
template <class T>
code_view view_of() {
  const auto& t = code_table<T>::get();
  return {t.v.data(),
          t.hi.data(),
          t.lo.data(),
          std::is_same_v<T, float8_e4m3fn> ? f64mm::decode::e4m3
          : std::is_same_v<T, float8_e5m2> ? f64mm::decode::e5m2
          : code_table<T>::size == 16      ? f64mm::decode::nibble
                                           : f64mm::decode::table,
          code_table<T>::mag,
          t.hi_upto.data(),
          t.lo_from.data()};
}

/// The reference's rounding of one exact block sum (exact_dot::sum_f32): the finite products'
/// fixed-point sum s (units 2^exp2) rounded once to fp32, then, when NaN / Inf codes took part,
/// their products' double sum sp added in double and the result rounded to fp32.
inline float round_block_sum(int128 s, int exp2, bool special, double sp) noexcept {
  const float f = to_float(s, exp2);
  return special ? static_cast<float>(static_cast<double>(f) + sp) : f;
}

/// The MX scales of the float sums: P = fp32(exact sum * 2^(e1[i, j] - 127) * 2^(e2[j, n] - 127)),
/// NaN when either is 0xff. e2 is (nb, n), or (n, nb) when e2_transposed. Null: no scales.
struct mx_exps {
  const float8_e8m0fnu* e1 = nullptr;
  const float8_e8m0fnu* e2 = nullptr;
  bool e2_transposed = false;
};

/// The value of every e8m0 code, 2^(e - 127) (NaN for 0xff), by the type's own exact conversion:
/// the MX factors of the double sums (one table for every instantiation).
inline const std::array<double, 256>& e8m0_values() {
  static const std::array<double, 256> t = [] {
    std::array<double, 256> r{};
    for (std::size_t e = 0; e < r.size(); ++e)
      r[e] = static_cast<double>(static_cast<float>(float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(e))));
    return r;
  }();
  return t;
}

/// Whether len-term block sums of T1 x T2 codes are exact in double over the formats' whole
/// range (no per-block test needed).
template <class T1, class T2>
bool float_sums_static(std::size_t len) noexcept {
  const auto& t1 = code_table<T1>::get();
  const auto& t2 = code_table<T2>::get();
  return t1.max_hi + t2.max_hi + static_cast<int>(std::bit_width(len - 1)) - t1.min_lo - t2.min_lo <= 53;
}

/// The reference block sum of x1 row i and x2 column nn over k in [k0, k1) (x2 (k, n), or (n, k)
/// when x2t), rounded as the reference rounds it (with the MX exponents when given).
template <class T1, class T2>
float exact_block_sum(const T1* x1, const T2* x2, std::size_t k, std::size_t n, bool x2t, std::size_t i,
                      std::size_t nn, std::size_t j, std::size_t k0, std::size_t k1, const mx_exps& mx) {
  const auto& t1 = code_table<T1>::get();
  const auto& t2 = code_table<T2>::get();
  int extra = 0;
  if (mx.e1) {
    const std::size_t nb = (k + 31) / 32;
    const auto s1 = mx.e1[i * nb + j].bits(), s2 = mx.e2[mx.e2_transposed ? nn * nb + j : j * n + nn].bits();
    if (s1 == 0xff || s2 == 0xff) return std::numeric_limits<float>::quiet_NaN();
    extra = int(s1) + int(s2) - 254;
  }
  int128 s = 0;
  double sp = 0;
  bool special = false;
  for (std::size_t kk = k0; kk < k1; ++kk) {
    const std::size_t a = t1.index(x1[i * k + kk]), b = t2.index(x2[x2t ? nn * k + kk : kk * n + nn]);
    if (t1.bad[a] || t2.bad[b])
      sp += t1.v[a] * t2.v[b], special = true;
    else
      s += static_cast<int128>(t1.fixed[a]) * t2.fixed[b];
  }
  return round_block_sum(s, fixed_lsb<T1>() + fixed_lsb<T2>() + extra, special, sp);
}

/// The operands of accumulate_f64 with their formats erased: one-byte codes, their tables, whether
/// blocks of the call need the exactness test (not float_sums_static), and the reference block
/// sum (exact_block_sum) for tiles that fail it.
struct f64_operands {
  const std::uint8_t *x1, *x2;
  code_view t1, t2;
  bool check;
  float (*block_sum)(const void* x1, const void* x2, std::size_t k, std::size_t n, bool x2t, std::size_t i,
                     std::size_t nn, std::size_t j, std::size_t k0, std::size_t k1, const mx_exps& mx);
};

namespace f64sums {

inline constexpr std::size_t kc = 128;  // k per packed piece of x2 (24 KB of doubles: L1)
inline constexpr std::size_t mc = 256;  // rows of x1 packed at a time (bounds the scratch)

/// Scratch bytes of one task: a piece of x2, and the tile sums, block sums and totals of a strip
/// of 24 columns over every row of a chunk.
inline std::size_t task_bytes(std::size_t m) noexcept {
  const std::size_t tiles = (std::min(m, mc) + f64mm::mr - 1) / f64mm::mr, tile = f64mm::mr * f64mm::nr;
  return slice_bytes<double>(kc * f64mm::nr) + slice_bytes<double>(tiles * tile) +
         slice_bytes<float>(tiles * tile) + slice_bytes<float>(tile);
}

/// Scratch bytes of accumulate_f64: x1's chunk (at most mc rows) as doubles and its tiles' bounds,
/// x2 (k, n)'s codes strip by strip (24 columns contiguous per k), then `tasks` tasks' buffers.
inline std::size_t bytes(std::size_t m, std::size_t k, std::size_t n, std::size_t nb,
                         std::size_t tasks) noexcept {
  const std::size_t tiles = (std::min(m, mc) + f64mm::mr - 1) / f64mm::mr;
  const std::size_t strips = (n + f64mm::nr - 1) / f64mm::nr;
  return slice_bytes<double>(tiles * f64mm::mr * k) + slice_bytes<std::int16_t>(2 * tiles * nb) +
         slice_bytes<std::uint8_t>(strips * f64mm::nr * k) + tasks * task_bytes(m);
}

/// The tasks accumulate_f64 cuts a call into: strips of 24 columns.
inline std::size_t tasks(const exec_context& ctx, std::size_t m, std::size_t k, std::size_t n) noexcept {
  return task_count(ctx, (n + f64mm::nr - 1) / f64mm::nr, std::min(m, mc) * k * f64mm::nr, min_task_macs);
}

/// x2's codes of strips [s0, s1) into out, strip by strip, k rows of 24 codes each (code 0, +0 in
/// every float format, past n). x2 is (k, n), or (n, k) when x2t. (k, n) is copied 8 rows at a
/// time across every strip of the range: strip by strip, each 24-byte read came from a new page n
/// bytes on (fp8 G-B at 128 x 4096 x 4096: 9% of a call's samples), and row by row, each 24-byte
/// write did. A 4096 x 4096 copy, 1 thread: 5.6 ms strip by strip, 10.5 ms row by row, 1.4-1.5 ms
/// in 8-row bands (12: the same; 16 and 24: 2.1-2.7 ms).
inline void copy_strips(const std::uint8_t* src, std::size_t k, std::size_t n, bool x2t, std::size_t s0,
                        std::size_t s1, std::uint8_t* out) {
  constexpr std::size_t nr = f64mm::nr;
  // (n, k): full strips 16 k at a time by 16 x 16 byte transposes (x86-64; a byte per load and
  // store took 8.2 ms for 4096 x 4096, the transposes 4.4-5.9 ms: the strided rows' reads remain)
  if (x2t) {
    for (std::size_t st = s0; st < s1; ++st) {
      const std::size_t n0 = st * nr, cnt = std::min(nr, n - n0);
      std::uint8_t* dst = out + st * k * nr;
      if (cnt < nr) std::fill(dst, dst + k * nr, std::uint8_t{0});
      std::size_t k0 = 0;
#if defined(LOWBIT_X86_64)
      const auto at = [&](std::size_t c) {
        return reinterpret_cast<const __m128i*>(src + (n0 + c) * k + k0);
      };
      const auto to = [&](std::size_t j) { return reinterpret_cast<__m128i*>(dst + (k0 + j) * nr); };
      if (cnt == nr)
        for (; k0 + 16 <= k; k0 += 16) {
          __m128i in[16], t[16];
          for (std::size_t c = 0; c < 16; ++c) in[c] = _mm_loadu_si128(at(c));
          f64mm::transpose16x16(in, t);
          for (std::size_t j = 0; j < 16; ++j) _mm_storeu_si128(to(j), t[j]);
          for (std::size_t c = 0; c < 8; ++c) in[c] = in[c + 8] = _mm_loadu_si128(at(16 + c));
          f64mm::transpose16x16(in, t);  // columns 16 .. 23 in the low 8 bytes
          for (std::size_t j = 0; j < 16; ++j)
            _mm_storel_epi64(reinterpret_cast<__m128i*>(dst + (k0 + j) * nr + 16), t[j]);
        }
#endif
      for (std::size_t c = 0; c < cnt; ++c)
        for (std::size_t kk = k0; kk < k; ++kk) dst[kk * nr + c] = src[(n0 + c) * k + kk];
    }
    return;
  }
  const std::size_t full = std::min(s1, n / nr);  // strips [s0, full) have 24 columns
  for (std::size_t k0 = 0; k0 < k; k0 += 8) {
    const std::size_t k1 = std::min(k, k0 + 8);
    for (std::size_t st = s0; st < full; ++st)
      for (std::size_t kk = k0; kk < k1; ++kk)
        std::memcpy(out + (st * k + kk) * nr, src + kk * n + st * nr, nr);
    if (full < s1)  // the last strip, cnt < 24 columns, zeros after them
      for (std::size_t kk = k0; kk < k1; ++kk) {
        const std::size_t cnt = n - full * nr;
        std::uint8_t* dst = out + (full * k + kk) * nr;
        std::memcpy(dst, src + kk * n + full * nr, cnt);
        std::fill(dst + cnt, dst + nr, std::uint8_t{0});
      }
  }
}

/// out[i] = the value of code src[i], i < len; Check: hi / lo widened by the codes' bounds.
template <bool Check, class Table>
void to_doubles(const std::uint8_t* src, std::size_t len, const Table& t, double* out, int& hi, int& lo) {
  for (std::size_t i = 0; i < len; ++i) {
    out[i] = t.v[src[i]];
    if constexpr (Check) hi = std::max<int>(hi, t.hi[src[i]]), lo = std::min<int>(lo, t.lo[src[i]]);
  }
}

/// The portable tile (backends without a vector kernel): the same exact sums; zero: s starts at 0.
inline void tile(const double* a, const double* b, std::size_t len, double* s, bool zero) {
  if (zero) std::fill(s, s + f64mm::mr * f64mm::nr, 0.0);
  for (std::size_t kk = 0; kk < len; ++kk, a += f64mm::mr, b += f64mm::nr)
    for (std::size_t r = 0; r < f64mm::mr; ++r)
      for (std::size_t c = 0; c < f64mm::nr; ++c) s[r * f64mm::nr + c] += a[r] * b[c];
}

/// The tile of the active backend's vector unit: AVX-512, NEON, else the portable one.
inline void best_tile(const double* a, const double* b, std::size_t len, double* s, bool zero) {
#if defined(LOWBIT_X86_64)
  if (use_avx512()) return f64mm::tile(a, b, len, s, zero);
#elif defined(LOWBIT_ARM64)
  if (use_neon()) return neon::tile_f64(a, b, len, s, zero);
#endif
  tile(a, b, len, s, zero);
}

}  // namespace f64sums

/// Scratch bytes of accumulate_f64 (0 on the scalar backend, where it does not run).
inline std::size_t float_sums_bytes(const exec_context& ctx, std::size_t m, std::size_t k, std::size_t n,
                                    std::size_t kb) noexcept {
  if (active_backend() == backend::scalar || m == 0 || n == 0 || k == 0) return 0;
  if (kb == 0 || kb > k) kb = k;
  return f64sums::bytes(m, k, n, (k + kb - 1) / kb, f64sums::tasks(ctx, m, k, n));
}

/// The accumulate stage of float codes on double sums: x1 (m, k), x2 (k, n) or (n, k) when x2t,
/// blocks of kb along k (kb >= k: one block), each block's exact sum rounded once to fp32 (times
/// the MX scales when given), then the epilogue's rule, as accumulate_float runs it: one_f() for
/// one block, step() per block in ascending order and last() (finish()) for epi_blocks (a and b
/// null in epi_blocks: unit scales). Scratch: float_sums_bytes from ar. Returns false on the
/// scalar backend (the reference runs).
/// Tasks take strips of 24 columns: every output is computed by one task. The formats are erased
/// (f64_operands): one instantiation per epilogue.
template <class Epi>
bool accumulate_f64(const exec_context& ctx, const f64_operands& op, std::size_t m, std::size_t k,
                    std::size_t n, bool x2t, std::size_t kb, const Epi& epi, arena& ar, const mx_exps& mx) {
  using f64mm::mr;
  using f64mm::nr;
  if (kb == 0 || kb > k) kb = k;
  const std::size_t nb = (k + kb - 1) / kb, strips = (n + nr - 1) / nr;
  const code_view t1 = op.t1, t2 = op.t2;
  const bool check = op.check;
  const auto& pow2 = e8m0_values();
#if defined(LOWBIT_X86_64)
  const bool v512 = use_avx512();
#else
  [[maybe_unused]] constexpr bool v512 = false;
#endif
  const std::size_t tasks = f64sums::tasks(ctx, m, k, n);
  const std::size_t tiles_max = (std::min(m, f64sums::mc) + mr - 1) / mr;
  double* const apk = ar.take<double>(tiles_max * mr * k);
  std::int16_t* const abd = ar.take<std::int16_t>(2 * tiles_max * nb);  // per tile and block: H, L
  // x2's codes strip by strip, 24 per k (code 0, +0, past n): reading 24 codes from each of k rows
  // n bytes apart would touch a page per row; each task copies its strips once, in one pass
  std::uint8_t* const bcodes = ar.take<std::uint8_t>(strips * nr * k);
  std::byte* const task_base = ar.take<std::byte>(0);
  const std::size_t per_task = f64sums::task_bytes(m);
  for (std::size_t i0 = 0; i0 < m; i0 += f64sums::mc) {
    const std::size_t rows_c = std::min(f64sums::mc, m - i0), tiles = (rows_c + mr - 1) / mr;
    // x1's rows [i0, i0 + rows_c) as doubles, tile-major and k-major inside a tile (8 per k)
    for (std::size_t t = 0; t < tiles; ++t) {
      double* at = apk + t * mr * k;
      for (std::size_t r = 0; r < mr; ++r) {
        const std::size_t i = i0 + t * mr + r;
        if (i >= m) {
          for (std::size_t kk = 0; kk < k; ++kk) at[kk * mr + r] = 0.0;
          continue;
        }
        const std::uint8_t* row = op.x1 + i * k;
        for (std::size_t kk = 0; kk < k; ++kk) at[kk * mr + r] = t1.v[row[kk]];
      }
      if (check)
        for (std::size_t j = 0; j < nb; ++j) {
          int h = -code_none, l = code_none;
          for (std::size_t r = 0; r < mr && i0 + t * mr + r < m; ++r) {
            const std::uint8_t* row = op.x1 + (i0 + t * mr + r) * k;
            for (std::size_t kk = j * kb; kk < std::min(k, (j + 1) * kb); ++kk) {
              const std::size_t c = row[kk];
              h = std::max<int>(h, t1.hi[c]), l = std::min<int>(l, t1.lo[c]);
            }
          }
          abd[2 * (t * nb + j)] = static_cast<std::int16_t>(h),
                            abd[2 * (t * nb + j) + 1] = static_cast<std::int16_t>(l);
        }
    }
    run_tasks(ctx, tasks, [&](std::size_t task) {
      arena ta(task_base + task * per_task);
      const struct {
        double *b, *s;
        float *tot, *p;
      } w{ta.take<double>(f64sums::kc * nr), ta.take<double>(tiles_max * mr * nr),
          ta.take<float>(tiles_max * mr * nr), ta.take<float>(mr * nr)};
      const auto [s_first, s_last] = task_range(task, tasks, strips);
      if (i0 == 0)
        f64sums::copy_strips(op.x2, k, n, x2t, s_first, s_last, bcodes);  // the same in every chunk
      for (std::size_t st = s_first; st < s_last; ++st) {
        const std::size_t n0 = st * nr, cnt = std::min(nr, n - n0);
        if constexpr (Epi::blocked) std::fill(w.tot, w.tot + tiles * mr * nr, 0.0f);
        for (std::size_t j = 0; j < nb; ++j) {
          const std::size_t k0 = j * kb, k1 = std::min(k, k0 + kb);
          const bool one_piece = k1 - k0 <= f64sums::kc;  // each tile's block ends with its piece
          int bh = -code_none, bl = code_none;
          // tile t's block sums (in w.s) rounded once, checked, and handed to the epilogue
          const auto finish_tile = [&](std::size_t t) {
            const std::size_t ib = i0 + t * mr, rows = std::min(mr, m - ib);
            const double* s = w.s + t * mr * nr;
            std::array<double, mr> f1{};  // MX: the two power-of-two scales, applied before rounding
            std::array<double, nr> f2{};
            if (mx.e1) {
              const std::size_t nbm = (k + 31) / 32;
              for (std::size_t r = 0; r < rows; ++r) f1[r] = pow2[mx.e1[(ib + r) * nbm + j].bits()];
              for (std::size_t c = 0; c < cnt; ++c)
                f2[c] = pow2[mx.e2[mx.e2_transposed ? (n0 + c) * nbm + j : j * n + n0 + c].bits()];
            }
#if defined(LOWBIT_X86_64)
            if (v512)
              f64mm::round_tile(s, mx.e1 ? f1.data() : nullptr, mx.e1 ? f2.data() : nullptr, w.p);
            else
#endif
              for (std::size_t r = 0; r < mr; ++r)
                for (std::size_t c = 0; c < nr; ++c)
                  w.p[r * nr + c] = static_cast<float>(mx.e1 ? s[r * nr + c] * f1[r] * f2[c] : s[r * nr + c]);
            if (check) {
              const int h = abd[2 * (t * nb + j)] + bh, l = abd[2 * (t * nb + j) + 1] + bl;
              const int lg = static_cast<int>(std::bit_width(k1 - k0 - 1));
              if (h + lg - l > 53)  // not provably exact: the reference's sums for this tile
                for (std::size_t r = 0; r < rows; ++r)
                  for (std::size_t c = 0; c < cnt; ++c)
                    w.p[r * nr + c] = op.block_sum(op.x1, op.x2, k, n, x2t, ib + r, n0 + c, j, k0, k1, mx);
            }
            if constexpr (Epi::blocked) {
              float* tot = w.tot + t * mr * nr;
#if defined(LOWBIT_X86_64)
              if (v512) {
                std::array<float, mr> a{};
                std::array<float, nr> b{};
                if (epi.a) {
                  for (std::size_t r = 0; r < rows; ++r) a[r] = epi.a[(ib + r) * epi.nblk + j];
                  for (std::size_t c = 0; c < cnt; ++c) b[c] = epi.b[j * epi.n + n0 + c];
                }
                f64mm::step_tile(w.p, epi.a ? a.data() : nullptr, epi.a ? b.data() : nullptr, tot, rows);
                return;
              }
#endif
              for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t c = 0; c < cnt; ++c)
                  epi.step(ib + r, n0 + c, j, w.p[r * nr + c], tot[r * nr + c]);
            } else {
              for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t c = 0; c < cnt; ++c)
                  epi.y[(ib + r) * epi.ldy + n0 + c] = epi.one_f(ib + r, n0 + c, w.p[r * nr + c]);
            }
          };
          if (!one_piece) std::fill(w.s, w.s + tiles * mr * nr, 0.0);
          for (std::size_t p0 = k0; p0 < k1; p0 += f64sums::kc) {
            const std::size_t p1 = std::min(k1, p0 + f64sums::kc);
            // x2's piece as doubles, 24 columns per k
            const std::uint8_t* src = bcodes + (st * k + p0) * nr;
            const std::size_t len = (p1 - p0) * nr;
#if defined(LOWBIT_X86_64)
            // vector decode, and the bounds by magnitude, where the code's order is its
            // magnitude's (IEEE-style formats: the bounds are not much looser than the codes'
            // own); HiFloat8's tapered codes keep the table for both
            const bool vector_decode = v512 && t2.how != f64mm::decode::table;
            if (vector_decode) {
              f64mm::to_doubles(t2.how, src, len, t2.v, w.b);
              if (check) f64mm::code_bounds(src, len, t2.mag, t2.hi_upto, t2.lo_from, bh, bl);
            }
#else
            constexpr bool vector_decode = false;
#endif
            if (!vector_decode) {
              if (check)
                f64sums::to_doubles<true>(src, len, t2, w.b, bh, bl);
              else
                f64sums::to_doubles<false>(src, len, t2, w.b, bh, bl);
            }
            for (std::size_t t = 0; t < tiles; ++t) {
              const double* at = apk + t * mr * k + p0 * mr;
              double* sums = w.s + t * mr * nr;
              f64sums::best_tile(at, w.b, p1 - p0, sums, one_piece);
              if (one_piece) finish_tile(t);  // its sums are still in L1
            }
          }
          if (!one_piece)
            for (std::size_t t = 0; t < tiles; ++t) finish_tile(t);
        }
        if constexpr (Epi::blocked)
          for (std::size_t t = 0; t < tiles; ++t)
            for (std::size_t r = 0; r < mr && i0 + t * mr + r < m; ++r)
              epi.finish(i0 + t * mr + r, n0, cnt, w.tot + (t * mr + r) * nr);
      }
    });
  }
  return true;
}

/// accumulate_f64 on T1 x T2 codes (one byte each): x1 (m, k), x2 (k, n) or (n, k) when x2t.
/// Returns false on the scalar backend (the reference runs).
template <class T1, class T2, class Epi>
bool accumulate_f64(const exec_context& ctx, std::span<const T1> x1, std::span<const T2> x2, std::size_t m,
                    std::size_t k, std::size_t n, bool x2t, std::size_t kb, const Epi& epi, arena& ar,
                    const mx_exps& mx = {}) {
  static_assert(sizeof(T1) == 1 && sizeof(T2) == 1 && std::is_trivially_copyable_v<T1> &&
                    std::is_trivially_copyable_v<T2>,
                "one byte per code, the byte its table index");
  if (active_backend() == backend::scalar || m == 0 || n == 0 || k == 0) return false;
  count(true);
  const f64_operands op{
      reinterpret_cast<const std::uint8_t*>(x1.data()),
      reinterpret_cast<const std::uint8_t*>(x2.data()),
      view_of<T1>(),
      view_of<T2>(),
      !float_sums_static<T1, T2>(kb == 0 || kb > k ? k : kb),
      [](const void* a, const void* b, std::size_t k_, std::size_t n_, bool t, std::size_t i, std::size_t nn,
         std::size_t j, std::size_t k0, std::size_t k1, const mx_exps& e) {
        return exact_block_sum(static_cast<const T1*>(a), static_cast<const T2*>(b), k_, n_, t, i, nn, j, k0,
                               k1, e);
      }};
  return accumulate_f64(ctx, op, m, k, n, x2t, kb, epi, ar, mx);
}

}  // namespace lowbit::inline v0::detail

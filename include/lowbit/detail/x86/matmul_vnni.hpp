// int8 x int8 -> int32 with AVX-512 VNNI (vpdpbusd), exact. vpdpbusd multiplies unsigned by
// signed bytes, so x1 is stored as u = x1 + 128 and the compensation 128 * colsum(x2) is
// subtracted: sum_k u*b - 128 * sum_k b = sum_k x1*b. Every lane accumulates exactly in int32
// while k <= 65536 (|u*b| <= 255*128, sum < 2^31); callers use the reference beyond that.
//
// 4-bit codes (int4, fp4) stay 4-bit in their panels (packed_b::nib) and swap the operands:
// the kernel expands them to u8 = value + b_bias (a table lookup) and multiplies by x1 kept
// signed, so the compensation is b_bias * (the row sums of x1 over each block), computed once
// per call (row_sums), and the panels need no column sums: they take the stored bytes. fp6 e2m3
// values (within +-60) do the same from byte panels (packed_b::biased).
//
// x2 is packed once into panels of 64 columns: for each group of 4 k, 64 columns x 4 bytes
// (the VNNI layout), zero-padded in k and n. The micro-kernel keeps MR x 64 int32 sums in
// registers (MR <= 6, 24 accumulators) and streams the whole k. Panels are split into the
// execution context's tasks (exec.hpp); each output is computed by one task, so results do not
// depend on the thread count.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../../exec.hpp"
#include "../pack.hpp"
#include "target.hpp"

namespace lowbit::inline v0::detail::vnni {

inline constexpr std::size_t nr = 64;        // columns per panel
inline constexpr std::size_t max_k = 65536;  // exact int32 accumulation bound
inline constexpr std::size_t mr = 6;         // rows per micro-kernel call: 24 accumulators

/// x2 (k, n) re-laid out in VNNI panels, with the column sums of each k-block of kb rows for the
/// compensation (one block when kb >= k). kb must be a multiple of 4 or at least k
/// (blocks_fit), so that no group of 4 k straddles two blocks.
///
/// 4-bit codes (int4, fp4: `nib`) are kept as codes, two per byte, so that the panels take the
/// stored size (issue 12): byte i of the int8 panel layout is the nibble (i / 64) % 2 of byte
/// (i / 128) * 64 + i % 64, i.e. each 64-byte vector holds two consecutive 64-byte vectors of the
/// int8 layout in its low and high nibbles; `lut` maps a code to its int8 value (int_value).
/// The kernels expand a group of 4 k with one mask, one shift and two table lookups per 64 bytes.
/// nib and biased panels have no column sums (see the file comment and b_biased).
struct packed_b {
  std::size_t k = 0, n = 0, kq = 0, panels = 0, kb = 0, nblk = 1;
  bool nib = false;                    // 4-bit codes, two per byte
  bool biased = false;                 // int8 values within +-63 multiplied + b_bias (fp6 e2m3)
  std::array<std::int8_t, 16> lut{};   // nib: the int8 value of each code
  std::vector<std::int8_t> data;       // panels x kq x 64 x 4 bytes (half of that when nib)
  std::vector<std::int32_t> colsum;    // panels x nblk x 64: per k-block (empty when nib / biased)
  std::vector<std::int32_t> colsum_k;  // panels x 64: over the whole k (empty when nib / biased)

  static constexpr bool blocks_fit(std::size_t k_, std::size_t kb_) noexcept {
    return kb_ > 0 && (kb_ >= k_ || kb_ % 4 == 0);
  }
  /// True when the block column sums are those of blocks of kb_ rows.
  bool has_blocks(std::size_t kb_) const noexcept { return (kb_ >= k ? (k > 0 ? k : 1) : kb_) == kb; }

  /// b(k, j) gives the int8 value of x2 at row k, column j; biased_: every value is within +-63
  /// (the kernels then need no column sums).
  template <class Get>
  packed_b(std::size_t k_, std::size_t n_, std::size_t kb_, Get&& b, bool biased_ = false)
      : packed_b(k_, n_, kb_) {
    biased = biased_;
    if (biased) colsum.clear(), colsum.shrink_to_fit(), colsum_k.clear(), colsum_k.shrink_to_fit();
    fill([&](std::size_t kk, std::size_t j, std::size_t i) {
      const std::int8_t v = b(kk, j);
      data[i] = v;
      return v;
    });
  }
  /// 4-bit codes: code(k, j) gives the code (0..15) of x2 at row k, column j; lut_ their values.
  template <class Get>
  packed_b(std::size_t k_, std::size_t n_, std::size_t kb_, const std::array<std::int8_t, 16>& lut_,
           Get&& code)
      : packed_b(k_, n_, kb_) {
    nib = true;
    lut = lut_;
    data.resize(data.size() / 2);
    colsum.clear(), colsum.shrink_to_fit(), colsum_k.clear(), colsum_k.shrink_to_fit();
    fill([&](std::size_t kk, std::size_t j, std::size_t i) {
      const unsigned c = code(kk, j) & 0xfu;
      data[nibble_byte(i)] =
          static_cast<std::int8_t>(static_cast<unsigned>(data[nibble_byte(i)]) | c << nibble_shift(i));
      return lut[c];
    });
  }
  std::size_t panel_bytes() const noexcept { return nib ? kq * nr * 2 : kq * nr * 4; }
  const std::int8_t* panel(std::size_t p) const { return data.data() + p * panel_bytes(); }
  /// The code byte of row kk, column j (the int8 value, or the 4-bit code when nib).
  std::uint8_t code(std::size_t kk, std::size_t j) const noexcept {
    const std::size_t i = index(kk, j);
    if (!nib) return static_cast<std::uint8_t>(data[i]);
    return static_cast<std::uint8_t>((static_cast<unsigned>(data[nibble_byte(i)]) >> nibble_shift(i)) & 0xfu);
  }
  /// The int8 value of row kk, column j.
  int value(std::size_t kk, std::size_t j) const noexcept {
    return nib ? lut[code(kk, j)] : static_cast<std::int8_t>(code(kk, j));
  }

 private:
  packed_b(std::size_t k_, std::size_t n_, std::size_t kb_)
      : k(k_),
        n(n_),
        kq((k_ + 3) / 4),
        panels((n_ + nr - 1) / nr),
        kb(kb_ >= k_ ? (k_ > 0 ? k_ : 1) : kb_),
        nblk(k_ > 0 ? (k_ + kb - 1) / kb : 1) {
    data.assign(panels * kq * nr * 4, 0);
    colsum.assign(panels * nblk * nr, 0);
    colsum_k.assign(panels * nr, 0);
  }
  /// Index of (kk, j) in the int8 panel layout.
  static std::size_t index_of(std::size_t kq_, std::size_t kk, std::size_t j) noexcept {
    return ((j / nr * kq_ + kk / 4) * nr + j % nr) * 4 + kk % 4;
  }
  std::size_t index(std::size_t kk, std::size_t j) const noexcept { return index_of(kq, kk, j); }
  static std::size_t nibble_byte(std::size_t i) noexcept { return i / 128 * 64 + i % 64; }
  static unsigned nibble_shift(std::size_t i) noexcept { return static_cast<unsigned>(i / 64 % 2 * 4); }
  /// store(kk, j, i) writes element (kk, j) at int8-layout index i and returns its value.
  template <class Store>
  void fill(Store&& store) {
    for (std::size_t kk = 0; kk < k; ++kk)
      for (std::size_t j = 0; j < n; ++j) {
        const int v = store(kk, j, index(kk, j));
        if (nib || biased) continue;
        const std::size_t p = j / nr, c = j % nr;
        colsum[(p * nblk + kk / kb) * nr + c] += v;
        colsum_k[p * nr + c] += v;
      }
  }
};

/// Rows of x1 as u8 (x + 128), zero-padded (value 0 <=> u8 128) to a multiple of 4 in k, into
/// u (packed_rows_size(m, k, 4) bytes).
template <class Get>
void pack_a(std::uint8_t* u, std::size_t m, std::size_t k, Get&& a) {
  pack_rows<std::uint8_t>(u, m, k, 4, 128, [&](std::size_t i, std::size_t kk) { return a(i, kk) + 128; });
}

/// The kinds of panels the x86 kernels multiply (a template argument): int8 values with column
/// sums (x1 stored + 128); 4-bit codes, or int8 values of at most 63 in magnitude (fp6 e2m3 x 8),
/// whose values are made unsigned by + b_bias in the kernel (x1 stays signed, the compensation is
/// b_bias times x1's row sums). With |value + bias| <= 127 every partial product stays exact.
inline constexpr int b_int8 = 0, b_nibbles = 1, b_biased = 2;
inline constexpr int b_bias = 64;

/// Rows of x1 as int8 (for 4-bit panels), zero-padded to a multiple of 4 in k, into u
/// (packed_rows_size(m, k, 4) bytes).
template <class Get>
void pack_a_signed(std::int8_t* u, std::size_t m, std::size_t k, Get&& a) {
  pack_rows<std::int8_t>(u, m, k, 4, 0, a);
}

/// rs[i * (nblk + 1) + j] = the sum of row i of the signed rows a over k-block j (blocks of qb
/// groups of 4), and rs[i * (nblk + 1) + nblk] over the whole k: the compensation of 4-bit panels.
inline void row_sums(const std::int8_t* a, std::size_t m, std::size_t kq, std::size_t qb, std::size_t nblk,
                     std::int32_t* rs) noexcept {
  for (std::size_t i = 0; i < m; ++i) {
    const std::int8_t* r = a + i * kq * 4;
    std::int32_t* out = rs + i * (nblk + 1);
    std::int32_t all = 0;
    for (std::size_t j = 0; j < nblk; ++j) {
      std::int32_t s = 0;
      const std::size_t k1 = (j + 1) * qb * 4 < kq * 4 ? (j + 1) * qb * 4 : kq * 4;
      for (std::size_t kk = j * qb * 4; kk < k1; ++kk) s += r[kk];
      out[j] = s;
      all += s;
    }
    out[nblk] = all;
  }
}

#if defined(LOWBIT_X86_64)
LOWBIT_KERNELS_BEGIN

/// acc += dot4(u8 a, s8 b) per 32-bit lane. GCC 12 folds the B loads into every vpdpbusd and
/// copies the accumulators around it (half the peak); an asm statement with register operands
/// gives it the loop clang generates from the intrinsic.
LOWBIT_TARGET_AVX512 inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) noexcept {
#if defined(__GNUC__) && !defined(__clang__)
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
#else
  return _mm512_dpbusd_epi32(acc, a, b);
#endif
}

/// The four 64-byte vectors (64 columns x 4 k) of group q of a panel: loaded, or expanded from
/// 4-bit codes (packed_b::nib: low nibbles give vectors 0 and 2, high nibbles 1 and 3; pshufb
/// maps each code to its value through lutv, the 16-byte table in every 128-bit lane).
template <bool Nib>
LOWBIT_TARGET_AVX512 inline void load_group(const std::int8_t* b, std::size_t q, __m512i lutv, __m512i& b0,
                                            __m512i& b1, __m512i& b2, __m512i& b3) noexcept {
  if constexpr (Nib) {
    const std::int8_t* bq = b + q * nr * 2;
    const __m512i x0 = _mm512_loadu_si512(bq), x1 = _mm512_loadu_si512(bq + 64), f = _mm512_set1_epi8(0x0f);
    b0 = _mm512_shuffle_epi8(lutv, _mm512_and_si512(x0, f));
    b1 = _mm512_shuffle_epi8(lutv, _mm512_and_si512(_mm512_srli_epi16(x0, 4), f));
    b2 = _mm512_shuffle_epi8(lutv, _mm512_and_si512(x1, f));
    b3 = _mm512_shuffle_epi8(lutv, _mm512_and_si512(_mm512_srli_epi16(x1, 4), f));
  } else {
    (void)lutv;
    const std::int8_t* bq = b + q * nr * 4;
    b0 = _mm512_loadu_si512(bq), b1 = _mm512_loadu_si512(bq + 64);
    b2 = _mm512_loadu_si512(bq + 128), b3 = _mm512_loadu_si512(bq + 192);
  }
}

/// Where the sums start: -128 * colsum (int8 panels: x1 is stored + 128), or -bias * the
/// row sum of x1 (4-bit panels: their values are stored + bias); cs points at 64 column
/// sums, rs at row 0's sum (rows ld apart).
template <int K>
LOWBIT_TARGET_AVX512 inline __m512i col_comp(const std::int32_t* cs, std::size_t off) noexcept {
  if constexpr (K != b_int8)
    return _mm512_setzero_si512();
  else
    return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(_mm512_loadu_si512(cs + off), 7));
}
template <int K, std::size_t MR>
LOWBIT_TARGET_AVX512 inline __m512i row_comp(const std::int32_t* rs, std::size_t ld, std::size_t r) noexcept {
  if constexpr (K != b_int8)
    return MR > r ? _mm512_set1_epi32(-b_bias * rs[r * ld]) : _mm512_setzero_si512();
  else
    return (void)rs, (void)ld, (void)r, _mm512_setzero_si512();
}
/// acc += x1 row (broadcast a) times the panel vector b: u8 a x s8 b, or u8 b x s8 a (K).
template <int K>
LOWBIT_TARGET_AVX512 inline __m512i dp(__m512i acc, __m512i a, __m512i b) noexcept {
  return K != b_int8 ? dpbusd(acc, b, a) : dpbusd(acc, a, b);
}

/// lut as the pshufb table (the same 16 bytes in each 128-bit lane).
LOWBIT_TARGET_AVX512 inline __m512i lut_vector(const std::int8_t* lut) noexcept {
  return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lut)));
}

// The MR x 64 exact sums of one panel over the groups of 4 k in [q0, q1), shared by kernel and
// kernel_blocks: they live in 24 named registers c<row><16 columns> (GCC spills an array of
// vectors to the stack) and start at the compensation (col_comp + row_comp: cs, rs, ld as
// there). vpdpbusd adds modulo 2^32, so a partial sum may wrap; the final one, sum x1 * x2 with
// |sum| <= 2^30 for k <= 65536, is exact.
#define LOWBIT_VNNI_ROW_DECL(r)                                                               \
  const __m512i rc##r = row_comp<K, MR>(rs, ld, r);                                           \
  __m512i c##r##0 = _mm512_add_epi32(comp0, rc##r), c##r##1 = _mm512_add_epi32(comp1, rc##r), \
          c##r##2 = _mm512_add_epi32(comp2, rc##r), c##r##3 = _mm512_add_epi32(comp3, rc##r);
#define LOWBIT_VNNI_ROW_STEP(r)                 \
  if constexpr (MR > r) {                       \
    std::int32_t word;                          \
    std::memcpy(&word, a + r * lda + 4 * q, 4); \
    const __m512i av = _mm512_set1_epi32(word); \
    c##r##0 = dp<K>(c##r##0, av, b0);           \
    c##r##1 = dp<K>(c##r##1, av, b1);           \
    c##r##2 = dp<K>(c##r##2, av, b2);           \
    c##r##3 = dp<K>(c##r##3, av, b3);           \
  }
// clang-format off
#define LOWBIT_VNNI_SUMS(cs, rs, ld, q0, q1)                                                       \
  const __m512i comp0 = col_comp<K>(cs, 0), comp1 = col_comp<K>(cs, 16),                       \
                comp2 = col_comp<K>(cs, 32), comp3 = col_comp<K>(cs, 48);                      \
  LOWBIT_VNNI_ROW_DECL(0) LOWBIT_VNNI_ROW_DECL(1) LOWBIT_VNNI_ROW_DECL(2)                          \
  LOWBIT_VNNI_ROW_DECL(3) LOWBIT_VNNI_ROW_DECL(4) LOWBIT_VNNI_ROW_DECL(5)                          \
  for (std::size_t q = q0; q < q1; ++q) {                                                          \
    __m512i b0, b1, b2, b3;                                                                        \
    load_kernel<K>(b, q, lutv, b0, b1, b2, b3);                                                      \
    LOWBIT_VNNI_ROW_STEP(0) LOWBIT_VNNI_ROW_STEP(1) LOWBIT_VNNI_ROW_STEP(2)                        \
    LOWBIT_VNNI_ROW_STEP(3) LOWBIT_VNNI_ROW_STEP(4) LOWBIT_VNNI_ROW_STEP(5)                        \
  }
// clang-format on

/// The lookup table of the kernels: code -> value + b_bias (unsigned for vpdpbusd).
LOWBIT_TARGET_AVX512 inline __m512i kernel_lut(const std::int8_t* lut) noexcept {
  return _mm512_add_epi8(lut_vector(lut), _mm512_set1_epi8(b_bias));
}

/// Group q of a panel as the kernels multiply it: int8 values; 4-bit codes expanded to value +
/// b_bias (lutv: kernel_lut); biased bytes (b_biased: values of at most 63 in magnitude) + b_bias.
template <int K>
LOWBIT_TARGET_AVX512 inline void load_kernel(const std::int8_t* b, std::size_t q, __m512i lutv, __m512i& b0,
                                             __m512i& b1, __m512i& b2, __m512i& b3) noexcept {
  load_group<K == b_nibbles>(b, q, lutv, b0, b1, b2, b3);
  if constexpr (K == b_biased) {
    const __m512i c = _mm512_set1_epi8(b_bias);
    b0 = _mm512_add_epi8(b0, c), b1 = _mm512_add_epi8(b1, c), b2 = _mm512_add_epi8(b2, c),
    b3 = _mm512_add_epi8(b3, c);
  }
}

/// acc[r][0..64) = exact sum_k x1[r, k] * x2[k, panel column] for MR rows.
template <std::size_t MR, int K>
LOWBIT_TARGET_AVX512 inline void kernel(const std::uint8_t* __restrict a, std::size_t lda,
                                        const std::int8_t* __restrict b, const std::int8_t* lut,
                                        std::size_t kq, const std::int32_t* cs, const std::int32_t* rs,
                                        std::size_t ld, std::int32_t (*__restrict acc)[nr]) {
  const __m512i lutv = kernel_lut(lut);
#define LOWBIT_VNNI_ROW_STORE(r)               \
  if constexpr (MR > r) {                      \
    _mm512_storeu_si512(acc[r] + 0, c##r##0);  \
    _mm512_storeu_si512(acc[r] + 16, c##r##1); \
    _mm512_storeu_si512(acc[r] + 32, c##r##2); \
    _mm512_storeu_si512(acc[r] + 48, c##r##3); \
  }
  LOWBIT_VNNI_SUMS(cs, rs, ld, 0, kq)
  // clang-format off
  LOWBIT_VNNI_ROW_STORE(0)
  LOWBIT_VNNI_ROW_STORE(1)
  LOWBIT_VNNI_ROW_STORE(2)
  LOWBIT_VNNI_ROW_STORE(3)
  LOWBIT_VNNI_ROW_STORE(4)
  LOWBIT_VNNI_ROW_STORE(5)
  // clang-format on
#undef LOWBIT_VNNI_ROW_STORE
}

/// The blocked form with its block epilogue fused (G-B, B-B, K-G; the rule is
/// detail::epi_blocks::step in matmul.hpp): for each k-block j of qb groups of 4, the exact int32
/// sums P of MR rows x 64 columns stay in registers and become
///   tot[r][c] = tot[r][c] + fp32(P[r][c]) * (as[r * nblk + j] * bs[j * ldb + c])
/// with each product rounded before the add (no fusion); a_one: as is all 1 (K-G), the scale is
/// bs itself (1 * b is exact); b_uniform: bs[j * ldb + c] is the same for the 64 columns (x2's
/// column blocks are multiples of 64 wide), one scalar product a * b serves them all. tot starts
/// at +0. Columns from cnt on are not read from bs. The compensation: colsum (the panel's block
/// column sums), or rsum (K: row 0's block row sums, rows nblk + 1 apart).
template <std::size_t MR, int K, bool a_one, bool b_uniform>
LOWBIT_TARGET_AVX512 inline void kernel_blocks(const std::uint8_t* __restrict a, std::size_t lda,
                                               const std::int8_t* __restrict b, const std::int8_t* lut,
                                               std::size_t kq, std::size_t qb, std::size_t nblk,
                                               const std::int32_t* colsum, const std::int32_t* rsum,
                                               const float* as, const float* bs, std::size_t ldb,
                                               std::size_t cnt, float (*__restrict tot)[nr]) {
  const auto mask = [cnt](std::size_t c0) {
    return cnt >= c0 + 16 ? __mmask16(0xffff)
           : cnt <= c0    ? __mmask16(0)
                          : static_cast<__mmask16>((1u << (cnt - c0)) - 1);
  };
  const __mmask16 t0 = mask(0), t1 = mask(16), t2 = mask(32), t3 = mask(48);
  const __m512i lutv = kernel_lut(lut);
  for (std::size_t r = 0; r < MR; ++r)
    for (std::size_t c = 0; c < nr; c += 16) _mm512_storeu_ps(tot[r] + c, _mm512_setzero_ps());
  for (std::size_t j = 0; j < nblk; ++j) {
    const std::size_t q0 = j * qb, q1 = q0 + qb < kq ? q0 + qb : kq;
    // tot lives in memory (L1) between blocks: held in registers across blocks, GCC spills the
    // accumulators of the next block instead (G-B measured 0.87x of K-C without this, 0.92x with).
    asm volatile("" ::: "memory");
    const std::int32_t *cs = K != b_int8 ? nullptr : colsum + j * nr, *rs = K != b_int8 ? rsum + j : nullptr;
    const std::size_t ld = nblk + 1;
    LOWBIT_VNNI_SUMS(cs, rs, ld, q0, q1)
#define LOWBIT_VNNI_ROW_EPI1(r, x)                                                         \
  {                                                                                        \
    __m512 sc;                                                                             \
    if constexpr (a_one)                                                                   \
      sc = s##x;                                                                           \
    else if constexpr (b_uniform)                                                          \
      sc = ab;                                                                             \
    else                                                                                   \
      sc = _mm512_mul_ps(ar, s##x);                                                        \
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(c##r##x), sc);                             \
    asm("" : "+v"(v));                                                                     \
    _mm512_storeu_ps(tot[r] + 16 * x, _mm512_add_ps(_mm512_loadu_ps(tot[r] + 16 * x), v)); \
  }
#define LOWBIT_VNNI_ROW_EPI(r)                                                                  \
  if constexpr (MR > r) {                                                                       \
    const float a_r = a_one ? 1.0f : as[r * nblk + j];                                          \
    const __m512 ar = _mm512_set1_ps(a_r), ab = _mm512_set1_ps(b_uniform ? a_r * bj[0] : 0.0f); \
    (void)ar, (void)ab;                                                                         \
    LOWBIT_VNNI_ROW_EPI1(r, 0)                                                                  \
    LOWBIT_VNNI_ROW_EPI1(r, 1)                                                                  \
    LOWBIT_VNNI_ROW_EPI1(r, 2)                                                                  \
    LOWBIT_VNNI_ROW_EPI1(r, 3)                                                                  \
  }
    // clang-format off
    const float* bj = bs + j * ldb;
    const __m512 s0 = _mm512_maskz_loadu_ps(t0, bj), s1 = _mm512_maskz_loadu_ps(t1, bj + 16),
                 s2 = _mm512_maskz_loadu_ps(t2, bj + 32), s3 = _mm512_maskz_loadu_ps(t3, bj + 48);
    LOWBIT_VNNI_ROW_EPI(0)
    LOWBIT_VNNI_ROW_EPI(1)
    LOWBIT_VNNI_ROW_EPI(2)
    LOWBIT_VNNI_ROW_EPI(3)
    LOWBIT_VNNI_ROW_EPI(4)
    LOWBIT_VNNI_ROW_EPI(5)
    // clang-format on
#undef LOWBIT_VNNI_ROW_EPI1
#undef LOWBIT_VNNI_ROW_EPI
  }
}

#undef LOWBIT_VNNI_SUMS
#undef LOWBIT_VNNI_ROW_DECL
#undef LOWBIT_VNNI_ROW_STEP

/// kernel_blocks for the first `rows` (< MR allowed) rows, with the scale flags made constants.
template <std::size_t MR, int K>
LOWBIT_TARGET_AVX512 inline void kernel_blocks_rows(std::size_t rows, const std::uint8_t* a, std::size_t lda,
                                                    const std::int8_t* b, const std::int8_t* lut,
                                                    std::size_t kq, std::size_t qb, std::size_t nblk,
                                                    const std::int32_t* colsum, const std::int32_t* rsum,
                                                    const float* as, const float* bs, std::size_t ldb,
                                                    bool a_one, bool b_uniform, std::size_t cnt,
                                                    float (*tot)[nr]) {
  if constexpr (MR > 1) {
    if (rows < MR)
      return kernel_blocks_rows<MR - 1, K>(rows, a, lda, b, lut, kq, qb, nblk, colsum, rsum, as, bs, ldb,
                                           a_one, b_uniform, cnt, tot);
  }
  if (a_one)
    kernel_blocks<MR, K, true, false>(a, lda, b, lut, kq, qb, nblk, colsum, rsum, as, bs, ldb, cnt, tot);
  else if (b_uniform)
    kernel_blocks<MR, K, false, true>(a, lda, b, lut, kq, qb, nblk, colsum, rsum, as, bs, ldb, cnt, tot);
  else
    kernel_blocks<MR, K, false, false>(a, lda, b, lut, kq, qb, nblk, colsum, rsum, as, bs, ldb, cnt, tot);
}

template <std::size_t MR, int K>
LOWBIT_TARGET_AVX512 inline void kernel_rows(std::size_t rows, const std::uint8_t* a, std::size_t lda,
                                             const std::int8_t* b, const std::int8_t* lut, std::size_t kq,
                                             const std::int32_t* cs, const std::int32_t* rs, std::size_t ld,
                                             std::int32_t (*acc)[nr]) {
  if constexpr (MR > 1) {
    if (rows < MR) return kernel_rows<MR - 1, K>(rows, a, lda, b, lut, kq, cs, rs, ld, acc);
  }
  kernel<MR, K>(a, lda, b, lut, kq, cs, rs, ld, acc);
}

/// The exact int32 block sums of one panel (64 columns) with every row of a, MR rows at a time,
/// handed to the epilogue (the epi_* structs in matmul.hpp): single-block modes get
/// epi.single(row, n0, count, sums); the blocked one (epi_blocks) has its per-block step fused into
/// kernel_blocks, then epi.finish(row, n0, count, totals). K: b's kind (see gemm).
template <int K, class Epi>
LOWBIT_TARGET_AVX512 inline void gemm_panel(const std::uint8_t* a, const std::int32_t* rsum, std::size_t m,
                                            const packed_b& b, std::size_t p, const Epi& epi) {
  alignas(64) std::int32_t acc[mr][nr];
  alignas(64) float tot[mr][nr];
  (void)acc, (void)tot;  // one of them is unused, by the epilogue kind
  const std::size_t lda = b.kq * 4, qb = b.nblk == 1 ? b.kq : b.kb / 4;  // groups of 4 k per block
  const std::size_t n0 = p * nr, cnt = b.n - n0 < nr ? b.n - n0 : nr, ld = b.nblk + 1;
  const std::int8_t* bp = b.panel(p);
  const std::int32_t* cs = K != b_int8 ? nullptr : b.colsum.data() + p * b.nblk * nr;
  const std::int32_t* cs_k = K != b_int8 ? nullptr : b.colsum_k.data() + p * nr;
  for (std::size_t i = 0; i < m; i += mr) {
    const std::uint8_t* ai = a + i * lda;
    const std::int32_t* rs = K != b_int8 ? rsum + i * ld : nullptr;
    const std::size_t rows = m - i >= mr ? mr : m - i;
    if constexpr (!Epi::blocked) {  // the whole k at once
      kernel_rows<mr, K>(rows, ai, lda, bp, b.lut.data(), b.kq, cs_k, K != b_int8 ? rs + b.nblk : nullptr, ld,
                         acc);
      for (std::size_t r = 0; r < rows; ++r) epi.single(i + r, n0, cnt, acc[r]);
    } else {  // epi_blocks (G-B, B-B, K-G): its step() is fused into the kernel
      kernel_blocks_rows<mr, K>(rows, ai, lda, bp, b.lut.data(), b.kq, qb, b.nblk, cs, rs, epi.a + i * b.nblk,
                                epi.b + n0, epi.ldy, epi.a_one, epi.b_uniform64, cnt, tot);
      for (std::size_t r = 0; r < rows; ++r) epi.finish(i + r, n0, cnt, tot[r]);
    }
  }
}

/// y[i] = cast_output<Out>(v[i]) for the lanes i in t (matmul.hpp): Out is float (canonical NaN),
/// or bf16 rounded to nearest even in integer arithmetic (bits + 0x7fff + lsb, then >> 16: the
/// reference's RNE, subnormals kept and overflow to Inf, which vcvtneps2bf16 does not promise)
/// with NaN 0x7fc0.
template <class Out>
LOWBIT_TARGET_AVX512 inline void store_output(__m512 v, __mmask16 t, Out* y) noexcept {
  static_assert(sizeof(Out) == 4 || sizeof(Out) == 2);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  if constexpr (std::is_same_v<Out, float>) {
    v = _mm512_mask_mov_ps(v, nan, _mm512_castsi512_ps(_mm512_set1_epi32(0x7fc00000)));  // canonical NaN
    if (t == 0xffff)
      _mm512_storeu_ps(y, v);
    else
      _mm512_mask_storeu_ps(y, t, v);
  } else {
    const __m512i b = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb), 16);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7fc0));
    _mm256_mask_storeu_epi16(reinterpret_cast<std::uint16_t*>(y), t, _mm512_cvtepi32_epi16(r));
  }
}

/// y = fp32(acc) * x2s * s1 (+ bias), canonical NaN: the K-C epilogue of cnt outputs, 16 at a
/// time, the same fp32 operations as detail::matmul_kc_ref (no fusion: see detail/fp.hpp).
/// x2s is one scale (per_tensor) or cnt scales; bias may be null. Out is float or bf16
/// (store_output).
template <class Out>
LOWBIT_TARGET_AVX512 inline void kc_epilogue(const std::int32_t* acc, std::size_t cnt, const float* x2s,
                                             bool per_tensor, float s1, const float* bias, Out* y) noexcept {
  for (std::size_t c = 0; c < cnt; c += 16) {
    const __mmask16 t = tail_mask(cnt - c);
    __m512 v = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(t, acc + c));  // exact below 2^24, RNE above
    v = _mm512_mul_ps(v, per_tensor ? _mm512_set1_ps(x2s[0]) : _mm512_maskz_loadu_ps(t, x2s + c));
    v = _mm512_mul_ps(v, _mm512_set1_ps(s1));
    asm("" : "+v"(v));  // never fused with the bias add
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(t, bias + c));
    store_output(v, t, y + c);
  }
}

/// The fixpipe epilogue (detail::epi_fixpipe in matmul.hpp) for cnt columns: acc = fp32(P + bias)
/// (exact int64 sum, rounded once), v = acc * s19; int8 output (requant): clamp(rint(v), -256,
/// 255) + offset, clamped to [-128, 127], NaN -> 0; fp32 output: v with canonical NaN. y is an
/// int8 or a float array accordingly; bias may be null.
LOWBIT_TARGET_AVX512 inline void fixpipe_epilogue(const std::int32_t* P, const std::int32_t* bias,
                                                  const float* s19, const std::int32_t* off, bool requant,
                                                  void* y, std::size_t cnt) noexcept {
  for (std::size_t c = 0; c < cnt; c += 16) {
    const __mmask16 t = tail_mask(cnt - c);
    const __m512i p = _mm512_maskz_loadu_epi32(t, P + c);
    __m512 acc;
    if (bias) {  // P + bias in int64 (it may leave int32), then one rounding to fp32
      const __m512i b = _mm512_maskz_loadu_epi32(t, bias + c);
      const __m512i lo = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(p)),
                                          _mm512_cvtepi32_epi64(_mm512_castsi512_si256(b)));
      const __m512i hi = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(p, 1)),
                                          _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(b, 1)));
      acc = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtepi64_ps(lo)), _mm512_cvtepi64_ps(hi), 1);
    } else {
      acc = _mm512_cvtepi32_ps(p);
    }
    const __m512 v = _mm512_mul_ps(acc, _mm512_maskz_loadu_ps(t, s19 + c));
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    if (requant) {
      __m512 r = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-256.0f)), _mm512_set1_ps(255.0f));
      r = _mm512_mask_mov_ps(r, nan, _mm512_setzero_ps());
      __m512i q = _mm512_cvt_roundps_epi32(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q = _mm512_add_epi32(q, _mm512_maskz_loadu_epi32(t, off + c));
      q = _mm512_min_epi32(_mm512_max_epi32(q, _mm512_set1_epi32(-128)), _mm512_set1_epi32(127));
      _mm_mask_storeu_epi8(static_cast<std::int8_t*>(y) + c, t, _mm512_cvtepi32_epi8(q));
    } else {
      _mm512_mask_storeu_ps(static_cast<float*>(y) + c, t,
                            _mm512_mask_mov_ps(v, nan, _mm512_castsi512_ps(_mm512_set1_epi32(0x7fc00000))));
    }
  }
}

/// y[c] = (s1 * tot[c]) (+ bias[c]) with canonical NaN: the finish of the G-B / B-B (no s1) and
/// K-G (s1 = x1 scale) epilogues for fp32 output; bias may be null.
LOWBIT_TARGET_AVX512 inline void finish_f32(const float* tot, bool scale, float s1, const float* bias,
                                            float* y, std::size_t cnt) noexcept {
  for (std::size_t c = 0; c < cnt; c += 16) {
    const __mmask16 t = tail_mask(cnt - c);
    __m512 v = _mm512_maskz_loadu_ps(t, tot + c);
    if (scale) v = _mm512_mul_ps(_mm512_set1_ps(s1), v);
    asm("" : "+v"(v));
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(t, bias + c));
    v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q),
                           _mm512_castsi512_ps(_mm512_set1_epi32(0x7fc00000)));
    _mm512_mask_storeu_ps(y + c, t, v);
  }
}

/// Every panel, panels split into ctx's tasks: each output is computed by one task, so results
/// do not depend on the thread count. K is b's kind (b_nibbles when b.nib, b_biased when
/// b.biased, else b_int8: a template argument, so that each format instantiates its kernels
/// only); for the first two a holds the signed rows (pack_a_signed) and rsum their row_sums over
/// b's blocks, else a holds pack_a's rows.
template <int K, class Epi>
void gemm(const exec_context& ctx, const std::uint8_t* a, const std::int32_t* rsum, std::size_t m,
          const packed_b& b, const Epi& epi) {
  parallel_items(ctx, b.panels, m * b.k * nr, min_task_macs,
                 [&](std::size_t p) { gemm_panel<K>(a, rsum, m, b, p, epi); });
}

LOWBIT_KERNELS_END
#endif  // LOWBIT_X86_64

}  // namespace lowbit::inline v0::detail::vnni

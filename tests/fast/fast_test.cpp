// Every fast path against the scalar reference, bit for bit, over the ruy-style shape list
// (sizes 1..10, 15/16/17, 31/33, 63/65, odd triples, deep k), every granularity, data with
// outliers, zeros, NaN, Inf and subnormals. Runs the backend chosen at run time
// (lowbit::backend_name()); under LOWBIT_BACKEND=scalar the same assertions hold trivially.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include <lowbit/lowbit.hpp>

using namespace lowbit;

namespace {

const matrix_shape shapes[] = {{1, 1},   {1, 5},    {3, 7},    {2, 16},  {5, 17},  {1, 33},
                               {7, 31},  {4, 63},   {9, 65},   {8, 64},  {10, 10}, {17, 130},
                               {3, 257}, {33, 100}, {1, 4096}, {128, 96}};

std::vector<float> data(std::size_t n, unsigned seed, bool specials) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 2.0f);
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = g(rng) * (i % 13 == 3 ? 50.0f : 1.0f);
    if (specials) {
      const unsigned r = rng() % 64;
      if (r == 0) v[i] = NAN;
      if (r == 1) v[i] = INFINITY;
      if (r == 2) v[i] = -INFINITY;
      if (r == 3) v[i] = 1e-40f;  // subnormal
      if (r == 4) v[i] = -0.0f;
    }
  }
  if (n > 8) std::fill(v.begin(), v.begin() + 8, 0.0f);  // a zero group for small groups
  return v;
}

template <class T>
std::vector<std::uint8_t> bytes(const std::vector<T>& v) {
  std::vector<std::uint8_t> b(v.size());
  std::memcpy(b.data(), v.data(), v.size());
  return b;
}

template <class T>
void check_quantize(unsigned seed) {
  for (auto shape : shapes)
    for (auto side : {operand::left, operand::right})
      for (auto g :
           {granularity::tensor(), side == operand::left ? granularity::token() : granularity::channel(),
            granularity::group(1), granularity::group(7), granularity::group(32), granularity::group(128),
            granularity::block(1, 16), granularity::block(3, 5), granularity::block(128, 128)})
        for (bool specials : {false, true}) {
          auto x = data(shape.size(), seed++, specials);
          if (x.size() > 24) {  // an all-zero group of both signs, a constant one, a NaN-only one
            for (std::size_t i = 0; i < 8; ++i) x[i] = i % 3 == 1 ? -0.0f : 0.0f;
            std::fill(x.begin() + 8, x.begin() + 16, -2.5f);
            if (specials) std::fill(x.begin() + 16, x.begin() + 24, NAN);
          }
          // symmetric with and without a min scale, asymmetric (avx512: blocks of >= 16 columns)
          for (const auto& [min_scale, asym] : {std::pair{0.0f, false}, {3.0f, false}, {0.0f, true}}) {
            const quantize_params p{.gran = g, .side = side, .asymmetric = asym, .min_scale = min_scale};
            const auto fast = quantize<T, float>(x, shape, p);
            quantized<T> ref;
            ref.values.resize(shape.size());
            ref.scales.resize(fast.map.size());
            ref.offsets.resize(asym ? fast.map.size() : 0);
            detail::quantize_ref_into<T, float>(x, shape, p, ref.span());
            ASSERT_EQ(bytes(fast.values), bytes(ref.values))
                << backend_name() << " " << to_string(g) << " " << shape.rows << "x" << shape.cols << " asym "
                << asym;
            for (std::size_t i = 0; i < ref.scales.size(); ++i)
              ASSERT_EQ(std::bit_cast<std::uint32_t>(fast.scales[i]),
                        std::bit_cast<std::uint32_t>(ref.scales[i]))
                  << to_string(g) << " asym " << asym;
            for (std::size_t i = 0; i < ref.offsets.size(); ++i)
              ASSERT_EQ(std::bit_cast<std::uint32_t>(fast.offsets[i]),
                        std::bit_cast<std::uint32_t>(ref.offsets[i]))
                  << to_string(g);
          }
        }
}

}  // namespace

TEST(Fast, QuantizeInt8MatchesReference) {
  check_quantize<std::int8_t>(1);
}
TEST(Fast, QuantizeInt4MatchesReference) {
  check_quantize<int4>(2);
}
TEST(Fast, QuantizeE4m3MatchesReference) {
  check_quantize<float8_e4m3fn>(3);
}

TEST(Fast, AsymmetricRangeBeyondFp32IsTheReferencesError) {
  // per token: row 1's finite range (-3e38 to 3e38) overflows fp32; the fast path must not write a
  // half-computed answer of its own but report the reference's error
  std::vector<float> x(4 * 64, 1.0f);
  x[64 + 5] = 3e38f, x[64 + 9] = -3e38f;
  const quantize_params p{.gran = granularity::token(), .asymmetric = true};
  std::string fast_what, ref_what;
  try {
    (void)quantize<std::int8_t, float>(x, {4, 64}, p);
  } catch (const std::invalid_argument& e) {
    fast_what = e.what();
  }
  const backend best = active_backend();
  set_backend(backend::scalar);
  try {
    (void)quantize<std::int8_t, float>(x, {4, 64}, p);
  } catch (const std::invalid_argument& e) {
    ref_what = e.what();
  }
  set_backend(best);
  EXPECT_NE(ref_what.find("scale block 1"), std::string::npos) << ref_what;
  EXPECT_EQ(fast_what, ref_what);
}

/// quantize<T, In> (fast where a kernel applies: one fast call) against the reference, bit for bit.
template <class T, class In>
void expect_reference_bits(const std::vector<In>& x, matrix_shape shape, const quantize_params& p) {
  reset_dispatch_counts();
  const auto fast = quantize<T, In>(x, shape, p);
  EXPECT_EQ(dispatch_counts().fast, active_backend() != backend::scalar ? 1u : 0u);
  quantized<T> ref;
  ref.values.resize(shape.size());
  ref.scales.resize(fast.map.size());
  detail::quantize_ref_into<T, In>(x, shape, p, ref.span());
  ASSERT_EQ(bytes(fast.values), bytes(ref.values))
      << to_string(p.gran) << " " << shape.rows << "x" << shape.cols;
  for (std::size_t i = 0; i < ref.scales.size(); ++i)
    ASSERT_EQ(std::bit_cast<std::uint32_t>(fast.scales[i]), std::bit_cast<std::uint32_t>(ref.scales[i]));
}

TEST(Fast, QuantizeHalfPrecisionInputsMatchReference) {
  // bf16 and fp16 inputs are widened to fp32 for the kernels: the same bits as the reference,
  // which widens each element as it reads it; every granularity, both operands, specials.
  unsigned seed = 90;
  for (auto shape : shapes)
    for (auto side : {operand::left, operand::right})
      for (auto g :
           {granularity::tensor(), side == operand::left ? granularity::token() : granularity::channel(),
            granularity::group(7), granularity::block(3, 5)}) {
        const auto xf = data(shape.size(), seed++, true);
        std::vector<bfloat16> xb(xf.size());
        std::vector<float16> xh(xf.size());
        for (std::size_t i = 0; i < xf.size(); ++i) xb[i] = bfloat16(xf[i]), xh[i] = float16(xf[i]);
        const quantize_params p{.gran = g, .side = side};
        expect_reference_bits<std::int8_t>(xb, shape, p);
        expect_reference_bits<int4>(xh, shape, p);
        expect_reference_bits<float8_e4m3fn>(xb, shape, p);
      }
}

TEST(Fast, QuantizeSmoothedMatchesReference) {
  // SmoothQuant: v = x * smooth[k] (one fp32 multiply) goes through the band buffer and the same
  // kernels; every granularity, both operands (k is the column of a left operand, the row of a
  // right one), specials in x and in the smooth vector (0, subnormal, huge: products overflow).
  unsigned seed = 120;
  for (auto shape : shapes)
    for (auto side : {operand::left, operand::right})
      for (auto g :
           {granularity::tensor(), side == operand::left ? granularity::token() : granularity::channel(),
            granularity::group(7), granularity::group(128), granularity::block(3, 5)}) {
        const auto xf = data(shape.size(), seed++, true);
        std::vector<bfloat16> xb(xf.size());
        for (std::size_t i = 0; i < xf.size(); ++i) xb[i] = bfloat16(xf[i]);
        std::vector<float> smooth(side == operand::left ? shape.cols : shape.rows);
        for (std::size_t i = 0; i < smooth.size(); ++i)
          smooth[i] = i % 11 == 3   ? 0.0f
                      : i % 11 == 5 ? 1e-40f
                      : i % 11 == 7 ? 3e37f
                                    : 0.25f + float(i % 5) * 0.5f;
        const quantize_params p{.gran = g, .side = side, .smooth = smooth};
        expect_reference_bits<std::int8_t>(xf, shape, p);
        expect_reference_bits<int4>(xf, shape, p);
        expect_reference_bits<float8_e4m3fn>(xb, shape, p);
      }
}

TEST(Fast, QuantizeEveryHalfCodeMatchesReference) {
  // Every bf16 and every fp16 bit pattern (subnormals, Inf, NaN, both zeros) through the kernels'
  // widening (widen_row), plain and smoothed along either axis: the reference's bits. Rows of 130
  // leave tails of 2 for every vector width; rows of 256 hold one exponent range each.
  const auto every = [](auto tag) {
    using In = decltype(tag);
    std::vector<In> x(65520);
    for (std::size_t i = 0; i < x.size(); ++i)
      x[i] = In::from_bits(static_cast<std::uint16_t>((i * 40503u + 7u) % 65536u));  // a permutation
    std::vector<In> y(65536);
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = In::from_bits(static_cast<std::uint16_t>(i));
    return std::pair{x, y};
  };
  const auto run = [](const auto& x, matrix_shape shape) {
    for (auto side : {operand::left, operand::right})
      for (int sm = 0; sm < 2; ++sm) {
        std::vector<float> smooth(sm ? (side == operand::left ? shape.cols : shape.rows) : 0);
        for (std::size_t i = 0; i < smooth.size(); ++i)
          smooth[i] = i % 9 == 4 ? 1e-39f : 0.75f + float(i % 4);
        for (auto g : {side == operand::left ? granularity::token() : granularity::channel(),
                       granularity::group(128)}) {
          const quantize_params p{.gran = g, .side = side, .smooth = smooth};
          expect_reference_bits<std::int8_t>(x, shape, p);
          expect_reference_bits<float8_e4m3fn>(x, shape, p);
        }
      }
  };
  const auto [xb, yb] = every(bfloat16{});
  run(xb, {504, 130});
  run(yb, {256, 256});
  const auto [xh, yh] = every(float16{});
  run(xh, {504, 130});
  run(yh, {256, 256});
}

TEST(Fast, QuantizeInt4PackedMatchesReference) {
  // int4 codes straight into two-per-byte storage (the kernels' int4x2 codes) and int32 words:
  // the reference's codes packed by pack_nibbles / pack_int32, its scales and offsets; every
  // granularity, both operands, tails of a vector and a byte pair, fp32 / bf16 / smoothed input.
  // Odd block widths (group 7, block 3 x 5) take the reference; even ones must run a kernel.
  unsigned seed = 150;
  const matrix_shape even[] = {{1, 2},  {3, 2},    {2, 16},  {4, 18},   {5, 34},
                               {8, 64}, {17, 130}, {9, 136}, {128, 96}, {1, 4096}};
  for (auto shape : even)
    for (auto side : {operand::left, operand::right})
      for (auto g :
           {granularity::tensor(), side == operand::left ? granularity::token() : granularity::channel(),
            granularity::group(2), granularity::group(7), granularity::group(32), granularity::group(128),
            granularity::block(3, 5), granularity::block(4, 18), granularity::block(128, 128)})
        for (int variant = 0; variant < 5; ++variant) {  // plain, min scale, asym, bf16, smooth
          const auto xf = data(shape.size(), seed++, variant != 1);
          std::vector<bfloat16> xb(xf.size());
          for (std::size_t i = 0; i < xf.size(); ++i) xb[i] = bfloat16(xf[i]);
          std::vector<float> smooth(variant == 4 ? (side == operand::left ? shape.cols : shape.rows) : 0);
          for (std::size_t i = 0; i < smooth.size(); ++i) smooth[i] = i % 7 == 2 ? 0.0f : 0.5f + float(i % 3);
          const quantize_params p{.gran = g,
                                  .side = side,
                                  .asymmetric = variant == 2,
                                  .smooth = smooth,
                                  .min_scale = variant == 1 ? 3.0f : 0.0f};
          quantized<int4> ref;
          ref.values.resize(shape.size());
          ref.map = make_scale_map(g, side, shape);
          ref.scales.resize(ref.map.size());
          ref.offsets.resize(p.asymmetric ? ref.map.size() : 0);
          if (variant == 3)
            detail::quantize_ref_into<int4, bfloat16>(xb, shape, p, ref.span());
          else
            detail::quantize_ref_into<int4, float>(xf, shape, p, ref.span());
          const std::vector<std::uint8_t> codes = bytes(ref.values);
          std::vector<std::uint8_t> want(shape.size() / 2);
          pack_nibbles(codes, want);
          std::vector<std::uint8_t> packed(shape.size() / 2, 0xa5);
          std::vector<float> scales(ref.scales.size()), offsets(ref.offsets.size());
          reset_dispatch_counts();
          if (variant == 3)
            quantize_into<int4, bfloat16>(xb, shape, p, packed, scales, offsets);
          else
            quantize_into<int4, float>(xf, shape, p, packed, scales, offsets);
          const std::size_t bc = ref.map.bc;
          if (active_backend() != backend::scalar && !p.asymmetric && (bc % 2 == 0 || bc >= shape.cols)) {
            EXPECT_EQ(dispatch_counts().fast, 1u) << to_string(g) << " " << shape.rows << "x" << shape.cols;
          }
          const auto where = [&] {
            return to_string(g) + " " + std::to_string(shape.rows) + "x" + std::to_string(shape.cols) +
                   " variant " + std::to_string(variant) + " " + backend_name();
          };
          ASSERT_EQ(packed, want) << where();
          const auto same_bits = [](const std::vector<float>& a, const std::vector<float>& b) {
            return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](float u, float v) {
              return std::bit_cast<std::uint32_t>(u) == std::bit_cast<std::uint32_t>(v);
            });
          };
          ASSERT_TRUE(same_bits(scales, ref.scales)) << where();
          ASSERT_TRUE(same_bits(offsets, ref.offsets)) << where();
          if (shape.cols % 8 == 0) {  // int32 words, eight codes each
            std::vector<std::int32_t> words(shape.size() / 8, 0x5a5a5a5a), want_words(shape.size() / 8);
            pack_int32(codes, want_words);
            if (variant == 3)
              quantize_into<int4, bfloat16>(xb, shape, p, words, scales, offsets);
            else
              quantize_into<int4, float>(xf, shape, p, words, scales, offsets);
            ASSERT_EQ(words, want_words) << where();
          }
        }
}

TEST(Fast, E4m3ConversionEveryFloatEdge) {
  // every f32 row of the golden grid is covered by the table tests; here: all e4m3 midpoints
  // and their neighbours through the vector conversion (tensor scale 1 => t = x / 1).
  std::vector<float> x;
  for (int c = 0; c < 0x7f; ++c) {
    const float v = float(float8_e4m3fn::from_bits(static_cast<std::uint8_t>(c)));
    const float w = float(float8_e4m3fn::from_bits(static_cast<std::uint8_t>(c + 1)));
    const float mid = (v + w) / 2;
    for (float y : {v, mid, std::nextafter(mid, 0.f), std::nextafter(mid, INFINITY), -mid}) x.push_back(y);
  }
  x.push_back(448.0f);  // amax = 448 makes the scale exactly 1
  const auto q = quantize<float8_e4m3fn, float>(x, {1, x.size()}, {});
  ASSERT_EQ(q.scales[0], 1.0f);
  for (std::size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(q.values[i].bits(), float8_e4m3fn(x[i]).bits()) << x[i];
}

TEST(Fast, E2m1ConversionEveryFloatEdge) {
  // MXFP4's element rounding (avx512: one fp32 add of a binade's power of two; neon: compares)
  // on every e2m1 midpoint and its neighbours, every boundary of the rounding binades, and 512
  // floats in each binade from 2^-8 to 8, both signs: blocks of 32 led by 6 (the scale 2^0,
  // so the elements are rounded as they are) against the reference and the scalar conversion.
  std::vector<float> v;
  for (int c = 0; c < 7; ++c) {
    const float a = float(float4_e2m1fn::from_bits(static_cast<std::uint8_t>(c)));
    const float b = float(float4_e2m1fn::from_bits(static_cast<std::uint8_t>(c + 1)));
    const float mid = (a + b) / 2;
    for (float y : {a, mid, std::nextafter(mid, 0.f), std::nextafter(mid, INFINITY)}) v.push_back(y);
  }
  for (float y : {2.0f, 4.0f, 6.0f, 7.0f, 0x1p-149f, 0.0f})  // below 8: the scale stays 2^0
    for (float z : {y, std::nextafter(y, 0.f), std::nextafter(y, INFINITY)}) v.push_back(z);
  v.push_back(std::nextafter(8.0f, 0.f));  // saturates to 6
  for (int e = -8; e < 3; ++e)
    for (std::uint32_t m = 0; m < 512; ++m)
      v.push_back(std::ldexp(1.0f + static_cast<float>(m * 16381 % 8388608) / 8388608.0f, e));
  std::vector<float> x;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (x.size() % 32 == 0) x.push_back(6.0f);
    x.push_back(i % 2 ? -v[i] : v[i]);
    if (x.size() % 32 == 0) x.push_back(6.0f), x.push_back(i % 2 ? v[i] : -v[i]);
  }
  while (x.size() % 32) x.push_back(0.0f);
  const matrix_shape shape{1, x.size()};
  reset_dispatch_counts();
  const auto fast = quantize_mx<float4_e2m1fn, float>(x, shape, {});
  const bool kernel = active_backend() == backend::avx512 || active_backend() == backend::neon;
  ASSERT_EQ(dispatch_counts().fast, kernel ? 1u : 0u) << backend_name();
  const auto ref = detail::quantize_mx_ref<float4_e2m1fn, float>(x, shape, {});
  for (std::size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(fast.scales[i / 32].bits(), 127) << i;
    ASSERT_EQ(fast.values[i].bits(), ref.values[i].bits()) << x[i];
    ASSERT_EQ(fast.values[i].bits(), float4_e2m1fn(x[i]).bits()) << x[i];
  }
}

template <class T>
void check_mx(unsigned seed) {
  for (auto shape : shapes)
    for (auto rule : {mx_scale_rule::ocp, mx_scale_rule::ceil})
      for (bool specials : {false, true}) {
        const auto x = data(shape.size(), seed++, specials);
        const mx_params p{.rule = rule};
        reset_dispatch_counts();
        const auto fast = quantize_mx<T, float>(x, shape, p);
        // the MX kernels exist for avx512 and neon; elsewhere the reference runs
        const bool kernel = active_backend() == backend::avx512 || active_backend() == backend::neon;
        ASSERT_EQ(dispatch_counts().fast, kernel ? 1u : 0u) << backend_name();
        const auto ref = detail::quantize_mx_ref<T, float>(x, shape, p);
        ASSERT_EQ(bytes(fast.values), bytes(ref.values)) << shape.rows << "x" << shape.cols;
        ASSERT_EQ(bytes(fast.scales), bytes(ref.scales));
      }
}

TEST(Fast, MxFp4MatchesReference) {
  check_mx<float4_e2m1fn>(40);
}
TEST(Fast, MxFp8MatchesReference) {
  check_mx<float8_e4m3fn>(140);
}

template <class T>
void check_mx_extremes(int ocp_code, int ceil_code) {
  for (auto rule : {mx_scale_rule::ocp, mx_scale_rule::ceil}) {
    std::vector<float> x(4 * 40, 0.0f);
    for (std::size_t i = 0; i < 40; ++i) x[i] = 3.4e38f / float(i + 1) * (i % 2 ? -1.0f : 1.0f);
    for (std::size_t i = 40; i < 80; ++i) x[i] = 1e-45f * float(i - 40);
    for (std::size_t i = 80; i < 120; ++i) x[i] = 0x1p-126f * float(i - 80) / 8;
    for (std::size_t i = 120; i < 160; ++i) x[i] = float(i) / 7 - 20;
    const matrix_shape shape{4, 40};
    reset_dispatch_counts();
    const auto fast = quantize_mx<T, float>(x, shape, {.rule = rule});
    const bool kernel = active_backend() == backend::avx512 || active_backend() == backend::neon;
    EXPECT_EQ(dispatch_counts().fast, kernel ? 1u : 0u) << backend_name();
    const auto ref = detail::quantize_mx_ref<T, float>(x, shape, {.rule = rule});
    ASSERT_EQ(bytes(fast.values), bytes(ref.values));
    ASSERT_EQ(bytes(fast.scales), bytes(ref.scales));
    EXPECT_EQ(ref.scales[0].bits(), rule == mx_scale_rule::ocp ? ocp_code : ceil_code);
  }
}

TEST(Fast, MxExtremeBlocksMatchReference) {
  // Blocks at the ends of the fp32 range: amax near FLT_MAX gives the largest scale codes
  // (e2m1: 252 for ocp, 253 for ceil; e4m3: 246 / 247: 2^(127 - code) is still a normal float,
  // so the kernels keep them), subnormal inputs the smallest. Mixed with an ordinary block in
  // the same call.
  check_mx_extremes<float4_e2m1fn>(252, 253);
  check_mx_extremes<float8_e4m3fn>(119 + 127, 120 + 127);
}

TEST(Fast, MxSixteenBlocksAtOnceMatchReference) {
  // Rows of 16 blocks and more (the avx512 kernel's 16-block step, then single blocks): every
  // block kind in every lane position: near FLT_MAX, subnormal, around 2^-126, ordinary, all
  // zero (both signs), one NaN, one +-Inf, a single nonzero element; both rules, both formats.
  const std::size_t cols = 32 * 16 * 2 + 40;  // two 16-block steps, a block and a partial one
  const matrix_shape shape{9, cols};
  std::vector<float> x(shape.size());
  std::mt19937 rng(77);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (std::size_t r = 0; r < shape.rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const std::size_t kind = (c / 32 + r) % 9, i = c % 32;
      float& v = x[r * cols + c];
      v = kind == 0   ? 3.4e38f * u(rng)
          : kind == 1 ? 1e-45f * float(rng() % 64) * (i % 2 ? -1.0f : 1.0f)
          : kind == 2 ? 0x1p-126f * u(rng) * 2.0f
          : kind == 3 ? u(rng) * 100.0f
          : kind == 4 ? (i % 3 ? 0.0f : -0.0f)
          : kind == 5 ? (i == 7 ? NAN : u(rng))
          : kind == 6 ? (i == 31 ? (r % 2 ? -INFINITY : INFINITY) : u(rng))
          : kind == 7 ? (i == 13 ? 6.0f : 0.0f)
                      : u(rng) * 1e-20f;
    }
  const auto check = [&](auto tag) {
    using T = decltype(tag);
    for (auto rule : {mx_scale_rule::ocp, mx_scale_rule::ceil}) {
      reset_dispatch_counts();
      const auto fast = quantize_mx<T, float>(x, shape, {.rule = rule});
      const bool kernel = active_backend() == backend::avx512 || active_backend() == backend::neon;
      EXPECT_EQ(dispatch_counts().fast, kernel ? 1u : 0u) << backend_name();
      const auto ref = detail::quantize_mx_ref<T, float>(x, shape, {.rule = rule});
      ASSERT_EQ(bytes(fast.scales), bytes(ref.scales)) << backend_name();
      ASSERT_EQ(bytes(fast.values), bytes(ref.values)) << backend_name();
    }
  };
  check(float4_e2m1fn{});
  check(float8_e4m3fn{});
}

TEST(Fast, DequantizeInt8MatchesReference) {
  unsigned seed = 60;
  for (auto shape : shapes)
    for (auto g :
         {granularity::tensor(), granularity::channel(), granularity::group(7), granularity::block(3, 32)}) {
      std::mt19937 rng(seed++);
      std::vector<std::int8_t> q(shape.size());
      for (auto& v : q) v = static_cast<std::int8_t>(static_cast<int>(rng() % 256) - 128);
      const auto map = make_scale_map(g, operand::right, shape);
      const auto s = data(map.size(), seed++, false), o = data(map.size(), seed++, false);
      for (auto form : {dequant_form::subtract_offset, dequant_form::antiquant})
        for (bool with_offset : {false, true}) {
          std::vector<float> fast(shape.size()), ref(shape.size());
          const std::span<const float> off =
              with_offset ? std::span<const float>(o) : std::span<const float>();
          dequantize_into<std::int8_t, float>(q, map, s, off, fast, form);
          detail::dequantize_ref_into<std::int8_t, float>(q, map, s, off, ref, form);
          ASSERT_EQ(std::memcmp(fast.data(), ref.data(), fast.size() * 4), 0);
        }
    }
}

/// Every bit pattern of a one-byte code type dequantized with fp32 or e8m0 scales (incl. NaN,
/// 2^-127 and 2^127), with and without offsets, against the reference: the table path (and the
/// e4m3 / e5m2 decode by arithmetic). Blocks 16 and 48 columns wide (and per tensor with whole
/// vectors) take the kernels' one scale per block; the others a scale per column.
template <class T, class S>
void check_dequantize_codes(unsigned seed) {
  for (auto shape : shapes)
    for (auto g : {granularity::tensor(), granularity::channel(), granularity::group(32),
                   granularity::block(3, 5), granularity::block(2, 16), granularity::block(1, 48)}) {
      std::mt19937 rng(seed++);
      std::vector<T> q(shape.size());
      for (auto& v : q) {
        if constexpr (std::is_same_v<T, std::int8_t>)
          v = static_cast<std::int8_t>(static_cast<int>(rng() & 0xff) - 128);
        else if constexpr (requires { T::mask; })
          v = T::from_bits(static_cast<std::uint8_t>(rng() & T::mask));
        else
          v = T::from_bits(static_cast<std::uint8_t>(rng() & 0xff));  // int4: from_bits keeps 4 bits
      }
      const auto map = make_scale_map(g, operand::right, shape);
      std::vector<S> s(map.size());
      const auto fs = data(map.size(), seed++, true), o = data(map.size(), seed++, false);
      for (std::size_t i = 0; i < s.size(); ++i) {
        if constexpr (std::is_same_v<S, float>)
          s[i] = fs[i];
        else
          s[i] = float8_e8m0fnu::from_bits(
              static_cast<std::uint8_t>(i % 7 == 0 ? rng() & 0xff : 110 + rng() % 30));
      }
      for (auto form : {dequant_form::subtract_offset, dequant_form::antiquant})
        for (bool with_offset : {false, true}) {
          std::vector<float> fast(shape.size()), ref(shape.size());
          const std::span<const float> off =
              with_offset ? std::span<const float>(o) : std::span<const float>();
          reset_dispatch_counts();
          dequantize_into<T, S>(q, map, s, off, fast, form);
          if (shape.size() > 0 && active_backend() != backend::scalar) {
            EXPECT_EQ(dispatch_counts().reference, 0u);
          }
          detail::dequantize_ref_into<T, S>(q, map, s, off, ref, form);
          ASSERT_EQ(std::memcmp(fast.data(), ref.data(), fast.size() * 4), 0)
              << to_string(g) << " " << shape.rows << "x" << shape.cols;
        }
    }
}

// The 256 codes in order, each in every lane of a 16-wide vector and in the scalar tails, scale 1
// and no offset: each value exactly the reference's (NaN payloads too).
template <class T>
void check_dequantize_all_codes() {
  const matrix_shape shape{3, 256 * 16 + 7};
  std::vector<T> q(shape.size());
  for (std::size_t i = 0; i < q.size(); ++i)
    q[i] = T::from_bits(static_cast<std::uint8_t>(i / 16 + i % 16 * 17));
  for (auto g : {granularity::tensor(), granularity::channel(), granularity::block(1, 16)}) {
    const auto map = make_scale_map(g, operand::right, shape);
    const std::vector<float> s(map.size(), 1.0f);
    std::vector<float> fast(shape.size()), ref(shape.size());
    dequantize_into<T, float>(q, map, s, {}, fast);
    detail::dequantize_ref_into<T, float>(q, map, s, {}, ref);
    ASSERT_EQ(std::memcmp(fast.data(), ref.data(), fast.size() * 4), 0) << to_string(g);
  }
}

TEST(Fast, DequantizeEveryOneByteCodeMatchesReference) {
  check_dequantize_all_codes<float8_e4m3fn>();
  check_dequantize_all_codes<float8_e5m2>();
  check_dequantize_all_codes<hifloat8>();
  check_dequantize_codes<float8_e4m3fn, float>(70);
  check_dequantize_codes<float8_e5m2, float>(71);
  check_dequantize_codes<hifloat8, float>(72);
  check_dequantize_codes<float4_e2m1fn, float8_e8m0fnu>(73);
  check_dequantize_codes<float8_e4m3fn, float8_e8m0fnu>(74);
  check_dequantize_codes<float6_e3m2fn, float8_e8m0fnu>(75);
  check_dequantize_codes<int4, float>(76);
  check_dequantize_codes<std::int8_t, float8_e8m0fnu>(77);
}

TEST(Fast, MatmulKcAndInt32MatchReference) {
  struct mkn {
    std::size_t m, k, n;
  };
  const mkn cases[] = {{1, 1, 1},    {1, 7, 3},     {2, 4, 64},  {3, 5, 65},     {6, 33, 17},   {7, 64, 128},
                       {13, 130, 9}, {1, 4096, 70}, {5, 3, 200}, {16, 1000, 64}, {20, 257, 130}};
  unsigned seed = 80;
  for (auto c : cases)
    for (bool transposed : {false, true}) {
      std::mt19937 rng(seed++);
      std::vector<std::int8_t> a(c.m * c.k), b(c.k * c.n);
      for (auto& v : a) v = static_cast<std::int8_t>(static_cast<int>(rng() % 256) - 128);
      for (auto& v : b) v = static_cast<std::int8_t>(static_cast<int>(rng() % 256) - 128);
      const auto s1 = data(c.m, seed++, false), s2 = data(c.n, seed++, false), bf = data(c.n, seed++, false);
      std::vector<std::int32_t> bi(c.n);
      for (auto& v : bi) v = static_cast<std::int32_t>(rng() % 20001) - 10000;
      const matmul_dims d{c.m, c.k, c.n, transposed};
      for (int bias_kind = 0; bias_kind < 3; ++bias_kind) {
        const matmul_bias bias = bias_kind == 0   ? matmul_bias{}
                                 : bias_kind == 1 ? matmul_bias{bi, {}}
                                                  : matmul_bias{{}, bf};
        std::vector<float> fast(c.m * c.n), ref(c.m * c.n);
        matmul_kc<float, std::int8_t, std::int8_t>(a, b, d, s1, s2, bias, fast);
        detail::matmul_kc_ref<float, std::int8_t, std::int8_t>(a, b, d, s1, s2, bias, ref);
        ASSERT_EQ(std::memcmp(fast.data(), ref.data(), fast.size() * 4), 0)
            << c.m << "x" << c.k << "x" << c.n;
        std::vector<bfloat16> fb(c.m * c.n), rb(c.m * c.n);
        matmul_kc<bfloat16, std::int8_t, std::int8_t>(a, b, d, s1, s2, bias, fb);
        detail::matmul_kc_ref<bfloat16, std::int8_t, std::int8_t>(a, b, d, s1, s2, bias, rb);
        ASSERT_EQ(std::memcmp(fb.data(), rb.data(), fb.size() * 2), 0);
      }
      std::vector<std::int32_t> y(c.m * c.n);
      matmul_int32<std::int8_t, std::int8_t>(a, b, d, bi, y);
      for (std::size_t i = 0; i < c.m; ++i)
        for (std::size_t j = 0; j < c.n; ++j) {
          long long acc = bi[j];
          for (std::size_t k = 0; k < c.k; ++k)
            acc += static_cast<long long>(a[i * c.k + k]) * b[transposed ? j * c.k + k : k * c.n + j];
          ASSERT_EQ(y[i * c.n + j], acc);
        }
    }
}

TEST(Fast, PackedWeightsReuseAndInt4) {
  std::mt19937 rng(99);
  const std::size_t m = 9, k = 77, n = 70;
  std::vector<int4> a(m * k), b(k * n);
  for (auto& v : a) v = int4::from_bits(static_cast<std::uint8_t>(rng() % 16));
  for (auto& v : b) v = int4::from_bits(static_cast<std::uint8_t>(rng() % 16));
  const auto s1 = data(m, 1, false), s2 = data(n, 2, false);
  const packed_weights<int4> w(b, k, n);
  std::vector<float> y1(m * n), y2(m * n), ref(m * n);
  matmul_kc<float, int4, int4>(a, w, m, s1, s2, {}, y1);
  matmul_kc<float, int4, int4>(a, w, m, s1, s2, {}, y2);
  detail::matmul_kc_ref<float, int4, int4>(a, b, {m, k, n}, s1, s2, {}, ref);
  EXPECT_EQ(y1, ref);
  EXPECT_EQ(y2, ref);
}

TEST(Fast, ThreadCountDoesNotChangeResults) {
#if defined(_OPENMP)
  std::mt19937 rng(5);
  const std::size_t m = 37, k = 300, n = 300;
  std::vector<std::int8_t> a(m * k), b(k * n);
  for (auto& v : a) v = static_cast<std::int8_t>(rng());
  for (auto& v : b) v = static_cast<std::int8_t>(rng());
  const auto s1 = data(m, 7, false), s2 = data(n, 8, false);
  std::vector<float> y1(m * n), y2(m * n);
  omp_set_num_threads(1);
  matmul_kc<float, std::int8_t, std::int8_t>(a, b, {m, k, n}, s1, s2, {}, y1);
  omp_set_num_threads(2);
  matmul_kc<float, std::int8_t, std::int8_t>(a, b, {m, k, n}, s1, s2, {}, y2);
  EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.size() * 4), 0);
#else
  GTEST_SKIP() << "built without OpenMP";
#endif
}

// The approx (BF16) paths: within the stated bound of the exact reference, deterministic.
template <class T1, class T2>
void check_approx(bool mx) {
  struct mkn {
    std::size_t m, k, n;
  };
  const mkn cases[] = {{1, 1, 1}, {1, 64, 3}, {3, 130, 65}, {7, 256, 64}, {13, 300, 70}, {2, 1000, 5}};
  unsigned seed = 300;
  for (auto c : cases)
    for (std::size_t gs : {32, 128}) {
      if (mx && gs != 32) continue;
      std::mt19937 rng(seed++);
      std::vector<T1> a(c.m * c.k);
      std::vector<T2> b(c.k * c.n);
      for (auto& v : a) do
          v = T1::from_bits(static_cast<typename T1::storage>(rng() & T1::mask));
        while (!std::isfinite(float(v)));
      for (auto& v : b) do
          v = T2::from_bits(static_cast<typename T2::storage>(rng() & T2::mask));
        while (!std::isfinite(float(v)));
      const std::size_t kb = (c.k + gs - 1) / gs, nbk = (c.n + gs - 1) / gs;
      std::vector<float> s1(c.m * kb), s2(kb * nbk);
      std::vector<float8_e8m0fnu> e1(c.m * kb), e2(kb * c.n);
      for (auto& v : s1) v = 0.5f + float(rng() % 100) / 50.0f;
      for (auto& v : s2) v = 0.5f + float(rng() % 100) / 50.0f;
      for (auto& v : e1) v = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(120 + rng() % 16));
      for (auto& v : e2) v = float8_e8m0fnu::from_bits(static_cast<std::uint8_t>(120 + rng() % 16));
      const matmul_dims d{c.m, c.k, c.n};
      std::vector<float> exact(c.m * c.n), fast(c.m * c.n);
      if (mx) {
        matmul_mx<float, T1, T2>(a, b, d, e1, e2, {}, exact);
        matmul_mx<float, T1, T2>(approx, a, b, d, e1, e2, {}, fast);
      } else {
        matmul_gb<float, T1, T2>(a, b, d, gs, s1, s2, {}, exact);
        matmul_gb<float, T1, T2>(approx, a, b, d, gs, s1, s2, {}, fast);
      }
      for (std::size_t i = 0; i < c.m; ++i)
        for (std::size_t j = 0; j < c.n; ++j) {
          double bound = 0;  // sum_j |s_j| sum_k |a b|
          for (std::size_t blk = 0; blk < kb; ++blk) {
            double sab = 0;
            for (std::size_t k = blk * gs; k < std::min(c.k, blk * gs + gs); ++k)
              sab += std::fabs(double(float(a[i * c.k + k])) * double(float(b[k * c.n + j])));
            const double sj =
                mx ? std::ldexp(1.0, int(e1[i * kb + blk].bits()) + int(e2[blk * c.n + j].bits()) - 254)
                   : double(s1[i * kb + blk]) * double(s2[blk * nbk + j / gs]);
            bound += std::fabs(sj) * sab;
          }
          const double tol = double(gs + kb + 4) * 0x1p-24 * bound;
          ASSERT_LE(std::fabs(double(fast[i * c.n + j]) - double(exact[i * c.n + j])), tol)
              << c.m << "x" << c.k << "x" << c.n << " gs " << gs;
        }
#if defined(_OPENMP)
      std::vector<float> again(c.m * c.n);
      omp_set_num_threads(1);
      if (mx)
        matmul_mx<float, T1, T2>(approx, a, b, d, e1, e2, {}, again);
      else
        matmul_gb<float, T1, T2>(approx, a, b, d, gs, s1, s2, {}, again);
      omp_set_num_threads(2);
      ASSERT_EQ(std::memcmp(again.data(), fast.data(), fast.size() * 4), 0);
#endif
    }
}

TEST(Fast, ApproxGbFp8WithinBound) {
  check_approx<float8_e4m3fn, float8_e5m2>(false);
}
TEST(Fast, ApproxGbHiFloat8WithinBound) {
  check_approx<hifloat8, hifloat8>(false);
}
TEST(Fast, ApproxMxWithinBound) {
  check_approx<float4_e2m1fn, float8_e4m3fn>(true);
}

template <class In, class T2>
void check_weight_only(granularity g) {
  struct mkn {
    std::size_t m, k, n;
  };
  const mkn cases[] = {{1, 1, 1},   {1, 64, 64},  {1, 300, 70}, {2, 200, 33},  {3, 129, 130},
                       {4, 96, 17}, {5, 256, 63}, {9, 40, 200}, {1, 1000, 129}};
  unsigned seed = 500;
  for (const auto& c : cases) {
    const std::size_t m = c.m, k = c.k, n = c.n;
    std::mt19937 rng(seed++);
    std::vector<In> x(m * k);
    for (auto& v : x) v = In(static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 250.0f);
    std::vector<T2> w(k * n);
    for (auto& v : w) {
      if constexpr (std::is_same_v<T2, int4>)
        v = int4::from_bits(static_cast<std::uint8_t>(rng() % 16));
      else
        v = static_cast<std::int8_t>(rng());
    }
    const auto map = make_scale_map(g, operand::right, matrix_shape{k, n});
    std::vector<float> s(map.size()), bias(n);
    for (auto& v : s) v = static_cast<float>(rng() % 1000 + 1) / 7777.0f;
    for (auto& v : bias) v = static_cast<float>(static_cast<int>(rng() % 200) - 100) / 64.0f;
    std::vector<float> exact(m * n), fast(m * n);
    matmul_weight_only<float, In, T2>(x, w, matmul_dims{m, k, n}, weight_scales{g, s}, bias, exact);
    matmul_weight_only<float, In, T2>(approx, x, packed_weights<T2>(w, k, n), m, weight_scales{g, s}, bias,
                                      fast);
    const auto inter = [](float v) { return std::is_same_v<In, float> ? v : static_cast<float>(In(v)); };
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        double sum = 0;
        for (std::size_t kk = 0; kk < k; ++kk)
          sum += std::fabs(double(float(x[i * k + kk])) *
                           double(inter(float(w[kk * n + j]) * inter(s[map(kk, j)]))));
        double tol = double(k + 2) * 0x1p-24 * sum + 0x1p-24 * std::fabs(double(exact[i * n + j]));
        if (std::is_same_v<In, bfloat16>)
          tol += 0x1p-8 * std::fabs(double(exact[i * n + j])) + double(k) * 0x1p-24 * sum;
        ASSERT_LE(std::fabs(double(fast[i * n + j]) - double(exact[i * n + j])), tol)
            << m << "x" << k << "x" << n;
      }
  }
}

TEST(Fast, ApproxWeightOnlyInt4Bf16Group) {
  check_weight_only<bfloat16, int4>(granularity::group(32));
}
TEST(Fast, ApproxWeightOnlyInt4Fp16Group128) {
  check_weight_only<float16, int4>(granularity::group(128));
}
TEST(Fast, ApproxWeightOnlyInt4Bf16Group64) {
  check_weight_only<bfloat16, int4>(granularity::group(64));
}
TEST(Fast, ApproxWeightOnlyInt4Bf16Group48) {  // not a multiple of 32 k: the panel kernel
  check_weight_only<bfloat16, int4>(granularity::group(48));
}
TEST(Fast, ApproxWeightOnlyInt4Bf16Group128AndChannel) {  // the vdpbf16ps kernel
  check_weight_only<bfloat16, int4>(granularity::group(128));
  check_weight_only<bfloat16, int4>(granularity::channel());
  check_weight_only<bfloat16, int4>(granularity::tensor());
}

// With x one-hot (a single 1 at kk), the approx sum is the weight W[kk, n] itself: each rebuilt
// weight must equal the reference's bit for bit, for every code, across a wide range of scales
// (subnormal products, near-overflow ones, negative scales), for every small m and inter dtype.
constexpr float default_mags[] = {1e-39f, 3e-38f, 1.7e-5f, 0.0123f, 1.0f, 333.3f, 2.9e37f};
template <class In>
void check_weight_only_one_hot(granularity g, std::span<const float> mags = default_mags, float one = 1.0f,
                               std::size_t k = 100) {
  const std::size_t n = 37;
  std::mt19937 rng(77);
  std::vector<int4> w(k * n);
  for (auto& v : w) v = int4::from_bits(static_cast<std::uint8_t>(rng() % 16));
  const auto map = make_scale_map(g, operand::right, matrix_shape{k, n});
  std::vector<float> s(map.size());
  for (auto& v : s)
    v = mags[rng() % mags.size()] * (rng() % 2 ? -1.0f : 1.0f) *
        (1.0f + static_cast<float>(rng() % 97) / 97.0f);
  const packed_weights<int4> pw(w, k, n);
  for (const std::size_t m : {1u, 2u, 3u, 4u})
    for (const std::size_t kk : {std::size_t{0}, std::size_t{1}, std::size_t{31}, std::size_t{32},
                                 std::size_t{63}, std::size_t{64}, k / 2 + 1, k - 2, k - 1}) {
      std::vector<In> x(m * k, In(0.0f));
      for (std::size_t i = 0; i < m; ++i) x[i * k + kk] = In(one);
      std::vector<float> exact(m * n), fast(m * n);
      matmul_weight_only<float, In, int4>(x, w, matmul_dims{m, k, n}, weight_scales{g, s}, {}, exact);
      matmul_weight_only<float, In, int4>(approx, x, pw, m, weight_scales{g, s}, {}, fast);
      for (std::size_t i = 0; i < m * n; ++i)
        ASSERT_EQ(std::bit_cast<std::uint32_t>(fast[i]), std::bit_cast<std::uint32_t>(exact[i]))
            << "m " << m << " k " << kk << " n " << i % n << ": " << fast[i] << " vs " << exact[i];
    }
}

TEST(Fast, ApproxWeightOnlyRebuildsEveryWeightExactly) {
  check_weight_only_one_hot<bfloat16>(granularity::group(32));
  check_weight_only_one_hot<bfloat16>(granularity::channel());
  check_weight_only_one_hot<float16>(granularity::group(64));
  check_weight_only_one_hot<float>(granularity::group(32));
}

// bf16 x at m <= 4 with groups of 64 k multiples, per channel or per tensor: the vdpbf16ps kernel
// (wo::columns_bf16), whose guard needs no subnormal x, scale or product: scales from 2^-126 up
// to near overflow (W = Inf for the largest), k with an odd number of 32-k blocks (a half chunk
// last) and an even one, every k position of the first, a middle and the last chunk.
TEST(Fast, ApproxWeightOnlyBf16DotRebuildsEveryWeightExactly) {
  constexpr float normal[] = {0x1p-126f, 3e-38f, 1.7e-5f, 0.0123f, 1.0f, 333.3f, 2.9e37f};
  for (const std::size_t k : {100u, 70u, 128u, 250u}) {
    check_weight_only_one_hot<bfloat16>(granularity::group(64), normal, 1.0f, k);
    check_weight_only_one_hot<bfloat16>(granularity::channel(), normal, 1.0f, k);
    check_weight_only_one_hot<bfloat16>(granularity::tensor(), normal, -3.0f, k);
  }
  check_weight_only_one_hot<bfloat16>(granularity::group(128), normal, 1.0f, 300);
}

// Where the guard fails the fp32 kernel runs and the weights are still exact: a subnormal scale,
// a subnormal x, a product below 2^-100 (x = 2^-120 with scales near 2^-14: exact in fp32, but
// flushed to zero by vdpbf16ps if it ran).
TEST(Fast, ApproxWeightOnlyBf16DotGuardFallsBack) {
  constexpr float subnormal_scale[] = {1e-39f, 0.5f};
  constexpr float small[] = {0x1p-14f};
  check_weight_only_one_hot<bfloat16>(granularity::group(64), subnormal_scale, 1.0f, 130);
  check_weight_only_one_hot<bfloat16>(granularity::channel(), small, 0x1p-130f, 130);
  check_weight_only_one_hot<bfloat16>(granularity::channel(), small, 0x1p-120f, 130);
}

// An Inf scale in the last group of a column whose k ends inside a 32-k block: the reference sums
// only real weights (+Inf here); the codes past k (0 * Inf = NaN if read) must not count.
// Also with groups of 64 k (the vdpbf16ps kernel: its last chunk holds 36 k).
void check_inf_scale_in_the_tail(std::size_t group) {
  const std::size_t k = 100, n = 5;
  std::vector<int4> w(k * n, int4::from_bits(1));
  std::vector<float> s((k + group - 1) / group * n, 0.5f);
  s[(k - 1) / group * n + 2] = std::numeric_limits<float>::infinity();  // the last group, column 2
  s[n + 4] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<bfloat16> x(k, bfloat16(1.0f));
  std::vector<float> exact(n), fast(n);
  const weight_scales ws{granularity::group(group), s};
  matmul_weight_only<float, bfloat16, int4>(x, w, matmul_dims{1, k, n}, ws, {}, exact);
  matmul_weight_only<float, bfloat16, int4>(approx, x, packed_weights<int4>(w, k, n), 1, ws, {}, fast);
  EXPECT_EQ(exact[2], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(exact[4]));
  for (std::size_t j = 0; j < n; ++j) {
    EXPECT_EQ(std::isnan(fast[j]), std::isnan(exact[j])) << j;
    if (!std::isnan(exact[j])) {
      EXPECT_EQ(fast[j], exact[j]) << j;
    }
  }
}
TEST(Fast, ApproxWeightOnlyInfScaleInTheTail) {
  check_inf_scale_in_the_tail(32);
  check_inf_scale_in_the_tail(64);
}

TEST(Fast, ApproxWeightOnlyInt8Fp16Channel) {
  check_weight_only<float16, std::int8_t>(granularity::channel());
}
TEST(Fast, ApproxWeightOnlyInt4Fp32Tensor) {
  check_weight_only<float, int4>(granularity::tensor());
}

#if defined(LOWBIT_X86_64)
LOWBIT_TARGET_AVX512 void e4m3_codes_16(const std::uint32_t* bits, std::uint32_t* codes) {
  _mm512_storeu_si512(codes,
                      detail::avx512::e4m3_codes_rint_sat(_mm512_castsi512_ps(_mm512_loadu_si512(bits))));
}

TEST(Fast, E4m3VectorRoundingSweepsFloatPatterns) {
  // The AVX-512 e4m3 rounding (one fp32 add of a binade's power of two) against the scalar
  // conversion with the quantize policy {rint, saturate, NaN -> +0}: every 257th fp32 pattern
  // (every exponent, both signs, Inf and NaN), then every pattern whose low 12 bits are zero
  // within |x| < 512 (the binades e4m3 rounds in), which holds every midpoint and tie.
  if (!detail::use_avx512()) GTEST_SKIP() << "no AVX-512";
  std::uint32_t bits[16], codes[16];
  std::size_t n = 0, checked = 0;
  const auto add = [&](std::uint32_t b) {
    bits[n++] = b;
    if (n < 16) return;
    e4m3_codes_16(bits, codes);
    for (std::size_t j = 0; j < 16; ++j) {
      const float x = std::bit_cast<float>(bits[j]);
      ASSERT_EQ(codes[j], convert<float8_e4m3fn>(x, {}).bits()) << std::hexfloat << x;
    }
    n = 0, checked += 16;
  };
  for (std::uint64_t b = 0; b < (std::uint64_t{1} << 32); b += 257) add(static_cast<std::uint32_t>(b));
  for (std::uint32_t b = 0; b < 0x44000000u; b += 1u << 12) add(b), add(b | 0x80000000u);
  EXPECT_GT(checked, 17'000'000u);
}

// The AVX-512 and AVX2 quantize divide by one scale through a double reciprocal (divide_by_recip;
// AVX-512: a multiply by the inverse of a power of two):
// the quotient must be the fp32 division's bit for bit. Random bit patterns over every exponent
// (x and the scale: zeros, subnormals, Inf, NaN included), then quotients built to lie as close
// as the formats allow to a midpoint between two floats (x = RN(m * s), m a 25-bit midpoint).
LOWBIT_TARGET_AVX512 void divide_segment_16(const float* x, float s, float* q) {
  _mm512_storeu_ps(q, detail::avx512::divide_segment(_mm512_loadu_ps(x), detail::avx512::make_divisor(s)));
}

LOWBIT_TARGET_AVX2 void divide_by_recip_8x2(const float* x, double rd, float* q) {
  for (int h = 0; h < 2; ++h)
    _mm256_storeu_ps(q + 8 * h,
                     detail::avx2::divide_by_recip(_mm256_loadu_ps(x + 8 * h), _mm256_set1_pd(rd)));
}

TEST(Fast, DivideByReciprocalIsTheDivision) {
  if (!detail::use_avx2() && !detail::use_avx512()) GTEST_SKIP() << "no AVX2";
  const bool v512 = detail::use_avx512();
  std::mt19937 rng(2026);
  const auto check = [v512](const float* x, float s) {
    float q[32];
    if (v512) divide_segment_16(x, s, q);  // divide_by_recip, or a multiply for powers of two
    divide_by_recip_8x2(x, 1.0 / static_cast<double>(s), q + 16);  // the AVX2 kernels' form
    for (int i = v512 ? 0 : 16; i < 32; ++i) {
      const float want = x[i % 16] / s;
      if (std::isnan(want)) {
        ASSERT_TRUE(std::isnan(q[i])) << x[i % 16] << " / " << s;
      } else {
        ASSERT_EQ(std::bit_cast<std::uint32_t>(q[i]), std::bit_cast<std::uint32_t>(want))
            << std::hexfloat << x[i % 16] << " / " << s << ": " << q[i] << " vs " << want << " (lane " << i
            << ")";
      }
    }
  };
  const auto bits = [&] { return std::bit_cast<float>(static_cast<std::uint32_t>(rng())); };
  float x[16];
  for (int it = 0; it < 400000; ++it) {
    float s = bits();
    if (it % 8 == 1)  // powers of two, normal and subnormal
      s = std::ldexp(rng() % 2 ? -1.0f : 1.0f, int(rng() % 277) - 149);
    if (s == 0.0f) continue;  // the zero-scale rule runs the division
    for (auto& v : x) v = bits();
    if (it % 2 == 0 && std::isfinite(s))  // quotients near 1, where the codes are decided
      for (auto& v : x)
        v = std::ldexp(1.0f + static_cast<float>(rng() % 100000) / 99999.0f,
                       std::ilogb(s) + int(rng() % 16) - 8);
    check(x, s);
  }
  for (int it = 0; it < 400000; ++it) {  // x / s as near as can be to a midpoint m between floats
    const float s =
        std::ldexp(1.0f + static_cast<float>(rng() % (1u << 23)) * 0x1p-23f, int(rng() % 200) - 100);
    for (auto& v : x) {
      const double m = std::ldexp(static_cast<double>((rng() % (1u << 23)) * 2 + 1 + (1u << 24)),
                                  int(rng() % 300) - 200 - 24);  // 25 significant bits, the last one set
      v = static_cast<float>(m * static_cast<double>(s)) * (rng() % 2 ? -1.0f : 1.0f);
    }
    check(x, s);
  }
}
#endif

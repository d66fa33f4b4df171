// Properties of quantize / dequantize over many random shapes (fixed seeds): scale-shape
// formulas, every element maps to exactly one scale, tails, m = 1, k = 1, the round-trip
// bound |x - dq(q(x))| <= scale / 2 for integer formats, zero/NaN/Inf groups, static forms
// checked against hand-computed values, MX rules on crafted blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include <lowbit/lowbit.hpp>

using namespace lowbit;

namespace {

std::vector<float> gaussian(std::size_t n, unsigned seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct case_t {
  granularity g;
  operand side;
};

std::vector<case_t> all_cases(matrix_shape) {
  std::vector<case_t> cs;
  for (auto side : {operand::left, operand::right}) {
    cs.push_back({granularity::tensor(), side});
    cs.push_back({side == operand::left ? granularity::token() : granularity::channel(), side});
    for (std::size_t gs : {1, 3, 4, 32, 128}) cs.push_back({granularity::group(gs), side});
    for (auto [a, b] : {std::pair<std::size_t, std::size_t>{1, 1}, {2, 3}, {4, 4}, {128, 128}, {5, 1000}})
      cs.push_back({granularity::block(a, b), side});
  }
  return cs;
}

const matrix_shape shapes[] = {{1, 1},   {1, 7},   {7, 1},  {1, 130}, {3, 5},    {16, 16},
                               {17, 33}, {31, 64}, {65, 9}, {2, 257}, {128, 129}};

}  // namespace

TEST(ScaleMap, ShapesAndOneScalePerElement) {
  for (auto shape : shapes)
    for (auto c : all_cases(shape)) {
      const auto map = make_scale_map(c.g, c.side, shape);
      const bool left = c.side == operand::left;
      const std::size_t k = left ? shape.cols : shape.rows, other = left ? shape.rows : shape.cols;
      // closed-form scale shapes (spec §6, cli.md)
      switch (c.g.kind) {
        case granularity_kind::tensor:
          EXPECT_EQ(map.scale_shape(), std::vector<std::size_t>{1});
          break;
        case granularity_kind::token:
          EXPECT_EQ(map.scale_shape(), std::vector<std::size_t>{shape.rows});
          break;
        case granularity_kind::channel:
          EXPECT_EQ(map.scale_shape(), std::vector<std::size_t>{shape.cols});
          break;
        case granularity_kind::group: {
          const std::size_t ng = (k + c.g.group_size - 1) / c.g.group_size;
          EXPECT_EQ(map.scale_shape(),
                    (left ? std::vector<std::size_t>{other, ng} : std::vector<std::size_t>{ng, other}));
          break;
        }
        case granularity_kind::block:
          EXPECT_EQ(map.scale_shape(),
                    (std::vector<std::size_t>{(shape.rows + c.g.block_rows - 1) / c.g.block_rows,
                                              (shape.cols + c.g.block_cols - 1) / c.g.block_cols}));
          break;
        default:
          break;
      }
      // every element maps to exactly one in-range index, every index is used, and an index
      // is shared exactly by the elements of one block
      std::set<std::size_t> used;
      for (std::size_t r = 0; r < shape.rows; ++r)
        for (std::size_t col = 0; col < shape.cols; ++col) {
          const auto s = map(r, col);
          ASSERT_LT(s, map.size());
          used.insert(s);
          EXPECT_EQ(s, (r / map.br) * map.grid.cols + col / map.bc);
        }
      EXPECT_EQ(used.size(), map.size());
    }
}

TEST(ScaleMap, BadGranularityIsAnError) {
  EXPECT_THROW(make_scale_map(granularity::channel(), operand::left, {4, 4}), std::invalid_argument);
  EXPECT_THROW(make_scale_map(granularity::token(), operand::right, {4, 4}), std::invalid_argument);
  EXPECT_THROW(make_scale_map(granularity::group(0), operand::left, {4, 4}), std::invalid_argument);
  EXPECT_THROW(make_scale_map(granularity::block(0, 4), operand::left, {4, 4}), std::invalid_argument);
  EXPECT_EQ(parse_granularity("block:128"), granularity::block(128, 128));
  EXPECT_EQ(parse_granularity("block:1,32"), granularity::block(1, 32));
  EXPECT_EQ(parse_granularity("group:64"), granularity::group(64));
  EXPECT_FALSE(parse_granularity("group:"));
  EXPECT_FALSE(parse_granularity("block:1,"));
  EXPECT_FALSE(parse_granularity("pertoken"));
}

template <class T>
void round_trip_bound(bool asym) {
  unsigned seed = 1;
  for (auto shape : shapes)
    for (auto c : all_cases(shape)) {
      auto x = gaussian(shape.size(), seed++, 3.0f);
      const auto q = quantize<T, float>(x, shape, {.gran = c.g, .side = c.side, .asymmetric = asym});
      const auto y = dequantize(q);
      for (std::size_t r = 0; r < shape.rows; ++r)
        for (std::size_t col = 0; col < shape.cols; ++col) {
          const std::size_t i = r * shape.cols + col;
          const float s = q.scales[q.map(r, col)];
          // half a step, plus the fp32 rounding of the three operations involved
          ASSERT_LE(std::fabs(x[i] - y[i]), s / 2 * (1 + 1e-5f) + 1e-6f * std::fabs(x[i]))
              << to_string(c.g) << " shape " << shape.rows << "x" << shape.cols << " asym " << asym;
        }
    }
}

TEST(Quantize, Int8RoundTripWithinHalfAStep) {
  round_trip_bound<std::int8_t>(false);
}
TEST(Quantize, Int4RoundTripWithinHalfAStep) {
  round_trip_bound<int4>(false);
}
TEST(Quantize, Int8AsymmetricRoundTripWithinHalfAStep) {
  round_trip_bound<std::int8_t>(true);
}
TEST(Quantize, Int4AsymmetricRoundTripWithinHalfAStep) {
  round_trip_bound<int4>(true);
}

TEST(Quantize, SymmetricHitsTheRangeEdges) {
  const std::vector<float> x = {-1.0f, 0.5f, 0.25f, 0.0f};
  const auto q = quantize<std::int8_t, float>(x, {1, 4}, {});
  EXPECT_EQ(q.scales[0], 1.0f * static_cast<float>(1.0 / 127));
  EXPECT_EQ(q.values[0], -127);
  EXPECT_EQ(q.values[1], 64);  // 0.5 / (1/127) = 63.5 -> rint 64 (63.50000x in fp32)
  const auto f = quantize<float8_e4m3fn, float>(x, {1, 4}, {});
  EXPECT_EQ(float(f.values[0]), -448.0f);
}

TEST(Quantize, ZeroNanInfGroups) {
  const float inf = INFINITY, nan = NAN;
  // group 0: all zero; group 1: zero with +Inf and NaN; group 2: ordinary with -Inf
  const std::vector<float> x = {0, 0, 0, 0, inf, nan, 2, -inf};
  const auto q = quantize<std::int8_t, float>(x, {1, 8}, {.gran = granularity::group(2)});
  EXPECT_EQ(q.scales[0], 0.0f);
  EXPECT_EQ(q.scales[1], 0.0f);
  EXPECT_EQ(q.scales[2], 0.0f);  // {inf, nan}: no finite element
  EXPECT_EQ(q.scales[3], 2.0f * static_cast<float>(1.0 / 127));
  const std::vector<std::int8_t> want = {0, 0, 0, 0, 127, 0, 127, -128};
  EXPECT_EQ(q.values, want);
  const auto f = quantize<float8_e5m2, float>(
      x, {1, 8},
      {.gran = granularity::group(2),
       .policy = convert_policy{rounding::rint, overflow::propagate, nan_policy::keep}});
  EXPECT_EQ(f.values[4].bits(), 0x7c);  // +Inf kept under propagate
  EXPECT_EQ(f.values[5].bits(), 0x7e);  // NaN kept
  EXPECT_EQ(f.values[0].bits(), 0x00);  // all-zero group: +0
  const auto a = quantize<std::int8_t, float>(x, {1, 8}, {.gran = granularity::group(2), .asymmetric = true});
  EXPECT_EQ(a.offsets[0], 0.0f);
  EXPECT_EQ(a.values[0], 0);
}

TEST(Quantize, AsymmetricConstantGroupIncludesZero) {
  const std::vector<float> x = {3, 3, 3, 3};
  const auto q = quantize<std::int8_t, float>(x, {1, 4}, {.asymmetric = true});
  // range [0, 3]: scale = 3 * fl32(1/255), offset = 127 - 3/scale = -128
  EXPECT_EQ(q.scales[0], 3.0f * static_cast<float>(1.0 / 255));
  EXPECT_EQ(q.offsets[0], 127.0f - 3.0f / q.scales[0]);
  EXPECT_EQ(q.values[0], 127);
  EXPECT_NEAR(dequantize(q)[0], 3.0f, 1e-6f);
}

TEST(Quantize, StaticFormsAndSmooth) {
  const std::vector<float> x = {1.0f, -2.0f, 3.0f, 4.0f};
  const std::vector<float> s = {0.5f, 0.25f}, o = {1.0f, -1.0f};
  // right operand (2 x 2) per channel: column c uses s[c]
  const auto d = quantize_static<std::int8_t, float>(
      x, {2, 2}, {.gran = granularity::channel(), .side = operand::right, .scales = s, .offsets = o});
  EXPECT_EQ(d.values, (std::vector<std::int8_t>{3, -9, 7, 15}));  // 1/.5+1, -2/.25-1, 3/.5+1, 4/.25-1
  const auto m = quantize_static<std::int8_t, float>(
      x, {2, 2},
      {.gran = granularity::channel(), .side = operand::right, .scales = s, .form = static_form::multiply});
  EXPECT_EQ(m.values, (std::vector<std::int8_t>{0, 0, 2, 1}));  // .5 -> 0 (rint), -.5 -> -0, 1.5 -> 2, 1
  const std::vector<float> sm = {2.0f, 0.5f};
  const auto q = quantize<std::int8_t, float>(x, {2, 2}, {.gran = granularity::token(), .smooth = sm});
  EXPECT_EQ(q.scales[0], 2.0f * static_cast<float>(1.0 / 127));  // row 0: |1*2|, |-2*.5| -> 2
  EXPECT_THROW((quantize<std::int8_t, float>(x, {2, 2}, {.smooth = std::span<const float>(sm.data(), 1)})),
               std::invalid_argument);
  EXPECT_THROW((quantize<std::int8_t, float>(x, {3, 2}, {})), std::invalid_argument);
}

TEST(Quantize, DtypeMaxAndMinScale) {
  const std::vector<float> x = {64.0f, -32.0f};
  const auto q = quantize<hifloat8, float>(x, {1, 2}, {.dtype_max = 16.0f});
  EXPECT_EQ(q.scales[0], 4.0f);
  EXPECT_EQ(float(q.values[0]), 16.0f);
  const auto c = quantize<float8_e4m3fn, float>(x, {1, 2}, {.min_scale = 100.0f});
  EXPECT_EQ(c.scales[0], 1.0f / 100.0f);  // min(64/448, 0.01)
  EXPECT_EQ(float(c.values[0]), 448.0f);  // 6400 saturates
}

TEST(Quantize, EmptyMatrices) {
  const std::vector<float> none;
  const auto q = quantize<std::int8_t, float>(none, {0, 8}, {.gran = granularity::token()});
  EXPECT_TRUE(q.values.empty());
  EXPECT_TRUE(q.scales.empty());
  const auto t = quantize<std::int8_t, float>(none, {4, 0}, {.gran = granularity::group(32)});
  EXPECT_EQ(t.map.scale_shape(), (std::vector<std::size_t>{4, 0}));
  const auto z = quantize<std::int8_t, float>(none, {0, 0}, {});
  EXPECT_EQ(z.scales, std::vector<float>{0.0f});
}

TEST(QuantizeMx, OcpScaleAndElements) {
  std::vector<float> x(64, 0.0f);
  x[0] = 6.0f;    // block 0: amax 6 -> floor(log2 6) - 2 = 0 -> scale 2^0
  x[1] = -0.26f;  // -0.26 -> -0.5? nearest of {0, .5}: 0.26 > .25 -> 0.5
  x[32] = 100.f;  // block 1: amax 100 -> 6 - 2 = 4 -> 2^4; 100/16 = 6.25 -> 6
  x[33] = 1.0f;   // 1/16 = 0.0625 -> 0
  const auto q = quantize_mx<float4_e2m1fn, float>(x, {1, 64}, {});
  EXPECT_EQ(q.scales[0].bits(), 127);
  EXPECT_EQ(q.scales[1].bits(), 131);
  EXPECT_EQ(float(q.values[0]), 6.0f);
  EXPECT_EQ(float(q.values[1]), -0.5f);
  EXPECT_EQ(float(q.values[32]), 6.0f);
  EXPECT_EQ(float(q.values[33]), 0.0f);
  const auto r = quantize_mx<float4_e2m1fn, float>(x, {1, 64}, {.round = rounding::floor});
  EXPECT_EQ(float(r.values[1]), -0.5f);  // floor(-0.26) -> -0.5
  EXPECT_EQ(float(r.values[32]), 6.0f);
}

TEST(QuantizeMx, ZeroNanAndCeilRule) {
  std::vector<float> x(96, 0.0f);
  x[32] = NAN;
  x[33] = 1.0f;
  x[64] = 448.0f * 1.5f;  // block 2
  const auto q = quantize_mx<float8_e4m3fn, float>(x, {1, 96}, {});
  EXPECT_EQ(q.scales[0].bits(), 0x00);  // all zero -> 2^-127
  EXPECT_EQ(q.scales[1].bits(), 0xff);  // NaN block
  EXPECT_EQ(float(q.values[33]), 0.0f);
  EXPECT_EQ(q.scales[2].bits(), 127 + 9 - 8);  // floor(log2 672) = 9
  const auto c = quantize_mx<float8_e4m3fn, float>(x, {1, 96}, {.rule = mx_scale_rule::ceil});
  EXPECT_EQ(c.scales[2].bits(), 128);      // S = 1.5 -> E = 127, M > 0 -> 128 (2^1)
  EXPECT_EQ(float(c.values[64]), 320.0f);  // 336 ties between 320 and 352: even mantissa
  std::vector<float> p(32, 0.0f);
  p[0] = 448.0f;  // S = 1 exactly: no round-up
  EXPECT_EQ((quantize_mx<float8_e4m3fn, float>(p, {1, 32}, {.rule = mx_scale_rule::ceil}).scales[0].bits()),
            127);
}

TEST(QuantizeMx, CannLayoutRoundTrip) {
  // right operand (k=160, n=3): 5 blocks per column, padded to 6
  const matrix_shape grid{5, 3};
  std::vector<std::uint8_t> nat(15);
  for (std::size_t i = 0; i < nat.size(); ++i) nat[i] = static_cast<std::uint8_t>(10 + i);
  const auto cann = mx_scales_to_cann(nat, operand::right, grid);
  ASSERT_EQ(cann.size(), 3u * 3 * 2);
  EXPECT_EQ(cann[0], nat[0]);               // j=0, c=0, t=0 -> block 0 column 0
  EXPECT_EQ(cann[1], nat[3]);               // t=1 -> block 1 column 0
  EXPECT_EQ(cann[2], nat[1]);               // c=1, t=0 -> block 0 column 1
  EXPECT_EQ(cann[(2 * 3 + 2) * 2 + 1], 0);  // pad block 5
  EXPECT_EQ(mx_scales_from_cann(cann, operand::right, grid), nat);
  const auto left = mx_scales_to_cann(nat, operand::left, {3, 5});
  EXPECT_EQ(left[5], 0);  // row 0 holds blocks 0..4 then a pad
  EXPECT_EQ(left[6], nat[5]);
  EXPECT_EQ(mx_scales_from_cann(left, operand::left, {3, 5}), nat);
}

TEST(Dequantize, FormsAndMx) {
  const std::vector<std::int8_t> q = {10, -3};
  const std::vector<float> s = {0.5f}, o = {2.0f};
  const auto map = make_scale_map(granularity::tensor(), operand::left, {1, 2});
  std::vector<float> y(2);
  dequantize_into<std::int8_t, float>(q, map, s, o, y);
  EXPECT_EQ(y, (std::vector<float>{4.0f, -2.5f}));
  dequantize_into<std::int8_t, float>(q, map, s, o, y, dequant_form::antiquant);
  EXPECT_EQ(y, (std::vector<float>{6.0f, -0.5f}));
  const std::vector<float4_e2m1fn> f = {float4_e2m1fn(3.0f), float4_e2m1fn(-0.5f)};
  const std::vector<float8_e8m0fnu> e = {float8_e8m0fnu::from_bits(130)};
  dequantize_into<float4_e2m1fn, float8_e8m0fnu>(f, make_scale_map(granularity::mx(), operand::left, {1, 2}),
                                                 e, {}, y);
  EXPECT_EQ(y, (std::vector<float>{24.0f, -4.0f}));
}

TEST(QuantizeMx, IntoCallerBuffersEqualsTheOwningResult) {
  std::vector<float> x(6 * 70);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = std::ldexp(static_cast<float>(static_cast<int>(i * 37 % 201) - 100), -4);
  x[75] = std::numeric_limits<float>::quiet_NaN();
  const auto check = [&](auto tag, lowbit::operand side, lowbit::matrix_shape s) {
    using T = typename decltype(tag)::type;
    const auto q = lowbit::quantize_mx<T, float>(x, s, {.side = side});
    lowbit::quantized<T, lowbit::float8_e8m0fnu> into{
        std::vector<T>(x.size()), std::vector<lowbit::float8_e8m0fnu>(q.scales.size()), {}, {}};
    lowbit::quantize_mx_into<T, float>(x, s, {.side = side}, into.span());
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_EQ(into.values[i].bits(), q.values[i].bits()) << i;
    for (std::size_t i = 0; i < q.scales.size(); ++i)
      EXPECT_EQ(into.scales[i].bits(), q.scales[i].bits()) << i;
    into.scales.pop_back();  // a scale buffer of the wrong size is refused
    EXPECT_THROW((lowbit::quantize_mx_into<T, float>(x, s, {.side = side}, into.span())),
                 std::invalid_argument);
  };
  check(std::type_identity<lowbit::float4_e2m1fn>{}, lowbit::operand::left, {6, 70});   // the fast path
  check(std::type_identity<lowbit::float8_e4m3fn>{}, lowbit::operand::right, {70, 6});  // the reference
}

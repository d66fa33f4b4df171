// lowbit::matmul on quantized operands: the mode comes from the two granularities, the dims,
// group size and scales from the operands; the result must be the bits of the mode's own
// function called with the same data, and pairs that form no CANN mode must be refused.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <lowbit/lowbit.hpp>

namespace {

using namespace lowbit;

std::vector<float> data(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = std::ldexp(static_cast<float>(static_cast<int>(rng() % 4096) - 2048), -9);
  return v;
}

bool same(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

constexpr std::size_t m = 7, k = 96, n = 40;
const auto xf = data(m * k, 1), wf = data(k * n, 2);

template <class T>
quantized<T> q(const std::vector<float>& x, matrix_shape s, granularity g, operand side) {
  return quantize<T, float>(x, s, {.gran = g, .side = side});
}

TEST(QuantizedMatmul, EveryModeEqualsItsOwnFunction) {
  std::vector<float> y(m * n), ref(m * n);
  const matmul_dims d{m, k, n};
  const std::vector<float> bias = data(n, 3);
  {  // K-C
    const auto a = q<std::int8_t>(xf, {m, k}, granularity::token(), operand::left);
    const auto b = q<std::int8_t>(wf, {k, n}, granularity::channel(), operand::right);
    matmul(a, b, std::span(y), {.bias = {.f32 = bias}});
    matmul_kc<float, std::int8_t, std::int8_t>(a.values, b.values, d, a.scales, b.scales, {.f32 = bias}, ref);
    EXPECT_TRUE(same(y, ref));
    EXPECT_EQ(matmul_mode_name(a.map, b.map), "K-C");
  }
  {  // T-C and T-T (x1's per-tensor scale)
    const auto a = q<float8_e4m3fn>(xf, {m, k}, granularity::tensor(), operand::left);
    for (auto g : {granularity::channel(), granularity::tensor()}) {
      const auto b = q<float8_e4m3fn>(wf, {k, n}, g, operand::right);
      matmul(a, b, std::span(y));
      matmul_tc<float, float8_e4m3fn, float8_e4m3fn>(a.values, b.values, d, b.scales, a.scales[0], {}, ref);
      EXPECT_TRUE(same(y, ref)) << to_string(g);
    }
  }
  {  // G-B and B-B
    const auto b = q<std::int8_t>(wf, {k, n}, granularity::block(32, 32), operand::right);
    const auto a = q<std::int8_t>(xf, {m, k}, granularity::group(32), operand::left);
    matmul(a, b, std::span(y), {.bias = {.f32 = bias}});
    matmul_gb<float, std::int8_t, std::int8_t>(a.values, b.values, d, 32, a.scales, b.scales, bias, ref);
    EXPECT_TRUE(same(y, ref));
    const auto a2 = q<float8_e5m2>(xf, {m, k}, granularity::block(32, 32), operand::left);
    const auto b2 = q<float8_e5m2>(wf, {k, n}, granularity::block(32, 32), operand::right);
    matmul(a2, b2, std::span(y));
    matmul_bb<float, float8_e5m2, float8_e5m2>(a2.values, b2.values, d, 32, a2.scales, b2.scales, {}, ref);
    EXPECT_TRUE(same(y, ref));
  }
  {  // K-G
    const auto a = q<std::int8_t>(xf, {m, k}, granularity::token(), operand::left);
    const auto b = q<int4>(wf, {k, n}, granularity::group(32), operand::right);
    matmul(a, b, std::span(y));
    matmul_kg<float, std::int8_t, int4>(a.values, b.values, d, 32, a.scales, b.scales, {}, ref);
    EXPECT_TRUE(same(y, ref));
  }
  {  // MX
    const auto a = quantize_mx<float4_e2m1fn, float>(xf, {m, k}, {.side = operand::left});
    const auto b = quantize_mx<float8_e4m3fn, float>(wf, {k, n}, {.side = operand::right});
    std::vector<bfloat16> yb(m * n), rb(m * n);
    matmul(a, b, std::span(yb));
    matmul_mx<bfloat16, float4_e2m1fn, float8_e4m3fn>(a.values, b.values, d, a.scales, b.scales, {}, rb);
    EXPECT_EQ(0, std::memcmp(yb.data(), rb.data(), yb.size() * sizeof(bfloat16)));
  }
}

TEST(QuantizedMatmul, RefusesPairsThatAreNoMode) {
  std::vector<float> y(m * n);
  const auto tok = q<std::int8_t>(xf, {m, k}, granularity::token(), operand::left);
  const auto grp = q<std::int8_t>(xf, {m, k}, granularity::group(32), operand::left);
  const auto blk16 = q<std::int8_t>(wf, {k, n}, granularity::block(16, 16), operand::right);
  const auto chan = q<std::int8_t>(wf, {k, n}, granularity::channel(), operand::right);
  EXPECT_THROW(matmul(grp, chan, std::span(y)), std::invalid_argument);   // group x channel
  EXPECT_THROW(matmul(grp, blk16, std::span(y)), std::invalid_argument);  // group 32 x block 16
  EXPECT_THROW(matmul(chan, tok, std::span(y)), std::invalid_argument);   // operands swapped
  const auto asym =
      quantize<std::int8_t, float>(xf, {m, k}, {.gran = granularity::token(), .asymmetric = true});
  EXPECT_THROW(matmul(asym, chan, std::span(y)), std::invalid_argument);
  std::vector<float> wrong(m * n + 1);
  EXPECT_THROW(matmul(tok, chan, std::span(wrong)), std::invalid_argument);
  const auto short_k = q<std::int8_t>(data(64 * n, 4), {64, n}, granularity::channel(), operand::right);
  EXPECT_THROW(matmul(tok, short_k, std::span(y)), std::invalid_argument);
}

}  // namespace

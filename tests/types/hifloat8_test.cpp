// HiFloat8 has no outside table, so it is checked against a second, independent reading of
// spec §1.4: codes are generated field by field, and encoding is re-implemented the way
// en_dtypes describes it (round the mantissa at the pre-rounding exponent, ties away).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include <lowbit/lowbit.hpp>

using namespace lowbit;

namespace {

// code -> value, built from the field description (not from the decoder).
std::map<int, double> hif8_by_fields() {
  std::map<int, double> m;
  for (int s = 0; s < 2; ++s) {
    const double sg = s ? -1 : 1;
    for (int c = 1; c <= 7; ++c) m[s << 7 | c] = sg * std::ldexp(1.0, c - 23);  // denormals
    struct dot {
      int d, prefix, plen, mbits;
    };
    for (dot t : {dot{4, 0b11, 2, 1}, dot{3, 0b10, 2, 2}, dot{2, 0b01, 2, 3}, dot{1, 0b001, 3, 3},
                  dot{0, 0b0001, 4, 3}}) {
      for (int ef = 0; ef < (1 << t.d); ++ef)
        for (int mant = 0; mant < (1 << t.mbits); ++mant) {
          int e = 0;
          if (t.d > 0) {
            const int mag = (1 << (t.d - 1)) + (ef & ((1 << (t.d - 1)) - 1));
            e = (ef >> (t.d - 1)) ? -mag : mag;
          }
          const int code = s << 7 | t.prefix << (7 - t.plen) | ef << t.mbits | mant;
          m[code] = sg * std::ldexp(1.0 + mant / double(1 << t.mbits), e);
        }
    }
  }
  m.erase(0x6f);
  m.erase(0xef);  // +-Inf slots
  return m;
}

// en_dtypes-style ties-away encoder (spec §1.4 steps 1-5), returning a value, or +-inf.
double end_round(double x) {
  const double a = std::fabs(x);
  if (a == 0) return 0;
  int e = 0;
  std::frexp(a, &e);
  --e;  // a in [2^e, 2^(e+1))
  if (e > 15 || a >= 1.5 * 32768) return std::copysign(INFINITY, x);
  if (e < -23) return 0;
  const int ae = std::abs(e);
  const int mbits = ae <= 3 ? 3 : ae <= 7 ? 2 : ae <= 15 ? 1 : 0;
  const double scaled = std::ldexp(a, mbits - e);  // in [2^mbits, 2^(mbits+1))
  double v = std::ldexp(std::floor(scaled + 0.5), e - mbits);
  if (e == -23) v = std::ldexp(1.0, -22);  // "a value that rounds to e = -23 maps to code 1"
  if (v >= 1.5 * 32768) return std::copysign(INFINITY, x);
  return std::copysign(v, x);
}

}  // namespace

TEST(HiFloat8, DecodeEveryCodeMatchesFieldDescription) {
  const auto fields = hif8_by_fields();
  EXPECT_EQ(fields.size(), 256u - 2 - 2);  // minus +-Inf, 0x00 and 0x80 handled below
  for (int c = 0; c < 256; ++c) {
    const double v = static_cast<double>(hifloat8::from_bits(static_cast<std::uint8_t>(c)));
    if (c == 0x00)
      EXPECT_EQ(v, 0.0);
    else if (c == 0x80)
      EXPECT_TRUE(std::isnan(v));
    else if (c == 0x6f)
      EXPECT_EQ(v, INFINITY);
    else if (c == 0xef)
      EXPECT_EQ(v, -INFINITY);
    else
      EXPECT_EQ(v, fields.at(c)) << "code 0x" << std::hex << c;
  }
}

TEST(HiFloat8, KnownValuesAndBinades) {
  EXPECT_EQ(float(hifloat8::from_bits(0x6e)), 32768.0f);
  EXPECT_EQ(float(hifloat8::from_bits(0x7e)), 0x1p-15f);
  EXPECT_EQ(float(hifloat8::from_bits(0x01)), 0x1p-22f);
  EXPECT_EQ(float(hifloat8::from_bits(0x08)), 1.0f);
  EXPECT_EQ(float(hifloat8::from_bits(0x7f)), 1.5f * 0x1p-15f);
  std::set<int> binades;
  for (int c = 1; c < 0x80; ++c) {
    const double v = static_cast<double>(hifloat8::from_bits(static_cast<std::uint8_t>(c)));
    if (std::isfinite(v)) binades.insert(std::ilogb(v));
  }
  EXPECT_EQ(binades.size(), 38u);  // 31 normal + 7 denormal binades (HIF abstract)
}

TEST(HiFloat8, RoundMatchesEnDtypesAlgorithm) {
  std::mt19937_64 rng(20261126);
  std::vector<double> xs;
  std::vector<double> vals;
  for (int c = 0; c < 0x80; ++c) {
    const double v = static_cast<double>(hifloat8::from_bits(static_cast<std::uint8_t>(c)));
    if (std::isfinite(v)) vals.push_back(v);
  }
  vals.push_back(49152);
  std::sort(vals.begin(), vals.end());
  for (std::size_t i = 0; i + 1 < vals.size(); ++i) {
    const float mid = static_cast<float>((vals[i] + vals[i + 1]) / 2);
    for (float x :
         {mid, std::nextafter(mid, 0.f), std::nextafter(mid, INFINITY), static_cast<float>(vals[i])})
      xs.push_back(x);
  }
  std::uniform_real_distribution<double> lg(-26, 17);
  for (int i = 0; i < 200000; ++i) xs.push_back(static_cast<float>(std::exp2(lg(rng))));
  const convert_policy prop{rounding::round, overflow::propagate, nan_policy::keep};
  for (double x : xs)
    for (double s : {1.0, -1.0}) {
      const float xf = static_cast<float>(s * x);
      const double want = end_round(xf);
      const double got = static_cast<double>(hifloat8(xf, prop));
      ASSERT_EQ(got, want) << "x=" << xf;
    }
}

TEST(HiFloat8, RintTiesGoToEvenCode) {
  std::vector<std::pair<double, int>> vals;
  for (int c = 0; c < 0x80; ++c) {
    const double v = static_cast<double>(hifloat8::from_bits(static_cast<std::uint8_t>(c)));
    if (std::isfinite(v)) vals.push_back({v, c});
  }
  std::sort(vals.begin(), vals.end());
  const convert_policy rint{rounding::rint};
  for (std::size_t i = 0; i + 1 < vals.size(); ++i) {
    const auto [lo, lc] = vals[i];
    const auto [hi, hc] = vals[i + 1];
    ASSERT_NE(lc % 2, hc % 2) << "neighbours with codes of equal parity";
    const float mid = static_cast<float>((lo + hi) / 2);
    EXPECT_EQ(hifloat8(mid, rint).bits(), lc % 2 == 0 ? lc : hc) << "mid " << mid;
    EXPECT_EQ(hifloat8(std::nextafter(mid, 0.f), rint).bits(), lc);
    EXPECT_EQ(hifloat8(std::nextafter(mid, INFINITY), rint).bits(), hc);
    EXPECT_EQ(hifloat8(-mid, {rounding::floor}).bits(), hc | 0x80);
    EXPECT_EQ(hifloat8(mid, {rounding::floor}).bits(), lc);
    EXPECT_EQ(hifloat8(mid, {rounding::ceil}).bits(), hc);
    EXPECT_EQ(hifloat8(-mid, {rounding::trunc}).bits(), lc == 0 ? 0 : (lc | 0x80));
  }
}

TEST(HiFloat8, SaturationEdge) {
  // 40960 = 1.25 * 2^15 is the midpoint between 32768 (0x6e) and the Inf slot (0x6f).
  const convert_policy sat_round{rounding::round}, prop_round{rounding::round, overflow::propagate};
  EXPECT_EQ(hifloat8(40960.f, sat_round).bits(), 0x6e);   // spec §9.1: hardware clamps
  EXPECT_EQ(hifloat8(40960.f, prop_round).bits(), 0x6f);  // en_dtypes: Inf
  EXPECT_EQ(hifloat8(std::nextafter(40960.f, 0.f), prop_round).bits(), 0x6e);
  EXPECT_EQ(hifloat8(40960.f, {rounding::rint, overflow::propagate}).bits(), 0x6e);  // tie to even
  EXPECT_EQ(hifloat8(-1e30f, sat_round).bits(), 0xee);
  EXPECT_EQ(hifloat8(INFINITY, sat_round).bits(), 0x6e);
  EXPECT_EQ(hifloat8(INFINITY, prop_round).bits(), 0x6f);
  EXPECT_EQ(hifloat8(1e30f, {rounding::trunc, overflow::propagate}).bits(), 0x6e);  // toward zero
  EXPECT_EQ(hifloat8(std::nanf("")).bits(), 0x00);
  EXPECT_EQ(hifloat8(std::nanf(""), {.on_nan = nan_policy::keep}).bits(), 0x80);
  EXPECT_EQ(hifloat8(-0.0f).bits(), 0x00);     // single zero
  EXPECT_EQ(hifloat8(0x1p-23f).bits(), 0x01);  // ties away from 0 to 2^-22
  EXPECT_EQ(hifloat8(std::nextafter(0x1p-23f, 0.f)).bits(), 0x00);
  EXPECT_EQ(hifloat8(0x1p-23f, {rounding::rint}).bits(), 0x00);  // tie to even code 0x00
  EXPECT_EQ(default_policy_v<hifloat8>.round, rounding::round);
}

// Packs in one ISA's TU and multiplies in the other's, quantizes in one and dequantizes in the
// other, under every backend; every result must equal the scalar reference bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "mixed_isa.hpp"

namespace {

struct restore_backend {
  lowbit::backend saved = lowbit::active_backend();
  ~restore_backend() { lowbit::set_backend(saved); }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(MixedIsa, PackInOneMultiplyInTheOther) {
  restore_backend keep;
  const std::size_t m = 7, k = 300, n = 131;
  std::mt19937 rng(5);
  std::vector<std::int8_t> x1(m * k), w(k * n);
  for (auto& v : x1) v = static_cast<std::int8_t>(static_cast<int>(rng() % 256) - 128);
  for (auto& v : w) v = static_cast<std::int8_t>(static_cast<int>(rng() % 256) - 128);
  std::vector<float> s1(m), s2(n);
  for (std::size_t i = 0; i < m; ++i) s1[i] = std::ldexp(static_cast<float>(1000 + rng() % 3000), -19);
  for (std::size_t i = 0; i < n; ++i) s2[i] = std::ldexp(static_cast<float>(1000 + rng() % 3000), -17);
  lowbit::set_backend(lowbit::backend::scalar);
  const auto ref = mixed::a::kc(x1, mixed::a::pack(w, k, n), m, s1, s2);
  for (auto be : {lowbit::backend::scalar, lowbit::backend::avx2, lowbit::backend::avx512}) {
    if (!lowbit::detail::supported(be)) continue;
    lowbit::set_backend(be);
    EXPECT_TRUE(same_bits(ref, mixed::b::kc(x1, mixed::a::pack(w, k, n), m, s1, s2)))
        << lowbit::to_string(be);
    EXPECT_TRUE(same_bits(ref, mixed::a::kc(x1, mixed::b::pack(w, k, n), m, s1, s2)))
        << lowbit::to_string(be);
    EXPECT_TRUE(same_bits(ref, mixed::b::kc(x1, mixed::b::pack(w, k, n), m, s1, s2)))
        << lowbit::to_string(be);
  }
}

TEST(MixedIsa, QuantizeInOneDequantizeInTheOther) {
  restore_backend keep;
  const lowbit::matrix_shape s{9, 257};
  std::mt19937 rng(6);
  std::vector<float> x(s.size());
  for (auto& v : x) v = std::ldexp(static_cast<float>(static_cast<int>(rng() % 65536) - 32768), -12);
  lowbit::set_backend(lowbit::backend::scalar);
  const auto qref = mixed::a::quantize(x, s);
  const auto yref = mixed::a::dequantize(qref);
  for (auto be : {lowbit::backend::scalar, lowbit::backend::avx2, lowbit::backend::avx512}) {
    if (!lowbit::detail::supported(be)) continue;
    lowbit::set_backend(be);
    const auto qa = mixed::a::quantize(x, s), qb = mixed::b::quantize(x, s);
    EXPECT_EQ(qa.values, qref.values);
    EXPECT_EQ(qb.values, qref.values);
    EXPECT_TRUE(same_bits(qa.scales, qref.scales));
    EXPECT_TRUE(same_bits(qb.scales, qref.scales));
    EXPECT_TRUE(same_bits(mixed::b::dequantize(qa), yref));
    EXPECT_TRUE(same_bits(mixed::a::dequantize(qb), yref));
  }
}

TEST(Dispatch, BackendIsSelectedAtRunTimeAndCounted) {
  restore_backend keep;
  const std::vector<float> x(64 * 64, 1.5f);
  lowbit::set_backend(lowbit::backend::scalar);
  lowbit::reset_dispatch_counts();
  (void)mixed::b::quantize(x, {64, 64});  // a -march=native TU: still the reference
  EXPECT_EQ(lowbit::dispatch_counts().fast, 0u);
  EXPECT_EQ(lowbit::dispatch_counts().reference, 1u);
  if (!lowbit::detail::supported(lowbit::backend::avx512)) GTEST_SKIP() << "no AVX-512 on this CPU";
  lowbit::set_backend(lowbit::backend::avx512);
  lowbit::reset_dispatch_counts();
  (void)mixed::a::quantize(x, {64, 64});  // a -march=x86-64 TU: the AVX-512 kernel all the same
  EXPECT_EQ(lowbit::dispatch_counts().fast, 1u);
  EXPECT_EQ(lowbit::dispatch_counts().reference, 0u);
}

}  // namespace

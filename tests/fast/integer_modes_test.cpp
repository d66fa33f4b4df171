// Every integer matmul mode on the dot-product kernel against the scalar backend, bit for bit:
// T-C / T-T (fp32 scales with and without x1 scale, fixpipe truncation, float and int32 bias),
// T-C with uint64 scales (int8 requant, fp32 and bf16 outputs), K-C, G-B, B-B, K-G, int32 with its
// overflow error. Shapes cover m = 1 and row tails of the 6-row tile, k tails of the 4-group and
// of the blocks (group sizes 4, 32, 128 and 6, which is not a multiple of 4 and must fall back),
// n tails of the 64-column panel, transposed x2, and scales that are NaN, Inf or zero.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <lowbit/lowbit.hpp>

namespace {

using namespace lowbit;

struct restore_backend {
  backend saved = active_backend();
  ~restore_backend() { set_backend(saved); }
};

/// The first element whose bytes differ, as "index i: fast <bits> reference <bits>"; empty if none.
template <class V>
std::string first_difference(const std::vector<V>& y, const std::vector<V>& ref) {
  for (std::size_t i = 0; i < y.size(); ++i)
    if (std::memcmp(&y[i], &ref[i], sizeof(V)) != 0) {
      std::uint64_t a = 0, b = 0;
      std::memcpy(&a, &y[i], sizeof(V));
      std::memcpy(&b, &ref[i], sizeof(V));
      return "index " + std::to_string(i) + ": fast " + std::to_string(a) + ", reference " +
             std::to_string(b);
    }
  return {};
}

/// Runs f(y) under the scalar backend and under every fast backend of this CPU (avx2 with each of
/// its dot variants the CPU can run, avx512); the outputs must be byte-identical, and the fast
/// runs must not have fallen back when fast_expected. The AVX-VNNI body is run through its EVEX
/// twin on AVX-512 CPUs without AVX-VNNI (detail/x86/matmul_avx2.hpp).
template <class Out, class F>
void same_under_backends(std::size_t size, F&& f, bool fast_expected, const std::string& what) {
  restore_backend keep;
  set_backend(backend::scalar);
  std::vector<Out> ref(size);
  f(ref);
  struct config {
    backend be;
    int forced;  // detail::avx2mm::forced_dot: 0 = the CPU's choice, else 1 + dot
    bool runs;
    const char* name;
  };
#if defined(LOWBIT_X86_64)
  using detail::avx2mm::dot;
  const config configs[] = {
      {backend::avx2, 1 + int(dot::madd), detail::supported(backend::avx2), "avx2 vpmaddwd"},
      {backend::avx2, 1 + int(dot::avx_vnni), cpu().avx_vnni, "avx2 AVX-VNNI"},
      {backend::avx2, 1 + int(dot::evex_vnni), detail::supported(backend::avx512), "avx2 VNNI (EVEX)"},
      {backend::avx512, 0, detail::supported(backend::avx512), "avx512"}};
  const auto force = [](int dot_plus_one) { detail::avx2mm::forced_dot = dot_plus_one; };
#else
  const config configs[] = {{backend::neon, 0, cpu().dotprod, "neon SDOT"}};
  const auto force = [](int) {};
#endif
  for (const config& cf : configs) {
    if (!cf.runs) continue;
    set_backend(cf.be);
    force(cf.forced);
    std::vector<Out> y(size);
    reset_dispatch_counts();
    f(y);
    force(0);
    EXPECT_EQ(first_difference(y, ref), "") << what << " (" << cf.name << ")";
    if (fast_expected) {
      EXPECT_GT(dispatch_counts().fast, 0u) << what << ": fell back to the reference (" << cf.name << ")";
    }
  }
}

std::vector<std::int8_t> codes8(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::int8_t> v(n);
  for (auto& c : v) c = static_cast<std::int8_t>(static_cast<int>(rng() % 256) - 128);
  return v;
}

/// Positive scales with full 24-bit significands (products round), plus a NaN, an Inf and a 0.
std::vector<float> scales(std::size_t n, unsigned seed, int e, bool specials) {
  std::mt19937 rng(seed);
  std::vector<float> v(n);
  for (auto& s : v) s = std::ldexp(static_cast<float>(0x800000 + rng() % 0x800000), e - 23);
  if (specials && n > 5) v[1] = std::numeric_limits<float>::quiet_NaN(), v[3] = INFINITY, v[5] = 0.0f;
  return v;
}

struct shape {
  std::size_t m, k, n;
};
const shape shapes[] = {{1, 1, 1},     {1, 4, 64},     {2, 3, 65},    {5, 97, 70},   {6, 128, 64},
                        {7, 300, 131}, {13, 1000, 17}, {1, 4096, 96}, {12, 257, 129}};

TEST(IntegerModes, KcTcAndFixpipeMatchTheReference) {
  for (const auto& s : shapes)
    for (bool tr : {false, true}) {
      const matmul_dims d{s.m, s.k, s.n, tr};
      const auto x1 = codes8(s.m * s.k, 1), x2 = codes8(s.k * s.n, 2);
      const auto s1 = scales(s.m, 3, -8, false), s2 = scales(s.n, 4, -7, true), fb = scales(s.n, 5, 3, false);
      std::vector<std::int32_t> ib(s.n);
      for (std::size_t i = 0; i < s.n; ++i) ib[i] = static_cast<std::int32_t>(i * 7919 % 20001) - 10000;
      const std::string at = std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n) +
                             (tr ? " transposed" : "");
      for (int bias = 0; bias < 3; ++bias) {
        const matmul_bias b = bias == 0   ? matmul_bias{}
                              : bias == 1 ? matmul_bias{.i32 = ib}
                                          : matmul_bias{.f32 = fb};
        same_under_backends<float>(
            s.m * s.n,
            [&](auto& y) { matmul_kc<float, std::int8_t, std::int8_t>(x1, x2, d, s1, s2, b, std::span(y)); },
            true, "K-C " + at);
        same_under_backends<bfloat16>(
            s.m * s.n,
            [&](auto& y) {
              matmul_kc<bfloat16, std::int8_t, std::int8_t>(x1, x2, d, s1, s2, b, std::span(y));
            },
            true, "K-C bf16 " + at);
        same_under_backends<float>(
            s.m * s.n,
            [&](auto& y) {
              matmul_tc<float, std::int8_t, std::int8_t>(x1, x2, d, std::span<const float>(s2).first(1),
                                                         std::nullopt, b, std::span(y));
            },
            true, "T-T (fixpipe truncation without float bias) " + at);
        same_under_backends<float>(
            s.m * s.n,
            [&](auto& y) {
              matmul_tc<float, std::int8_t, std::int8_t>(x1, x2, d, s2, 0.37f, b, std::span(y));
            },
            true, "T-C with x1 scale " + at);
      }
      std::vector<std::uint64_t> u(s.n);
      for (std::size_t i = 0; i < s.n; ++i)
        u[i] = fixpipe::pack(s2[i] * 0x1p-6f, static_cast<float>(static_cast<int>(i % 300) - 150));
      same_under_backends<std::int8_t>(
          s.m * s.n,
          [&](auto& y) {
            matmul_tc<std::int8_t, std::int8_t, std::int8_t>(x1, x2, d, std::span<const std::uint64_t>(u),
                                                             {.i32 = ib}, std::span(y));
          },
          true, "T-C requant " + at);
      same_under_backends<float16>(
          s.m * s.n,
          [&](auto& y) {
            matmul_tc<float16, std::int8_t, std::int8_t>(x1, x2, d, std::span<const std::uint64_t>(u), {},
                                                         std::span(y));
          },
          true, "T-C uint64 fp16 " + at);
    }
}

TEST(IntegerModes, BlockModesMatchTheReference) {
  for (const auto& s : shapes)
    for (std::size_t gs : {std::size_t{4}, std::size_t{32}, std::size_t{128}, std::size_t{6}})
      for (bool tr : {false, true}) {
        const matmul_dims d{s.m, s.k, s.n, tr};
        const auto x1 = codes8(s.m * s.k, 11), x2 = codes8(s.k * s.n, 12);
        const std::size_t kg = ceil_div(s.k, gs), ng = ceil_div(s.n, gs), mg = ceil_div(s.m, gs);
        const auto a = scales(s.m * kg, 13, -7, true), b = scales(kg * ng, 14, -6, true);
        const auto c = scales(mg * kg, 15, -5, false), g = scales(kg * s.n, 16, -6, true);
        const auto t1 = scales(s.m, 17, -8, false), bias = scales(s.n, 18, 2, false);
        const bool fast = gs % 4 == 0 || gs >= s.k;  // (avx2 also takes gs 6: pairs of k)
        const std::string at = std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n) +
                               " gs " + std::to_string(gs) + (tr ? " transposed" : "");
        same_under_backends<float>(
            s.m * s.n,
            [&](auto& y) {
              matmul_gb<float, std::int8_t, std::int8_t>(x1, x2, d, gs, a, b, bias, std::span(y));
            },
            fast, "G-B " + at);
        same_under_backends<bfloat16>(
            s.m * s.n,
            [&](auto& y) {
              matmul_bb<bfloat16, std::int8_t, std::int8_t>(x1, x2, d, gs, c, b, {}, std::span(y));
            },
            fast, "B-B " + at);
        const auto x2i4 = [&] {
          std::vector<int4> w;
          for (auto v : x2) w.push_back(int4(static_cast<float>(v % 8)));
          return w;
        }();
        same_under_backends<float>(
            s.m * s.n,
            [&](auto& y) { matmul_kg<float, std::int8_t, int4>(x1, x2i4, d, gs, t1, g, bias, std::span(y)); },
            fast, "K-G " + at);
      }
}

TEST(IntegerModes, PackedWeightsServeEveryMode) {
  // packed with the mode's blocks, with other blocks (repacked per call) and without blocks
  for (const auto& s : shapes)
    for (std::size_t block_k : {std::size_t{0}, std::size_t{32}, std::size_t{64}}) {
      const std::size_t gs = 32, kg = ceil_div(s.k, gs), ng = ceil_div(s.n, gs);
      const auto x1 = codes8(s.m * s.k, 31), x2 = codes8(s.k * s.n, 32);
      const auto a = scales(s.m * kg, 33, -7, true), b = scales(kg * ng, 34, -6, true);
      const auto g = scales(kg * s.n, 35, -6, false), t1 = scales(s.m, 36, -8, false),
                 s2 = scales(s.n, 37, -7, true);
      const std::string at = std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n) +
                             " block_k " + std::to_string(block_k);
      std::vector<std::uint64_t> u(s.n);
      for (std::size_t i = 0; i < s.n; ++i) u[i] = fixpipe::pack(s2[i] * 0x1p-6f, 3.0f);
      // the reference is computed from the codes; the packed call runs under each backend
      const auto packed = [&](auto&& f) {
        return [&, f](auto& y) { f(packed_weights<std::int8_t>(x2, s.k, s.n, false, block_k), y); };
      };
      same_under_backends<float>(s.m * s.n, packed([&](const auto& w, auto& y) {
                                   matmul_gb<float, std::int8_t, std::int8_t>(x1, w, s.m, gs, a, b, {},
                                                                              std::span(y));
                                 }),
                                 true, "G-B packed " + at);
      same_under_backends<float>(s.m * s.n, packed([&](const auto& w, auto& y) {
                                   matmul_kg<float, std::int8_t, std::int8_t>(x1, w, s.m, gs, t1, g, {},
                                                                              std::span(y));
                                 }),
                                 true, "K-G packed " + at);
      same_under_backends<float>(s.m * s.n, packed([&](const auto& w, auto& y) {
                                   matmul_tc<float, std::int8_t, std::int8_t>(x1, w, s.m, s2, std::nullopt,
                                                                              {}, std::span(y));
                                 }),
                                 true, "T-C packed " + at);
      same_under_backends<std::int8_t>(s.m * s.n, packed([&](const auto& w, auto& y) {
                                         matmul_tc<std::int8_t, std::int8_t, std::int8_t>(
                                             x1, w, s.m, std::span<const std::uint64_t>(u), {}, std::span(y));
                                       }),
                                       true, "T-C requant packed " + at);
      // and the packed result equals the unpacked one
      std::vector<float> y1(s.m * s.n), y2(s.m * s.n);
      matmul_gb<float, std::int8_t, std::int8_t>(x1, x2, {s.m, s.k, s.n}, gs, a, b, {}, std::span(y1));
      matmul_gb<float, std::int8_t, std::int8_t>(
          x1, packed_weights<std::int8_t>(x2, s.k, s.n, false, block_k), s.m, gs, a, b, {}, std::span(y2));
      EXPECT_EQ(first_difference(y2, y1), "") << at;
    }
}

TEST(IntegerModes, Int32AndItsOverflowMatchTheReference) {
  for (const auto& s : shapes) {
    const matmul_dims d{s.m, s.k, s.n, false};
    const auto x1 = codes8(s.m * s.k, 21), x2 = codes8(s.k * s.n, 22);
    std::vector<std::int32_t> bias(s.n, 12345);
    same_under_backends<std::int32_t>(
        s.m * s.n, [&](auto& y) { matmul_int32<std::int8_t, std::int8_t>(x1, x2, d, bias, std::span(y)); },
        true, "int32");
  }
  // an overflow in two places: both backends name the first in row-major order
  restore_backend keep;
  const std::size_t m = 9, k = 8, n = 70;
  const std::vector<std::int8_t> x1(m * k, -128), x2(k * n, -128);
  std::vector<std::int32_t> bias(n, 0), y(m * n);
  bias[66] = bias[3] = std::numeric_limits<std::int32_t>::max();
  std::string messages[3];
  int which = 0;
  for (auto be : {backend::scalar, backend::avx2, backend::avx512, backend::neon}) {
    if (!detail::supported(be)) continue;
    set_backend(be);
    try {
      matmul_int32<std::int8_t, std::int8_t>(x1, x2, {m, k, n}, bias, y);
      ADD_FAILURE() << "no overflow reported";
    } catch (const std::range_error& e) {
      messages[which] = e.what();
    }
    ++which;
  }
  EXPECT_NE(messages[0].find("y[0, 3]"), std::string::npos) << messages[0];
  for (int w = 1; w < which; ++w) EXPECT_EQ(messages[0], messages[w]);
}

}  // namespace

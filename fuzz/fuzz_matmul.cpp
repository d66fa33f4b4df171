// Fuzz the matmul reference: random shapes (k up to 300 with partial blocks), codes (including
// NaN/Inf codes of the float formats), scales and biases; every mode must return or throw
// std::invalid_argument / std::range_error, never crash.
#include <stdexcept>

#include <lowbit/lowbit.hpp>

#include "fuzz_input.hpp"

namespace {

template <class T>
std::vector<T> codes(fuzz_input& in, std::size_t n) {
  std::vector<T> v(n);
  for (auto& c : v) {
    if constexpr (std::is_same_v<T, std::int8_t>)
      c = static_cast<std::int8_t>(in.u32());
    else
      c = T::from_bits(static_cast<typename T::storage>(in.u32()));
  }
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lowbit;
  fuzz_input in{data, size};
  const matmul_dims d{in.upto(6), in.upto(300), in.upto(6), in.upto(1) == 1};
  const std::size_t gs = in.upto(140);
  std::vector<float> y(d.m * d.n);
  try {
    switch (in.upto(6)) {
      case 0: {
        const auto a = codes<std::int8_t>(in, d.m * d.k), b = codes<std::int8_t>(in, d.k * d.n);
        std::vector<std::int32_t> yi(d.m * d.n);
        matmul_int32<std::int8_t, std::int8_t>(a, b, d, {}, yi);
        break;
      }
      case 1: {
        const auto a = codes<float8_e5m2>(in, d.m * d.k);
        const auto b = codes<float8_e4m3fn>(in, d.k * d.n);
        matmul_kc<float, float8_e5m2, float8_e4m3fn>(a, b, d, in.floats(d.m), in.floats(in.upto(1) ? 1 : d.n),
                                                     {}, y);
        break;
      }
      case 2: {
        const auto a = codes<hifloat8>(in, d.m * d.k), b = codes<hifloat8>(in, d.k * d.n);
        const std::size_t kb = gs ? (d.k + gs - 1) / gs : 0;
        matmul_gb<float, hifloat8, hifloat8>(a, b, d, gs, in.floats(d.m * kb),
                                             in.floats(kb * ((d.n + gs - 1) / (gs ? gs : 1))), {}, y);
        break;
      }
      case 3: {
        const auto a = codes<float4_e2m1fn>(in, d.m * d.k);
        const auto b = codes<float6_e3m2fn>(in, d.k * d.n);
        const std::size_t nb = (d.k + 31) / 32;
        const auto e1 = codes<float8_e8m0fnu>(in, d.m * nb), e2 = codes<float8_e8m0fnu>(in, nb * d.n);
        std::vector<bfloat16> yb(d.m * d.n);
        matmul_mx<bfloat16, float4_e2m1fn, float6_e3m2fn>(a, b, d, e1, e2, {}, yb);
        break;
      }
      case 4: {
        const auto a = codes<std::int8_t>(in, d.m * d.k), b = codes<std::int8_t>(in, d.k * d.n);
        std::vector<std::uint64_t> s(d.n);
        for (auto& v : s) v = (std::uint64_t{in.u32()} << 32) | in.u32();
        std::vector<std::int8_t> yi(d.m * d.n);
        matmul_tc<std::int8_t, std::int8_t, std::int8_t>(a, b, d, std::span<const std::uint64_t>(s), {}, yi);
        break;
      }
      case 5: {
        const auto x = in.floats(d.m * d.k);
        const auto w = codes<float8_e4m3fn>(in, d.k * d.n);
        const auto s = in.floats(gs ? ((d.k + gs - 1) / gs) * d.n : 1);
        matmul_weight_only<float, float, float8_e4m3fn>(x, w, d, {granularity::group(gs), s}, {}, y);
        break;
      }
      default: {
        const auto a = codes<float8_e4m3fn>(in, d.m * d.k);
        const auto b = codes<float4_e2m1fn>(in, d.k * d.n);
        std::vector<bfloat16> s(((d.k + 31) / 32) * d.n);
        for (auto& v : s) v = bfloat16::from_bits(static_cast<std::uint16_t>(in.u32()));
        std::vector<std::uint64_t> ys(d.n, fixpipe::pack(in.f32()));
        matmul_tcg<float, bfloat16>(a, b, d, s, ys, y);
        break;
      }
    }
  } catch (const std::invalid_argument&) {
  } catch (const std::range_error&) {
  }
  return 0;
}

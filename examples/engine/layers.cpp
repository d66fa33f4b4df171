// Linear layers written the way an inference engine runs them (README "Engine integration"):
// weights loaded once as checkpoints store them -- PyTorch's (out, in) orientation, int4 / fp4
// codes two per byte, group and MX scales (out, in / gs) -- and packed, activations quantized
// into buffers the engine owns, the matmul on the engine's own thread pool, template arguments
// deduced from typed spans, and no heap allocation per call. The program checks both claims -- the bits equal
// the scalar reference's, and a replaced global operator new counts zero allocations over repeated calls --
// and exits non-zero when either fails (the tests run it).
//
//   W8A8:        x (m, in) fp32 -> int8 per token; W int8 per output channel; K-C mode
//   W4A8 g128:   x (m, in) fp32 -> int8 per token; W int4 per group of 128 along in; K-G mode
//   MXFP4:       x (m, in) fp32 -> fp4 e2m1 with e8m0 scales per 32; W likewise; MX mode
//   W4A16 g128:  x (m, in) bf16 as is; W int4 per group of 128 along in; weight-only mode
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "count_new.hpp"
#include "thread_pool.hpp"

namespace {

using namespace lowbit;

/// One W8A8 linear layer: y = x @ W^T with W (out, in) int8 and its per-output-channel scales.
class w8a8_linear {
 public:
  w8a8_linear(std::span<const std::int8_t> w_out_in, std::span<const float> w_scale, std::size_t in,
              std::size_t out, std::size_t max_tokens)
      : w_(w_out_in, in, out, /*transposed=*/true),  // (n, k) storage: PyTorch's (out, in)
        w_scale_(w_scale.begin(), w_scale.end()),
        xq_(max_tokens * in),
        xs_(max_tokens) {}

  /// x (m, in) fp32 -> y (m, out) fp32. The engine's buffers only: no allocation.
  void operator()(const exec_context& ctx, std::span<const float> x, std::size_t m, std::span<float> y) {
    const std::size_t in = w_.k();
    quantize_into(ctx, x, {m, in}, {.gran = granularity::token()},
                  quantized_span<std::int8_t>{std::span(xq_).first(m * in), std::span(xs_).first(m), {}, {}});
    matmul_kc(ctx, std::span<const std::int8_t>(xq_).first(m * in), w_, m,
              std::span<const float>(xs_).first(m), w_scale_, {}, y);
  }

 private:
  packed_weights<std::int8_t> w_;
  std::vector<float> w_scale_;
  std::vector<std::int8_t> xq_;  // per-token codes and scales of the current batch
  std::vector<float> xs_;
};

/// One W4A8 layer with int4 weights per group of gs along in (K-G): W (out, in) int4 codes two
/// per byte with (out, in / gs) scales, as checkpoints store them, packed as they are
/// (scale_order::n_major: the calls pass the scales in that layout).
class w4a8_group_linear {
 public:
  w4a8_group_linear(std::span<const std::uint8_t> w_out_in, std::span<const float> scale_out_groups,
                    std::size_t in, std::size_t out, std::size_t gs, std::size_t max_tokens)
      : w_(w_out_in, in, out, /*transposed=*/true, gs, scale_order::n_major),
        gs_(gs),
        scale_(scale_out_groups.begin(), scale_out_groups.end()),
        xq_(max_tokens * in),
        xs_(max_tokens) {}

  void operator()(const exec_context& ctx, std::span<const float> x, std::size_t m, std::span<float> y) {
    const std::size_t in = w_.k();
    quantize_into(ctx, x, {m, in}, {.gran = granularity::token()},
                  quantized_span<std::int8_t>{std::span(xq_).first(m * in), std::span(xs_).first(m), {}, {}});
    matmul_kg(ctx, std::span<const std::int8_t>(xq_).first(m * in), w_, m, gs_,
              std::span<const float>(xs_).first(m), scale_, {}, y);
  }

 private:
  packed_weights<int4> w_;
  std::size_t gs_;
  std::vector<float> scale_;
  std::vector<std::int8_t> xq_;
  std::vector<float> xs_;
};

/// One int4 weight-only layer (bf16 activations, group-128 scales): the exact weight-only path,
/// weights and scales stored as for W4A8.
class w4a16_group_linear {
 public:
  w4a16_group_linear(std::span<const std::uint8_t> w_out_in, std::span<const float> scale_out_groups,
                     std::size_t in, std::size_t out, std::size_t gs)
      : w_(w_out_in, in, out, /*transposed=*/true, 0, scale_order::n_major),
        gs_(gs),
        scale_(scale_out_groups.begin(), scale_out_groups.end()) {}
  void operator()(const exec_context& ctx, std::span<const bfloat16> x, std::size_t m, std::span<float> y) {
    matmul_weight_only(ctx, x, w_, m, {granularity::group(gs_), scale_}, {}, y);
  }

 private:
  packed_weights<int4> w_;
  std::size_t gs_;
  std::vector<float> scale_;
};

/// One MXFP4 layer: W (out, in) fp4 e2m1 codes two per byte with (out, in / 32) e8m0 scale
/// bytes (the weight quantized as a left operand: blocks along in), packed as they are.
class mxfp4_linear {
 public:
  mxfp4_linear(std::span<const std::uint8_t> w_out_in, std::span<const std::uint8_t> scale_out_blocks,
               std::size_t in, std::size_t out, std::size_t max_tokens)
      : w_(w_out_in, in, out, /*transposed=*/true, 0, scale_order::n_major),
        scale_(scale_out_blocks.size()),
        xq_(max_tokens * in),
        xs_(max_tokens * (in / 32)) {
    for (std::size_t i = 0; i < scale_.size(); ++i)
      scale_[i] = float8_e8m0fnu::from_bits(scale_out_blocks[i]);
  }

  void operator()(const exec_context& ctx, std::span<const float> x, std::size_t m, std::span<float> y) {
    const std::size_t in = w_.k(), nb = in / 32;
    quantize_mx_into(ctx, x, {m, in}, {},
                     quantized_span<float4_e2m1fn, float8_e8m0fnu>{
                         std::span(xq_).first(m * in), std::span(xs_).first(m * nb), {}, {}});
    matmul_mx(ctx, std::span<const float4_e2m1fn>(xq_).first(m * in), w_, m,
              std::span<const float8_e8m0fnu>(xs_).first(m * nb), scale_, {}, y);
  }

 private:
  packed_weights<float4_e2m1fn> w_;
  std::vector<float8_e8m0fnu> scale_;
  std::vector<float4_e2m1fn> xq_;
  std::vector<float8_e8m0fnu> xs_;
};

int failures = 0;

void check(bool ok, const char* what) {
  std::printf("  %-58s %s\n", what, ok ? "ok" : "FAILED");
  if (!ok) ++failures;
}

/// Allocations of `calls` calls of f after one warm-up call; -1 when f ran the reference (a
/// backend without the kernels, e.g. LOWBIT_BACKEND=scalar), which allocates.
template <class F>
long allocations_per_calls(F&& f, int calls = 5) {
  reset_dispatch_counts();
  f();
  if (dispatch_counts().reference != 0) return -1;
  const long before = engine::allocations.load();
  for (int i = 0; i < calls; ++i) f();
  return engine::allocations.load() - before;
}

}  // namespace

int main() {
  const std::size_t in = 1024, out = 768, gs = 128, tokens[] = {1, 16, 64};
  std::mt19937 rng(2026);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f), us(0.001f, 0.02f);
  std::vector<std::int8_t> w8(out * in);  // (out, in)
  std::vector<int4> w4(out * in);
  std::vector<float> s8(out), s4(out * (in / gs)), x(64 * in);  // s4: (out, in / gs)
  for (auto& v : w8) v = static_cast<std::int8_t>(static_cast<int>(rng() % 255) - 127);
  for (auto& v : w4) v = int4::from_bits(static_cast<std::uint8_t>(rng() & 0xf));
  for (auto& v : s8) v = us(rng);
  for (auto& v : s4) v = us(rng);
  for (auto& v : x) v = u(rng);

  engine::thread_pool pool(2);  // the engine's threads
  const exec_context ctx = pool.context();
  w8a8_linear l8(w8, s8, in, out, 64);
  std::vector<std::uint8_t> w4_stored(out * in / 2), raw(out * in);  // two codes per byte
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = w4[i].bits();
  pack_nibbles(raw, w4_stored);
  w4a8_group_linear l4(w4_stored, s4, in, out, gs, 64);
  std::vector<float> wf(out * in);  // fp32 weights, quantized to MXFP4 storage once at load
  for (auto& v : wf) v = u(rng);
  std::vector<std::uint8_t> wmx_codes(out * in / 2), wmx_scales(out * in / 32);
  quantize_mx_into<float4_e2m1fn, float>(wf, {out, in}, {}, std::span(wmx_codes), std::span(wmx_scales));
  mxfp4_linear lmx(wmx_codes, wmx_scales, in, out, 64);
  w4a16_group_linear l16(w4_stored, s4, in, out, gs);
  // the reference's operands: the codes unpacked, the scales in the modes' (in / gs, out) layout
  const auto wmx = quantize_mx<float4_e2m1fn, float>(wf, {out, in}, {});
  std::vector<float> s4_k(s4.size());
  std::vector<float8_e8m0fnu> smx_k(wmx.scales.size());
  for (std::size_t o = 0; o < out; ++o) {
    for (std::size_t g = 0; g < in / gs; ++g) s4_k[g * out + o] = s4[o * (in / gs) + g];
    for (std::size_t b = 0; b < in / 32; ++b) smx_k[b * out + o] = wmx.scales[o * (in / 32) + b];
  }
  std::vector<bfloat16> xb(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xb[i] = bfloat16(x[i]);
  std::printf("engine layers, %u threads, backend %s\n", pool.threads(), backend_name());
  for (const std::size_t m : tokens) {
    const auto xm = std::span<const float>(x).first(m * in);
    std::vector<float> y8(m * out), y4(m * out), r8(m * out), r4(m * out), ymx(m * out), rmx(m * out),
        y16(m * out), r16(m * out);
    const auto xbm = std::span<const bfloat16>(xb).first(m * in);
    const long a8 = allocations_per_calls([&] { l8(ctx, xm, m, y8); });
    const long a4 = allocations_per_calls([&] { l4(ctx, xm, m, y4); });
    const long amx = allocations_per_calls([&] { lmx(ctx, xm, m, ymx); });
    const long a16 = allocations_per_calls([&] { l16(ctx, xbm, m, y16); });
    // the scalar reference: quantize, then the span matmuls on the natural operands
    const backend was = active_backend();
    set_backend(backend::scalar);
    const auto q = quantize<std::int8_t, float>(xm, {m, in}, {.gran = granularity::token()});
    matmul_kc<float, std::int8_t, std::int8_t>(q.values, w8, {m, in, out, true}, q.scales, s8, {}, r8);
    matmul_kg<float, std::int8_t, int4>(q.values, w4, {m, in, out, true}, gs, q.scales, s4_k, {}, r4);
    const auto qmx = quantize_mx<float4_e2m1fn, float>(xm, {m, in}, {});
    matmul_mx<float, float4_e2m1fn, float4_e2m1fn>(qmx.values, wmx.values, {m, in, out, true}, qmx.scales,
                                                   smx_k, {}, rmx);
    matmul_weight_only<float, bfloat16, int4>(xbm, w4, {m, in, out, true}, {granularity::group(gs), s4_k}, {},
                                              r16);
    set_backend(was);
    std::printf("m = %zu\n", m);
    if (a8 < 0 || a4 < 0 || amx < 0 || a16 < 0)
      std::printf("  (the reference ran: allocations not checked)\n");
    check(a8 <= 0, "W8A8: no allocation per call");
    check(std::memcmp(y8.data(), r8.data(), y8.size() * sizeof(float)) == 0, "W8A8: the reference's bits");
    check(a4 <= 0, "W4A8 int4 group 128: no allocation per call");
    check(std::memcmp(y4.data(), r4.data(), y4.size() * sizeof(float)) == 0,
          "W4A8 int4 group 128: the reference's bits");
    check(amx <= 0, "MXFP4: no allocation per call");
    check(std::memcmp(ymx.data(), rmx.data(), ymx.size() * sizeof(float)) == 0,
          "MXFP4: the reference's bits");
    check(a16 <= 0, "W4A16 int4 group 128 weight-only: no allocation per call");
    check(std::memcmp(y16.data(), r16.data(), y16.size() * sizeof(float)) == 0,
          "W4A16 int4 group 128 weight-only: the reference's bits");
  }
  std::printf(failures == 0 ? "all checks passed\n" : "%d checks FAILED\n", failures);
  return failures == 0 ? 0 : 1;
}

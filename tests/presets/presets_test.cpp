// The presets against the rows of shared/spec/presets.md §4 (the difference tables) and the
// special cases of §2-§3, each expected byte taken from the spec, not from this code.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include <lowbit/presets.hpp>

using namespace lowbit;

namespace {

const float nan_v = std::numeric_limits<float>::quiet_NaN();
const float inf_v = std::numeric_limits<float>::infinity();

/// Ordinary data: row r, element c, 2 rows x 32 columns (two NVFP4 blocks per row, one MX block).
std::vector<float> ordinary() {
  std::vector<float> x(64);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(float(i) * 0.7f) * (1.0f + float(i % 5));
  return x;
}

preset_codes q(preset p, const std::vector<float>& x, matrix_shape s, std::optional<float> g = std::nullopt,
               format f = format::fp4_e2m1fn) {
  return quantize_preset(p, x, s, f, g);
}

const preset nvfp4_all[] = {preset::nvfp4_te,      preset::nvfp4_te_2d,    preset::nvfp4_te_pyref,
                            preset::nvfp4_torchao, preset::nvfp4_modelopt, preset::nvfp4_trtllm};

}  // namespace

TEST(Presets, NamesRoundTrip) {
  for (const auto& i : preset_table) {
    ASSERT_EQ(parse_preset(i.name), i.id);
    EXPECT_EQ(&info(i.id), &i);
  }
  EXPECT_FALSE(parse_preset("nvfp4"));
  EXPECT_THROW(q(preset::nvfp4_te, ordinary(), {2, 32}, std::nullopt, format::fp8_e4m3fn),
               std::invalid_argument);
  EXPECT_THROW(q(preset::mx_te, ordinary(), {2, 32}, std::nullopt, format::fp4_e2m1fn),
               std::invalid_argument);
  EXPECT_THROW(q(preset::mx_ocp, ordinary(), {2, 32}, 1.0f, format::fp4_e2m1fn), std::invalid_argument);
  EXPECT_THROW(q(preset::nvfp4_te, ordinary(), {3, 32}), std::invalid_argument);  // size mismatch
}

// §4.1 row 9 / §1 P2: every preset rounds the e2m1 ties to the even code (0, 2, 2, 4, 4, 6, 6),
// with a per-tensor value that makes the element multiplier exactly 1.
TEST(Presets, Nvfp4TiesToEvenAtUnitScale) {
  const std::vector<float> ties = {0.25f,  0.75f,  1.25f,  1.75f,  2.5f,  3.5f,  5.0f,  6.0f,
                                   -0.25f, -0.75f, -1.25f, -1.75f, -2.5f, -3.5f, -5.0f, -6.0f};
  const std::uint8_t want[] = {0, 2, 2, 4, 4, 6, 6, 7, 8, 10, 10, 12, 12, 14, 14, 15};
  // the stored form that gives scale 1.0 (0x38) and multiplier 1 in each preset
  const std::pair<preset, float> unit[] = {{preset::nvfp4_te, 2688.0f},
                                           {preset::nvfp4_te_pyref, 2688.0f},
                                           {preset::nvfp4_torchao, 1.0f},
                                           {preset::nvfp4_modelopt, 1.0f},
                                           {preset::nvfp4_trtllm, 1.0f}};
  for (auto [p, g] : unit) {
    const auto r = q(p, ties, {1, 16}, g);
    EXPECT_EQ(r.scales[0], 0x38) << info(p).name;
    for (std::size_t i = 0; i < 16; ++i) EXPECT_EQ(r.codes[i], want[i]) << info(p).name << " " << ties[i];
  }
}

// §4.1 row 10: a -0.0 element is 0x8 (TE kernel, torchao, TRT-LLM) or 0x0 (TE's Python
// reference, ModelOpt).
TEST(Presets, Nvfp4NegativeZero) {
  auto x = ordinary();
  x[3] = -0.0f;
  for (preset p : nvfp4_all) {
    const bool plus = p == preset::nvfp4_te_pyref || p == preset::nvfp4_modelopt;
    EXPECT_EQ(q(p, x, {2, 32}).codes[3], plus ? 0x0 : 0x8) << info(p).name;
  }
}

// §4.1 row 4: an all-zero tensor with the per-tensor value computed from it.
TEST(Presets, Nvfp4ZeroTensor) {
  const std::vector<float> x(64, 0.0f);
  struct row {
    preset p;
    std::uint8_t scale, code;
  };
  // TE: S_enc = 1, scales 0, codes 0; py-ref S_enc = FLT_MAX, same bytes; torchao pts = 0: 0/0
  // -> scales 0x7f, codes 0x4; ModelOpt wsf2 = 0 -> 0x7f, 0x7. TRT-LLM exact (§2.4 formula,
  // guarded by vecMax != 0): scales 0, codes 0 (the table's "same as fast" is the vLLM guard).
  const row rows[] = {
      {preset::nvfp4_te, 0, 0},           {preset::nvfp4_te_2d, 0, 0},         {preset::nvfp4_te_pyref, 0, 0},
      {preset::nvfp4_torchao, 0x7f, 0x4}, {preset::nvfp4_modelopt, 0x7f, 0x7}, {preset::nvfp4_trtllm, 0, 0}};
  for (auto [p, s, c] : rows) {
    const auto r = q(p, x, {2, 32});
    for (auto b : r.scales) ASSERT_EQ(b, s) << info(p).name;
    for (auto b : r.codes) ASSERT_EQ(b, c) << info(p).name;
  }
  EXPECT_EQ(q(preset::nvfp4_te, x, {2, 32}).global, 0.0f);  // TE stores amax
  EXPECT_EQ(q(preset::nvfp4_torchao, x, {2, 32}).global, 0.0f);
  EXPECT_EQ(q(preset::nvfp4_trtllm, x, {2, 32}).global, inf_v);  // 2688 / 0
}

// §4.1 row 11: a NaN element.
TEST(Presets, Nvfp4NanElement) {
  auto x = ordinary();
  x[5] = nan_v;  // row 0, block 0
  // TE kernel: amax ignores it, that code is 0x7, the rest are ordinary
  const auto te = q(preset::nvfp4_te, x, {2, 32});
  auto clean = ordinary();
  clean[5] = 0;
  const auto te0 = q(preset::nvfp4_te, clean, {2, 32});
  EXPECT_EQ(te.codes[5], 0x7);
  EXPECT_EQ(te.scales, te0.scales);
  // py-ref: the whole tensor, scales 0x7f and codes 0
  const auto py = q(preset::nvfp4_te_pyref, x, {2, 32});
  for (auto b : py.scales) EXPECT_EQ(b, 0x7f);
  for (auto b : py.codes) EXPECT_EQ(b, 0);
  // torchao with dynamic pts: the whole tensor, scales 0x7f, codes 0x4; with a given pts only
  // that block
  const auto ao = q(preset::nvfp4_torchao, x, {2, 32});
  for (auto b : ao.scales) EXPECT_EQ(b, 0x7f);
  for (auto b : ao.codes) EXPECT_EQ(b, 0x4);
  const auto ao1 = q(preset::nvfp4_torchao, x, {2, 32}, 0.01f);
  EXPECT_EQ(ao1.scales[0], 0x7f);
  for (std::size_t c = 0; c < 16; ++c) EXPECT_EQ(ao1.codes[c], 0x4);
  EXPECT_NE(ao1.scales[1], 0x7f);
  // ModelOpt: dynamic -> whole tensor 0x7f / 0x7; given wsf2 -> that block
  const auto mo = q(preset::nvfp4_modelopt, x, {2, 32});
  for (auto b : mo.scales) EXPECT_EQ(b, 0x7f);
  for (auto b : mo.codes) EXPECT_EQ(b, 0x7);
  const auto mo1 = q(preset::nvfp4_modelopt, x, {2, 32}, 0.01f);
  EXPECT_EQ(mo1.scales[0], 0x7f);
  EXPECT_NE(mo1.scales[1], 0x7f);
  for (std::size_t c = 0; c < 16; ++c) EXPECT_EQ(mo1.codes[c], 0x7);
  // TRT-LLM exact with a given scale: that code 0x7
  const auto tr = q(preset::nvfp4_trtllm, x, {2, 32}, 100.0f);
  EXPECT_EQ(tr.codes[5], 0x7);
  EXPECT_EQ(tr.scales, q(preset::nvfp4_trtllm, clean, {2, 32}, 100.0f).scales);
}

// §4.1 row 12: an Inf element with the per-tensor value computed from the tensor.
TEST(Presets, Nvfp4InfElement) {
  auto x = ordinary();
  x[20] = inf_v;  // row 0, block 1
  // TE: amax = Inf -> S_enc = 2688/Inf = 0 -> 1: the Inf block's scale saturates to 448 (0x7e),
  // Inf -> 0x7; the other blocks get e4m3(bamax * fl(1/6)) (unnormalized)
  const auto te = q(preset::nvfp4_te, x, {2, 32});
  EXPECT_EQ(te.scales[1], 0x7e);
  EXPECT_EQ(te.codes[20], 0x7);
  float bamax = 0;
  for (std::size_t c = 0; c < 16; ++c) bamax = std::max(bamax, std::fabs(x[c]));
  EXPECT_EQ(te.scales[0], float8_e4m3fn(bamax * (1.0f / 6.0f)).bits());
  EXPECT_EQ(q(preset::nvfp4_te_pyref, x, {2, 32}).scales, te.scales);
  // torchao: pts = Inf; the Inf block 0x7f with codes 0x4, other blocks 0x08 with codes 0 / 0x8
  const auto ao = q(preset::nvfp4_torchao, x, {2, 32});
  EXPECT_EQ(ao.scales[1], 0x7f);
  for (std::size_t c = 16; c < 32; ++c) EXPECT_EQ(ao.codes[c], 0x4);
  for (std::size_t j : {0u, 2u, 3u}) EXPECT_EQ(ao.scales[j], 0x08);
  for (std::size_t c = 0; c < 16; ++c) EXPECT_EQ(ao.codes[c], std::signbit(x[c]) ? 0x8 : 0x0);
  // ModelOpt: wsf2 = Inf; the Inf block 0x7f / 0x7, the others scale 1.0 (0x38) and codes 0x0
  const auto mo = q(preset::nvfp4_modelopt, x, {2, 32});
  EXPECT_EQ(mo.scales[1], 0x7f);
  for (std::size_t c = 16; c < 32; ++c) EXPECT_EQ(mo.codes[c], 0x7);
  for (std::size_t j : {0u, 2u, 3u}) EXPECT_EQ(mo.scales[j], 0x38);
  for (std::size_t c = 0; c < 16; ++c) EXPECT_EQ(mo.codes[c], 0x0);
  // TRT-LLM with vLLM's helper: gs = 2688/Inf = 0; the Inf block 0x7f / 0x7, the others scale 0
  // and (FlashInfer) non-zero codes 0x7 / 0xf
  const auto tr = q(preset::nvfp4_trtllm, x, {2, 32});
  EXPECT_EQ(tr.global, 0.0f);
  EXPECT_EQ(tr.scales[1], 0x7f);
  EXPECT_EQ(tr.codes[20], 0x7);
  EXPECT_EQ(tr.scales[0], 0x00);
  for (std::size_t c = 0; c < 16; ++c) EXPECT_EQ(tr.codes[c], x[c] == 0 ? 0x0 : (x[c] < 0 ? 0xf : 0x7));
}

// §4.1 row 6: the lower bound of the block scale, on a block far below the tensor's amax.
TEST(Presets, Nvfp4ScaleLowerBounds) {
  std::vector<float> x(32, 1e-6f);
  x[0] = 1000.0f;  // block 0 sets the tensor amax; block 1 is tiny
  EXPECT_EQ(q(preset::nvfp4_torchao, x, {1, 32}).scales[1], 0x08);   // clamped to 2^-6
  EXPECT_EQ(q(preset::nvfp4_modelopt, x, {1, 32}).scales[1], 0x01);  // clamped to 2^-9
  const auto te = q(preset::nvfp4_te, x, {1, 32});                   // no clamp: underflow to 0
  EXPECT_EQ(te.scales[1], 0x00);
  // §4.1 row 8: a block whose scale is 0: non-zero elements -> +-6, zeros -> 0
  for (std::size_t c = 16; c < 32; ++c) EXPECT_EQ(te.codes[c], 0x7);
  x[17] = 0.0f, x[18] = -1e-6f;
  const auto te2 = q(preset::nvfp4_te, x, {1, 32});
  EXPECT_EQ(te2.codes[17], 0x0);
  EXPECT_EQ(te2.codes[18], 0xf);
  // ModelOpt: a zero block gets scale 1.0 (0x38)
  std::vector<float> z(32, 0.0f);
  z[0] = 5.0f;
  EXPECT_EQ(q(preset::nvfp4_modelopt, z, {1, 32}).scales[1], 0x38);
}

// §2.1 "2D": one scale per 16x16 tile, the same for its 16 rows.
TEST(Presets, Nvfp4Te2dTiles) {
  std::vector<float> x(20 * 32);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::cos(float(i)) * float(1 + i % 7);
  x[3 * 32 + 20] = 500.0f;  // tile (0, 1)
  const auto r = q(preset::nvfp4_te_2d, x, {20, 32});
  const auto one = q(preset::nvfp4_te, x, {20, 32});
  for (std::size_t row = 0; row < 16; ++row) EXPECT_EQ(r.scales[row * 2 + 1], r.scales[3 * 2 + 1]);
  EXPECT_EQ(r.scales[3 * 2 + 1], one.scales[3 * 2 + 1]);  // the tile max is that row's block max
  EXPECT_NE(r.scales[0 * 2 + 1], one.scales[0 * 2 + 1]);  // other rows of the tile share it
  for (std::size_t row = 16; row < 20; ++row) EXPECT_EQ(r.scales[row * 2], r.scales[16 * 2]);  // partial tile
}

// §4.2 row 2: e4m3 block amax 300 / 448 / 500 -> scale byte per MX preset.
TEST(Presets, MxScaleBytesForE4m3) {
  struct row {
    preset p;
    std::uint8_t b300, b448, b500;
  };
  const row rows[] = {{preset::mx_te, 127, 127, 128},
                      {preset::mx_torchao_floor, 127, 127, 127},
                      {preset::mx_torchao_ceil, 128, 128, 128},
                      {preset::mx_torchao_even, 127, 127, 128},
                      {preset::mx_torchao_rceil, 127, 127, 128},
                      {preset::mx_ocp, 127, 127, 127}};
  for (auto [p, a, b, c] : rows) {
    std::vector<float> x(96, 1.0f);
    x[0] = 300, x[32] = 448, x[64] = 500;
    const auto r = q(p, x, {1, 96}, std::nullopt, format::fp8_e4m3fn);
    EXPECT_EQ(r.scales[0], a) << info(p).name;
    EXPECT_EQ(r.scales[1], b) << info(p).name;
    EXPECT_EQ(r.scales[2], c) << info(p).name;
  }
}

// §4.2 rows 4-6, 9, 11: NaN / Inf / zero blocks, NaN and -0 elements.
TEST(Presets, MxSpecialBlocks) {
  std::vector<float> x(128);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 9) - 4.0f;
  x[1] = nan_v;                                     // block 0: a NaN
  x[40] = inf_v;                                    // block 1: an Inf
  std::fill(x.begin() + 64, x.begin() + 96, 0.0f);  // block 2: zeros
  x[100] = -0.0f;                                   // block 3: -0
  for (const auto& i : preset_table) {
    if (is_nvfp4(i.id)) continue;
    const auto r = q(i.id, x, {1, 128}, std::nullopt, format::fp8_e4m3fn);
    const bool te = i.id == preset::mx_te, ocp = i.id == preset::mx_ocp;
    EXPECT_EQ(r.scales[0], te ? r.scales[3] : 0xff) << i.name;  // TE ignores the NaN
    EXPECT_EQ(r.scales[1], te ? 0xfe : 0xff) << i.name;         // TE satfinite: Inf -> 0xfe
    EXPECT_EQ(r.scales[2], 0x00) << i.name;
    if (!ocp) {
      EXPECT_EQ(r.codes[1], 0x7f) << i.name;  // the NaN element
    }
    EXPECT_EQ(r.codes[100], ocp ? 0x00 : 0x80) << i.name;
  }
  // torchao fp4: a NaN block's codes are the bit conversion of CUDA's NaN: 0x4 (§1 P2c)
  const auto fp4 = q(preset::mx_torchao_floor, x, {1, 128}, std::nullopt, format::fp4_e2m1fn);
  for (std::size_t c = 0; c < 32; ++c) EXPECT_EQ(fp4.codes[c], 0x4);
}

// §4.2 row "element rounding": RNE everywhere except microxcaling (ties away from zero).
TEST(Presets, MxElementTies) {
  // e2m1, block amax 6 -> scale 2^0 (byte 127) in every mode: the elements are the values
  std::vector<float> x = {6.0f, 1.25f, 2.5f, 5.0f, 0.25f, -1.25f, 0.75f};
  x.resize(32, 0.0f);
  for (const auto& i : preset_table) {
    if (is_nvfp4(i.id) || i.id == preset::mx_te || i.id == preset::mx_torchao_ceil) continue;
    const auto r = q(i.id, x, {1, 32}, std::nullopt, format::fp4_e2m1fn);
    ASSERT_EQ(r.scales[0], 127) << i.name;
    const bool away = i.id == preset::mx_ocp;
    const std::uint8_t want[] = {7,
                                 std::uint8_t(away ? 3 : 2),
                                 std::uint8_t(away ? 5 : 4),
                                 std::uint8_t(away ? 7 : 6),
                                 std::uint8_t(away ? 1 : 0),
                                 std::uint8_t(away ? 11 : 10),
                                 2};
    for (std::size_t c = 0; c < 7; ++c) EXPECT_EQ(r.codes[c], want[c]) << i.name << " " << x[c];
  }
}

// §4.2 row 3 / §6.4: microxcaling's fp32 log2 rounds 7.9999995 (0x40ffffff) up to 3.0, so its
// shared exponent is one above the exponent-bits rule.
TEST(Presets, MxOcpLog2JustBelowAPowerOfTwo) {
  std::vector<float> x(32, 1.0f);
  x[0] = std::bit_cast<float>(0x40ffffffu);
  EXPECT_EQ(q(preset::mx_ocp, x, {1, 32}, std::nullopt, format::fp4_e2m1fn).scales[0], 128);
  EXPECT_EQ(q(preset::mx_torchao_floor, x, {1, 32}, std::nullopt, format::fp4_e2m1fn).scales[0], 127);
}

// Dequantize: each preset's formula, on the tie data (values are exact).
TEST(Presets, DequantizeFormulas) {
  const std::vector<float> x = {0.5f, -1.5f, 3.0f, 6.0f, 0.0f,  -0.0f, 2.0f, 4.0f,
                                1.0f, -6.0f, 0.5f, 1.5f, -3.0f, 2.0f,  4.0f, 1.0f};
  // the block scale each formula gives for s = 1.0 at these per-tensor values (TE's
  // fl(2688 * fl(1/2688)) need not be 1)
  const float te_unit = (1.0f * 2688.0f) * (1.0f / 2688.0f);
  const std::tuple<preset, float, float> unit[] = {{preset::nvfp4_te, 2688.0f, te_unit},
                                                   {preset::nvfp4_torchao, 1.0f, 1.0f},
                                                   {preset::nvfp4_modelopt, 1.0f, 1.0f},
                                                   {preset::nvfp4_trtllm, 1.0f, 1.0f}};
  for (auto [p, g, unit_scale] : unit) {
    const auto r = q(p, x, {1, 16}, g);
    ASSERT_EQ(r.scales[0], 0x38);
    std::vector<float> y(16);
    dequantize_preset(p, r.codes, r.scales, {1, 16}, format::fp4_e2m1fn, r.global, y);
    for (std::size_t i = 0; i < 16; ++i) EXPECT_EQ(y[i], x[i] * unit_scale) << info(p).name;
  }
  // TE: q * fl(fl(s * amax) * fl(1/2688)): with amax 1000 and s = 0x38 (1.0)
  const std::vector<std::uint8_t> codes(16, 0x7), scales = {0x38};
  std::vector<float> y(16);
  dequantize_preset(preset::nvfp4_te, codes, scales, {1, 16}, format::fp4_e2m1fn, 1000.0f, y);
  EXPECT_EQ(y[0], 6.0f * (1000.0f * (1.0f / 2688.0f)));
  dequantize_preset(preset::nvfp4_trtllm, codes, scales, {1, 16}, format::fp4_e2m1fn, 3.0f, y);
  EXPECT_EQ(y[0], 6.0f * (1.0f / 3.0f));
  // MX: q * 2^(b - 127); 0xff is NaN
  const std::vector<std::uint8_t> mc(32, 0x38), ms = {130};
  std::vector<float> my(32);
  dequantize_preset(preset::mx_te, mc, ms, {1, 32}, format::fp8_e4m3fn, 0, my);
  EXPECT_EQ(my[0], 8.0f);
  const std::vector<std::uint8_t> bad = {0xff};
  dequantize_preset(preset::mx_torchao_floor, mc, bad, {1, 32}, format::fp8_e4m3fn, 0, my);
  EXPECT_TRUE(std::isnan(my[0]));
}

// P9: the 128x4 tiled layout's offsets, padding and round trip.
TEST(Presets, TiledScaleLayout) {
  const matrix_shape grid{130, 5};
  EXPECT_EQ(tiled_shape(grid), (matrix_shape{256, 8}));
  std::vector<std::uint8_t> lin(grid.size());
  for (std::size_t i = 0; i < lin.size(); ++i) lin[i] = static_cast<std::uint8_t>(1 + i % 250);
  const auto t = scales_to_tiled(lin, grid);
  ASSERT_EQ(t.size(), 256u * 8u);
  EXPECT_EQ(t[0], lin[0]);
  EXPECT_EQ(t[((0 * 2) + 1) * 512 + 1 * 16 + 1 * 4 + 0], lin[33 * 5 + 4]);   // (r 33, c 4)
  EXPECT_EQ(t[((1 * 2) + 0) * 512 + 1 * 16 + 0 * 4 + 2], lin[129 * 5 + 2]);  // (r 129, c 2)
  std::size_t zeros = 0;
  for (auto b : t) zeros += b == 0;
  EXPECT_EQ(zeros, t.size() - lin.size());  // the padding is zero bytes
  EXPECT_EQ(scales_from_tiled(t, grid), lin);
}

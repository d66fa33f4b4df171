// lowbit quantize --preset / dequantize --preset / presets: NVFP4 and MX as a named ecosystem
// computes them (include/lowbit/presets.hpp, shared/spec/presets.md). Codes are uint8, one per
// element or (--packed, 4-bit elements) two per byte with the even element in the low nibble;
// scales uint8 in the linear (m, ceil(k/block)) layout or (--tiled) the 128x4 tiled layout
// (ceil(m/128)*128, ceil(nb/4)*4); the per-tensor value float32 (1,).
#include "cli.hpp"

#include <lowbit/presets.hpp>

namespace cli {

namespace {

lowbit::preset parse_preset_flag(const args& a) {
  const auto p = lowbit::parse_preset(a.get("preset"));
  if (!p) {
    std::string names;
    for (const auto& i : lowbit::preset_table) names += (names.empty() ? "" : ", ") + std::string(i.name);
    throw usage_error("--preset: unknown preset '" + a.get("preset") + "' (" + names + ")");
  }
  return *p;
}

/// The element format: fixed fp4_e2m1fn for NVFP4 (--dtype may repeat it), --dtype for MX.
lowbit::format preset_format(const args& a, lowbit::preset p) {
  const auto& i = lowbit::info(p);
  if (!a.has("dtype")) {
    if (lowbit::is_nvfp4(p)) return lowbit::format::fp4_e2m1fn;
    throw usage_error("--dtype is required with --preset " + std::string(i.name) +
                      (p == lowbit::preset::mx_te
                           ? " (fp8_e4m3fn or fp8_e5m2)"
                           : " (fp8_e4m3fn, fp8_e5m2, fp6_e2m3fn, fp6_e3m2fn, fp4_e2m1fn)"));
  }
  const lowbit::format f = parse_format_flag("dtype", a.get("dtype"));
  if (!lowbit::preset_takes(p, f))
    throw usage_error("--preset " + std::string(i.name) + " does not take --dtype " + a.get("dtype") +
                      (lowbit::is_nvfp4(p)          ? " (NVFP4 elements are fp4_e2m1fn)"
                       : p == lowbit::preset::mx_te ? " (TransformerEngine's MX is MXFP8)"
                                                    : ""));
  return f;
}

void check_preset_flags(const args& a, lowbit::preset p, lowbit::format f, bool quantize) {
  const std::string name(lowbit::info(p).name);
  for (const char* flag :
       {"granularity", "operand", "asymmetric", "round", "smooth", "scale-alg", "dtype-max", "min-scale",
        "static-scale", "static-offset", "multiply", "overflow", "nan", "offset", "cann-layout", "antiquant"})
    if (a.has(flag))
      throw usage_error(std::string("--") + flag + " does not apply with --preset (" + name +
                        " fixes the whole computation)");
  if (a.has("packed") && f != lowbit::format::fp4_e2m1fn)
    throw usage_error("--packed applies to 4-bit elements (fp4_e2m1fn) only");
  if (!lowbit::is_nvfp4(p))
    for (const char* flag : {"global-scale", "static-global-scale"})
      if (a.has(flag)) throw usage_error(std::string("--") + flag + " does not apply to MX preset " + name);
  if (!quantize && lowbit::is_nvfp4(p) && !a.has("global-scale"))
    throw usage_error("--global-scale G.npy is required to dequantize " + name + " (its " +
                      std::string(lowbit::info(p).global) + ")");
}

float load_global(const std::string& path) {
  const auto g = read_npy(path);
  if (g.type != lowbit::npy::dtype::f4 || g.size() != 1)
    throw input_error(path + ": the per-tensor scale must be one float32 (shape (1,)), the file holds " +
                      std::string(lowbit::npy::name(g.type)) + " " + shape_str(g.shape));
  return g.values<float>()[0];
}

}  // namespace

int run_quantize_preset(const args& a) {
  const lowbit::preset p = parse_preset_flag(a);
  const lowbit::format f = preset_format(a, p);
  check_preset_flags(a, p, f, true);
  if (!a.has("values")) throw usage_error("--values Q.npy is required");
  if (!a.has("scale")) throw usage_error("--scale S.npy is required");
  const bool packed = a.has("packed"), tiled = a.has("tiled");
  const std::string in_path = a.pos[0];
  std::optional<float> given;
  if (a.has("static-global-scale")) given = load_global(a.get("static-global-scale"));
  const auto in = load_highp(in_path, a.has("bf16"));
  const lowbit::matrix_shape shape = as_matrix(in.shape, in_path);
  if (packed && shape.cols % 2 != 0)
    throw input_error(in_path + ": --packed needs an even last dimension, shape is " + shape_str(in.shape));
  lowbit::preset_options opt;
  if (a.has("torchao-version")) {
    if (p != lowbit::preset::nvfp4_torchao) throw usage_error("--torchao-version applies to nvfp4-torchao");
    const std::string v = a.get("torchao-version");
    if (v != "16" && v != "17" && v != "18")
      throw usage_error("--torchao-version: '" + v + "' is not 16, 17 or 18");
    opt.torchao_version = std::stoi(v);
  }
  if (a.has("device")) {
    if (p != lowbit::preset::nvfp4_torchao && p != lowbit::preset::nvfp4_modelopt)
      throw usage_error(
          "--device applies to nvfp4-torchao and nvfp4-modelopt (the others do not depend on it)");
    const std::string d = a.get("device");
    if (d != "cuda" && d != "cpu") throw usage_error("--device: '" + d + "' is neither cuda nor cpu");
    opt.cpu = d == "cpu";
  }
  const auto r = lowbit::quantize_preset(p, in.v, shape, f, given, opt);
  std::vector<std::pair<std::string, lowbit::npy::array>> outs;
  if (packed) {
    std::vector<std::uint8_t> bytes(r.codes.size() / 2);
    lowbit::pack_nibbles(r.codes, bytes);
    outs.push_back(
        {a.get("values"), lowbit::npy::array::from<std::uint8_t>({shape.rows, shape.cols / 2}, bytes)});
  } else {
    outs.push_back(
        {a.get("values"), lowbit::npy::array::from<std::uint8_t>({shape.rows, shape.cols}, r.codes)});
  }
  if (tiled) {
    const auto t = lowbit::tiled_shape(r.grid);
    outs.push_back({a.get("scale"), lowbit::npy::array::from<std::uint8_t>(
                                        {t.rows, t.cols}, lowbit::scales_to_tiled(r.scales, r.grid))});
  } else {
    outs.push_back(
        {a.get("scale"), lowbit::npy::array::from<std::uint8_t>({r.grid.rows, r.grid.cols}, r.scales)});
  }
  if (a.has("global-scale")) {
    const float g[] = {r.global};
    outs.push_back({a.get("global-scale"), f32_array({1}, g)});
  }
  write_outputs(outs);
  return 0;
}

int run_dequantize_preset(const args& a, const std::string& q_path, const std::string& s_path,
                          const std::string& out_path) {
  const lowbit::preset p = parse_preset_flag(a);
  const lowbit::format f = preset_format(a, p);
  check_preset_flags(a, p, f, false);
  for (const char* flag : {"torchao-version", "device"})
    if (a.has(flag)) throw usage_error(std::string("--") + flag + " applies to quantize --preset only");
  const float global = lowbit::is_nvfp4(p) ? load_global(a.get("global-scale")) : 0.0f;
  const auto qa = read_npy(q_path);
  if (qa.type != lowbit::npy::dtype::u1)
    throw input_error(q_path + ": preset codes must be uint8, the file holds " +
                      std::string(lowbit::npy::name(qa.type)));
  auto shape = qa.shape;
  std::vector<std::uint8_t> codes = qa.values<std::uint8_t>();
  if (a.has("packed")) {
    if (shape.empty() || shape.back() > SIZE_MAX / 2)
      throw input_error(q_path + ": shape " + shape_str(shape) + " cannot be unpacked");
    std::vector<std::uint8_t> c(2 * codes.size());
    lowbit::unpack_nibbles(codes, c);
    codes = std::move(c);
    shape.back() *= 2;
  }
  const lowbit::matrix_shape m = as_matrix(shape, q_path);
  const lowbit::matrix_shape grid{m.rows, lowbit::ceil_div(m.cols, lowbit::info(p).block)};
  const auto sa = read_npy(s_path);
  if (sa.type != lowbit::npy::dtype::u1)
    throw input_error(s_path + ": preset scales must be uint8 codes, the file holds " +
                      std::string(lowbit::npy::name(sa.type)));
  std::vector<std::uint8_t> scales;
  if (a.has("tiled")) {
    const auto t = lowbit::tiled_shape(grid);
    check_shape(sa.shape, {t.rows, t.cols}, s_path, "tiled scale");
    scales = lowbit::scales_from_tiled(sa.values<std::uint8_t>(), grid);
  } else {
    check_shape(sa.shape, {grid.rows, grid.cols}, s_path, "scale");
    scales = sa.values<std::uint8_t>();
  }
  check_alloc(m.size(), sizeof(float), "the output " + shape_str(shape));
  std::vector<float> out(m.size());
  lowbit::dequantize_preset(p, codes, scales, m, f, global, out);
  write_outputs({{out_path, f32_array(shape, out)}});
  return 0;
}

/// compare --presets IN.npy CODES.npy [--scale S.npy] [--dtype F] [--packed] [--tiled] [--bf16]:
/// quantizes IN with every preset that takes the element format and says which reproduce the
/// codes (and scales) byte for byte, the others with their counts of differing bytes.
int run_match_presets(const args& a) {
  const auto in = load_highp(a.pos[0], a.has("bf16"));
  const lowbit::matrix_shape shape = as_matrix(in.shape, a.pos[0]);
  const auto qa = read_npy(a.pos[1]);
  if (qa.type != lowbit::npy::dtype::u1)
    throw input_error(a.pos[1] + ": preset codes must be uint8, the file holds " +
                      std::string(lowbit::npy::name(qa.type)));
  std::vector<std::uint8_t> codes = qa.values<std::uint8_t>();
  if (a.has("packed")) {
    std::vector<std::uint8_t> c(2 * codes.size());
    lowbit::unpack_nibbles(codes, c);
    codes = std::move(c);
  }
  if (codes.size() != shape.size())
    throw input_error(a.pos[1] + ": holds " + std::to_string(codes.size()) + " codes, " + a.pos[0] + " has " +
                      std::to_string(shape.size()) + " elements");
  std::optional<lowbit::npy::array> sa;
  if (a.has("scale")) sa = read_npy(a.get("scale"));
  std::vector<std::pair<std::size_t, std::string>> rows;
  for (const auto& i : lowbit::preset_table) {
    for (const lowbit::format f :
         {lowbit::format::fp4_e2m1fn, lowbit::format::fp8_e4m3fn, lowbit::format::fp8_e5m2,
          lowbit::format::fp6_e2m3fn, lowbit::format::fp6_e3m2fn}) {
      if (!lowbit::preset_takes(i.id, f)) continue;
      if (a.has("dtype") && lowbit::to_string(f) != a.get("dtype")) continue;
      const auto r = lowbit::quantize_preset(i.id, in.v, shape, f);
      std::size_t code_diff = 0, scale_diff = 0;
      for (std::size_t k = 0; k < codes.size(); ++k) code_diff += codes[k] != r.codes[k];
      std::string scales = "";
      if (sa) {
        const auto lin = a.has("tiled") ? lowbit::scales_to_tiled(r.scales, r.grid) : r.scales;
        const auto got =
            sa->type == lowbit::npy::dtype::u1 ? sa->values<std::uint8_t>() : std::vector<std::uint8_t>{};
        if (got.size() != lin.size()) {
          scales = ", scales of another shape";
          scale_diff = lin.size() + 1;
        } else {
          for (std::size_t k = 0; k < lin.size(); ++k) scale_diff += got[k] != lin[k];
          scales = ", " + std::to_string(scale_diff) + " scale bytes differ";
        }
      }
      const std::string name =
          std::string(i.name) +
          (lowbit::is_nvfp4(i.id) ? "" : " --dtype " + std::string(lowbit::to_string(f)));
      rows.push_back(
          {code_diff + scale_diff, (code_diff + scale_diff == 0 ? "matches      " : "differs      ") + name +
                                       ": " + std::to_string(code_diff) + " codes differ" + scales});
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& l, const auto& r) { return l.first < r.first; });
  std::size_t shown = 0, matches = 0;
  for (const auto& [n, line] : rows) {  // every match, then the five nearest others
    matches += n == 0;
    if (n == 0 || shown < matches + 5) std::puts(line.c_str()), ++shown;
  }
  if (matches == 0) std::puts("no preset reproduces these codes");
  if (rows.size() > shown) std::printf("(%zu more differ further)\n", rows.size() - shown);
  return 0;
}

int run_presets(int argc, char** argv) {
  if (argc > 2 && (std::string(argv[2]) == "--help" || std::string(argv[2]) == "-h")) {
    std::puts(
        "usage: lowbit presets\n  lists the numerics presets of quantize --preset / dequantize --preset");
    return 0;
  }
  if (argc > 2) throw usage_error("lowbit presets takes no arguments");
  std::puts("preset              block  per-tensor value stored (--global-scale)  how it differs");
  for (const auto& i : lowbit::preset_table)
    std::printf("%-18s  %5zu  %-40s  %s\n", std::string(i.name).c_str(), i.block,
                i.global.empty() ? "-" : std::string(i.global).c_str(), std::string(i.summary).c_str());
  std::puts(
      "\nNVFP4: fp4_e2m1fn elements, e4m3fn block scales (blocks of 16 along k). MX: e8m0 block scales\n"
      "(blocks of 32); the element format with --dtype (mx-te: fp8_e4m3fn, fp8_e5m2; the others also\n"
      "fp6_e2m3fn, fp6_e3m2fn, fp4_e2m1fn). Source of each step: shared/spec/presets.md.");
  return 0;
}

}  // namespace cli

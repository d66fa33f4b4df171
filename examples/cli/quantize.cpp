// lowbit quantize / lowbit dequantize (cli.md).
#include "cli.hpp"

namespace cli {

namespace {

const command_spec quantize_spec{
    "quantize",
    {"dtype",           "granularity", "operand",      "round",         "smooth",       "scale-alg",
     "dtype-max",       "min-scale",   "static-scale", "static-offset", "overflow",     "nan",
     "values",          "scale",       "offset",       "preset",        "global-scale", "static-global-scale",
     "torchao-version", "device"},
    {"asymmetric", "multiply", "bf16", "packed", "cann-layout", "tiled"},
    1,
    1,
    "usage: lowbit quantize --dtype FORMAT --granularity G [--operand left|right]\n"
    "                       [--asymmetric] [--round R] [--smooth SMOOTH.npy]\n"
    "                       [--scale-alg ocp|ceil] [--dtype-max V] [--min-scale V]\n"
    "                       [--static-scale S.npy [--static-offset O.npy] [--multiply]]\n"
    "                       [--overflow O] [--nan N] [--bf16] [--packed] [--cann-layout]\n"
    "                       IN.npy --values Q.npy [--scale S.npy] [--offset O.npy]\n"
    "  left: IN is x1 (m, k); right: IN is x2 (k, n); k is the reduce axis.\n"
    "  Dynamic: scale = amax * fl32(1/DTYPE_MAX), y = cast(x / scale); --asymmetric adds an\n"
    "  offset. Static: --static-scale (y = cast(x / s + o), or x * s + o with --multiply).\n"
    "  mx: group 32 along k with e8m0 scales (uint8), --scale-alg ocp (floor, default) or ceil.\n"
    "  or: lowbit quantize --preset NAME [--dtype F] IN.npy --values Q.npy --scale S.npy\n"
    "                      [--global-scale G.npy] [--static-global-scale G.npy] [--packed] [--tiled]\n"
    "                      [--torchao-version 16|17|18] [--device cuda|cpu]\n"
    "      NVFP4 / MX exactly as a named ecosystem computes them (lowbit presets lists them).\n"
    "  DTYPE_MAX defaults to the format's max finite value (int8 127, int4 7); --min-scale 0.\n" +
        formats_help + granularity_help + policy_help};

const command_spec dequantize_spec{
    "dequantize",
    {"dtype", "granularity", "operand", "offset", "values", "scale", "out", "preset", "global-scale",
     "torchao-version", "device"},
    {"antiquant", "packed", "cann-layout", "tiled"},
    0,
    3,
    "usage: lowbit dequantize --dtype FORMAT --granularity G [--operand left|right]\n"
    "                         --values Q.npy --scale S.npy [--offset O.npy] [--antiquant]\n"
    "                         [--packed] [--cann-layout] --out OUT.npy\n"
    "   or: lowbit dequantize ... Q.npy S.npy OUT.npy (positional, cli.md's spelling)\n"
    "  The array flags are quantize's names for the same arrays.\n"
    "  or: lowbit dequantize --preset NAME [--dtype F] Q.npy S.npy [--global-scale G.npy]\n"
    "                        [--packed] [--tiled] OUT.npy (lowbit presets lists them)\n"
    "  y = (q - offset) * scale in float32 (quantize's convention); --antiquant: CANN\n"
    "  AntiQuant, y = (q + offset) * scale. mx: y = q * 2^(e - 127) with uint8 e8m0 scales.\n" +
        formats_help + granularity_help};

template <class T>
constexpr bool is_quant_format() {
  return !std::is_same_v<T, float> && !std::is_same_v<T, lowbit::float8_e8m0fnu> &&
         !std::is_same_v<T, lowbit::bfloat16> && !std::is_same_v<T, lowbit::float16>;
}

void reject(const args& a, std::initializer_list<const char*> flags, const std::string& why) {
  for (auto f : flags)
    if (a.has(f)) throw usage_error(std::string("--") + f + " " + why);
}

std::vector<std::size_t> mx_scale_file_shape(const lowbit::scale_map& map, bool cann) {
  if (!cann) return {map.grid.rows, map.grid.cols};
  if (map.side == lowbit::operand::left) return {map.grid.rows, lowbit::ceil_div(map.grid.cols, 2), 2};
  return {lowbit::ceil_div(map.grid.rows, 2), map.grid.cols, 2};
}

}  // namespace

int run_quantize(int argc, char** argv) {
  const args a = parse_args(quantize_spec, argc, argv, 2);
  if (a.help) return std::fputs(quantize_spec.usage.c_str(), stdout), 0;
  if (a.has("preset")) return run_quantize_preset(a);
  for (const char* flag : {"tiled", "global-scale", "static-global-scale", "torchao-version", "device"})
    if (a.has(flag)) throw usage_error(std::string("--") + flag + " applies with --preset only");
  if (!a.has("dtype")) throw usage_error("--dtype FORMAT is required");
  const lowbit::format f = parse_format_flag("dtype", a.get("dtype"));
  const lowbit::granularity g = parse_gran(a);
  const lowbit::operand side = parse_operand(a, g);
  check_gran_side(g, side);
  if (!a.has("values")) throw usage_error("--values Q.npy is required");
  const bool mx = g.kind == lowbit::granularity_kind::mx;
  const bool is_static = a.has("static-scale");
  const bool packed = a.has("packed");
  if (mx) {
    reject(a, {"overflow", "nan"}, "does not apply to mx: MX elements always saturate and NaN gives 0");
    reject(a, {"asymmetric", "static-scale", "static-offset", "multiply", "dtype-max", "min-scale"},
           "does not apply to granularity mx");
  } else {
    reject(a, {"scale-alg", "cann-layout"}, "applies to granularity mx only");
  }
  if (!is_static)
    reject(a, {"static-offset", "multiply"}, "needs --static-scale");
  else
    reject(a, {"asymmetric", "dtype-max", "min-scale"}, "applies to dynamic quantization only");
  if (a.has("asymmetric")) reject(a, {"min-scale"}, "applies to symmetric quantization only");
  if (!is_static && !a.has("scale")) throw usage_error("--scale S.npy is required for dynamic quantization");
  if (a.has("scale-alg") && a.get("scale-alg") != "ocp" && a.get("scale-alg") != "ceil")
    throw usage_error("--scale-alg: '" + a.get("scale-alg") + "' is neither ocp nor ceil");
  const lowbit::convert_policy pol = policy_flags(a, f);

  const std::string in_path = a.pos[0];
  const auto in = load_highp(in_path, a.has("bf16"));
  const lowbit::matrix_shape shape = as_matrix(in.shape, in_path);
  check_alloc(lowbit::make_scale_map(g, side, shape).size(), sizeof(float), "the scale array of " + in_path);
  float_array smooth;
  if (a.has("smooth")) {
    smooth = load_f32(a.get("smooth"), "smooth vector");
    const std::size_t k = side == lowbit::operand::left ? shape.cols : shape.rows;
    check_shape(smooth.shape, {k}, a.get("smooth"), "smooth vector (one per k)");
  }
  std::vector<std::pair<std::string, lowbit::npy::array>> outs;
  const progress shown("quantize");
  lowbit::visit_format(f, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!is_quant_format<T>()) {
      throw usage_error("--dtype " + a.get("dtype") + " is not a quantization format");
    } else {
      if (mx) {
        if constexpr (lowbit::mx_element<T>) {
          const lowbit::mx_params p{
              side, pol.round,
              a.get("scale-alg", "ocp") == "ceil" ? lowbit::mx_scale_rule::ceil : lowbit::mx_scale_rule::ocp,
              smooth.v};
          const auto q = lowbit::quantize_mx<T, float>(in.v, shape, p);
          std::vector<std::uint8_t> s(q.scales.size());
          for (std::size_t i = 0; i < s.size(); ++i) s[i] = q.scales[i].bits();
          const bool cann = a.has("cann-layout");
          if (cann) s = lowbit::mx_scales_to_cann(s, side, q.map.grid);
          outs.push_back({a.get("values"), codes_array<T>(in.shape, q.values, packed, in_path)});
          outs.push_back(
              {a.get("scale"), lowbit::npy::array::from<std::uint8_t>(mx_scale_file_shape(q.map, cann), s)});
        } else {
          throw usage_error(
              "granularity mx takes fp8_e4m3fn, fp8_e5m2, fp6_e2m3fn, fp6_e3m2fn, fp4_e2m1fn or fp4_e1m2fn, "
              "not " +
              a.get("dtype"));
        }
        return;
      }
      lowbit::quantized<T> q;
      if (is_static) {
        const auto map = lowbit::make_scale_map(g, side, shape);
        const auto s = load_f32(a.get("static-scale"), "static scale");
        check_shape(s.shape, map.scale_shape(), a.get("static-scale"), "static scale");
        float_array o;
        if (a.has("static-offset")) {
          o = load_f32(a.get("static-offset"), "static offset");
          check_shape(o.shape, map.scale_shape(), a.get("static-offset"), "static offset");
        }
        q = lowbit::quantize_static<T, float>(
            in.v, shape,
            {g, side, s.v, o.v,
             a.has("multiply") ? lowbit::static_form::multiply : lowbit::static_form::divide, pol, smooth.v});
        if (q.offsets.empty() && a.has("offset")) q.offsets.assign(q.scales.size(), 0.0f);
      } else {
        lowbit::quantize_params p{g, side, a.has("asymmetric"), pol, smooth.v};
        if (a.has("dtype-max")) {
          p.dtype_max = parse_float_flag("dtype-max", a.get("dtype-max"));
          if (!(p.dtype_max > 0) || std::isinf(p.dtype_max))
            throw usage_error("--dtype-max must be a positive number");
        }
        if (a.has("min-scale")) {
          p.min_scale = parse_float_flag("min-scale", a.get("min-scale"));
          if (!(p.min_scale >= 0) || std::isinf(p.min_scale))
            throw usage_error("--min-scale must be a non-negative number");
        }
        q = lowbit::quantize<T, float>(in.v, shape, p);
        if (q.offsets.empty() && a.has("offset")) q.offsets.assign(q.scales.size(), 0.0f);
      }
      outs.push_back({a.get("values"), codes_array<T>(in.shape, q.values, packed, in_path)});
      if (a.has("scale")) outs.push_back({a.get("scale"), f32_array(q.map.scale_shape(), q.scales)});
      if (a.has("offset")) outs.push_back({a.get("offset"), f32_array(q.map.scale_shape(), q.offsets)});
    }
  });
  write_outputs(outs);
  return 0;
}

int run_dequantize(int argc, char** argv) {
  const args a = parse_args(dequantize_spec, argc, argv, 2);
  if (a.help) return std::fputs(dequantize_spec.usage.c_str(), stdout), 0;
  // Q, S and OUT by flag (quantize's names) or by position, in that order, for those not flagged
  std::size_t next = 0;
  const auto array_path = [&](const char* flag, const char* what) {
    if (a.has(flag)) return a.get(flag);
    if (next < a.pos.size()) return a.pos[next++];
    throw usage_error(std::string("the ") + what + " array is missing: give --" + flag + " FILE.npy");
  };
  const std::string q_path = array_path("values", "codes"), s_path = array_path("scale", "scale"),
                    out_path = array_path("out", "output");
  if (next < a.pos.size())
    throw usage_error("unexpected argument '" + a.pos[next] +
                      "' (the codes, scale and output are all given)");
  if (a.has("preset")) return run_dequantize_preset(a, q_path, s_path, out_path);
  for (const char* flag : {"tiled", "global-scale", "torchao-version", "device"})
    if (a.has(flag)) throw usage_error(std::string("--") + flag + " applies with --preset only");
  if (!a.has("dtype")) throw usage_error("--dtype FORMAT is required");
  const lowbit::format f = parse_format_flag("dtype", a.get("dtype"));
  const lowbit::granularity g = parse_gran(a);
  const lowbit::operand side = parse_operand(a, g);
  check_gran_side(g, side);
  const bool mx = g.kind == lowbit::granularity_kind::mx;
  if (!mx && a.has("cann-layout")) throw usage_error("--cann-layout applies to granularity mx only");
  if (mx && (a.has("offset") || a.has("antiquant"))) throw usage_error("granularity mx has no offsets");
  std::vector<float> out;
  std::vector<std::size_t> shape;
  const progress shown("dequantize");
  lowbit::visit_format(f, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!is_quant_format<T>()) {
      throw usage_error("--dtype " + a.get("dtype") + " is not a quantization format");
    } else {
      const auto q = load_codes<T>(q_path, a.has("packed"), shape);
      const auto m = as_matrix(shape, q_path);
      const auto map = lowbit::make_scale_map(g, side, m);
      out.resize(m.size());
      if (mx) {
        if constexpr (lowbit::mx_element<T>) {
          const auto s = read_npy(s_path);
          if (s.type != lowbit::npy::dtype::u1) throw input_error(s_path + ": e8m0 scales must be uint8");
          const bool cann = a.has("cann-layout");
          check_shape(s.shape, mx_scale_file_shape(map, cann), s_path, "MX scale");
          auto bytes = s.values<std::uint8_t>();
          if (cann) bytes = lowbit::mx_scales_from_cann(bytes, side, map.grid);
          std::vector<lowbit::float8_e8m0fnu> e(bytes.size());
          for (std::size_t i = 0; i < e.size(); ++i) e[i] = lowbit::float8_e8m0fnu::from_bits(bytes[i]);
          lowbit::dequantize_into<T, lowbit::float8_e8m0fnu>(q, map, e, {}, out);
        } else {
          throw usage_error("granularity mx takes fp8, fp6 or fp4 element formats, not " + a.get("dtype"));
        }
      } else {
        const auto s = load_f32(s_path, "scale");
        check_shape(s.shape, map.scale_shape(), s_path, "scale");
        float_array o;
        if (a.has("offset")) {
          o = load_f32(a.get("offset"), "offset");
          check_shape(o.shape, map.scale_shape(), a.get("offset"), "offset");
        }
        lowbit::dequantize_into<T, float>(
            q, map, s.v, o.v, out,
            a.has("antiquant") ? lowbit::dequant_form::antiquant : lowbit::dequant_form::subtract_offset);
      }
    }
  });
  write_outputs({{out_path, f32_array(shape, out)}});
  return 0;
}

}  // namespace cli

// lowbit convert / lowbit decode (cli.md): element-wise narrowing to codes and widening back.
#include "cli.hpp"

namespace cli {

namespace {
const command_spec convert_spec{
    "convert",
    {"to", "round", "overflow", "nan"},
    {"bf16", "packed"},
    2,
    2,
    "usage: lowbit convert --to FORMAT [--round R] [--overflow O] [--nan N] [--bf16] [--packed] IN.npy "
    "OUT.npy\n"
    "  Element-wise conversion of a float32 / float16 / bf16 (uint16 + --bf16) array to codes of\n"
    "  FORMAT, same shape: int8 arrays for int8/int4, uint8 codes for float formats and e8m0,\n"
    "  float16 for fp16, uint16 bit patterns for bf16, float32 for fp32.\n"
    "  --packed  4-bit formats two per byte along the last axis (low nibble first)\n" +
        formats_help + "          and e8m0 bf16 fp16 fp32\n" + policy_help};

const command_spec decode_spec{
    "decode",
    {"from"},
    {"packed"},
    2,
    2,
    "usage: lowbit decode --from FORMAT [--packed] IN.npy OUT.npy\n"
    "  Codes of FORMAT (as written by convert/quantize) back to float32, exactly.\n" +
        formats_help + "          and e8m0 bf16 fp16\n"};
}  // namespace

int run_convert(int argc, char** argv) {
  const args a = parse_args(convert_spec, argc, argv, 2);
  if (a.help) return std::fputs(convert_spec.usage.c_str(), stdout), 0;
  if (!a.has("to")) throw usage_error("--to FORMAT is required");
  const lowbit::format f = parse_format_flag("to", a.get("to"));
  const lowbit::convert_policy pol = policy_flags(a, f);
  const auto in = load_highp(a.pos[0], a.has("bf16"));
  const bool packed = a.has("packed");
  lowbit::npy::array out = lowbit::visit_format(f, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, float>) {
      if (packed) throw usage_error("--packed applies to 4-bit formats only (int4, fp4_e2m1fn, fp4_e1m2fn)");
      return f32_array(in.shape, in.v);
    } else {
      std::vector<T> codes(in.v.size());
      for (std::size_t i = 0; i < codes.size(); ++i) {
        if constexpr (lowbit::is_basic_float<T>::value)
          codes[i] = T(in.v[i], pol);
        else
          codes[i] = lowbit::convert<T>(in.v[i], pol);
      }
      return codes_array<T>(in.shape, codes, packed, a.pos[0]);
    }
  });
  write_outputs({{a.pos[1], std::move(out)}});
  return 0;
}

int run_decode(int argc, char** argv) {
  const args a = parse_args(decode_spec, argc, argv, 2);
  if (a.help) return std::fputs(decode_spec.usage.c_str(), stdout), 0;
  if (!a.has("from")) throw usage_error("--from FORMAT is required");
  const lowbit::format f = parse_format_flag("from", a.get("from"));
  float_array out;
  lowbit::visit_format(f, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, float>) {
      if (a.has("packed"))
        throw usage_error("--packed applies to 4-bit formats only (int4, fp4_e2m1fn, fp4_e1m2fn)");
      out = load_f32(a.pos[0], "fp32 input");
    } else if constexpr (std::is_same_v<T, lowbit::bfloat16> || std::is_same_v<T, lowbit::float16>) {
      if (a.has("packed"))
        throw usage_error("--packed applies to 4-bit formats only (int4, fp4_e2m1fn, fp4_e1m2fn)");
      const auto arr = read_npy(a.pos[0]);
      if (arr.type != lowbit::npy::dtype::u2 &&
          !(std::is_same_v<T, lowbit::float16> && arr.type == lowbit::npy::dtype::f2))
        throw input_error(a.pos[0] + ": " + std::string(lowbit::to_string(f)) +
                          " input must be uint16 bit patterns" +
                          (std::is_same_v<T, lowbit::float16> ? " or float16" : ""));
      out.shape = arr.shape;
      out.v.resize(arr.size());
      for (std::size_t i = 0; i < arr.size(); ++i) {
        std::uint16_t b;
        std::memcpy(&b, arr.data.data() + 2 * i, 2);
        out.v[i] = static_cast<float>(T::from_bits(b));
      }
    } else {
      const auto codes = load_codes<T>(a.pos[0], a.has("packed"), out.shape);
      for (auto c : codes) out.v.push_back(static_cast<float>(c));
    }
  });
  write_outputs({{a.pos[1], f32_array(out.shape, out.v)}});
  return 0;
}

}  // namespace cli

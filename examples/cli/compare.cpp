// lowbit compare (cli.md): error statistics of ACTUAL against EXPECTED.
#include <algorithm>
#include <cmath>

#include "cli.hpp"

namespace cli {

namespace {
const command_spec compare_spec{
    "compare",
    {"format",   "svg",     "input",     "dtype", "granularity", "operand",  "round",    "overflow",
     "nan",      "scale",   "mode",      "x1",    "x2",          "x1-dtype", "x2-dtype", "x1-scale",
     "x2-scale", "y-scale", "x2-offset", "bias",  "group-size",  "out-dtype"},
    {"json", "explain", "scales", "matmul", "asymmetric", "bf16", "packed", "presets", "tiled"},
    2,
    2,
    "usage: lowbit compare EXPECTED.npy ACTUAL.npy [--format FORMAT] [--json]\n"
    "                      [--explain [--svg FILE] [--scales]\n"
    "                       [--input X.npy and quantize's flags: --granularity G --operand O --round R "
    "...]]\n"
    "   or: lowbit compare --presets IN.npy CODES.npy [--scale S.npy] [--dtype F] [--packed] [--tiled]\n"
    "       [--bf16]: which numerics presets (lowbit presets) reproduce CODES (and S) from IN\n"
    "  count, mismatches, max abs / relative error, norm-relative error ||a - e|| / ||e||,\n"
    "  max error in ULPs of FORMAT, cosine,\n"
    "  SQNR (dB) and the kinds of mismatch. With --format, uint8 arrays are read as codes of\n"
    "  FORMAT and uint16 arrays as bf16 / fp16 bit patterns. Exit status 0 whether or not the\n"
    "  arrays match. Without --format, uint8/uint16 bit patterns next to a float array are an\n"
    "  error (say what they are).\n"
    "  --explain ranks the usual causes of the mismatches (rounding ties or direction, off by one\n"
    "  code, saturation, NaN policy, signed zeros, a scale off by a binade or by its reciprocal,\n"
    "  scale layout, transposition, nibble order, summation order, a misread dtype), with counts\n"
    "  and an example index each; --json adds \"causes\". --svg FILE: a heat map of where the\n"
    "  mismatches are, the --granularity block grid drawn over it. --input X.npy with quantize's\n"
    "  flags recomputes the codes under the other rounding rules.\n" +
        formats_help + "          and bf16 fp16 fp32\n"};

}  // namespace

int run_compare(int argc, char** argv) {
  const args a = parse_args(compare_spec, argc, argv, 2);
  if (a.help) return std::fputs(compare_spec.usage.c_str(), stdout), 0;
  if (a.has("presets")) return run_match_presets(a);
  const bool explain = a.has("explain");
  if (!explain)
    for (const auto& [flag, v] : a.opt)
      if (flag != "format") throw usage_error("--" + flag + " applies with --explain only");
  if (!explain && a.flag.size() > a.flag.count("json"))
    throw usage_error(
        "--" + *std::find_if(a.flag.begin(), a.flag.end(), [](const std::string& n) { return n != "json"; }) +
        " applies with --explain only");
  std::optional<lowbit::format> f;
  if (a.has("format")) f = parse_format_flag("format", a.get("format"));
  if (!f && a.has("dtype")) f = parse_format_flag("dtype", a.get("dtype"));  // quantize's spelling
  const auto e = read_npy(a.pos[0]), x = read_npy(a.pos[1]);
  // --explain looks at arrays of the same size in other shapes too (a transposed result)
  if (e.shape != x.shape && !(explain && e.size() == x.size()))
    throw input_error("shapes differ: " + a.pos[0] + " is " + shape_str(e.shape) + ", " + a.pos[1] + " is " +
                      shape_str(x.shape));
  if (!f &&
      !explain) {  // bit patterns read as integers next to real numbers: almost surely a missing --format
    using lowbit::npy::dtype;
    const auto bits = [](dtype t) { return t == dtype::u1 || t == dtype::u2; };
    const auto real = [](dtype t) { return t == dtype::f2 || t == dtype::f4 || t == dtype::f8; };
    if ((bits(e.type) && real(x.type)) || (real(e.type) && bits(x.type))) {
      const bool u2 = e.type == dtype::u2 || x.type == dtype::u2;
      throw usage_error(std::string("one array holds ") + (u2 ? "uint16" : "uint8") +
                        " bit patterns and the other real numbers: say what the bits are with --format (" +
                        (u2 ? "bf16 or fp16" : "e.g. fp8_e4m3fn, fp4_e2m1fn, e8m0") + ")");
    }
  }
  const auto read = [&](const lowbit::npy::array& arr, const std::string& path) {
    if (!explain) return values_of(arr, f, path);
    try {
      return values_of(arr, f, path);
    } catch (const input_error&) {  // --explain names the misread instead of refusing it
      return values_of(arr, std::nullopt, path);
    }
  };
  const auto ev = read(e, a.pos[0]), xv = read(x, a.pos[1]);
  const auto s = lowbit::compare(ev, xv, f);
  const std::string causes = explain ? explain_mismatches(a, e, x, f, a.has("json")) : "";
  std::string classes;
  for (auto& [k, n] : s.classes)
    classes += (classes.empty() ? "" : ", ") + std::string(a.has("json") ? "\"" + k + "\": " : k + " ") +
               std::to_string(n);
  if (a.has("json")) {
    std::printf(
        "{\"count\": %zu, \"mismatches\": %zu, \"max_abs\": %s, \"max_rel\": %s, \"norm_rel\": %s, "
        "\"max_ulp\": %s, \"cosine\": %s, \"sqnr_db\": %s, \"classes\": {%s}%s}\n",
        s.count, s.mismatches, json_num(s.max_abs).c_str(), json_num(s.max_rel).c_str(),
        json_num(s.norm_rel).c_str(), s.max_ulp ? json_num(*s.max_ulp).c_str() : "null",
        json_num(s.cosine).c_str(), json_num(s.sqnr_db).c_str(), classes.c_str(), causes.c_str());
  } else {
    std::printf(
        "count       %zu\nmismatches  %zu\nmax_abs     %s\nmax_rel     %s\nnorm_rel    %s\nmax_ulp     %s\n"
        "cosine      %s\nsqnr_db     %s\nclasses     %s\n",
        s.count, s.mismatches, num(s.max_abs).c_str(), num(s.max_rel).c_str(), num(s.norm_rel).c_str(),
        s.max_ulp ? (num(*s.max_ulp) + " (" + a.get("format") + ")").c_str() : "-", num(s.cosine).c_str(),
        num(s.sqnr_db).c_str(), classes.empty() ? "-" : classes.c_str());
    std::fputs(causes.c_str(), stdout);
  }
  return 0;
}

}  // namespace cli

// The dispatch of the `lowbit` command (shared/spec/cli.md), callable in-process (main.cpp, fuzzer).
// Each subcommand prints one line on stderr and exits non-zero on bad input; outputs are
// written whole or not at all.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli.hpp"

namespace {

const char* const usage =
    "usage: lowbit COMMAND [options] (lowbit COMMAND --help for details), lowbit --version\n"
    "commands:\n"
    "  convert     high precision -> codes of a format, element-wise\n"
    "  decode      codes -> float32\n"
    "  quantize    matrix -> codes + scales (every granularity, static/dynamic, MX)\n"
    "  dequantize  codes + scales -> float32\n"
    "  matmul      quantized matmul in every CANN mode\n"
    "  compare     error statistics of two arrays\n"
    "  demo        every granularity and mode on a realistic sample, one table\n"
    "  presets     the NVFP4 / MX numerics presets of quantize --preset\n"
    "  help        lowbit help formats | modes | COMMAND\n";

/// An error message on one line: control characters from user-given values (a newline in a flag
/// value, a file name) are shown as escapes.
std::string one_line(const std::string& m) {
  std::string out;
  for (const char ch : m) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n')
      out += "\\n";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

namespace {

/// `lowbit help formats`: each format's bits, range, specials and defaults, from the library's
/// own traits (nothing here restates a number).
void print_format_table() {
  std::puts("format       bits  max finite    Inf  NaN  DTYPE_MAX  default --round   MX emax");
  for (const lowbit::format f : lowbit::all_formats) {
    lowbit::visit_format(f, [&]<class T>(std::type_identity<T>) {
      using L = std::numeric_limits<T>;
      int bits = 32;
      float dmax = 0;
      int emax = 0;
      if constexpr (!std::is_same_v<T, float>) {
        bits = lowbit::format_traits<T>::code_bits;
        dmax = lowbit::format_traits<T>::dtype_max;
        emax = lowbit::format_traits<T>::mx_emax;
      }
      const bool mx = lowbit::mx_element<T>;
      double maxv;
      if constexpr (std::is_same_v<T, lowbit::int4>)
        maxv = L::max().value();
      else
        maxv = static_cast<double>(L::max());
      char dm[32] = "-", em[16] = "-";
      if (dmax > 0) std::snprintf(dm, sizeof dm, "%g", double(dmax));
      if (mx) std::snprintf(em, sizeof em, "%d", emax);
      std::printf("%-12s %4d  %-12.6g  %-3s  %-3s  %-9s  %-16s  %s\n",
                  std::string(lowbit::to_string(f)).c_str(), bits, maxv, L::has_infinity ? "yes" : "no",
                  L::has_quiet_NaN ? "yes" : "no", dm, std::is_same_v<T, lowbit::hifloat8> ? "round" : "rint",
                  em);
    });
  }
  std::puts(
      "\nThe integer formats clamp to their range (NaN -> 0). fp4 and fp6 have neither Inf nor NaN and "
      "always\n"
      "saturate. Codes are int8 arrays for int8/int4 and uint8 for the float formats and e8m0; bf16 is\n"
      "uint16 bit patterns. --overflow saturate (default) | propagate; --nan zero (default) | keep.");
}

}  // namespace

int cli::run_help(int argc, char** argv) {
  if (argc != 3) throw usage_error("lowbit help formats | modes | COMMAND");
  const std::string topic = argv[2];
  if (topic == "formats") return print_format_table(), 0;
  if (topic == "modes") return print_mode_table(), 0;
  char help_flag[] = "--help";
  char* sub[] = {argv[0], argv[2], help_flag, nullptr};
  if (topic == "convert") return run_convert(3, sub);
  if (topic == "decode") return run_decode(3, sub);
  if (topic == "quantize") return run_quantize(3, sub);
  if (topic == "dequantize") return run_dequantize(3, sub);
  if (topic == "matmul") return run_matmul(3, sub);
  if (topic == "compare") return run_compare(3, sub);
  if (topic == "demo") return run_demo(3, sub);
  if (topic == "presets") return run_presets(3, sub);
  throw usage_error("no help on '" + topic + "' (formats, modes, or a command)");
}

int cli::run(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  cli::inputs_read().clear();
  if (cmd == "--version" || cmd == "version") {
    const auto& f = lowbit::cpu();
    const auto yes = [](bool b) { return b ? "yes" : "no"; };
    std::printf(
        "lowbit %s\nbackend: %s (chosen at run time; LOWBIT_BACKEND=scalar|avx2|avx512|neon overrides)\n",
        LOWBIT_VERSION_STRING, lowbit::backend_name());
#if defined(LOWBIT_ARM64)
    std::printf("cpu: neon %s, asimddp %s\n", yes(f.neon), yes(f.dotprod));
#else
    std::printf("cpu: avx2 %s, avx_vnni %s, avx512 %s, avx512_bf16 %s\n", yes(f.avx2), yes(f.avx_vnni),
                yes(f.avx512), yes(f.avx512_bf16));
#endif
    return 0;
  }
  try {
    if (cmd == "convert") return cli::run_convert(argc, argv);
    if (cmd == "decode") return cli::run_decode(argc, argv);
    if (cmd == "quantize") return cli::run_quantize(argc, argv);
    if (cmd == "dequantize") return cli::run_dequantize(argc, argv);
    if (cmd == "matmul") return cli::run_matmul(argc, argv);
    if (cmd == "compare") return cli::run_compare(argc, argv);
    if (cmd == "demo") return cli::run_demo(argc, argv);
    if (cmd == "presets") return cli::run_presets(argc, argv);
    if (cmd == "help") {
      if (argc == 2) return std::fputs(usage, stdout), 0;
      return cli::run_help(argc, argv);
    }
    std::fprintf(stderr,
                 "lowbit: unknown command '%s' (convert, decode, quantize, dequantize, matmul, compare, "
                 "demo, presets, help)\n",
                 one_line(cmd).c_str());
    return 2;
  } catch (const cli::usage_error& e) {
    std::fprintf(stderr, "lowbit %s: %s\n", one_line(cmd).c_str(), one_line(e.what()).c_str());
    return 2;
  } catch (const std::exception& e) {  // input_error, npy::error, std::invalid_argument from the library
    std::fprintf(stderr, "lowbit %s: %s\n", one_line(cmd).c_str(), one_line(e.what()).c_str());
    return 1;
  }
}

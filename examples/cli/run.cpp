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
    "  demo        every granularity and mode on a realistic sample, one table\n";

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
    std::fprintf(
        stderr,
        "lowbit: unknown command '%s' (convert, decode, quantize, dequantize, matmul, compare, demo)\n",
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

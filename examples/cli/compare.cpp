// lowbit compare (cli.md): error statistics of ACTUAL against EXPECTED.
#include <cmath>

#include "cli.hpp"

namespace cli {

namespace {
const command_spec compare_spec{
    "compare",
    {"format"},
    {"json"},
    2,
    2,
    "usage: lowbit compare EXPECTED.npy ACTUAL.npy [--format FORMAT] [--json]\n"
    "  count, mismatches, max abs / relative error, norm-relative error ||a - e|| / ||e||,\n"
    "  max error in ULPs of FORMAT, cosine,\n"
    "  SQNR (dB) and the kinds of mismatch. With --format, uint8 arrays are read as codes of\n"
    "  FORMAT and uint16 arrays as bf16 / fp16 bit patterns. Exit status 0 whether or not the\n"
    "  arrays match. Without --format, uint8/uint16 bit patterns next to a float array are an\n"
    "  error (say what they are).\n" +
        formats_help + "          and bf16 fp16 fp32\n"};

std::vector<double> values_of(const lowbit::npy::array& a, std::optional<lowbit::format> f,
                              const std::string& path) {
  using lowbit::npy::dtype;
  std::vector<double> v(a.size());
  const auto cast_all = [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto x = a.values<T>();
    for (std::size_t i = 0; i < x.size(); ++i) v[i] = static_cast<double>(x[i]);
  };
  if (f && (a.type == dtype::u1 || a.type == dtype::u2) && *f != lowbit::format::int8 &&
      *f != lowbit::format::int4 && *f != lowbit::format::fp32) {
    lowbit::visit_format(*f, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (lowbit::is_basic_float<T>::value) {
        using S = typename T::storage;
        if (sizeof(S) != lowbit::npy::itemsize(a.type))
          throw input_error(path + ": " + std::string(lowbit::npy::name(a.type)) +
                            " codes do not match format " + std::string(lowbit::to_string(*f)));
        const auto x = a.values<S>();
        for (std::size_t i = 0; i < x.size(); ++i) {
          if (x[i] > T::mask)
            throw input_error(path + ": code " + std::to_string(x[i]) + " does not fit " +
                              std::string(lowbit::to_string(*f)));
          v[i] = static_cast<double>(T::from_bits(x[i]));
        }
      }
    });
    return v;
  }
  if (f && *f == lowbit::format::int4) {  // int4 values are stored as int8 (cli.md)
    if (a.type != dtype::i1)
      throw input_error(path + ": int4 values must be int8, the file holds " +
                        std::string(lowbit::npy::name(a.type)));
    const auto x = a.values<std::int8_t>();
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (x[i] < -8 || x[i] > 7)
        throw input_error(path + ": value " + std::to_string(x[i]) + " at index " + std::to_string(i) +
                          " is outside int4's range [-8, 7]");
      v[i] = x[i];
    }
    return v;
  }
  switch (a.type) {
    case dtype::f4:
      cast_all(std::type_identity<float>{});
      break;
    case dtype::f8:
      cast_all(std::type_identity<double>{});
      break;
    case dtype::f2:
      for (std::size_t i = 0; i < v.size(); ++i) {
        std::uint16_t b;
        std::memcpy(&b, a.data.data() + 2 * i, 2);
        v[i] = static_cast<double>(lowbit::float16::from_bits(b));
      }
      break;
    case dtype::i1:
      cast_all(std::type_identity<std::int8_t>{});
      break;
    case dtype::u1:
      cast_all(std::type_identity<std::uint8_t>{});
      break;
    case dtype::i2:
      cast_all(std::type_identity<std::int16_t>{});
      break;
    case dtype::u2:
      cast_all(std::type_identity<std::uint16_t>{});
      break;
    case dtype::i4:
      cast_all(std::type_identity<std::int32_t>{});
      break;
    case dtype::u4:
      cast_all(std::type_identity<std::uint32_t>{});
      break;
    case dtype::i8:
      cast_all(std::type_identity<std::int64_t>{});
      break;
    case dtype::u8:
      cast_all(std::type_identity<std::uint64_t>{});
      break;
  }
  return v;
}

std::string num(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}
std::string json_num(double v) {
  return std::isfinite(v) ? num(v) : "null";
}

}  // namespace

int run_compare(int argc, char** argv) {
  const args a = parse_args(compare_spec, argc, argv, 2);
  if (a.help) return std::fputs(compare_spec.usage.c_str(), stdout), 0;
  std::optional<lowbit::format> f;
  if (a.has("format")) f = parse_format_flag("format", a.get("format"));
  const auto e = read_npy(a.pos[0]), x = read_npy(a.pos[1]);
  if (e.shape != x.shape)
    throw input_error("shapes differ: " + a.pos[0] + " is " + shape_str(e.shape) + ", " + a.pos[1] + " is " +
                      shape_str(x.shape));
  if (!f) {  // bit patterns read as integers next to real numbers: almost surely a missing --format
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
  const auto ev = values_of(e, f, a.pos[0]), xv = values_of(x, f, a.pos[1]);
  const auto s = lowbit::compare(ev, xv, f);
  std::string classes;
  for (auto& [k, n] : s.classes)
    classes += (classes.empty() ? "" : ", ") + std::string(a.has("json") ? "\"" + k + "\": " : k + " ") +
               std::to_string(n);
  if (a.has("json")) {
    std::printf(
        "{\"count\": %zu, \"mismatches\": %zu, \"max_abs\": %s, \"max_rel\": %s, \"norm_rel\": %s, "
        "\"max_ulp\": %s, \"cosine\": %s, \"sqnr_db\": %s, \"classes\": {%s}}\n",
        s.count, s.mismatches, json_num(s.max_abs).c_str(), json_num(s.max_rel).c_str(),
        json_num(s.norm_rel).c_str(), s.max_ulp ? json_num(*s.max_ulp).c_str() : "null",
        json_num(s.cosine).c_str(), json_num(s.sqnr_db).c_str(), classes.c_str());
  } else {
    std::printf(
        "count       %zu\nmismatches  %zu\nmax_abs     %s\nmax_rel     %s\nnorm_rel    %s\nmax_ulp     %s\n"
        "cosine      %s\nsqnr_db     %s\nclasses     %s\n",
        s.count, s.mismatches, num(s.max_abs).c_str(), num(s.max_rel).c_str(), num(s.norm_rel).c_str(),
        s.max_ulp ? (num(*s.max_ulp) + " (" + a.get("format") + ")").c_str() : "-", num(s.cosine).c_str(),
        num(s.sqnr_db).c_str(), classes.empty() ? "-" : classes.c_str());
  }
  return 0;
}

}  // namespace cli

// Shared pieces of the `lowbit` command (shared/spec/cli.md): argument parsing, loading and
// writing arrays, and the one-line error convention.
#pragma once

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <unistd.h>

#include <lowbit/lowbit.hpp>

namespace cli {

/// A problem with the command line (exit status 2) or the input (exit status 1); its text is
/// printed as one line on stderr.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct input_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- accepted values and defaults, shared by the --help texts (cli.md's conventions) ---------
inline const std::string formats_help =
    "  FORMAT: int8 int4 fp8_e4m3fn fp8_e5m2 hifloat8 fp6_e2m3fn fp6_e3m2fn fp4_e2m1fn fp4_e1m2fn\n"
    "          (lowbit help formats prints each one's range, specials and defaults)\n";
inline const std::string policy_help =
    "  --round rint|round|floor|ceil|trunc (default rint; hifloat8: round)\n"
    "  --overflow saturate|propagate (default saturate)   --nan zero|keep (default zero)\n";
inline const std::string granularity_help =
    "  G: tensor | token (left) | channel (right) | group:GS | block:B | block:BR,BC | mx\n"
    "     (--operand may be left out for token and channel)\n";

struct command_spec {
  std::string name;
  std::set<std::string> valued;   // --flag VALUE
  std::set<std::string> boolean;  // --flag
  std::size_t min_pos = 0, max_pos = 0;
  std::string usage;
};

struct args {
  std::map<std::string, std::string> opt;
  std::set<std::string> flag;
  std::vector<std::string> pos;
  bool help = false;

  bool has(const std::string& f) const { return opt.count(f) || flag.count(f); }
  std::string get(const std::string& f, std::string def = "") const {
    auto it = opt.find(f);
    return it == opt.end() ? def : it->second;
  }
};

inline args parse_args(const command_spec& spec, int argc, char** argv, int first) {
  args a;
  for (int i = first; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--help" || s == "-h") {
      a.help = true;
      continue;
    }
    if (s.size() > 2 && s.rfind("--", 0) == 0) {
      std::string name = s.substr(2), value;
      const auto eq = name.find('=');
      const bool inline_value = eq != std::string::npos;
      if (inline_value) value = name.substr(eq + 1), name = name.substr(0, eq);
      if (spec.valued.count(name)) {
        if (!inline_value) {
          if (i + 1 >= argc) throw usage_error("--" + name + " needs a value");
          value = argv[++i];
        }
        if (a.opt.count(name)) throw usage_error("--" + name + " given twice");
        a.opt[name] = value;
      } else if (spec.boolean.count(name)) {
        if (inline_value) throw usage_error("--" + name + " takes no value");
        a.flag.insert(name);
      } else {
        throw usage_error("unknown flag --" + name + " (see lowbit " + spec.name + " --help)");
      }
      continue;
    }
    a.pos.push_back(s);
  }
  if (!a.help && (a.pos.size() < spec.min_pos || a.pos.size() > spec.max_pos))
    throw usage_error("expected " +
                      (spec.min_pos == spec.max_pos
                           ? std::to_string(spec.min_pos)
                           : std::to_string(spec.min_pos) + " to " + std::to_string(spec.max_pos)) +
                      " file arguments, got " + std::to_string(a.pos.size()) + " (see lowbit " + spec.name +
                      " --help)");
  return a;
}

inline std::string shape_str(const std::vector<std::size_t>& s) {
  std::string r = "(";
  for (std::size_t i = 0; i < s.size(); ++i)
    r +=
        std::to_string(s[i]) + (i + 1 < s.size() || s.size() == 1 ? "," : "") + (i + 1 < s.size() ? " " : "");
  return r + ")";
}

/// The machine's physical memory in bytes (2^40 if the system does not say).
inline std::size_t memory_limit() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return std::size_t{1} << 40;
  const auto p = static_cast<std::size_t>(pages), b = static_cast<std::size_t>(page);
  return p > SIZE_MAX / b ? SIZE_MAX : p * b;
}

/// The tool holds every array in memory: an array of `count` elements of `elem` bytes that it
/// would have to create is refused up front when it exceeds the machine's physical memory, with
/// the bytes it needs (README "Bad input"), instead of a bad_alloc or minutes of swapping.
inline void check_alloc(std::size_t count, std::size_t elem, const std::string& what) {
  const std::size_t limit = memory_limit();
  if (count <= limit / elem) return;
  const std::string need = count > SIZE_MAX / elem ? std::to_string(count) + " x " + std::to_string(elem)
                                                   : std::to_string(count * elem);
  throw input_error(what + " would need " + need + " bytes, more than this machine's memory (" +
                    std::to_string(limit) + " bytes)");
}

/// rows x cols elements, refused as check_alloc says (and when the product overflows).
inline void check_alloc(std::size_t rows, std::size_t cols, std::size_t elem, const std::string& what) {
  if (rows != 0 && cols > SIZE_MAX / rows) {
    throw input_error(what + " would need " + std::to_string(rows) + " x " + std::to_string(cols) + " x " +
                      std::to_string(elem) + " bytes, more than this machine's memory");
  }
  check_alloc(rows * cols, elem, what);
}

inline lowbit::format parse_format_flag(const std::string& flag, const std::string& v) {
  if (auto f = lowbit::parse_format(v)) return *f;
  throw usage_error("--" + flag + ": unknown format '" + v +
                    "' (int8, int4, fp8_e4m3fn, fp8_e5m2, hifloat8, fp6_e2m3fn, fp6_e3m2fn, "
                    "fp4_e2m1fn, fp4_e1m2fn, e8m0, bf16, fp16, fp32)");
}

inline float parse_float_flag(const std::string& flag, const std::string& v) {
  if (v.empty() || std::isspace(static_cast<unsigned char>(v[0])))
    throw usage_error("--" + flag + ": '" + v + "' is not a number");
  errno = 0;
  char* end = nullptr;
  const float f = std::strtof(v.c_str(), &end);
  if (end != v.c_str() + v.size()) throw usage_error("--" + flag + ": '" + v + "' is not a number");
  if (errno == ERANGE && (f == 0 || std::isinf(f)))  // a subnormal result is representable: kept
    throw usage_error("--" + flag + ": '" + v + "' is outside the float32 range");
  return f;
}

/// Digits only (no sign, no space, no '+'), at most SIZE_MAX.
inline std::size_t parse_size_flag(const std::string& flag, const std::string& v) {
  const bool digits =
      !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) throw usage_error("--" + flag + ": '" + v + "' is not a non-negative integer");
  std::size_t x = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec == std::errc::result_out_of_range || p != v.data() + v.size())
    throw usage_error("--" + flag + ": '" + v + "' is larger than the size type (" +
                      std::to_string(std::numeric_limits<std::size_t>::max()) + ")");
  return x;
}

/// Policy from --round / --overflow / --nan over the format's defaults.
inline lowbit::convert_policy policy_flags(const args& a, lowbit::format f) {
  lowbit::convert_policy p = lowbit::default_policy(f);
  if (a.has("round")) {
    auto r = lowbit::parse_rounding(a.get("round"));
    if (!r)
      throw usage_error("--round: unknown mode '" + a.get("round") + "' (rint, round, floor, ceil, trunc)");
    p.round = *r;
  }
  if (a.has("overflow")) {
    auto o = lowbit::parse_overflow(a.get("overflow"));
    if (!o) throw usage_error("--overflow: unknown policy '" + a.get("overflow") + "' (saturate, propagate)");
    p.on_overflow = *o;
  }
  if (a.has("nan")) {
    auto n = lowbit::parse_nan_policy(a.get("nan"));
    if (!n) throw usage_error("--nan: unknown policy '" + a.get("nan") + "' (zero, keep)");
    p.on_nan = *n;
  }
  return p;
}

/// --operand, or the side the granularity implies: token is per row of the left operand,
/// channel per column of the right one (cli.md's table has no other cell for them).
inline lowbit::operand parse_operand(const args& a, const lowbit::granularity& g) {
  if (!a.has("operand")) {
    if (g.kind == lowbit::granularity_kind::token) return lowbit::operand::left;
    if (g.kind == lowbit::granularity_kind::channel) return lowbit::operand::right;
    throw usage_error("--operand left|right is required for granularity " + a.get("granularity"));
  }
  const auto s = a.get("operand");
  if (s == "left") return lowbit::operand::left;
  if (s == "right") return lowbit::operand::right;
  throw usage_error("--operand: '" + s + "' is neither left nor right");
}

inline lowbit::granularity parse_gran(const args& a) {
  if (!a.has("granularity")) throw usage_error("--granularity is required");
  auto g = lowbit::parse_granularity(a.get("granularity"));
  if (!g)
    throw usage_error("--granularity: '" + a.get("granularity") +
                      "' is not one of tensor, channel, token, group:GS, block:B, block:BR,BC, mx");
  return *g;
}

/// Granularity and operand that cannot go together are usage errors (exit status 2), found
/// before any file is read: a group or block of 0, channel on the left, token on the right.
inline void check_gran_side(const lowbit::granularity& g, lowbit::operand side) {
  using k = lowbit::granularity_kind;
  if (g.kind == k::group && g.group_size == 0)
    throw usage_error("--granularity: the group size must be at least 1");
  if (g.kind == k::block && (g.block_rows == 0 || g.block_cols == 0))
    throw usage_error("--granularity: the block sizes must be at least 1");
  if (g.kind == k::channel && side == lowbit::operand::left)
    throw usage_error("--granularity channel applies to --operand right (use token for the left operand)");
  if (g.kind == k::token && side == lowbit::operand::right)
    throw usage_error("--granularity token applies to --operand left (use channel for the right operand)");
}

/// Progress of a long step on stderr, only when stderr is a terminal (never in a pipe or a
/// file, so scripts see one line on error and nothing else): after one second, "lowbit: WHAT
/// ... Ns" is rewritten in place every half second, and erased when the step ends.
class progress {
 public:
  explicit progress(std::string what) : what_(std::move(what)) {
    if (::isatty(STDERR_FILENO) != 1) return;
    thread_ = std::thread([this] {
      const auto start = std::chrono::steady_clock::now();
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, std::chrono::seconds(1), [this] { return done_; })) return;
      do {
        const auto s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr, "\rlowbit: %s ... %.0fs", what_.c_str(), s);
        std::fflush(stderr);
        shown_ = true;
      } while (!cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return done_; }));
    });
  }
  ~progress() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
    if (shown_) std::fputs("\r\033[K", stderr);  // erase the line
  }
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;

 private:
  std::string what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false, shown_ = false;
  std::thread thread_;
};

/// The files this command has read: an output may not replace one of them (npy::write_all).
inline std::vector<std::filesystem::path>& inputs_read() {
  static thread_local std::vector<std::filesystem::path> v;
  return v;
}

inline lowbit::npy::array read_npy(const std::string& path) {
  inputs_read().push_back(path);
  try {
    return lowbit::npy::read(path);
  } catch (const lowbit::npy::error& e) {
    throw input_error(e.what());
  }
}

/// A high-precision array as floats: float32, float16, or uint16 bf16 bits with --bf16.
struct float_array {
  std::vector<std::size_t> shape;
  std::vector<float> v;
};

inline float_array load_highp(const std::string& path, bool bf16) {
  const auto a = read_npy(path);
  float_array out{a.shape, {}};
  using lowbit::npy::dtype;
  if (bf16) {
    if (a.type != dtype::u2)
      throw input_error(path + ": --bf16 expects uint16 bit patterns, the file holds " +
                        std::string(lowbit::npy::name(a.type)));
    for (auto b : a.values<std::uint16_t>())
      out.v.push_back(static_cast<float>(lowbit::bfloat16::from_bits(b)));
  } else if (a.type == dtype::f4) {
    out.v = a.values<float>();
  } else if (a.type == dtype::f2) {
    out.v.resize(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      std::uint16_t b;
      std::memcpy(&b, a.data.data() + 2 * i, 2);
      out.v[i] = static_cast<float>(lowbit::float16::from_bits(b));
    }
  } else if (a.type == dtype::u2) {
    throw input_error(path + ": uint16 input: add --bf16 if these are bfloat16 bit patterns");
  } else {
    throw input_error(path + ": dtype " + std::string(lowbit::npy::name(a.type)) +
                      " is not a high-precision input (float32, float16, or uint16 with --bf16)");
  }
  return out;
}

/// A float32 array (scales, offsets, smooth vectors, bias).
inline float_array load_f32(const std::string& path, const std::string& what) {
  const auto a = read_npy(path);
  if (a.type != lowbit::npy::dtype::f4)
    throw input_error(path + ": " + what + " must be float32, the file holds " +
                      std::string(lowbit::npy::name(a.type)));
  return {a.shape, a.values<float>()};
}

inline lowbit::matrix_shape as_matrix(const std::vector<std::size_t>& s, const std::string& path) {
  if (s.size() != 2) throw input_error(path + ": expected a 2-D matrix, got shape " + shape_str(s));
  return {s[0], s[1]};
}

/// Accepts `got` for an expected shape: equal, or (for a vector) any shape with the same
/// number of elements whose other dimensions are 1 (cli.md: a 1-D array is accepted where a
/// vector is expected, and a vector where a (1, n) row is).
inline void check_shape(const std::vector<std::size_t>& got, const std::vector<std::size_t>& want,
                        const std::string& path, const std::string& what) {
  if (got == want) return;
  std::size_t ng = 1, nw = 1, big_g = 0, big_w = 0;
  for (auto d : got) ng *= d, big_g += d != 1;
  for (auto d : want) nw *= d, big_w += d != 1;
  if (ng == nw && big_g <= 1 && big_w <= 1) return;
  throw input_error(path + ": " + what + " has shape " + shape_str(got) + ", expected " + shape_str(want));
}

template <class T>
constexpr bool is_4bit() {
  if constexpr (std::is_same_v<T, float>)
    return false;
  else
    return lowbit::format_traits<T>::code_bits == 4;
}

/// The bits of one code as stored in files: int8/int4 as signed values, floats as codes.
template <class T>
std::uint8_t code_byte(T v) {
  if constexpr (std::is_same_v<T, std::int8_t>)
    return static_cast<std::uint8_t>(v);
  else
    return static_cast<std::uint8_t>(v.bits());
}

/// Codes -> .npy: int8 arrays for int8/int4 (values), uint8 for float codes; with packed,
/// 4-bit codes two per byte along the last axis (uint8). `source` names the input whose shape
/// this is, for the odd-dimension error.
template <class T>
lowbit::npy::array codes_array(std::vector<std::size_t> shape, std::span<const T> codes, bool packed,
                               const std::string& source) {
  if (packed) {
    if (!is_4bit<T>())
      throw usage_error("--packed applies to 4-bit formats only (int4, fp4_e2m1fn, fp4_e1m2fn)");
    if (shape.empty() || shape.back() % 2 != 0)
      throw input_error(source + ": --packed needs an even last dimension, shape is " + shape_str(shape));
    std::vector<std::uint8_t> c(codes.size()), p(codes.size() / 2);
    for (std::size_t i = 0; i < codes.size(); ++i) c[i] = code_byte(codes[i]);
    lowbit::pack_nibbles(c, p);
    shape.back() /= 2;
    return lowbit::npy::array::from<std::uint8_t>(shape, p);
  }
  if constexpr (std::is_same_v<T, std::int8_t> || std::is_same_v<T, lowbit::int4>) {
    std::vector<std::int8_t> v(codes.size());
    for (std::size_t i = 0; i < codes.size(); ++i)
      v[i] = static_cast<std::int8_t>(static_cast<int>(codes[i]));
    return lowbit::npy::array::from<std::int8_t>(shape, v);
  } else if constexpr (std::is_same_v<typename T::storage, std::uint16_t>) {
    std::vector<std::uint16_t> v(codes.size());
    for (std::size_t i = 0; i < codes.size(); ++i) v[i] = codes[i].bits();
    auto a = lowbit::npy::array::from<std::uint16_t>(shape, v);
    if constexpr (std::is_same_v<T, lowbit::float16>) a.type = lowbit::npy::dtype::f2;
    return a;
  } else {
    std::vector<std::uint8_t> v(codes.size());
    for (std::size_t i = 0; i < codes.size(); ++i) v[i] = codes[i].bits();
    return lowbit::npy::array::from<std::uint8_t>(shape, v);
  }
}

/// .npy -> codes of T (inverse of codes_array). Values out of the format's range are an error.
template <class T>
std::vector<T> load_codes(const std::string& path, bool packed, std::vector<std::size_t>& shape) {
  auto a = read_npy(path);
  shape = a.shape;
  using lowbit::npy::dtype;
  const std::string fmt(lowbit::to_string(lowbit::format_traits<T>::id));
  std::vector<T> out;
  if (packed) {
    if (!is_4bit<T>())
      throw usage_error("--packed applies to 4-bit formats only (int4, fp4_e2m1fn, fp4_e1m2fn)");
    if (a.type != dtype::u1)
      throw input_error(path + ": packed " + fmt + " codes must be uint8, the file holds " +
                        std::string(lowbit::npy::name(a.type)));
    if (shape.empty()) throw input_error(path + ": packed codes need at least one dimension");
    const auto p = a.values<std::uint8_t>();
    std::vector<std::uint8_t> c(2 * p.size());
    lowbit::unpack_nibbles(p, c);
    if (shape.back() > SIZE_MAX / 2)
      throw input_error(path + ": shape " + shape_str(shape) + " is too large to unpack");
    shape.back() *= 2;
    if constexpr (is_4bit<T>())
      for (auto b : c) out.push_back(T::from_bits(b));
    return out;
  }
  if constexpr (std::is_same_v<T, std::int8_t> || std::is_same_v<T, lowbit::int4>) {
    if (a.type != dtype::i1)
      throw input_error(path + ": " + fmt + " values must be int8, the file holds " +
                        std::string(lowbit::npy::name(a.type)));
    for (auto v : a.values<std::int8_t>()) {
      if constexpr (std::is_same_v<T, lowbit::int4>) {
        if (v < -8 || v > 7)
          throw input_error(path + ": value " + std::to_string(v) + " is outside int4's range [-8, 7]");
        out.push_back(lowbit::int4::from_int(v));
      } else {
        out.push_back(v);
      }
    }
  } else {
    if (a.type != dtype::u1)
      throw input_error(path + ": " + fmt + " codes must be uint8, the file holds " +
                        std::string(lowbit::npy::name(a.type)));
    for (auto b : a.values<std::uint8_t>()) {
      if (b > T::mask)
        throw input_error(path + ": code " + std::to_string(b) + " does not fit " + fmt + " (" +
                          std::to_string(T::codec::bits) + " bits)");
      out.push_back(T::from_bits(b));
    }
  }
  return out;
}

/// Writes every output all-or-nothing.
inline void write_outputs(const std::vector<std::pair<std::string, lowbit::npy::array>>& outs) {
  std::vector<std::pair<std::filesystem::path, const lowbit::npy::array*>> files;
  for (auto& [p, a] : outs) files.push_back({p, &a});
  try {
    lowbit::npy::write_all(files, inputs_read());
  } catch (const lowbit::npy::error& e) {
    throw input_error(e.what());
  }
}

inline lowbit::npy::array f32_array(std::vector<std::size_t> shape, std::span<const float> v) {
  return lowbit::npy::array::from<float>(std::move(shape), v);
}

/// The values of an array as doubles: uint8/uint16 codes decoded as FORMAT when given (int4
/// from int8), otherwise each number as it is (cli.md `compare`).
inline std::vector<double> values_of(const lowbit::npy::array& a, std::optional<lowbit::format> f,
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

inline std::string num(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}
inline std::string json_num(double v) {
  return std::isfinite(v) ? num(v) : "null";
}

/// Runs `lowbit argv[1] ...`: the exit status; one line on stderr on error.
int run(int argc, char** argv);

int run_convert(int argc, char** argv);
int run_decode(int argc, char** argv);
int run_quantize(int argc, char** argv);
int run_dequantize(int argc, char** argv);
int run_matmul(int argc, char** argv);
int run_compare(int argc, char** argv);
int run_demo(int argc, char** argv);
int run_help(int argc, char** argv);
int run_presets(int argc, char** argv);
int run_match_presets(const args& a);  // presets.cpp: compare --presets
/// explain.cpp: compare --explain's ranked causes, as text or as the JSON key "causes".
std::string explain_mismatches(const args& a, const lowbit::npy::array& e, const lowbit::npy::array& x,
                               std::optional<lowbit::format> f, bool json);
int run_quantize_preset(const args& a);  // presets.cpp: quantize --preset
int run_dequantize_preset(const args& a, const std::string& q_path, const std::string& s_path,
                          const std::string& out_path);
void print_mode_table();  // matmul.cpp: from its table of mode rules

}  // namespace cli

// NumPy .npy reader and writer (format versions 1.0, 2.0 and 3.0; little-endian, C order).
// Used by the command-line tool and by tests; standard library only.
//
// Reading is strict: every malformed file is rejected with an npy::error whose message names
// the file and the problem (bad magic, unknown version, header too large or unterminated,
// unparsable header, big-endian or unsupported dtype, Fortran order, shape overflow, data
// shorter or longer than the shape says). Writing is atomic: the bytes go to a new temporary
// file in the same directory (mkstemp), which is renamed over the destination only when every
// output is complete, so outputs appear whole or not at all (write_all). POSIX.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../version.hpp"

namespace lowbit::inline v0::npy {

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class dtype : std::uint8_t { f4, f2, f8, u1, i1, u2, i2, u4, i4, u8, i8 };

constexpr std::size_t itemsize(dtype t) noexcept {
  switch (t) {
    case dtype::u1:
    case dtype::i1:
      return 1;
    case dtype::f2:
    case dtype::u2:
    case dtype::i2:
      return 2;
    case dtype::f4:
    case dtype::u4:
    case dtype::i4:
      return 4;
    case dtype::f8:
    case dtype::u8:
    case dtype::i8:
      return 8;
  }
  return 0;
}

/// NumPy's name of the dtype (float32, uint16, ...).
constexpr std::string_view name(dtype t) noexcept {
  constexpr std::string_view n[] = {"float32", "float16", "float64", "uint8",  "int8", "uint16",
                                    "int16",   "uint32",  "int32",   "uint64", "int64"};
  return n[static_cast<int>(t)];
}

template <class T>
constexpr dtype dtype_of() noexcept {
  if constexpr (std::is_same_v<T, float>)
    return dtype::f4;
  else if constexpr (std::is_same_v<T, double>)
    return dtype::f8;
  else if constexpr (std::is_same_v<T, std::uint8_t>)
    return dtype::u1;
  else if constexpr (std::is_same_v<T, std::int8_t>)
    return dtype::i1;
  else if constexpr (std::is_same_v<T, std::uint16_t>)
    return dtype::u2;
  else if constexpr (std::is_same_v<T, std::int16_t>)
    return dtype::i2;
  else if constexpr (std::is_same_v<T, std::uint32_t>)
    return dtype::u4;
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return dtype::i4;
  else if constexpr (std::is_same_v<T, std::uint64_t>)
    return dtype::u8;
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return dtype::i8;
  else
    static_assert(sizeof(T) == 0, "no .npy dtype for this type");
}

/// An n-dimensional array as stored in a .npy file (raw little-endian bytes).
struct array {
  dtype type = dtype::f4;
  std::vector<std::size_t> shape;
  std::vector<std::byte> data;

  std::size_t size() const noexcept {
    std::size_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  /// Typed copy of the elements; T must match the dtype.
  template <class T>
  std::vector<T> values() const {
    if (dtype_of<T>() != type) throw error("npy: array holds " + std::string(name(type)));
    std::size_t n = 1;
    for (auto d : shape)
      if (__builtin_mul_overflow(n, d, &n))
        throw error("npy: the shape's element count does not fit the size type");
    if (n > data.size() / sizeof(T) || data.size() != n * sizeof(T))
      throw error("npy: the shape holds " + std::to_string(n) + " elements, the data " +
                  std::to_string(data.size() / sizeof(T)));
    std::vector<T> v(n);
    if (!v.empty()) std::memcpy(v.data(), data.data(), v.size() * sizeof(T));
    return v;
  }
  template <class T>
  static array from(std::vector<std::size_t> shape, std::span<const T> values) {
    array a{dtype_of<T>(), std::move(shape), {}};
    if (a.size() != values.size()) throw error("npy: shape does not match the number of values");
    a.data.resize(values.size_bytes());
    if (!values.empty()) std::memcpy(a.data.data(), values.data(), values.size_bytes());
    return a;
  }
};

namespace detail {

inline constexpr std::size_t max_header_len = 65536;  // numpy's own default limit is 10000

struct header_parser {
  std::string_view s;
  std::size_t i = 0;
  std::string_view what;  // file name for messages

  [[noreturn]] void fail(const std::string& msg) const {
    throw error(std::string(what) + ": malformed .npy header: " + msg);
  }
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool eat(char c) {
    ws();
    if (i < s.size() && s[i] == c) return ++i, true;
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  std::string_view str() {
    ws();
    if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) fail("expected a string");
    const char q = s[i++];
    const std::size_t b = i;
    while (i < s.size() && s[i] != q) ++i;
    if (i >= s.size()) fail("unterminated string");
    return s.substr(b, i++ - b);
  }
  std::size_t integer() {
    ws();
    std::size_t b = i, v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      const auto d = static_cast<std::size_t>(s[i++] - '0');
      if (v > (SIZE_MAX - d) / 10) fail("dimension too large");
      v = v * 10 + d;
    }
    if (i < s.size() && (s[i] == 'L' || s[i] == 'l')) ++i;  // Python 2 long suffix
    if (b == i) fail("expected a non-negative integer in the shape");
    return v;
  }
};

inline dtype parse_descr(std::string_view d, std::string_view what) {
  if (d.size() < 3) throw error(std::string(what) + ": unsupported dtype '" + std::string(d) + "'");
  const char order = d[0];
  const std::string_view code = d.substr(1);
  if (order == '>' && code != "u1" && code != "i1")
    throw error(std::string(what) + ": big-endian dtype '" + std::string(d) +
                "' is not supported (save with '<')");
  if (order != '<' && order != '|' && order != '=' && order != '>')
    throw error(std::string(what) + ": unsupported dtype '" + std::string(d) + "'");
  constexpr std::pair<std::string_view, dtype> table[] = {
      {"f4", dtype::f4}, {"f2", dtype::f2}, {"f8", dtype::f8}, {"u1", dtype::u1},
      {"i1", dtype::i1}, {"u2", dtype::u2}, {"i2", dtype::i2}, {"u4", dtype::u4},
      {"i4", dtype::i4}, {"u8", dtype::u8}, {"i8", dtype::i8}};
  for (auto [c, t] : table)
    if (c == code) return t;
  if (code == "b1")  // not codes: True/False would be read as code 0/1 of some format
    throw error(std::string(what) + ": bool arrays are not supported (save the codes as uint8)");
  throw error(std::string(what) + ": unsupported dtype '" + std::string(d) + "'");
}

}  // namespace detail

/// Parses the bytes of a .npy file. `what` names the source in error messages.
inline array parse(std::span<const std::byte> bytes, std::string_view what = "<memory>") {
  const std::string w(what);
  const auto u8 = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  static constexpr unsigned char magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.size() < 10 || std::memcmp(bytes.data(), magic, 6) != 0)
    throw error(w + ": not a .npy file (bad magic)");
  const unsigned major = u8(6), minor = u8(7);
  if (major < 1 || major > 3 || minor != 0)
    throw error(w + ": unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor));
  std::size_t hlen = 0, hstart = 0;
  if (major == 1) {
    hlen = u8(8) | (std::size_t{u8(9)} << 8);
    hstart = 10;
  } else {
    if (bytes.size() < 12) throw error(w + ": truncated .npy header");
    hlen = u8(8) | (std::size_t{u8(9)} << 8) | (std::size_t{u8(10)} << 16) | (std::size_t{u8(11)} << 24);
    hstart = 12;
  }
  if (hlen > detail::max_header_len)
    throw error(w + ": .npy header of " + std::to_string(hlen) + " bytes is too large (limit " +
                std::to_string(detail::max_header_len) + ")");
  if (bytes.size() < hstart + hlen) throw error(w + ": truncated .npy header");
  const std::string_view h(reinterpret_cast<const char*>(bytes.data()) + hstart, hlen);
  if (h.empty() || h.back() != '\n') throw error(w + ": .npy header does not end with a newline");

  detail::header_parser p{h, 0, w};
  array a;
  bool have_descr = false, have_order = false, have_shape = false;
  p.expect('{');
  while (!p.eat('}')) {
    const std::string_view key = p.str();
    p.expect(':');
    if ((key == "descr" && have_descr) || (key == "fortran_order" && have_order) ||
        (key == "shape" && have_shape))
      p.fail("duplicated key '" + std::string(key) + "'");
    if (key == "descr") {
      a.type = detail::parse_descr(p.str(), w);
      have_descr = true;
    } else if (key == "fortran_order") {
      p.ws();
      if (h.substr(p.i, 4) == "True") {
        throw error(w + ": Fortran-order arrays are not supported (save a C-order array)");
      } else if (h.substr(p.i, 5) == "False") {
        p.i += 5;
      } else {
        p.fail("fortran_order must be True or False");
      }
      have_order = true;
    } else if (key == "shape") {
      p.expect('(');
      while (!p.eat(')')) {
        a.shape.push_back(p.integer());
        if (!p.eat(',')) {
          p.expect(')');
          break;
        }
      }
      have_shape = true;
    } else {
      p.fail("unknown key '" + std::string(key) + "'");
    }
    if (!p.eat(',')) {
      p.expect('}');
      break;
    }
  }
  if (!have_descr || !have_order || !have_shape) p.fail("missing one of 'descr', 'fortran_order', 'shape'");
  std::size_t count = 1;
  for (auto d : a.shape) {
    if (d != 0 && count > SIZE_MAX / d) throw error(w + ": shape is too large");
    count *= d;
  }
  const std::size_t isz = itemsize(a.type);
  if (count > SIZE_MAX / isz) throw error(w + ": shape is too large");
  const std::size_t need = count * isz, have = bytes.size() - hstart - hlen;
  if (have < need)
    throw error(w + ": truncated data: the header's shape needs " + std::to_string(need) +
                " bytes, the file has " + std::to_string(have));
  if (have > need)
    throw error(w + ": " + std::to_string(have - need) +
                " bytes of data beyond what the header's shape describes");
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(hstart + hlen), bytes.end());
  return a;
}

/// Reads a .npy file (throws npy::error naming the file on any problem).
inline array read(const std::filesystem::path& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec && st.type() != std::filesystem::file_type::not_found)  // a symlink loop, no permission, ...
    throw error(path.string() + ": " + ec.message());
  if (!std::filesystem::is_regular_file(st))  // a directory "opens" and reports a huge size
    throw error(path.string() + (std::filesystem::exists(st) ? ": not a regular file" : ": no such file"));
  std::ifstream f(path, std::ios::binary);
  if (!f) throw error(path.string() + ": cannot open for reading");
  std::vector<std::byte> bytes;
  f.seekg(0, std::ios::end);
  const auto end = f.tellg();
  if (end < 0) throw error(path.string() + ": cannot read");
  bytes.resize(static_cast<std::size_t>(end));
  f.seekg(0);
  if (!bytes.empty() && !f.read(reinterpret_cast<char*>(bytes.data()), end))
    throw error(path.string() + ": read error");
  return parse(bytes, path.string());
}

/// The bytes of a version 1.0 .npy file (2.0 if the header needs more than 65535 bytes).
inline std::vector<std::byte> serialize(const array& a) {
  constexpr std::string_view descr[] = {"<f4", "<f2", "<f8", "|u1", "|i1", "<u2",
                                        "<i2", "<u4", "<i4", "<u8", "<i8"};
  std::string h =
      "{'descr': '" + std::string(descr[static_cast<int>(a.type)]) + "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < a.shape.size(); ++i)
    h += std::to_string(a.shape[i]) + (a.shape.size() == 1 || i + 1 < a.shape.size() ? "," : "") +
         (i + 1 < a.shape.size() ? " " : "");
  h += "), }";
  const bool v2 = h.size() + 12 + 1 > 65535;
  const std::size_t pre = v2 ? 12 : 10;
  const std::size_t total = (pre + h.size() + 1 + 63) / 64 * 64;
  h.append(total - pre - h.size() - 1, ' ');
  h += '\n';
  std::vector<std::byte> out(pre + h.size() + a.data.size());
  static constexpr unsigned char magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  std::memcpy(out.data(), magic, 6);
  out[6] = std::byte{static_cast<unsigned char>(v2 ? 2 : 1)};
  out[7] = std::byte{0};
  for (std::size_t i = 0; i < pre - 8; ++i)
    out[8 + i] = std::byte{static_cast<unsigned char>((h.size() >> (8 * i)) & 0xff)};
  std::memcpy(out.data() + pre, h.data(), h.size());
  if (!a.data.empty()) std::memcpy(out.data() + pre + h.size(), a.data.data(), a.data.size());
  return out;
}

namespace detail {

/// Identity of an existing file (device, inode), or nullopt when the path does not exist.
inline std::optional<std::pair<std::uint64_t, std::uint64_t>> file_id(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return std::nullopt;
  return std::pair<std::uint64_t, std::uint64_t>{static_cast<std::uint64_t>(st.st_dev),
                                                 static_cast<std::uint64_t>(st.st_ino)};
}

/// The name `path` resolves to, for comparing outputs and inputs: weakly_canonical, or the
/// absolute lexical form where resolving fails (a symbolic link loop, a directory without
/// permission), so that no std::filesystem_error escapes write_all.
inline std::filesystem::path canonical_name(const std::filesystem::path& path) {
  std::error_code ec;
  auto c = std::filesystem::weakly_canonical(path, ec);
  if (!ec) return c;
  c = std::filesystem::absolute(path, ec);
  return (ec ? path : c).lexically_normal();
}

/// Creates a new temporary file next to `path` (mkstemp: an unpredictable name, created
/// exclusively, never through a symbolic link) holding `bytes`; returns its name.
inline std::filesystem::path write_temporary(const std::filesystem::path& path,
                                             std::span<const std::byte> bytes) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string base(".");  // appended, not "." + string: GCC 12 -Wrestrict false positive (PR 105329)
  base.append(path.filename().string()).append(".lowbit-XXXXXX");
  std::string name = (dir / base).string();
  const int fd = ::mkstemp(name.data());
  if (fd < 0) throw error(path.string() + ": cannot create a temporary file (" + std::strerror(errno) + ")");
  const mode_t mask = ::umask(0);  // the permissions a newly created file would get
  ::umask(mask);
  bool ok = ::fchmod(fd, 0666 & ~mask) == 0;
  for (std::size_t off = 0; ok && off < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) off += static_cast<std::size_t>(n);
  }
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(name.c_str());
    throw error(path.string() + ": cannot write (" + std::strerror(errno) + ")");
  }
  return name;
}

}  // namespace detail

namespace detail {

/// The renames of write_all: each temporary onto its output, in order. When one fails, the
/// outputs already renamed get their old contents back (from the hard links in `backups`) or are
/// removed if they did not exist, every temporary is removed, and npy::error names the output.
/// `rename` is ::rename (a test passes one that fails to exercise the rollback).
template <class Files, class Rename>
void commit(const Files& files, std::vector<std::filesystem::path>& tmps,
            std::vector<std::filesystem::path>& backups, const std::vector<bool>& existed, Rename&& rename) {
  for (std::size_t i = 0; i < std::size(files); ++i) {
    if (rename(tmps[i].c_str(), files[i].first.c_str()) == 0) {
      tmps[i].clear();
      continue;
    }
    const std::string why = std::strerror(errno);
    for (std::size_t j = 0; j < i; ++j) {  // roll back what was renamed
      if (!backups[j].empty() && ::rename(backups[j].c_str(), files[j].first.c_str()) == 0)
        backups[j].clear();
      else if (!existed[j])
        ::unlink(files[j].first.c_str());
    }
    for (auto& t : tmps)
      if (!t.empty()) ::unlink(t.c_str());
    tmps.clear();
    for (auto& b : backups)
      if (!b.empty()) ::unlink(b.c_str());
    backups.assign(backups.size(), {});
    throw error(files[i].first.string() + ": cannot write (" + why + ")");
  }
  tmps.clear();
}

}  // namespace detail

/// Writes several files all-or-nothing as far as the file system allows (README "Bad input"):
///  * refused up front, before anything is written: two outputs naming the same file, an output
///    naming one of `inputs` (the files the results were computed from), an existing output that
///    is not a regular file (directory, FIFO, device, socket; /dev/stdout included);
///  * each file goes to a new temporary file next to it (mkstemp: unpredictable, exclusive, never
///    through a symbolic link), and the renames happen only after every temporary is complete;
///  * when a rename fails, the outputs already renamed are rolled back: their previous contents
///    are restored from hard links taken before the first rename (or they are removed when they
///    did not exist), and the temporaries are deleted.
/// Concurrent writers of the same output each rename a complete file: the last one wins.
/// (write_all_bytes is the same for files of any bytes: the tool's SVG pictures use it.)
inline void write_all_bytes(std::span<const std::pair<std::filesystem::path, std::vector<std::byte>>> files,
                            std::span<const std::filesystem::path> inputs = {}) {
  using id = std::pair<std::uint64_t, std::uint64_t>;
  std::vector<std::optional<id>> ids;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& path = files[i].first;
    const auto canon = detail::canonical_name(path);
    for (std::size_t j = 0; j < i; ++j)
      if (detail::canonical_name(files[j].first) == canon)
        throw error(path.string() + ": given for two outputs");
    const auto fid = detail::file_id(path);
    for (const auto& in : inputs)
      if (detail::canonical_name(in) == canon || (fid && detail::file_id(in) == fid))
        throw error(path.string() + ": the output would replace the input " + in.string());
    for (std::size_t j = 0; fid && j < i; ++j)
      if (ids[j] == fid)
        throw error(path.string() + ": given for two outputs (" + files[j].first.string() + ")");
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
      throw error(path.string() + ": exists and is not a regular file");
    ids.push_back(fid);
  }
  std::vector<std::filesystem::path> tmps, backups(files.size());
  std::vector<bool> existed(files.size(), false);
  const auto cleanup = [&] {
    for (auto& t : tmps) ::unlink(t.c_str());
    for (auto& b : backups)
      if (!b.empty()) ::unlink(b.c_str());
  };
  try {
    for (auto& [path, bytes] : files) tmps.push_back(detail::write_temporary(path, bytes));
  } catch (...) {
    cleanup();
    throw;
  }
  for (std::size_t i = 0; i < files.size(); ++i) {  // hard links to the old contents, for a rollback
    existed[i] = ids[i].has_value();
    if (!existed[i]) continue;
    for (int attempt = 0; attempt < 16 && backups[i].empty(); ++attempt) {
      std::string name = tmps[i].string() + ".old" + std::to_string(attempt);
      if (::link(files[i].first.c_str(), name.c_str()) == 0) backups[i] = name;
    }
  }
  detail::commit(files, tmps, backups, existed,
                 [](const char* from, const char* to) { return ::rename(from, to); });
  cleanup();  // the backups
}

/// The arrays serialized as .npy and written by write_all_bytes (the rules above).
inline void write_all(std::span<const std::pair<std::filesystem::path, const array*>> files,
                      std::span<const std::filesystem::path> inputs = {}) {
  std::vector<std::pair<std::filesystem::path, std::vector<std::byte>>> bytes;
  for (auto& [path, arr] : files) bytes.emplace_back(path, serialize(*arr));
  write_all_bytes(bytes, inputs);
}

/// Writes one .npy file atomically (see write_all).
inline void write(const std::filesystem::path& path, const array& a) {
  const std::pair<std::filesystem::path, const array*> one[] = {{path, &a}};
  write_all(one);
}

}  // namespace lowbit::inline v0::npy

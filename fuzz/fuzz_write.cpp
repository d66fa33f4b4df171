// Fuzz the output paths of npy::write_all (README "Bad input", class "writes"): the input picks
// up to four outputs and two inputs from hostile names in a private directory (the same file
// spelled twice, a hard link to an input, symbolic links to a file, nowhere or themselves, a
// directory, a FIFO, a missing directory). The oracle, checked after every call:
//   success: each output reads back as the array written to it, every input is unchanged;
//   failure: npy::error, and the directory holds exactly what it held before, byte for byte;
//   always: no temporary or backup file is left.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <lowbit/io/npy.hpp>

namespace fs = std::filesystem;

namespace {

const char* const names[] = {"a.npy",       "b.npy",         "./a.npy",  "sub/../a.npy", "in.npy",
                             "hard_in.npy", "link_a",        "dangling", "loop",         "dir",
                             "fifo",        "missing/x.npy", "c.npy",    "sub/d.npy"};
constexpr std::size_t n_names = sizeof(names) / sizeof(names[0]);

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

/// Every entry of the directory tree: path -> kind and contents (regular files) or target (links).
std::map<std::string, std::string> snapshot() {
  std::map<std::string, std::string> s;
  for (auto it = fs::recursive_directory_iterator("."); it != fs::recursive_directory_iterator(); ++it) {
    const auto st = it->symlink_status();
    const std::string key = it->path().lexically_normal().string();
    if (fs::is_symlink(st))
      s[key] = "link:" + fs::read_symlink(it->path()).string();
    else if (fs::is_regular_file(st))
      s[key] = "file:" + slurp(it->path());
    else
      s[key] = fs::is_directory(st) ? "dir" : "other";
  }
  return s;
}

void reset() {
  for (const auto& e : fs::directory_iterator(".")) fs::remove_all(e.path());
  using lowbit::npy::array;
  lowbit::npy::write("a.npy", array::from<float>({1}, std::vector<float>{1}));
  lowbit::npy::write("b.npy", array::from<float>({1}, std::vector<float>{2}));
  lowbit::npy::write("in.npy", array::from<float>({1}, std::vector<float>{3}));
  if (::link("in.npy", "hard_in.npy") != 0 || ::symlink("a.npy", "link_a") != 0 ||
      ::symlink("nowhere.npy", "dangling") != 0 || ::symlink("loop", "loop") != 0 ||
      ::mkdir("dir", 0700) != 0 || ::mkdir("sub", 0700) != 0 || ::mkfifo("fifo", 0600) != 0)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static bool ready = false;
  if (!ready) {
    char tmpl[] = "/tmp/lowbit_fuzz_write_XXXXXX";
    if (!mkdtemp(tmpl) || chdir(tmpl) != 0) std::abort();
    ready = true;
  }
  if (size < 2) return 0;
  reset();
  const std::size_t n_out = 1 + data[0] % 4, n_in = data[1] % 3;
  if (size < 2 + n_out + n_in) return 0;
  std::vector<lowbit::npy::array> arrays;
  std::vector<std::pair<fs::path, const lowbit::npy::array*>> outs;
  std::vector<fs::path> ins;
  arrays.reserve(n_out);
  for (std::size_t i = 0; i < n_out; ++i)
    arrays.push_back(lowbit::npy::array::from<float>({2}, std::vector<float>{10.0f + float(i), 20.0f}));
  for (std::size_t i = 0; i < n_out; ++i) outs.emplace_back(names[data[2 + i] % n_names], &arrays[i]);
  for (std::size_t i = 0; i < n_in; ++i) ins.emplace_back(names[data[2 + n_out + i] % n_names]);

  const auto before = snapshot();
  bool ok = true;
  try {
    lowbit::npy::write_all(outs, ins);
  } catch (const lowbit::npy::error&) {
    ok = false;
  }
  const auto after = snapshot();
  for (const auto& [path, what] : after)
    if (path.find(".lowbit-") != std::string::npos) std::abort();  // a temporary or backup left
  if (!ok) {
    if (after != before) std::abort();  // a failed call changed something
    return 0;
  }
  for (const auto& [path, arr] : outs)
    if (lowbit::npy::read(path).data != arr->data) std::abort();  // an output lost to another
  for (const auto& in : ins) {
    const auto it = before.find(fs::path(in).lexically_normal().string());
    const auto now = after.find(fs::path(in).lexically_normal().string());
    if (it != before.end() && it->second.rfind("file:", 0) == 0 &&
        (now == after.end() || now->second != it->second))
      std::abort();  // an input was replaced
  }
  return 0;
}

// Fuzz the command line in-process: the input is split at NUL bytes into arguments. It runs in
// a private temporary directory that holds a few valid .npy files, and '/' is removed from
// arguments so that nothing is written outside it. The demo is skipped (slow by design). The
// test runs it with -close_fd_mask=3 so the tool's own stdout/stderr lines are dropped.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <lowbit/io/npy.hpp>

#include "../examples/cli/cli.hpp"

namespace {

void setup() {
  static bool done = false;
  if (done) return;
  done = true;
  char tmpl[] = "/tmp/lowbit_fuzz_cli_XXXXXX";
  if (!mkdtemp(tmpl) || chdir(tmpl) != 0) std::abort();
  using lowbit::npy::array;
  const std::vector<float> f = {1, -2, 0.5f, 3, 0, 7, -1, 2};
  const std::vector<std::int8_t> i = {1, -2, 3, 4, -5, 6, 7, -8};
  const std::vector<std::uint8_t> u = {1, 2, 0x7f, 0x80, 0x7e, 0xff, 3, 9};
  const std::vector<std::int32_t> b = {1, 2};
  lowbit::npy::write("x.npy", array::from<float>({2, 4}, f));
  lowbit::npy::write("w.npy", array::from<float>({4, 2}, f));
  lowbit::npy::write("q.npy", array::from<std::int8_t>({2, 4}, i));
  lowbit::npy::write("c.npy", array::from<std::uint8_t>({2, 4}, u));
  lowbit::npy::write("s.npy", array::from<float>({2}, std::span<const float>(f.data(), 2)));
  lowbit::npy::write("b.npy", array::from<std::int32_t>({2}, b));
  // hostile inputs and outputs (README "Bad input"): no elements but extents that overflow or
  // would need terabytes, a symbolic link loop, a FIFO and a directory
  lowbit::npy::write("tall.npy", array{lowbit::npy::dtype::f4, {1000000000000, 0}, {}});
  lowbit::npy::write("wide.npy", array{lowbit::npy::dtype::i1, {0, 1000000}, {}});
  lowbit::npy::write("none.npy", array{lowbit::npy::dtype::i1, {1000000, 0}, {}});
  lowbit::npy::write("packed0.npy", array{lowbit::npy::dtype::u1, {0, (std::size_t{1} << 63) + 1}, {}});
  if (symlink("loop", "loop") != 0 || mkfifo("fifo", 0600) != 0 || mkdir("adir", 0700) != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  setup();
  std::vector<std::string> args = {"lowbit"};
  std::string cur;
  for (std::size_t i = 0; i < size && args.size() < 40; ++i) {
    if (data[i] == 0) {
      args.push_back(cur), cur.clear();
    } else if (data[i] != '/') {
      cur += static_cast<char>(data[i]);
    }
  }
  args.push_back(cur);
  if (args.size() > 1 && args[1] == "demo") return 0;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = cli::run(static_cast<int>(args.size()), argv.data());
  if (rc < 0 || rc > 2) std::abort();
  return 0;
}

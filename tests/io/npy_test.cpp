// .npy reader/writer: round trips for every dtype and version, and each malformed file
// rejected with a message naming the problem.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <lowbit/io/npy.hpp>

using namespace lowbit;

namespace {
std::vector<std::byte> raw(int major, const std::string& header, std::size_t data_bytes) {
  std::string h = header;
  const std::size_t pre = major == 1 ? 10 : 12;
  while ((pre + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::vector<std::byte> b(pre + h.size() + data_bytes, std::byte{0});
  const char magic[] = "\x93NUMPY";
  std::memcpy(b.data(), magic, 6);
  b[6] = std::byte(major);
  for (std::size_t i = 0; i < pre - 8; ++i) b[8 + i] = std::byte((h.size() >> (8 * i)) & 0xff);
  std::memcpy(b.data() + pre, h.data(), h.size());
  return b;
}
std::string error_of(const std::vector<std::byte>& b) {
  try {
    npy::parse(b, "x.npy");
  } catch (const npy::error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Npy, RoundTripEveryDtypeAndShape) {
  const std::vector<float> f = {1.5f, -2.f, 3.f, 0.f, 5.f, 6.f};
  for (auto shape : std::vector<std::vector<std::size_t>>{{6}, {2, 3}, {1, 2, 3}, {3, 2}}) {
    const auto a = npy::array::from<float>(shape, f);
    const auto b = npy::parse(npy::serialize(a));
    EXPECT_EQ(b.shape, shape);
    EXPECT_EQ(b.values<float>(), f);
    EXPECT_EQ(npy::serialize(a).size() % 64, f.size() * 4 % 64);  // header padded to 64
  }
  const std::vector<std::uint64_t> u = {1, 2, ~0ull};
  EXPECT_EQ(npy::parse(npy::serialize(npy::array::from<std::uint64_t>({3}, u))).values<std::uint64_t>(), u);
  const std::vector<std::int8_t> i = {-128, 0, 127};
  EXPECT_EQ(npy::parse(npy::serialize(npy::array::from<std::int8_t>({3}, i))).values<std::int8_t>(), i);
  const auto empty = npy::parse(npy::serialize(npy::array::from<float>({0, 4}, std::span<const float>())));
  EXPECT_EQ(empty.shape, (std::vector<std::size_t>{0, 4}));
  const auto scalar = npy::serialize(npy::array::from<float>({}, std::span<const float>(f.data(), 1)));
  EXPECT_EQ(npy::parse(scalar).size(), 1u);
}

TEST(Npy, ReadsVersions1To3) {
  for (int v : {1, 2, 3}) {
    auto b = raw(v, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 1), }", 4);
    const auto a = npy::parse(b);
    EXPECT_EQ(a.type, npy::dtype::f2);
    EXPECT_EQ(a.shape, (std::vector<std::size_t>{2, 1}));
  }
  EXPECT_EQ(npy::parse(raw(1, "{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"|u1\"}", 3)).size(),
            3u);
}

TEST(Npy, MalformedFilesAreRejectedWithAReason) {
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  auto bad_magic = raw(1, ok, 16);
  bad_magic[1] = std::byte{'X'};
  EXPECT_NE(error_of(bad_magic).find("bad magic"), std::string::npos);
  auto bad_version = raw(1, ok, 16);
  bad_version[6] = std::byte{9};
  EXPECT_NE(error_of(bad_version).find("version 9.0"), std::string::npos);
  EXPECT_NE(error_of(raw(1, ok, 12)).find("truncated data"), std::string::npos);
  EXPECT_NE(error_of(raw(1, ok, 20)).find("beyond"), std::string::npos);
  auto huge = raw(2, ok, 16);
  huge[11] = std::byte{0x7f};  // header length ~2 GiB
  EXPECT_NE(error_of(huge).find("too large"), std::string::npos);
  const auto full = raw(1, ok, 16);
  const std::vector<std::byte> cut(full.begin(), full.begin() + 40);
  EXPECT_NE(error_of(cut).find("truncated .npy header"), std::string::npos);
  EXPECT_NE(
      error_of(raw(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16)).find("Fortran"),
      std::string::npos);
  EXPECT_NE(
      error_of(raw(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", 16)).find("big-endian"),
      std::string::npos);
  EXPECT_NE(error_of(raw(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2, 2), }", 16))
                .find("unsupported dtype"),
            std::string::npos);
  EXPECT_NE(error_of(raw(1, "{'descr': '<f4', 'shape': (2, 2), }", 16)).find("missing"), std::string::npos);
  EXPECT_NE(
      error_of(raw(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }", 16)).find("integer"),
      std::string::npos);
  EXPECT_NE(
      error_of(
          raw(1,
              "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }",
              16))
          .find("too large"),
      std::string::npos);
  EXPECT_NE(error_of(raw(1, "garbage", 0)).find("malformed"), std::string::npos);
  std::vector<std::byte> tiny(5, std::byte{0});
  EXPECT_NE(error_of(tiny).find("bad magic"), std::string::npos);
  // A wrong dtype for the caller is rejected by values<T>().
  EXPECT_THROW(npy::parse(raw(1, ok, 16)).values<std::int8_t>(), npy::error);
}

TEST(Npy, WriteIsAtomicAndReadBack) {
  const auto dir = std::filesystem::temp_directory_path() / "lowbit_npy_test";
  std::filesystem::create_directories(dir);
  const std::vector<float> v = {1, 2, 3};
  npy::write(dir / "a.npy", npy::array::from<float>({3}, v));
  EXPECT_EQ(npy::read(dir / "a.npy").values<float>(), v);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);  // no temporary left
  EXPECT_THROW(npy::write(dir / "no/such/dir/b.npy", npy::array::from<float>({3}, v)), npy::error);
  EXPECT_THROW(npy::read(dir / "missing.npy"), npy::error);
  // found by the CLI fuzzer: a directory opens as a stream whose size is reported as huge
  try {
    npy::read(dir);
    ADD_FAILURE() << "reading a directory did not throw";
  } catch (const npy::error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

namespace {
/// A fresh directory for one test.
std::filesystem::path scratch(const char* name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("lowbit_npy_" + std::string(name) + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}
std::size_t entries(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}
}  // namespace

TEST(Npy, OutputsThatAliasAreRefusedBeforeAnythingIsWritten) {
  const auto dir = scratch("alias");
  const auto a = npy::array::from<float>({2}, std::vector<float>{1, 2});
  const auto b = npy::array::from<float>({1}, std::vector<float>{7});
  npy::write(dir / "in.npy", a);
  // the same output twice (also spelled differently), and an output replacing an input
  const std::pair<std::filesystem::path, const npy::array*> twice[] = {{dir / "o.npy", &a},
                                                                       {dir / "./o.npy", &b}};
  EXPECT_THROW(npy::write_all(twice), npy::error);
  EXPECT_FALSE(std::filesystem::exists(dir / "o.npy"));
  const std::pair<std::filesystem::path, const npy::array*> over_input[] = {{dir / "x.npy", &b},
                                                                            {dir / "in.npy", &b}};
  const std::filesystem::path inputs[] = {dir / "in.npy"};
  EXPECT_THROW(npy::write_all(over_input, inputs), npy::error);
  EXPECT_EQ(npy::read(dir / "in.npy").values<float>(), (std::vector<float>{1, 2}));  // untouched
  EXPECT_FALSE(std::filesystem::exists(dir / "x.npy"));                              // nothing written
  EXPECT_EQ(entries(dir), 1u);                                                       // no temporaries left
  std::filesystem::remove_all(dir);
}

TEST(Npy, NonRegularOutputsAreRefusedAndNothingIsHalfWritten) {
  const auto dir = scratch("nonregular");
  const auto a = npy::array::from<float>({2}, std::vector<float>{1, 2});
  npy::write(dir / "keep.npy", a);
  std::filesystem::create_directory(dir / "sub");
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  // a second output that cannot be written: the first must not have replaced keep.npy
  const auto b = npy::array::from<float>({1}, std::vector<float>{9});
  for (const char* bad : {"sub", "fifo"}) {
    const std::pair<std::filesystem::path, const npy::array*> files[] = {{dir / "keep.npy", &b},
                                                                         {dir / bad, &b}};
    EXPECT_THROW(npy::write_all(files), npy::error) << bad;
    EXPECT_EQ(npy::read(dir / "keep.npy").values<float>(), (std::vector<float>{1, 2})) << bad;
  }
  EXPECT_TRUE(std::filesystem::is_fifo(dir / "fifo"));
  EXPECT_EQ(entries(dir), 3u);  // keep.npy, sub, fifo: no temporaries
  std::filesystem::remove_all(dir);
}

TEST(Npy, TemporariesAreUnpredictableAndNeverFollowLinks) {
  const auto dir = scratch("symlink");
  std::filesystem::create_directory(dir / "victim");
  { std::ofstream(dir / "victim" / "secret") << "do not touch"; }
  // the old temporary name, planted as a link to someone else's file
  std::filesystem::create_symlink(dir / "victim" / "secret", dir / "o.npy.lowbit-tmp");
  const auto a = npy::array::from<float>({2}, std::vector<float>{3, 4});
  npy::write(dir / "o.npy", a);
  EXPECT_EQ(npy::read(dir / "o.npy").values<float>(), (std::vector<float>{3, 4}));
  std::ifstream f(dir / "victim" / "secret");
  std::string content;
  std::getline(f, content);
  EXPECT_EQ(content, "do not touch");
  std::filesystem::remove_all(dir);
}

TEST(Npy, ConcurrentWritersOfOneOutputEachWriteAWholeFile) {
  const auto dir = scratch("concurrent");
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 16; ++t)
    writers.emplace_back([&, t] {
      try {
        const std::vector<float> v(1000, static_cast<float>(t));
        npy::write(dir / "o.npy", npy::array::from<float>({1000}, v));
      } catch (const npy::error&) {
        ++failures;
      }
    });
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);
  const auto v = npy::read(dir / "o.npy").values<float>();
  ASSERT_EQ(v.size(), 1000u);
  for (float x : v) EXPECT_EQ(x, v[0]);  // one writer's whole file
  EXPECT_EQ(entries(dir), 1u);
  std::filesystem::remove_all(dir);
}

TEST(Npy, AFailedRenameRestoresTheOutputsAlreadyRenamed) {
  // write_all's rename step with a rename that fails at the third output (a disk error or a race
  // that turned the target into a directory): the first output gets its old contents back, the
  // second, which did not exist, is removed, and no temporary or backup is left.
  const auto dir = scratch("rollback");
  const auto old_a = npy::array::from<float>({1}, std::vector<float>{1});
  const auto old_b = npy::array::from<float>({1}, std::vector<float>{2});
  const auto fresh = npy::array::from<float>({2}, std::vector<float>{8, 9});
  npy::write(dir / "a.npy", old_a);
  npy::write(dir / "b.npy", old_b);
  const std::pair<std::filesystem::path, const npy::array*> files[] = {
      {dir / "a.npy", &fresh}, {dir / "c.npy", &fresh}, {dir / "b.npy", &fresh}};
  std::vector<std::filesystem::path> tmps, backups(3);
  for (const auto& [path, arr] : files)
    tmps.push_back(npy::detail::write_temporary(path, npy::serialize(*arr)));
  const std::vector<bool> existed = {true, false, true};
  for (std::size_t i : {0u, 2u}) {
    backups[i] = tmps[i].string() + ".old";
    ASSERT_EQ(::link(files[i].first.c_str(), backups[i].c_str()), 0);
  }
  int calls = 0;
  const auto rename_failing_third = [&](const char* from, const char* to) {
    if (++calls == 3) return errno = EIO, -1;
    return ::rename(from, to);
  };
  try {
    npy::detail::commit(files, tmps, backups, existed, rename_failing_third);
    ADD_FAILURE() << "the failed rename was not reported";
  } catch (const npy::error& e) {
    EXPECT_NE(std::string(e.what()).find("b.npy: cannot write"), std::string::npos) << e.what();
  }
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(npy::read(dir / "a.npy").values<float>(), (std::vector<float>{1}));  // restored
  EXPECT_EQ(npy::read(dir / "b.npy").values<float>(), (std::vector<float>{2}));  // never replaced
  EXPECT_FALSE(std::filesystem::exists(dir / "c.npy"));                          // removed again
  EXPECT_EQ(entries(dir), 2u);                                                   // no temporaries, no backups
  std::filesystem::remove_all(dir);
}

TEST(Npy, AnOutputThatIsASymbolicLinkLoopIsReplacedNotAFilesystemError) {
  // weakly_canonical throws std::filesystem_error on a link loop (found by fuzz_write): the name
  // is compared lexically instead, and the rename replaces the link itself, never its target
  const auto dir = scratch("loop");
  std::filesystem::create_symlink("loop", dir / "loop");
  const auto a = npy::array::from<float>({2}, std::vector<float>{1, 2});
  const std::pair<std::filesystem::path, const npy::array*> out[] = {{dir / "loop", &a}};
  EXPECT_NO_THROW(npy::write_all(out));
  EXPECT_EQ(npy::read(dir / "loop").values<float>(), (std::vector<float>{1, 2}));
  EXPECT_EQ(entries(dir), 1u);
  std::filesystem::remove_all(dir);
}

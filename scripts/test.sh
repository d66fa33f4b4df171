#!/usr/bin/env bash
# The README's second command: install what is missing, check formatting, build everything
# (Release, warnings as errors) and run every test; build the tests again with ASan + UBSan and
# run them there too; cross-compile the core tests and the tool for arm64 and run them under
# qemu (three CPU / backend configurations); then run each libFuzzer target for
# LOWBIT_FUZZ_SECONDS (default 60).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${LOWBIT_JOBS:-2}
bash "$root/scripts/deps.sh" test

echo "== clang-format check"
cd "$root"
# Compare clang-format's output with each file (its --dry-run misreports C++20
# `namespace a::inline b` closing comments in version 14).
unformatted=0
for f in $(git ls-files '*.hpp' '*.cpp' 2>/dev/null || find include tests examples benchmarks fuzz -name '*.[ch]pp'); do
  clang-format "$f" | cmp -s - "$f" || { echo "not clang-formatted: $f (run clang-format -i $f)"; unformatted=1; }
done
[ "$unformatted" = 0 ]

echo "== Release build and tests"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DLOWBIT_WERROR=ON >/dev/null
cmake --build "$root/build" -j"$jobs"
ctest --test-dir "$root/build" -j"$jobs" --output-on-failure

echo "== ASan + UBSan build and tests"
# -O1, the sanitizers' usual level: the same tests, built in 10 minutes instead of 15 at -O3 (the
# CLI's matmul TU alone: 216 s against 362 s of CPU)
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
      -DLOWBIT_SANITIZE=address,undefined -DLOWBIT_BUILD_BENCHMARKS=OFF -DLOWBIT_WERROR=ON >/dev/null
cmake --build "$root/build-asan" -j"$jobs"
ctest --test-dir "$root/build-asan" -j"$jobs" --output-on-failure

echo "== arm64 (g++-aarch64-linux-gnu, qemu-aarch64)"
bash "$root/tests/arm64/run.sh" "$root" "$root/build-arm64"

echo "== fuzzers (libFuzzer + ASan/UBSan, ${LOWBIT_FUZZ_SECONDS:-60} s each)"
CXX=clang++ cmake -S "$root" -B "$root/build-fuzz" -DCMAKE_BUILD_TYPE=Release -DLOWBIT_BUILD_FUZZERS=ON \
      -DLOWBIT_BUILD_TESTS=OFF -DLOWBIT_BUILD_BENCHMARKS=OFF -DLOWBIT_BUILD_EXAMPLES=OFF -DLOWBIT_WERROR=ON \
      -DLOWBIT_FUZZ_SECONDS="${LOWBIT_FUZZ_SECONDS:-60}" >/dev/null
cmake --build "$root/build-fuzz" -j"$jobs"
ctest --test-dir "$root/build-fuzz" -j"$jobs" --output-on-failure

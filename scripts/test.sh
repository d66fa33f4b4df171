#!/usr/bin/env bash
# The README's second command: install what is missing, check formatting, build everything
# (Release, warnings as errors) and run every test; then build the tests again with ASan +
# UBSan and run them there too (plus a short run of each fuzzer).
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
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Release -DLOWBIT_SANITIZE=address,undefined \
      -DLOWBIT_BUILD_BENCHMARKS=OFF -DLOWBIT_WERROR=ON >/dev/null
cmake --build "$root/build-asan" -j"$jobs"
ctest --test-dir "$root/build-asan" -j"$jobs" --output-on-failure

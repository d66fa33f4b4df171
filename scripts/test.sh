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
files=$(git ls-files '*.hpp' '*.cpp' 2>/dev/null || find include tests examples benchmarks fuzz -name '*.[ch]pp')
clang-format --dry-run --Werror $files

echo "== Release build and tests"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DLOWBIT_WERROR=ON >/dev/null
cmake --build "$root/build" -j"$jobs"
ctest --test-dir "$root/build" -j"$jobs" --output-on-failure

echo "== ASan + UBSan build and tests"
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Release -DLOWBIT_SANITIZE=address,undefined \
      -DLOWBIT_BUILD_BENCHMARKS=OFF -DLOWBIT_WERROR=ON >/dev/null
cmake --build "$root/build-asan" -j"$jobs"
ctest --test-dir "$root/build-asan" -j"$jobs" --output-on-failure

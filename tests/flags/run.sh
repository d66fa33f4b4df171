#!/usr/bin/env bash
# Bits independent of the build: compiles conformance.cpp straight from include/ (no CMake
# target, no lowbit flags) with GCC and Clang under the flag sets a consumer may use, runs every
# binary under every backend this CPU has, and requires every digest line to equal the first
# build's (GCC -O2 -march=x86-64, scalar backend).  Usage: run.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src=$1 work=$2
mkdir -p "$work"
builds=(
  "gcc-O2-x86-64|g++|-O2 -march=x86-64 -Wall -Wextra -Werror"
  "gcc-O3-native-contract|g++|-O3 -march=native -ffp-contract=fast -Wall -Wextra -Werror"
  "clang-O3-native-contract|clang++|-O3 -march=native -ffp-contract=fast -Wall -Wextra -Werror"
  "clang-O2-x86-64-v3-openmp|clang++|-O2 -march=x86-64-v3 -fopenmp -Wall -Wextra -Werror"
)
pids=()
for b in "${builds[@]}"; do
  IFS='|' read -r name cxx flags <<<"$b"
  # shellcheck disable=SC2086
  "$cxx" -std=c++20 $flags -I"$src/include" "$src/tests/flags/conformance.cpp" -o "$work/$name" &
  pids+=($!)
  if ((${#pids[@]} >= 2)); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
ref=""
fail=0
runs=0
for b in "${builds[@]}"; do
  name=${b%%|*}
  for backend in ${LOWBIT_FLAGS_BACKENDS:-scalar avx2 avx512}; do
    out="$work/$name.$backend.txt"
    LOWBIT_BACKEND=$backend "$work/$name" >"$out" 2>"$out.calls"
    runs=$((runs + 1))
    # the fast backend must have run its kernels (when this CPU has it)
    if [ "$backend" != scalar ] && grep -q "^backend $backend: 0 fast" "$out.calls"; then
      echo "$name: backend $backend ran no fast kernel"; fail=1
    fi
    if [ -z "$ref" ]; then ref=$out; continue; fi
    if ! cmp -s "$ref" "$out"; then
      echo "DIFFERENT BITS: $name ($backend) against $(basename "$ref" .txt):"
      diff "$ref" "$out" | grep '^>' | head -20
      fail=1
    fi
  done
done
cases=$(wc -l <"$ref")
echo "$runs builds x backends, $cases cases each: $([ $fail = 0 ] && echo identical || echo DIFFERENT)"
exit $fail

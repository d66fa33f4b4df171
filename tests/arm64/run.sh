#!/usr/bin/env bash
# The arm64 stage (README "Backends", issue "ARM64"): cross-compiles the core tests, the
# conformance cases and the `lowbit` tool with Debian's g++-aarch64-linux-gnu straight from
# include/ (GCC contracts a*b+c into FMA by default on AArch64), and runs them under qemu-aarch64:
#   dotprod  the conformance cases and the tool built for -march=armv8.2-a+dotprod, the core tests
#            built for -march=armv8-a, run on a CPU with SDOT (qemu -cpu max; a Kunpeng 920 is
#            Armv8.2-A + dotprod): the neon quantize and SDOT matmul kernels must run (in the
#            tests through their target attribute alone)
#   nodot    everything built for -march=armv8-a, run on a Cortex-A57 (no dot product): the
#            quantize kernels run, the integer matmuls must fall back to the reference
#   scalar   the armv8-a binaries under LOWBIT_BACKEND=scalar
#   clang    Clang's aarch64 target (Debian's clang 14 with the same sysroot), -O3 -march=armv8-a
#            -ffp-contract=fast and no OpenMP, run on a CPU with SDOT: the conformance cases and the
#            tool; the SDOT kernels must run through their target attribute alone (the same number
#            of fast calls as dotprod)
# Every configuration must pass every test, and the conformance digest must equal the x86-64
# reference digest bit for bit. The core tests are built once (for the baseline; the dispatch picks
# the kernels at run time) and the configurations run two at a time. qemu times say nothing about
# speed.
# Usage: run.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src=$(cd "$1" && pwd) work=$2
cxx=${LOWBIT_ARM64_CXX:-aarch64-linux-gnu-g++}
sysroot=/usr/aarch64-linux-gnu
gt=/usr/src/googletest/googletest
mkdir -p "$work"
work=$(cd "$work" && pwd)
start=$(date +%s)

# compile jobs, at most LOWBIT_JOBS (2) at a time; a failed one fails the stage
pids=()
build_failed=0
throttle() {
  while ((${#pids[@]} >= ${LOWBIT_JOBS:-2})); do
    wait "${pids[0]}" || build_failed=1
    pids=("${pids[@]:1}")
  done
}
finish_builds() {
  for p in "${pids[@]}"; do wait "$p" || build_failed=1; done
  pids=()
  if [ $build_failed != 0 ]; then echo "arm64: a build failed"; exit 1; fi
}

# googletest for aarch64 from the sources Debian's libgtest-dev ships
if [ ! -f "$work/libgtest.a" ]; then
  "$cxx" -std=c++20 -O2 -I"$gt/include" -I"$gt" -c "$gt/src/gtest-all.cc" -o "$work/gtest-all.o" &
  pids+=($!)
  "$cxx" -std=c++20 -O2 -I"$gt/include" -c "$gt/src/gtest_main.cc" -o "$work/gtest_main.o" &
  pids+=($!)
  finish_builds
  aarch64-linux-gnu-ar rcs "$work/libgtest.a" "$work/gtest-all.o" "$work/gtest_main.o"
fi
mkdir -p "$work/golden"
[ -f "$work/golden/lowbit-types/README.md" ] || tar -xJf "$src/tests/data/lowbit-types.tar.xz" -C "$work/golden"

tests=(
  "fast_test|fast/fast_test.cpp fast/integer_modes_test.cpp fast/mx_integer_test.cpp fast/float_sums_test.cpp"
  "quantize_test|quantize/quantize_test.cpp"
  "matmul_test|matmul/matmul_test.cpp matmul/quantized_matmul_test.cpp matmul/output_cast_test.cpp"
  "catalogue_test|catalogue_test.cpp"
  "npy_test|io/npy_test.cpp"
  "types_test|types/golden_test.cpp types/hifloat8_test.cpp types/types_test.cpp"
  "presets_test|presets/presets_test.cpp"
  "exec_test|exec/exec_test.cpp"
)
# Every translation unit is a job of its own (a g++ given several sources compiles them one
# after the other), the longest first (the tool's matmul.cpp), then the links.
gcc_flags="-std=c++20 -O2 -fopenmp -Wall -Wextra -Werror -I$src/include -I$src/tests"
# -ffp-contract=off for the tests only: their oracles write the golden's formulas as plain a * b + c;
# the library's own immunity is what the conformance and tool builds check
test_flags=(-march=armv8-a -ffp-contract=off "-I$gt/include" "-DLOWBIT_GOLDEN_DIR=\"$work/golden/lowbit-types\"")
# Clang: a different compiler, contraction on, no -fopenmp (the serial build of the headers)
clang_flags="--target=aarch64-linux-gnu -std=c++20 -O3 -march=armv8-a -ffp-contract=fast -Wall -Wextra -Werror"
clang_flags="$clang_flags -I$src/include"
cli_sources=("$src/examples/cli/matmul.cpp")
for f in "$src"/examples/cli/*.cpp; do [ "$f" = "${cli_sources[0]}" ] || cli_sources+=("$f"); done
# toolchain name | compiler | flags
tools=("armv8.2-a+dotprod|$cxx|$gcc_flags -march=armv8.2-a+dotprod" "armv8-a|$cxx|$gcc_flags -march=armv8-a"
       "clang|clang++|$clang_flags")
job() {  # COMMAND...: one compile or link job, at most LOWBIT_JOBS at a time
  throttle
  "$@" &
  pids+=($!)
}
obj() { echo "$work/obj/$1/$(basename "${2%.cpp}").o"; }  # TOOLCHAIN SOURCE
for d in armv8-a armv8.2-a+dotprod clang tests; do mkdir -p "$work/obj/$d" "$work/$d"; done
for f in "${cli_sources[@]}"; do
  for t in "${tools[@]}"; do
    IFS='|' read -r name comp flags <<<"$t"
    # shellcheck disable=SC2086
    job "$comp" $flags -c "$f" -o "$(obj "$name" "$f")"
  done
done
for t in "${tests[@]}"; do
  for f in ${t#*|}; do
    # shellcheck disable=SC2086
    job "$cxx" $gcc_flags "${test_flags[@]}" -c "$src/tests/$f" -o "$(obj tests "$f")"
  done
done
for t in "${tools[@]}"; do
  IFS='|' read -r name comp flags <<<"$t"
  # shellcheck disable=SC2086
  job "$comp" $flags "$src/tests/flags/conformance.cpp" -o "$work/$name/conformance"
done
job g++ -std=c++20 -O2 -march=x86-64 -I"$src/include" "$src/tests/flags/conformance.cpp" -o "$work/conformance-x86"
finish_builds
for t in "${tools[@]}"; do
  IFS='|' read -r name comp flags <<<"$t"
  objs=()
  for f in "${cli_sources[@]}"; do objs+=("$(obj "$name" "$f")"); done
  # shellcheck disable=SC2086
  job "$comp" $flags "${objs[@]}" -o "$work/$name/lowbit"
done
for t in "${tests[@]}"; do
  name=${t%%|*} objs=()
  for f in ${t#*|}; do objs+=("$(obj tests "$f")"); done
  job "$cxx" -fopenmp "${objs[@]}" "$work/libgtest.a" -lpthread -o "$work/armv8-a/$name"
done
finish_builds
LOWBIT_BACKEND=scalar "$work/conformance-x86" >"$work/reference.txt" 2>/dev/null
echo "arm64: built in $(($(date +%s) - start)) s"

# One configuration: NAME TESTS_DIR TOOL_DIR CPU BACKEND. Runs the core tests of TESTS_DIR (if
# any), then the conformance cases and the CLI tests against the tool of TOOL_DIR; writes its
# messages to NAME.out and the number of fast conformance calls to NAME.fast.
run_config() {
  local cfg=$1 tests_dir=$2 tool_dir=$3 cpu=$4 be=$5 t0 ok=1 name
  t0=$(date +%s)
  exec >"$work/$cfg.out" 2>&1
  run() { LOWBIT_BACKEND=$be OMP_NUM_THREADS=2 qemu-aarch64 -L "$sysroot" -cpu "$cpu" "$@"; }
  if [ -n "$tests_dir" ]; then
    for t in "${tests[@]}"; do
      name=${t%%|*}
      if ! run "$work/$tests_dir/$name" --gtest_brief=1 >"$work/$cfg.$name.log" 2>&1; then
        echo "arm64 $cfg: $name FAILED"; tail -30 "$work/$cfg.$name.log"; ok=0
      fi
    done
  fi
  run "$work/$tool_dir/conformance" >"$work/$cfg.digest" 2>"$work/$cfg.calls"
  if ! cmp -s "$work/reference.txt" "$work/$cfg.digest"; then
    echo "arm64 $cfg: DIFFERENT BITS from x86-64:"; diff "$work/reference.txt" "$work/$cfg.digest" | head; ok=0
  fi
  sed -n "s/^backend $be: \([0-9]*\) fast.*/\1/p" "$work/$cfg.calls" >"$work/$cfg.fast"
  printf '#!/bin/sh\nLOWBIT_BACKEND=%s exec qemu-aarch64 -L %s -cpu %s %s "$@"\n' "$be" "$sysroot" "$cpu" \
    "$work/$tool_dir/lowbit" >"$work/lowbit-$cfg"
  chmod +x "$work/lowbit-$cfg"
  if ! (cd "$src/tests/cli" && LOWBIT="$work/lowbit-$cfg" LOWBIT_GOLDEN_DIR="$work/golden/lowbit-types" \
        PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m unittest -q test_convert test_quantize test_matmul \
        test_compare test_help.Help test_presets test_explain test_hostile >"$work/$cfg.cli.log" 2>&1); then
    echo "arm64 $cfg: CLI tests FAILED"; tail -30 "$work/$cfg.cli.log"; ok=0
  fi
  echo "arm64 $cfg (tests $tests_dir, tool $tool_dir, qemu -cpu $cpu, backend $be):" \
    "$([ $ok = 1 ] && echo ok || echo FAILED) in $(($(date +%s) - t0)) s"
  [ $ok = 1 ]
}

# name | tests built for | conformance and tool built for | qemu CPU | backend
configs=("dotprod|armv8-a|armv8.2-a+dotprod|max|neon" "nodot|armv8-a|armv8-a|cortex-a57|neon"
         "scalar|armv8-a|armv8.2-a+dotprod|max|scalar" "gcc-attr||armv8-a|max|neon" "clang||clang|max|neon")
fail=0 build_failed=0  # throttle records a configuration that failed in build_failed
for c in "${configs[@]}"; do
  IFS='|' read -r cfg tests_dir tool_dir cpu be <<<"$c"
  throttle
  run_config "$cfg" "$tests_dir" "$tool_dir" "$cpu" "$be" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
pids=()
[ $build_failed = 0 ] || fail=1
for c in "${configs[@]}"; do cat "$work/${c%%|*}.out"; done
# which kernels must have run: all (dotprod; the armv8-a builds through the SDOT target attribute
# alone, GCC and Clang), all but SDOT (nodot), none (scalar)
count() { local n; n=$(cat "$work/$1.fast"); echo "${n:-0}"; }
dot=$(count dotprod)
echo "arm64: fast conformance calls: dotprod $dot, nodot $(count nodot), scalar $(count scalar)," \
  "gcc-attr $(count gcc-attr), clang $(count clang)"
[ "$dot" != 0 ] || { echo "arm64 dotprod: no fast kernel ran"; fail=1; }
{ [ "$(count nodot)" != 0 ] && [ "$(count nodot)" -lt "$dot" ]; } ||
  { echo "arm64 nodot: neon quantize only expected, below $dot fast calls"; fail=1; }
[ "$(count scalar)" = 0 ] || { echo "arm64 scalar: fast calls under the scalar backend"; fail=1; }
for cfg in gcc-attr clang; do
  [ "$(count $cfg)" = "$dot" ] || { echo "arm64 $cfg: $dot fast calls expected (SDOT by target attribute)"; fail=1; }
done
echo "arm64 stage: $([ $fail = 0 ] && echo passed || echo FAILED) in $(($(date +%s) - start)) s"
exit $fail

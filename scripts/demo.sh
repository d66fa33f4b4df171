#!/usr/bin/env bash
# The README's first command: install what is missing, build the `lowbit` tool, run its demo.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/deps.sh" demo
cmake -S "$root" -B "$root/build-demo" -DCMAKE_BUILD_TYPE=Release -DLOWBIT_BUILD_TESTS=OFF \
      -DLOWBIT_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$root/build-demo" -j2 --target lowbit_cli
"$root/build-demo/examples/lowbit" demo "$@"

#!/usr/bin/env bash
# Installs the Debian 12 packages that lowbit needs, and only those that are missing.
#   deps.sh demo   compiler and CMake (the demo needs nothing else)
#   deps.sh test   everything for tests, sanitizers, fuzzers and benchmarks
set -euo pipefail
what=${1:-test}
pkgs=(g++ cmake make xz-utils)
if [ "$what" = test ]; then
  pkgs+=(libfmt-dev clang clang-format libclang-rt-14-dev libgtest-dev libgmock-dev libbenchmark-dev libdnnl-dev
         python3 python3-numpy python3-torch g++-aarch64-linux-gnu qemu-user)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "lowbit: installing missing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

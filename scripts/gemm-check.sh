#!/usr/bin/env bash
# Builds csrc/cpu/gemm_test for each ISA copy of gemm.cpp with g++ directly and runs the
# correctness sweep (every case with float, f16 and bf16 B). Extra arguments are passed to the test (e.g. --bench).
#   scripts/gemm-check.sh            # test generic (+ avx2 on x86-64)
#   scripts/gemm-check.sh --bench    # benchmark instead
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${CXX:-g++}
OUT=${OUT:-build/gemm-check}
mkdir -p "$OUT"
SRCS="csrc/cpu/gemm.cpp csrc/cpu/gemm_test.cpp csrc/threadpool.cpp"
variants=(generic)
case "$(uname -m)" in x86_64|amd64) variants+=(avx2) ;; esac
for v in "${variants[@]}"; do
  flags="-DET_ISA=isa_$v"
  [ "$v" = avx2 ] && flags="$flags -mavx2 -mfma -mf16c"
  echo "== $v: $CXX -O3 -std=c++17 $flags"
  # shellcheck disable=SC2086
  $CXX -O3 -std=c++17 -Wall -Wextra $flags -I csrc $SRCS -o "$OUT/gemm_test_$v" -lpthread
  "$OUT/gemm_test_$v" "$@"
done

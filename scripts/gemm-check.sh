#!/usr/bin/env bash
# Builds csrc/cpu/gemm_test for each ISA copy of gemm.cpp with g++ directly and runs the
# correctness sweep (every case with float, f16 and bf16 B). Extra arguments are passed to the test (e.g. --bench).
#   scripts/gemm-check.sh            # test generic (+ avx2, and avx512 where the CPU has it, on x86-64)
#   scripts/gemm-check.sh --bench    # benchmark instead
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${CXX:-g++}
OUT=${OUT:-build/gemm-check}
mkdir -p "$OUT"
SRCS="csrc/cpu/gemm.cpp csrc/cpu/gemm_test.cpp csrc/threadpool.cpp csrc/cpu/cpuid.cpp"
variants=(generic)
case "$(uname -m)" in x86_64|amd64) variants+=(avx2) ;; esac
# the AVX-512 copy runs only where the CPU has it (F/BW/VL/DQ)
if grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo && grep -qw avx512dq /proc/cpuinfo; then
  variants+=(avx512)
else
  echo "== avx512: not run (this CPU lacks AVX-512 F/BW/VL/DQ)"
fi
for v in "${variants[@]}"; do
  flags="-DET_ISA=isa_$v"
  [ "$v" = avx2 ] && flags="$flags -mavx2 -mfma -mf16c"
  [ "$v" = avx512 ] && flags="$flags -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq"
  echo "== $v: $CXX -O3 -std=c++17 $flags"
  # shellcheck disable=SC2086
  $CXX -O3 -std=c++17 -Wall -Wextra $flags -I csrc $SRCS -o "$OUT/gemm_test_$v" -lpthread
  "$OUT/gemm_test_$v" "$@"
done

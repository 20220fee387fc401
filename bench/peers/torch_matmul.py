"""PyTorch peer for bench/matmul.mjs: f32 matmul GFLOP/s (median of repeats) as JSON lines.
Run with Debian's python3-torch: /usr/bin/python3 bench/peers/torch_matmul.py THREADS SHAPES_JSON"""
import json, time
import torch
from torch_setup import setup

shapes = json.loads(setup()[0])  # [[M, K, N, transA, transB], ...]
for M, K, N, ta, tb in shapes:
    a = torch.randn(K, M).t() if ta else torch.randn(M, K)
    b = torch.randn(N, K).t() if tb else torch.randn(K, N)
    for _ in range(2):
        torch.matmul(a, b)
    times = []
    reps = max(3, min(30, int(2e10 / (2 * M * N * K))))
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({"shape": [M, K, N, ta, tb], "gflops": 2 * M * N * K / med / 1e9}), flush=True)

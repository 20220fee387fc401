"""PyTorch peer for bench/overhead.mjs: microseconds per small op from Python (median of runs).
/usr/bin/python3 bench/peers/torch_overhead.py THREADS"""
import json, time
import torch
from torch_setup import setup

setup()
a = torch.ones(4)
b = torch.ones(4)
N = 20000
rows = {
    "add": lambda: torch.add(a, b),
    "mulScalar": lambda: torch.mul(a, 2),
    "relu": lambda: torch.relu(a),
    "view": lambda: a.reshape(2, 2).t(),
}
for name, f in rows.items():
    runs = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(N):
            f()
        runs.append((time.perf_counter() - t0) / N * 1e6)
    runs.sort()
    print(json.dumps({"name": name, "us": runs[len(runs) // 2]}), flush=True)

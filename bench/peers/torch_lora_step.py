"""PyTorch peer for bench/lora-step.mjs: a LoRA-shaped train step (two frozen DxD linears with
rank-r adapters on T tokens, forward + backward + AdamW), median milliseconds as JSON.
/usr/bin/python3 bench/peers/torch_lora_step.py THREADS D R T STEPS"""
import json, time
import torch
from torch_setup import setup

D, R, T, steps = (int(v) for v in setup())
torch.manual_seed(0)


class LoraLinear(torch.nn.Module):
    def __init__(self, d, r, alpha=16.0):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(d, d) / d**0.5, requires_grad=False)
        self.a = torch.nn.Parameter(torch.randn(r, d) / d**0.5)
        self.b = torch.nn.Parameter(torch.zeros(d, r))
        self.scale = alpha / r

    def forward(self, x):
        return x @ self.weight.t() + (x @ self.a.t()) @ self.b.t() * self.scale


model = torch.nn.Sequential(LoraLinear(D, R), torch.nn.SiLU(), LoraLinear(D, R))
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
x = torch.randn(T, D)
target = torch.randn(T, D)
times = []
for i in range(steps + 3):
    t0 = time.perf_counter()
    opt.zero_grad()
    loss = ((model(x) - target) ** 2).mean()
    loss.backward()
    opt.step()
    if i >= 3:
        times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"ms": times[len(times) // 2] * 1e3, "loss": loss.item()}))

"""PyTorch peer for bench/lora-train.mjs and bench/lora-anchor.mjs: LoRA fine-tuning steps of a
Llama (HF layout: RMSNorm, rotate_half rope, GQA, SwiGLU, untied head) with rank-r adapters on
q,k,v,o,gate,up,down, the base frozen, AdamW on the adapters, optional per-block activation
checkpointing. One sequence of T tokens per step. Prints median step milliseconds and the
process's peak RSS as JSON.
/usr/bin/python3 bench/peers/torch_lora_llama.py THREADS T CHECKPOINT(0|1) STEPS [D L H KV F V R]"""
import json, math, resource, time
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint
from torch_setup import setup

args = [int(v) for v in setup()]
T, ckpt, steps = args[:3]
D, L, H, KV, FF, V, R = args[3:10] if len(args) >= 10 else (768, 12, 12, 4, 2048, 32000, 8)
torch.manual_seed(0)
HD = D // H


class LoRALinear(torch.nn.Module):
    def __init__(self, i, o, r=R, alpha=2 * R):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(o, i) / i**0.5, requires_grad=False)
        self.lora_A = torch.nn.Parameter(torch.empty(r, i).uniform_(-1 / i**0.5, 1 / i**0.5))
        self.lora_B = torch.nn.Parameter(torch.zeros(o, r))
        self.scale = alpha / r

    def forward(self, x):
        return F.linear(x, self.weight) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scale


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d), requires_grad=False)
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(D), RMSNorm(D)
        self.q, self.k, self.v, self.o = LoRALinear(D, H * HD), LoRALinear(D, KV * HD), LoRALinear(D, KV * HD), LoRALinear(H * HD, D)
        self.g, self.u, self.d = LoRALinear(D, FF), LoRALinear(D, FF), LoRALinear(FF, D)

    def forward(self, x, cos, sin):
        B, T_, _ = x.shape
        h = self.n1(x)
        q = self.q(h).view(B, T_, H, HD).transpose(1, 2)
        k = self.k(h).view(B, T_, KV, HD).transpose(1, 2)
        v = self.v(h).view(B, T_, KV, HD).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        # torch 1.13 has no scaled_dot_product_attention: the plain causal softmax
        s = (q @ k.transpose(2, 3)) / math.sqrt(HD)
        s = s.masked_fill(torch.ones(T_, T_, dtype=torch.bool).triu(1), float('-inf'))
        a = torch.softmax(s, dim=-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(B, T_, D))
        h = self.n2(x)
        return x + self.d(F.silu(self.g(h)) * self.u(h))


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Parameter(torch.randn(V, D), requires_grad=False)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(L))
        self.norm = RMSNorm(D)
        self.head = torch.nn.Parameter(torch.randn(V, D) / D**0.5, requires_grad=False)

    def forward(self, ids):
        T_ = ids.shape[1]
        inv = 1.0 / (10000 ** (torch.arange(0, HD, 2).float() / HD))
        f = torch.outer(torch.arange(T_).float(), inv)
        e = torch.cat((f, f), -1)
        cos, sin = e.cos()[None, None], e.sin()[None, None]
        x = F.embedding(ids, self.emb)
        for b in self.blocks:
            x = checkpoint(b, x, cos, sin, use_reentrant=False) if ckpt else b(x, cos, sin)
        return F.linear(self.norm(x), self.head)


m = Model()
params = [p for p in m.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
g = torch.Generator().manual_seed(1)
ids = torch.randint(0, V, (1, T + 1), generator=g)
times = []
for i in range(steps + 2):
    t0 = time.perf_counter()
    opt.zero_grad()
    logits = m(ids[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, V), ids[0, 1:])
    loss.backward()
    opt.step()
    if i >= 2:
        times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"ms": times[len(times) // 2] * 1e3, "maxRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "loss": loss.item(),
                  "params": sum(p.numel() for p in m.parameters()), "trainable": sum(p.numel() for p in params), "torch": torch.__version__}))

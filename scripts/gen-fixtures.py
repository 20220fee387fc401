#!/usr/bin/python3
"""Reference values for the op table test (test/ops.test.ts).

Run with the Debian PyTorch:  /usr/bin/python3 scripts/gen-fixtures.py
Writes test/fixtures/ops.json: a list of cases

  {name, op, params,
   inputs:  [{shape, dtype, data, requiresGrad?, view?}],   # data: the base tensor, row-major
   outputs: [{shape, dtype, data}],
   dy:      [{shape, dtype, data} | null],                   # upstream gradient per output
   grads:   [{shape, dtype, data} | null],                   # d sum(y*dy) / d input (the base)
   tol:     {fwd, grad}, fd: bool}

Inputs are drawn in float32 (seeded) and stored exactly; the reference is computed in float64 from
those values and stored rounded to float32. `view` ({kind, args} or a list of them, applied in
order) turns the stored base tensor into the op's actual (non-contiguous) operand; gradients are
with respect to the base. Every case here has a twin in test/helpers/op-table.ts that calls the
edgetrain API the same way.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_default_dtype(torch.float32)

CASES = []

# Tolerances: forward relative error, gradient error relative to max |grad|.
TOL_EXACT = {"fwd": 1e-5, "grad": 1e-4}
TOL_TRANS = {"fwd": 1e-4, "grad": 1e-4}
TOL_ATTN = {"fwd": 1e-4, "grad": 2e-4}
TOL_HALF = {"fwd": 1e-3, "grad": 1e-3}

TORCH_DTYPE = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
               "int32": torch.int32, "uint8": torch.uint8}
FLOATS = ("float32", "float16", "bfloat16")


class In:
    """One operand: base data (a torch tensor in its storage dtype), whether it needs grad, views."""

    def __init__(self, base, grad=None, view=None):
        self.base = base
        self.dtype = {v: k for k, v in TORCH_DTYPE.items()}[base.dtype]
        self.grad = (self.dtype in FLOATS) if grad is None else grad
        self.view = view


def apply_view(t, view):
    if view is None:
        return t
    for v in view if isinstance(view, list) else [view]:
        k, a = v["kind"], v["args"]
        if k == "transpose":
            t = t.transpose(a[0], a[1])
        elif k == "permute":
            t = t.permute(*a[0])
        elif k == "expand":
            t = t.expand(*a[0])
        elif k == "slice":
            dim, start, end, step = a
            idx = [slice(None)] * t.dim()
            idx[dim] = slice(start, end, step)
            t = t[tuple(idx)]
        else:
            raise ValueError(k)
    return t


def T(kind, *args):
    return {"kind": kind, "args": list(args)}


def flat(t):
    t = t.detach()
    if t.dtype in (torch.float16, torch.bfloat16, torch.float64):
        t = t.to(torch.float32)
    vals = t.reshape(-1).tolist()
    if t.dtype == torch.float32:
        assert all(math.isfinite(v) for v in vals), "non-finite value in a fixture"
        # 9 significant digits read back as the same float32; shorter text keeps the file small
        vals = [float("%.9g" % v) for v in vals]
    return vals


def entry(t, dtype=None):
    dtype = dtype or {v: k for k, v in TORCH_DTYPE.items()}.get(t.dtype, "float32")
    return {"shape": list(t.shape), "dtype": dtype, "data": flat(t)}


def case(name, op, inputs, fn, params=None, tol=None, fd=True, out_dtypes=None):
    """fn(operands, params) -> tensor or tuple, computed in float64 for float operands."""
    params = params or {}
    leaves = []
    for i in inputs:
        if i.dtype == "float32":
            leaf = i.base.to(torch.float64)
        elif i.dtype in ("float16", "bfloat16"):
            leaf = i.base.clone()  # keep the storage dtype: cast cases need it; fn widens
        else:
            leaf = i.base.clone()
        if i.grad:
            leaf.requires_grad_(True)
        leaves.append(leaf)
    operands = [apply_view(l, i.view) for l, i in zip(leaves, inputs)]
    out = fn(operands, params)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    out_dtypes = out_dtypes or [None] * len(outs)
    out_entries, dys, roots, seeds = [], [], [], []
    for o, od in zip(outs, out_dtypes):
        if od is None:
            od = {torch.float64: "float32", torch.float32: "float32", torch.float16: "float16",
                  torch.bfloat16: "bfloat16", torch.int64: "int32", torch.int32: "int32",
                  torch.bool: "uint8", torch.uint8: "uint8"}[o.dtype]
        oo = o.detach()
        if od == "float32":
            oo = oo.to(torch.float32)
        elif od == "int32":
            oo = oo.to(torch.int32)
        elif od == "uint8":
            oo = oo.to(torch.uint8)
        out_entries.append(entry(oo, od))
        if o.requires_grad and od in FLOATS:
            dy = torch.randn(o.shape, dtype=torch.float32).to(TORCH_DTYPE[od])
            dys.append(entry(dy, od))
            roots.append(o)
            seeds.append(dy.to(o.dtype))
        else:
            dys.append(None)
    grads = [None] * len(inputs)
    if roots:
        torch.autograd.backward(roots, seeds)
        for k, (l, i) in enumerate(zip(leaves, inputs)):
            if i.grad:
                g = l.grad if l.grad is not None else torch.zeros_like(l)
                grads[k] = entry(g.to(torch.float32) if i.dtype == "float32" else g, i.dtype)
    ins = []
    for i in inputs:
        e = entry(i.base, i.dtype)
        if i.grad:
            e["requiresGrad"] = True
        if i.view is not None:
            e["view"] = i.view
        ins.append(e)
    differentiable = any(i.grad and i.dtype == "float32" for i in inputs) and bool(roots)
    CASES.append({"name": name, "op": op, "params": params, "inputs": ins, "outputs": out_entries,
                  "dy": dys, "grads": grads, "tol": tol or TOL_EXACT, "fd": bool(fd and differentiable)})


# ---------------------------------------------------------------------------------------------
# data helpers (all float32)
def rn(*s):
    return torch.randn(s, dtype=torch.float32)


def pos(*s, lo=0.5):
    return torch.rand(s, dtype=torch.float32) * 2 + lo


def away(*s, gap=0.1):
    """randn pushed away from 0 (kinks of abs/relu/sign are not where finite differences probe)."""
    x = rn(*s)
    return (x.sign() * (x.abs() + gap)).to(torch.float32)


def distinct(*s):
    """Values whose pairwise gaps are >= 0.08 (max/min have no near-ties)."""
    n = 1
    for v in s:
        n *= v
    return ((torch.randperm(n).to(torch.float32) - n / 2) * 0.1 + torch.rand(n) * 0.02).reshape(*s).to(torch.float32)


def ints(lo, hi, *s):
    return torch.randint(lo, hi, s, dtype=torch.int32)


def mask(*s, p=0.5):
    return (torch.rand(s) < p).to(torch.uint8)


def d(x):
    return x.to(torch.float64) if x.dtype in (torch.float32, torch.float16, torch.bfloat16) else x


# ---------------------------------------------------------------------------------------------
# creation
case("zeros [2,3]", "zeros", [], lambda a, p: torch.zeros(p["shape"]), {"shape": [2, 3]})
case("ones [4]", "ones", [], lambda a, p: torch.ones(p["shape"]), {"shape": [4]})
case("full [3,1,2] -1.5", "full", [], lambda a, p: torch.full(p["shape"], p["value"]), {"shape": [3, 1, 2], "value": -1.5})
case("full 0-d", "full", [], lambda a, p: torch.full(p["shape"], p["value"]), {"shape": [], "value": 7.25})
case("arange 0..5", "arange", [], lambda a, p: torch.arange(p["start"], p["end"], p["step"], dtype=torch.float64),
     {"start": 0, "end": 5, "step": 1})
case("arange -1..2 step 0.25", "arange", [], lambda a, p: torch.arange(p["start"], p["end"], p["step"], dtype=torch.float64),
     {"start": -1, "end": 2, "step": 0.25})

# ---------------------------------------------------------------------------------------------
# unary
U = {
    "neg": lambda x, p: -x,
    "exp": lambda x, p: torch.exp(x),
    "log": lambda x, p: torch.log(x),
    "sqrt": lambda x, p: torch.sqrt(x),
    "rsqrt": lambda x, p: torch.rsqrt(x),
    "abs": lambda x, p: torch.abs(x),
    "sign": lambda x, p: torch.sign(x),
    "relu": lambda x, p: torch.relu(x),
    "gelu": lambda x, p: F.gelu(x, approximate=p.get("approximate", "none")),
    "silu": lambda x, p: F.silu(x),
    "sigmoid": lambda x, p: torch.sigmoid(x),
    "tanh": lambda x, p: torch.tanh(x),
    "pow": lambda x, p: torch.pow(x, p["p"]),
}
TRANS = {"exp", "log", "sqrt", "rsqrt", "gelu", "silu", "sigmoid", "tanh", "pow"}


def unary(name, op, x, params=None, **kw):
    case(name, op, [x], lambda a, p: U[op](a[0], p), params, tol=TOL_TRANS if op in TRANS else TOL_EXACT, **kw)


unary("neg [3,4]", "neg", In(rn(3, 4)))
unary("neg 0-d", "neg", In(rn()))
unary("exp [2,3,4] transposed", "exp", In(rn(2, 4, 3), view=T("transpose", 1, 2)))
unary("exp 0-d", "exp", In(rn()))
unary("log [5,3]", "log", In(pos(5, 3)))
unary("log [4,6] sliced step 2", "log", In(pos(4, 6), view=T("slice", 1, 1, 6, 2)))
unary("sqrt [4,5]", "sqrt", In(pos(4, 5)))
unary("sqrt [3,4] expanded from [1,4]", "sqrt", In(pos(1, 4), view=T("expand", [3, 4])))
unary("rsqrt [7]", "rsqrt", In(pos(7)))
unary("abs [3,5]", "abs", In(away(3, 5)))
unary("abs [5,3] transposed", "abs", In(away(3, 5), view=T("transpose", 0, 1)))
unary("sign [2,5] (no gradient: et.sign records none)", "sign", In(away(2, 5), grad=False))
unary("relu [4,6]", "relu", In(away(4, 6)))
unary("relu [3,2,4] permuted", "relu", In(away(2, 4, 3), view=T("permute", [2, 0, 1])))
unary("gelu erf [3,7]", "gelu", In(rn(3, 7) * 2), {"approximate": "none"})
unary("gelu tanh [3,7]", "gelu", In(rn(3, 7) * 2), {"approximate": "tanh"})
unary("gelu erf [4,3] transposed", "gelu", In(rn(3, 4) * 2, view=T("transpose", 0, 1)), {"approximate": "none"})
unary("silu [2,9]", "silu", In(rn(2, 9) * 2))
unary("silu [3,3] sliced", "silu", In(rn(6, 5), view=[T("slice", 0, 1, 6, 2), T("slice", 1, 0, 3, 1)]))
unary("sigmoid [6,5] transposed", "sigmoid", In(rn(5, 6) * 2, view=T("transpose", 0, 1)))
unary("tanh [4,4]", "tanh", In(rn(4, 4)))
unary("tanh 0-d", "tanh", In(rn()))
unary("pow 2 [3,4]", "pow", In(rn(3, 4)), {"p": 2})
unary("pow 3 [5] (negative base)", "pow", In(rn(5)), {"p": 3})
unary("pow 0.5 [2,3]", "pow", In(pos(2, 3)), {"p": 0.5})
unary("pow -1.5 [4] sliced", "pow", In(pos(9), view=T("slice", 0, 1, 9, 2)), {"p": -1.5})

# ---------------------------------------------------------------------------------------------
# binary (tensor, tensor) with broadcasting, and (tensor, number)
B = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": lambda a, b: torch.maximum(a, b) if torch.is_tensor(a) and torch.is_tensor(b) else
    torch.clamp(a, min=b) if torch.is_tensor(a) else torch.clamp(b, min=a),
    "minimum": lambda a, b: torch.minimum(a, b) if torch.is_tensor(a) and torch.is_tensor(b) else
    torch.clamp(a, max=b) if torch.is_tensor(a) else torch.clamp(b, max=a),
}


def binary(name, op, a, b, **kw):
    case(name, op, [a, b], lambda x, p: B[op](x[0], x[1]), **kw)


def binary_scalar(name, op, a, s, first=False, **kw):
    fn = (lambda x, p: B[op](p["scalar"], x[0])) if first else (lambda x, p: B[op](x[0], p["scalar"]))
    case(name, op, [a], fn, {"scalar": s, "scalarFirst": first}, **kw)


binary("add [3,4]+[3,4]", "add", In(rn(3, 4)), In(rn(3, 4)))
binary("add broadcast [3,1,4]+[2,4]", "add", In(rn(3, 1, 4)), In(rn(2, 4)))
binary("add 0-d + [2,3]", "add", In(rn()), In(rn(2, 3)))
binary("add [4,3] transposed + [3]", "add", In(rn(3, 4), view=T("transpose", 0, 1)), In(rn(3)))
binary("add expanded [2,3,4] + sliced [3,4]", "add", In(rn(3, 1), view=T("expand", [2, 3, 4])),
       In(rn(3, 8), view=T("slice", 1, 0, 8, 2)))
binary("add empty [0,3]+[3]", "add", In(rn(0, 3)), In(rn(3)))
binary_scalar("add [2,3] + 2.5", "add", In(rn(2, 3)), 2.5)
binary_scalar("add 1.5 + [5]", "add", In(rn(5)), 1.5, first=True)
binary("sub broadcast [4,1]-[1,5]", "sub", In(rn(4, 1)), In(rn(1, 5)))
binary("sub [2,3,4] - [2,1,4] permuted", "sub", In(rn(2, 3, 4)), In(rn(4, 2, 1), view=T("permute", [1, 2, 0])))
binary_scalar("sub [3,3] - 0.75", "sub", In(rn(3, 3)), 0.75)
binary_scalar("sub 3 - [4]", "sub", In(rn(4)), 3.0, first=True)
binary("mul [2,3]*[2,3]", "mul", In(rn(2, 3)), In(rn(2, 3)))
binary("mul broadcast [2,3,4]*[3,1] transposed", "mul", In(rn(2, 4, 3), view=T("transpose", 1, 2)), In(rn(3, 1)))
binary("mul [5] * 0-d", "mul", In(rn(5)), In(rn()))
binary("mul same tensor twice-shaped [1,6]*[6,1]", "mul", In(rn(1, 6)), In(rn(6, 1)))
binary_scalar("mul [3,2] * -1.25", "mul", In(rn(3, 2)), -1.25)
binary("div [3,4]/[3,4]", "div", In(rn(3, 4)), In(away(3, 4, gap=0.5)))
binary("div broadcast [2,1,3]/[4,1]", "div", In(rn(2, 1, 3)), In(away(4, 1, gap=0.5)))
binary_scalar("div [4] / 4", "div", In(rn(4)), 4.0)
binary_scalar("div 2 / [2,3]", "div", In(away(2, 3, gap=0.5)), 2.0, first=True)
_a = rn(3, 4)
binary("maximum [3,4],[3,4]", "maximum", In(_a), In((_a + torch.sign(rn(3, 4)) * (0.1 + torch.rand(3, 4))).float()))
binary("maximum broadcast [3,1]x[4]", "maximum", In(torch.tensor([[-0.6], [0.05], [0.75]])), In(torch.tensor([-1.0, -0.3, 0.4, 1.1])))
binary_scalar("maximum [2,5] , 0.2", "maximum", In(torch.tensor([[-1.0, -0.5, 0.0, 0.5, 1.0], [0.1, 0.3, -0.2, 0.7, 2.0]])), 0.2)
_a = rn(2, 3)
binary("minimum [2,3],[2,3]", "minimum", In(_a), In((_a + torch.sign(rn(2, 3)) * (0.1 + torch.rand(2, 3))).float()))
binary("minimum broadcast [2,1,3]x[2,1] transposed", "minimum", In(torch.tensor([[[-0.9, 0.15, 0.8]], [[0.45, -0.2, 1.3]]])),
       In(torch.tensor([[0.3, -0.5]]), view=T("transpose", 0, 1)))

# comparisons: values on a coarse grid so some are exactly equal
C = {"gt": torch.gt, "ge": torch.ge, "lt": torch.lt, "le": torch.le, "eq": torch.eq, "ne": torch.ne}
for op in C:
    grid_a = (torch.randint(-2, 3, (3, 4)).float() / 2)
    grid_b = (torch.randint(-2, 3, (4,)).float() / 2)
    case(f"{op} [3,4] vs [4]", op, [In(grid_a, grad=False), In(grid_b, grad=False)], lambda a, p, f=C[op]: f(a[0], a[1]))
case("gt [2,3] vs 0", "gt", [In(rn(2, 3), grad=False)], lambda a, p: torch.gt(a[0], p["scalar"]), {"scalar": 0.0})
case("le transposed [3,2] vs 0.5", "le", [In(torch.tensor([[0.5, 0.0, 1.0], [0.25, 0.75, 0.5]]), grad=False, view=T("transpose", 0, 1))],
     lambda a, p: torch.le(a[0], p["scalar"]), {"scalar": 0.5})

case("where [3,1] ? [3,4] : [4]", "where", [In(mask(3, 1)), In(rn(3, 4)), In(rn(4))],
     lambda a, p: torch.where(a[0].bool(), a[1], a[2]))
case("where [2,3] ? [2,3] : 0", "where", [In(mask(2, 3)), In(rn(2, 3))],
     lambda a, p: torch.where(a[0].bool(), a[1], torch.tensor(p["b"], dtype=torch.float64)), {"b": 0.0})
case("where transposed cond", "where", [In(mask(4, 3), view=T("transpose", 0, 1)), In(rn(3, 4)), In(rn(3, 1))],
     lambda a, p: torch.where(a[0].bool(), a[1], a[2]))
case("maskedFill [3,4] mask [1,4]", "maskedFill", [In(rn(3, 4)), In(mask(1, 4))],
     lambda a, p: a[0].masked_fill(a[1].bool(), p["value"]), {"value": -5.0})
case("maskedFill [2,3,2] mask [3,1]", "maskedFill", [In(rn(2, 3, 2)), In(mask(3, 1))],
     lambda a, p: a[0].masked_fill(a[1].bool(), p["value"]), {"value": 1e4})

# ---------------------------------------------------------------------------------------------
# reductions
def red(fn):
    def f(a, p):
        x = a[0]
        if "dim" in p:
            return fn(x, p["dim"], p.get("keepdim", False))
        return fn(x, None, False)
    return f


def tsum(x, dim, keep):
    return x.sum() if dim is None else x.sum(dim=dim, keepdim=keep)


def tmean(x, dim, keep):
    return x.mean() if dim is None else x.mean(dim=dim, keepdim=keep)


def tmax(x, dim, keep):
    return x.max() if dim is None else x.max(dim=dim, keepdim=keep).values


def tmin(x, dim, keep):
    return x.min() if dim is None else x.min(dim=dim, keepdim=keep).values


def targmax(x, dim, keep):
    return torch.argmax(x) if dim is None else torch.argmax(x, dim=dim, keepdim=keep)


case("sum all [3,4,5]", "sum", [In(rn(3, 4, 5))], red(tsum))
case("sum dim 1 [3,4,5]", "sum", [In(rn(3, 4, 5))], red(tsum), {"dim": 1})
case("sum dim -1 keepdim [4,6]", "sum", [In(rn(4, 6))], red(tsum), {"dim": -1, "keepdim": True})
case("sum dims [0,2] keepdim transposed", "sum", [In(rn(3, 5, 4), view=T("transpose", 1, 2))], red(tsum), {"dim": [0, 2], "keepdim": True})
case("sum 0-d", "sum", [In(rn())], red(tsum))
case("sum dim 0 expanded", "sum", [In(rn(1, 5), view=T("expand", [4, 5]))], red(tsum), {"dim": 0})
case("mean all [4,5]", "mean", [In(rn(4, 5))], red(tmean))
case("mean dim 0 keepdim [3,7]", "mean", [In(rn(3, 7))], red(tmean), {"dim": 0, "keepdim": True})
case("mean dims [0,2] [2,3,4]", "mean", [In(rn(2, 3, 4))], red(tmean), {"dim": [0, 2]})
case("max all [4,6]", "max", [In(distinct(4, 6))], red(tmax))
case("max dim 1 [3,5]", "max", [In(distinct(3, 5))], red(tmax), {"dim": 1})
case("max dim -1 keepdim transposed", "max", [In(distinct(5, 4), view=T("transpose", 0, 1))], red(tmax), {"dim": -1, "keepdim": True})
# ties: a full reduction splits the gradient evenly between the tied maxima (as torch does)
case("max all with tie", "max", [In(torch.tensor([[1.0, 3.0, 3.0, -1.0], [0.5, -2.0, 3.0, 0.0]]))], red(tmax), fd=False)
case("min all [3,4]", "min", [In(distinct(3, 4))], red(tmin))
case("min dim 0 [4,3]", "min", [In(distinct(4, 3))], red(tmin), {"dim": 0})
case("argmax all [3,5]", "argmax", [In(distinct(3, 5), grad=False)], red(targmax))
case("argmax dim 1 [4,6]", "argmax", [In(distinct(4, 6), grad=False)], red(targmax), {"dim": 1})
case("argmax dim 0 keepdim transposed", "argmax", [In(distinct(3, 4), grad=False, view=T("transpose", 0, 1))], red(targmax), {"dim": 0, "keepdim": True})

# ---------------------------------------------------------------------------------------------
# matmul
mm = lambda a, p: torch.matmul(a[0], a[1])
case("matmul [3,4]@[4,5]", "matmul", [In(rn(3, 4)), In(rn(4, 5))], mm)
case("matmul [6]@[6]", "matmul", [In(rn(6)), In(rn(6))], mm)
case("matmul [4]@[4,3]", "matmul", [In(rn(4)), In(rn(4, 3))], mm)
case("matmul [3,4]@[4]", "matmul", [In(rn(3, 4)), In(rn(4))], mm)
case("matmul batched [2,3,4]@[2,4,5]", "matmul", [In(rn(2, 3, 4)), In(rn(2, 4, 5))], mm)
case("matmul broadcast batch [2,1,3,4]@[3,4,2]", "matmul", [In(rn(2, 1, 3, 4)), In(rn(3, 4, 2))], mm)
case("matmul [2,3,4]@[4,5] folded", "matmul", [In(rn(2, 3, 4)), In(rn(4, 5))], mm)
case("matmul x@W^T (transposed b)", "matmul", [In(rn(3, 6)), In(rn(5, 6), view=T("transpose", 0, 1))], mm)
case("matmul a^T@b (transposed a)", "matmul", [In(rn(4, 3), view=T("transpose", 0, 1)), In(rn(4, 2))], mm)
case("matmul both transposed batched", "matmul", [In(rn(2, 4, 3), view=T("transpose", 1, 2)), In(rn(2, 5, 4), view=T("transpose", 1, 2))], mm)
case("matmul sliced step a, expanded b", "matmul", [In(rn(3, 8), view=T("slice", 1, 0, 8, 2)), In(rn(4, 3), view=T("expand", [2, 4, 3]))], mm)
case("matmul odd [1,7]@[7,1]", "matmul", [In(rn(1, 7)), In(rn(7, 1))], mm)

# ---------------------------------------------------------------------------------------------
# softmax family
case("softmax dim -1 [3,5]", "softmax", [In(rn(3, 5) * 2)], lambda a, p: torch.softmax(a[0], p["dim"]), {"dim": -1}, tol=TOL_TRANS)
case("softmax dim 0 [4,3]", "softmax", [In(rn(4, 3) * 2)], lambda a, p: torch.softmax(a[0], p["dim"]), {"dim": 0}, tol=TOL_TRANS)
case("softmax dim 1 [2,3,4] transposed", "softmax", [In(rn(2, 4, 3) * 2, view=T("transpose", 1, 2))],
     lambda a, p: torch.softmax(a[0], p["dim"]), {"dim": 1}, tol=TOL_TRANS)
case("softmax large logits [2,4]", "softmax", [In(torch.tensor([[100.0, 101.0, 99.0, 50.0], [-80.0, -81.0, -79.5, -200.0]]))],
     lambda a, p: torch.softmax(a[0], p["dim"]), {"dim": -1}, tol=TOL_TRANS)
case("logSoftmax dim -1 [4,6]", "logSoftmax", [In(rn(4, 6) * 2)], lambda a, p: torch.log_softmax(a[0], p["dim"]), {"dim": -1}, tol=TOL_TRANS)
case("logSoftmax dim 0 [3,2,2] sliced", "logSoftmax", [In(rn(6, 2, 2), view=T("slice", 0, 0, 6, 2))],
     lambda a, p: torch.log_softmax(a[0], p["dim"]), {"dim": 0}, tol=TOL_TRANS)


def ce(a, p):
    logits, tgt = a[0], a[1].long()
    C_ = logits.shape[-1]
    r = p.get("reduction", "mean")
    out = F.cross_entropy(logits.reshape(-1, C_), tgt.reshape(-1), ignore_index=p.get("ignoreIndex", -100), reduction=r)
    return out.reshape(tgt.shape) if r == "none" else out


case("crossEntropy mean [6,5]", "crossEntropy", [In(rn(6, 5) * 2), In(ints(0, 5, 6))], ce, {}, tol=TOL_TRANS)
case("crossEntropy sum [4,3]", "crossEntropy", [In(rn(4, 3) * 2), In(ints(0, 3, 4))], ce, {"reduction": "sum"}, tol=TOL_TRANS)
case("crossEntropy none [2,3,4]", "crossEntropy", [In(rn(2, 3, 4)), In(ints(0, 4, 2, 3))], ce, {"reduction": "none"}, tol=TOL_TRANS)
case("crossEntropy ignoreIndex -100", "crossEntropy", [In(rn(5, 4)), In(torch.tensor([1, -100, 3, 0, -100], dtype=torch.int32))], ce, {}, tol=TOL_TRANS)
case("crossEntropy ignoreIndex 2 sum", "crossEntropy", [In(rn(6, 3)), In(torch.tensor([2, 0, 2, 1, 1, 0], dtype=torch.int32))], ce,
     {"ignoreIndex": 2, "reduction": "sum"}, tol=TOL_TRANS)
case("crossEntropy transposed logits", "crossEntropy", [In(rn(5, 3), view=T("transpose", 0, 1)), In(ints(0, 5, 3))], ce, {}, tol=TOL_TRANS)

# ---------------------------------------------------------------------------------------------
# embedding
emb = lambda a, p: F.embedding(a[1].long(), a[0])
case("embedding [7,4] ids [2,3] repeated", "embedding", [In(rn(7, 4)), In(torch.tensor([[1, 3, 1], [6, 0, 3]], dtype=torch.int32))], emb)
case("embedding [5,3] ids [4]", "embedding", [In(rn(5, 3)), In(torch.tensor([4, 4, 0, 2], dtype=torch.int32))], emb)
case("embedding ids 0-d", "embedding", [In(rn(4, 6)), In(torch.tensor(2, dtype=torch.int32))], emb)

# ---------------------------------------------------------------------------------------------
# shapes
case("reshape [2,6]->[3,4]", "reshape", [In(rn(2, 6))], lambda a, p: a[0].reshape(p["shape"]), {"shape": [3, 4]})
case("reshape transposed -> [-1] (copy)", "reshape", [In(rn(3, 4), view=T("transpose", 0, 1))], lambda a, p: a[0].reshape(p["shape"]), {"shape": [-1]})
case("reshape [4] -> [1,4,1]", "reshape", [In(rn(4))], lambda a, p: a[0].reshape(p["shape"]), {"shape": [1, 4, 1]})
case("reshape [1] -> 0-d", "reshape", [In(rn(1))], lambda a, p: a[0].reshape(p["shape"]), {"shape": []})
case("transpose [2,3,4] 0,2", "transpose", [In(rn(2, 3, 4))], lambda a, p: a[0].transpose(p["dim0"], p["dim1"]), {"dim0": 0, "dim1": 2})
case("permute [2,3,4] -> [1,2,0]", "permute", [In(rn(2, 3, 4))], lambda a, p: a[0].permute(*p["dims"]), {"dims": [1, 2, 0]})
case("slice dim 1 1:5:2", "slice", [In(rn(3, 6))], lambda a, p: a[0][:, p["start"]:p["end"]:p["step"]], {"dim": 1, "start": 1, "end": 5, "step": 2})
case("slice dim 0 negative start", "slice", [In(rn(5, 2))], lambda a, p: a[0][p["start"]:], {"dim": 0, "start": -3, "end": None, "step": 1})
case("slice of transposed", "slice", [In(rn(4, 5), view=T("transpose", 0, 1))], lambda a, p: a[0][:, p["start"]:p["end"]:p["step"]],
     {"dim": 1, "start": 0, "end": 4, "step": 3})
case("expand [3,1]->[2,3,4]", "expand", [In(rn(3, 1))], lambda a, p: a[0].expand(*p["shape"]), {"shape": [2, 3, 4]})
case("expand with -1", "expand", [In(rn(1, 4))], lambda a, p: a[0].expand(3, 4), {"shape": [3, -1]})
case("squeeze all [1,3,1,2]", "squeeze", [In(rn(1, 3, 1, 2))], lambda a, p: a[0].squeeze(), {})
case("squeeze dim 2", "squeeze", [In(rn(2, 3, 1))], lambda a, p: a[0].squeeze(p["dim"]), {"dim": 2})
case("unsqueeze dim 1", "unsqueeze", [In(rn(2, 3))], lambda a, p: a[0].unsqueeze(p["dim"]), {"dim": 1})
case("unsqueeze dim -1 transposed", "unsqueeze", [In(rn(2, 3), view=T("transpose", 0, 1))], lambda a, p: a[0].unsqueeze(p["dim"]), {"dim": -1})
case("flatten [2,3,4] 1..2", "flatten", [In(rn(2, 3, 4))], lambda a, p: a[0].flatten(p["start"], p["end"]), {"start": 1, "end": 2})
case("flatten permuted all", "flatten", [In(rn(2, 3, 2), view=T("permute", [2, 0, 1]))], lambda a, p: a[0].flatten(p["start"], p["end"]),
     {"start": 0, "end": -1})
case("cat dim 0", "cat", [In(rn(2, 3)), In(rn(1, 3)), In(rn(3, 3))], lambda a, p: torch.cat(a, p["dim"]), {"dim": 0})
case("cat dim 1 with transposed input", "cat", [In(rn(3, 2)), In(rn(4, 3), view=T("transpose", 0, 1))], lambda a, p: torch.cat(a, p["dim"]), {"dim": 1})
case("cat dim -1 3-d", "cat", [In(rn(2, 2, 1)), In(rn(2, 2, 3))], lambda a, p: torch.cat(a, p["dim"]), {"dim": -1})
case("split sizes [1,3,2] dim 1", "split", [In(rn(2, 6))], lambda a, p: torch.split(a[0], p["sizes"], p["dim"]), {"sizes": [1, 3, 2], "dim": 1})
case("split size 2 dim 0 (uneven)", "split", [In(rn(5, 2))], lambda a, p: torch.split(a[0], p["sizes"], p["dim"]), {"sizes": 2, "dim": 0})
case("stack dim 0", "stack", [In(rn(2, 3)), In(rn(2, 3))], lambda a, p: torch.stack(a, p["dim"]), {"dim": 0})
case("stack dim 2 with sliced input", "stack", [In(rn(3, 2)), In(rn(3, 4), view=T("slice", 1, 1, 4, 2)), In(rn(3, 2))],
     lambda a, p: torch.stack(a, p["dim"]), {"dim": 2})
case("contiguous of transposed", "contiguous", [In(rn(3, 5), view=T("transpose", 0, 1))], lambda a, p: a[0].contiguous())
case("contiguous of expanded", "contiguous", [In(rn(1, 3), view=T("expand", [4, 3]))], lambda a, p: a[0].contiguous())

# casts: the reference rounds like torch (nearest-even for floats, truncation toward zero for ints)
def cast_ref(a, p):
    x = a[0]
    td = TORCH_DTYPE[p["dtype"]]
    if x.dtype == torch.float64:
        x32 = x.to(torch.float32)
        # through float32 so double rounding cannot differ from the f32 -> f16 the kernel does
        y = x32.to(td)
        if td in (torch.float16, torch.bfloat16):
            return x + (y.to(torch.float64) - x).detach() if x.requires_grad else y  # value y, grad 1
        return y
    return x.to(td)


def cast_case(name, x, dtype, tol=TOL_EXACT, view=None, grad=None):
    case(name, "cast", [In(x, view=view, grad=grad)],
         lambda a, p: cast_ref(a, p), {"dtype": dtype}, tol=tol, fd=False, out_dtypes=[dtype])


cast_case("cast f32->f16 [3,4]", rn(3, 4) * 3, "float16", TOL_HALF)
cast_case("cast f32->bf16 [2,5] transposed", rn(5, 2) * 3, "bfloat16", {"fwd": 8e-3, "grad": 8e-3}, view=T("transpose", 0, 1))
cast_case("cast f32->int32 [6]", torch.tensor([-2.7, -1.5, -0.2, 0.0, 1.9, 41.5]), "int32", grad=False)
cast_case("cast f32->uint8 [5]", torch.tensor([0.0, 1.0, 2.9, 100.2, 255.0]), "uint8", grad=False)
cast_case("cast f16->f32 [4]", (rn(4) * 2).half(), "float32", TOL_HALF)
cast_case("cast int32->f32 [2,3]", ints(-50, 50, 2, 3), "float32")
cast_case("cast uint8->f32 [4]", torch.tensor([0, 1, 128, 255], dtype=torch.uint8), "float32")
cast_case("cast f32->f32 sliced", rn(8), "float32", view=T("slice", 0, 1, 8, 3))

# ---------------------------------------------------------------------------------------------
# norms
def rms_ref(a, p):
    x = a[0]
    y = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + p["eps"])
    return y * a[1] if p["weight"] else y


def ln_ref(a, p):
    x = a[0]
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    y = (x - mu) * torch.rsqrt(var + p["eps"])
    k = 1
    if p["weight"]:
        y = y * a[k]
        k += 1
    if p["bias"]:
        y = y + a[k]
    return y


case("rmsNorm [2,3,8] weight", "rmsNorm", [In(rn(2, 3, 8)), In(1 + 0.3 * rn(8))], rms_ref, {"eps": 1e-6, "weight": True}, tol=TOL_TRANS)
case("rmsNorm [5,6] no weight eps 1e-2", "rmsNorm", [In(rn(5, 6) * 0.1)], rms_ref, {"eps": 1e-2, "weight": False}, tol=TOL_TRANS)
case("rmsNorm transposed [4,5] weight", "rmsNorm", [In(rn(5, 4), view=T("transpose", 0, 1)), In(rn(5))], rms_ref,
     {"eps": 1e-5, "weight": True}, tol=TOL_TRANS)
case("layerNorm [3,7] weight bias", "layerNorm", [In(rn(3, 7) + 1), In(1 + 0.3 * rn(7)), In(rn(7) * 0.2)], ln_ref,
     {"eps": 1e-5, "weight": True, "bias": True}, tol=TOL_TRANS)
case("layerNorm [2,2,6] no affine", "layerNorm", [In(rn(2, 2, 6))], ln_ref, {"eps": 1e-5, "weight": False, "bias": False}, tol=TOL_TRANS)
case("layerNorm sliced [4,5] weight only", "layerNorm", [In(rn(8, 5), view=T("slice", 0, 0, 8, 2)), In(rn(5))], ln_ref,
     {"eps": 1e-3, "weight": True, "bias": False}, tol=TOL_TRANS)

# ---------------------------------------------------------------------------------------------
# rope: x [B, T, H, D]; angle(t, i) = pos_t * freqScale * base^(-2i/rot)
def rope_ref(x, p, positions):
    B_, T_, H_, D_ = x.shape
    rot = p.get("rotaryDims") or D_
    base = p.get("base", 10000.0)
    fs = p.get("freqScale", 1.0)
    if positions is None:
        positions = torch.arange(T_, dtype=torch.float64) + p.get("offset", 0)
    else:
        positions = positions.to(torch.float64)
    i = torch.arange(rot // 2, dtype=torch.float64)
    inv = base ** (-2.0 * i / rot)
    ang = positions[:, None] * fs * inv[None, :]  # [T, rot/2]
    cos = torch.cos(ang)[None, :, None, :]
    sin = torch.sin(ang)[None, :, None, :]
    if p.get("mode", "neox") == "neox":
        x1, x2 = x[..., : rot // 2], x[..., rot // 2: rot]
        r = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)
    else:
        x1, x2 = x[..., 0:rot:2], x[..., 1:rot:2]
        r = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1).reshape(B_, T_, H_, rot)
    return torch.cat([r, x[..., rot:]], -1)


case("rope neox positions [1,4,2,8]", "rope", [In(rn(1, 4, 2, 8)), In(torch.tensor([0, 1, 2, 7], dtype=torch.int32))],
     lambda a, p: rope_ref(a[0], p, a[1]), {"base": 10000.0, "mode": "neox"}, tol=TOL_TRANS)
case("rope interleaved offset 3 [2,3,1,6]", "rope", [In(rn(2, 3, 1, 6))], lambda a, p: rope_ref(a[0], p, None),
     {"base": 10000.0, "mode": "interleaved", "offset": 3}, tol=TOL_TRANS)
case("rope neox partial rot 4/8 freqScale 0.5 base 500", "rope", [In(rn(1, 3, 2, 8))], lambda a, p: rope_ref(a[0], p, None),
     {"base": 500.0, "mode": "neox", "rotaryDims": 4, "freqScale": 0.5, "offset": 0}, tol=TOL_TRANS)
case("rope interleaved partial rot 4/6 positions", "rope", [In(rn(1, 3, 2, 6)), In(torch.tensor([5, 0, 9], dtype=torch.int32))],
     lambda a, p: rope_ref(a[0], p, a[1]), {"base": 100.0, "mode": "interleaved", "rotaryDims": 4}, tol=TOL_TRANS)
case("rope neox permuted input [1,3,2,4]", "rope", [In(rn(1, 2, 3, 4), view=T("permute", [0, 2, 1, 3]))],
     lambda a, p: rope_ref(a[0], p, None), {"base": 10000.0, "mode": "neox", "offset": 1}, tol=TOL_TRANS)

# ---------------------------------------------------------------------------------------------
# swiglu
sw = lambda a, p: F.silu(a[0]) * a[1]
case("swiglu [3,8]", "swiglu", [In(rn(3, 8) * 2), In(rn(3, 8))], sw, tol=TOL_TRANS)
case("swiglu transposed [4,3]", "swiglu", [In(rn(3, 4) * 2, view=T("transpose", 0, 1)), In(rn(4, 3))], sw, tol=TOL_TRANS)
case("swiglu halves of [2,10] (sliced)", "swiglu", [In(rn(2, 10), view=T("slice", 1, 0, 5, 1)), In(rn(2, 10), view=T("slice", 1, 5, 10, 1))],
     sw, tol=TOL_TRANS)

# ---------------------------------------------------------------------------------------------
# scaled dot-product attention (explicit reference)
def sdpa_ref(q, k, v, p, m=None):
    B_, Hq, T_, D_ = q.shape
    Hkv, S_ = k.shape[1], k.shape[2]
    g = Hq // Hkv
    k = k.repeat_interleave(g, dim=1)
    v = v.repeat_interleave(g, dim=1)
    scale = p.get("scale") or 1.0 / math.sqrt(D_)
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    vis = torch.ones(s.shape, dtype=torch.bool)
    if m is not None:
        if m.dtype == torch.uint8:
            vis = vis & (m != 0)
        else:
            s = s + m
    if p.get("causal"):
        i = torch.arange(T_)[:, None]
        j = torch.arange(S_)[None, :]
        vis = vis & (j <= i + S_ - T_)
    # softmax over the visible keys; a query that sees no key gets output 0 (and no gradient)
    anyv = vis.any(-1, keepdim=True)
    mx = torch.where(anyv, s.masked_fill(~vis, -1e300).amax(-1, keepdim=True), torch.zeros(()).double()).detach()
    e = torch.exp(s.masked_fill(~vis, 0.0) - mx) * vis
    att = e / e.sum(-1, keepdim=True).clamp_min(1e-300)
    return torch.matmul(att, v)


def sdpa_case(name, q, k, v, params, m=None):
    ins = [q, k, v] + ([m] if m is not None else [])
    case(name, "scaledDotProductAttention", ins,
         lambda a, p: sdpa_ref(a[0], a[1], a[2], p, a[3] if len(a) > 3 else None), params, tol=TOL_ATTN)


sdpa_case("sdpa [1,2,4,8]", In(rn(1, 2, 4, 8)), In(rn(1, 2, 4, 8)), In(rn(1, 2, 4, 8)), {"causal": False})
sdpa_case("sdpa causal T=S=5", In(rn(1, 1, 5, 4)), In(rn(1, 1, 5, 4)), In(rn(1, 1, 5, 4)), {"causal": True})
sdpa_case("sdpa causal T=3 < S=5 (bottom-right)", In(rn(2, 1, 3, 4)), In(rn(2, 1, 5, 4)), In(rn(2, 1, 5, 4)), {"causal": True})
sdpa_case("sdpa GQA Hq=4 Hkv=2 Dv=3", In(rn(1, 4, 3, 4)), In(rn(1, 2, 4, 4)), In(rn(1, 2, 4, 3)), {"causal": False})
sdpa_case("sdpa additive mask [T,S] scale 0.3", In(rn(1, 2, 3, 4)), In(rn(1, 2, 4, 4)), In(rn(1, 2, 4, 4)),
          {"causal": False, "scale": 0.3, "mask": "additive"}, In(rn(3, 4), grad=False))
_bm = mask(2, 1, 4, 5, p=0.6)
_bm[..., 0] = 1  # every query sees at least one key
sdpa_case("sdpa bool mask [B,1,T,S] + causal", In(rn(2, 2, 4, 4)), In(rn(2, 2, 5, 4)), In(rn(2, 2, 5, 4)),
          {"causal": True, "mask": "bool"}, In(_bm))
_em = torch.ones(1, 1, 3, 4, dtype=torch.uint8)
_em[..., 1, :] = 0  # query 1 sees no key
sdpa_case("sdpa bool mask with an empty row (output 0)", In(rn(1, 2, 3, 4)), In(rn(1, 2, 4, 4)), In(rn(1, 2, 4, 4)),
          {"causal": False, "mask": "bool"}, In(_em))
sdpa_case("sdpa causal T=4 > S=2 (early queries see nothing)", In(rn(1, 1, 4, 4)), In(rn(1, 1, 2, 4)), In(rn(1, 1, 2, 4)), {"causal": True})
sdpa_case("sdpa permuted q,k,v from [B,T,H,D]", In(rn(1, 4, 2, 4), view=T("permute", [0, 2, 1, 3])),
          In(rn(1, 4, 2, 4), view=T("permute", [0, 2, 1, 3])), In(rn(1, 4, 2, 4), view=T("permute", [0, 2, 1, 3])), {"causal": True})

# ---------------------------------------------------------------------------------------------
# longer odd-sized rows: vectorised kernels with remainders, blocked GEMM edges (fd probes a subset)
unary("exp [133]", "exp", In(rn(133)))
unary("gelu tanh [131]", "gelu", In(rn(131) * 2), {"approximate": "tanh"})
unary("silu [3,45] transposed", "silu", In(rn(45, 3) * 2, view=T("transpose", 0, 1)))
binary("mul [7,19]*[19]", "mul", In(rn(7, 19)), In(rn(19)))
binary("add [5,37]+[5,1]", "add", In(rn(5, 37)), In(rn(5, 1)))
case("sum dim -1 [3,37]", "sum", [In(rn(3, 37))], red(tsum), {"dim": -1})
case("max dim -1 [3,37]", "max", [In(distinct(3, 37))], red(tmax), {"dim": -1})
case("matmul odd tiles [17,33]@[33,19]", "matmul", [In(rn(17, 33)), In(rn(33, 19))], mm)
case("matmul batched transposed [2,13,9]^T@[2,13,11]", "matmul",
     [In(rn(2, 13, 9), view=T("transpose", 1, 2)), In(rn(2, 13, 11))], mm)
case("softmax dim -1 [3,37]", "softmax", [In(rn(3, 37) * 3)], lambda a, p: torch.softmax(a[0], p["dim"]), {"dim": -1}, tol=TOL_TRANS)
case("rmsNorm [3,37] weight", "rmsNorm", [In(rn(3, 37)), In(1 + 0.3 * rn(37))], rms_ref, {"eps": 1e-6, "weight": True}, tol=TOL_TRANS)
case("layerNorm [3,37] weight bias", "layerNorm", [In(rn(3, 37)), In(1 + 0.3 * rn(37)), In(rn(37) * 0.2)], ln_ref,
     {"eps": 1e-5, "weight": True, "bias": True}, tol=TOL_TRANS)
sdpa_case("sdpa longer [1,2,13,16] causal", In(rn(1, 2, 13, 16)), In(rn(1, 2, 13, 16)), In(rn(1, 2, 13, 16)), {"causal": True})

# ---------------------------------------------------------------------------------------------
# composites: the autograd graph across several ops (same recipe in test/helpers/op-table.ts)
def mlp_ref(a, p):
    x, w, b = a
    return torch.relu(x @ w.T + b).sum()


case("composite mlp relu(x@W^T+b).sum", "mlp", [In(rn(4, 5)), In(rn(3, 5)), In(rn(3))], mlp_ref, tol=TOL_TRANS)


def attn_block_ref(a, p):
    x, wn, wq, wk, wv, wo = a
    B_, T_, C_ = x.shape
    H, Hkv = p["heads"], p["kvHeads"]
    D_ = C_ // H
    h = rms_ref([x, wn], {"eps": 1e-5, "weight": True})
    q = (h @ wq.T).reshape(B_, T_, H, D_)
    k = (h @ wk.T).reshape(B_, T_, Hkv, D_)
    v = (h @ wv.T).reshape(B_, T_, Hkv, D_)
    rp = {"base": 10000.0, "mode": "neox"}
    q = rope_ref(q, rp, None).permute(0, 2, 1, 3)
    k = rope_ref(k, rp, None).permute(0, 2, 1, 3)
    v = v.permute(0, 2, 1, 3)
    o = sdpa_ref(q, k, v, {"causal": True})
    o = o.permute(0, 2, 1, 3).reshape(B_, T_, C_)
    return x + o @ wo.T


case("composite attention block rmsNorm+rope+sdpa(GQA)+residual", "attnBlock",
     [In(rn(1, 3, 8)), In(1 + 0.2 * rn(8)), In(rn(8, 8) * 0.4), In(rn(4, 8) * 0.4), In(rn(4, 8) * 0.4), In(rn(8, 8) * 0.4)],
     attn_block_ref, {"heads": 4, "kvHeads": 2}, tol=TOL_ATTN)


def lm_ref(a, p):
    w_emb, w_ln, ids, tgt = a
    h = F.embedding(ids.long(), w_emb)
    h = ln_ref([h, w_ln], {"eps": 1e-5, "weight": True, "bias": False})
    h = F.gelu(h, approximate="tanh")
    logits = h @ w_emb.T  # tied weights: the embedding gets two gradient paths
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.long().reshape(-1))


case("composite tied lm head embedding+layerNorm+gelu+crossEntropy", "lmHead",
     [In(rn(6, 4)), In(1 + 0.2 * rn(4)), In(torch.tensor([[0, 3, 5], [2, 2, 1]], dtype=torch.int32)),
      In(torch.tensor([[3, 5, 1], [2, 0, 4]], dtype=torch.int32))], lm_ref, tol=TOL_TRANS)


def softmax_chain_ref(a, p):
    x, w = a
    s = torch.softmax(x @ w, -1)
    return (s * s).sum(0).mean() + torch.tanh(x).max()


case("composite softmax/sum/mean/max chain", "softmaxChain", [In(rn(3, 4)), In(rn(4, 5))], softmax_chain_ref, tol=TOL_TRANS)

# ---------------------------------------------------------------------------------------------
names = [c["name"] for c in CASES]
dups = {n for n in names if names.count(n) > 1}
assert not dups, f"duplicate case names: {dups}"
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "ops.json")
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    json.dump({"generator": "scripts/gen-fixtures.py", "torch": torch.__version__, "seed": 1234, "cases": CASES}, f,
              separators=(",", ":"))
    f.write("\n")
print(f"wrote {len(CASES)} cases to {os.path.relpath(out)} ({os.path.getsize(out)} bytes)")

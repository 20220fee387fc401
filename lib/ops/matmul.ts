// matmul with PyTorch's rules: 1-D operands, batched operands with broadcast batch dims, and
// transposed operands passed to the kernel as strides (no copy). b may be float16 or bfloat16 (a
// half-size weight used in place: the kernel widens it while packing or streaming); a and the
// result are float32. A half-size b's gradient is cast back to its dtype.
import { ShapeError } from '../errors.js';
import { record } from '../autograd/engine.js';
import { type KernelArg, rawView, runKernel } from '../native/run.js';
import type { Tensor } from '../tensor.js';
import { cast } from './copy.js';
import { matmulPrecisionParam } from './precision.js';
import { sumToShape } from './reduce.js';
import { reshape, transpose, squeeze, unsqueeze } from './shape.js';
import { broadcastShapes, broadcastStrides, expectDType, fmt } from './util.js';

// The kernel needs a unit stride in one of the last two dims of each operand.
function kernelReady(t: Tensor): Tensor {
  const n = t.ndim;
  const ok = t.strides[n - 1] === 1 || t.strides[n - 2] === 1 || t.shape[n - 1] === 1 || t.shape[n - 2] === 1;
  return ok ? t : t.contiguousCopy();
}

// Broadcast view for the kernel; size-1 dims may carry any stride, so give them a unit one.
function kernelView(t: Tensor, shape: number[]): KernelArg {
  const n = shape.length;
  const st = broadcastStrides('matmul', t, shape);
  if (shape[n - 1] === 1 && st[n - 2] !== 1) st[n - 1] = 1;
  else if (shape[n - 2] === 1 && st[n - 1] !== 1) st[n - 2] = 1;
  return rawView(t, shape, st);
}

/** a [..., M, K] . b [..., K, N] -> [..., M, N] with broadcast batch dims. */
function mm(a: Tensor, b: Tensor): Tensor {
  const M = a.shape[a.ndim - 2]!;
  const K = a.shape[a.ndim - 1]!;
  const N = b.shape[b.ndim - 1]!;
  if (b.shape[b.ndim - 2] !== K)
    throw new ShapeError(`matmul: inner dims differ: ${fmt(a.shape)} @ ${fmt(b.shape)} (${K} vs ${b.shape[b.ndim - 2]})`);
  const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const ar = kernelReady(a);
  const br = kernelReady(b);
  let y: Tensor;
  try {
    y = runKernel('matmul', [kernelView(ar, [...batch, M, K]), kernelView(br, [...batch, K, N])], [{ shape: [...batch, M, N], dtype: 'float32' }], [0, matmulPrecisionParam(b.dtype)])[0]!;
  } finally {
    if (ar !== a) ar.dispose();
    if (br !== b) br.dispose();
  }
  record('matmul', [a, b], [y], [a, b], ([dy], [as, bs], needs) => {
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (needs[0]) {
      const bt = transpose(bs!);
      const full = mm(dy!, bt);
      da = sumToShape(full, a.shape);
      bt.dispose();
      full.dispose();
    }
    if (needs[1]) {
      const at = transpose(as!);
      const full = mm(at, dy!);
      db = sumToShape(full, b.shape);
      at.dispose();
      full.dispose();
      if (b.dtype !== 'float32') {
        const d32 = db;
        db = cast(d32, b.dtype);
        d32.dispose();
      }
    }
    return [da, db];
  });
  return y;
}

/**
 * y += a @ b in place, for 2-D a [M, K], b [K, N] and a contiguous float32 y [M, N] (the matmul
 * kernel's accumulating form, beta 1), recording nothing: for fused ops that add a product into
 * a result they own, as a LoRA layer adds its low-rank update into the base output without
 * another pass over it.
 */
export function matmulAddInto(y: Tensor, a: Tensor, b: Tensor): void {
  for (const t of [y, a, b]) t.assertLive('matmulAddInto');
  expectDType('matmulAddInto', a, 'float32');
  expectDType('matmulAddInto', b, 'float32', 'float16', 'bfloat16');
  expectDType('matmulAddInto', y, 'float32');
  if (a.ndim !== 2 || b.ndim !== 2 || y.ndim !== 2 || a.shape[1] !== b.shape[0] || y.shape[0] !== a.shape[0] || y.shape[1] !== b.shape[1])
    throw new ShapeError(`matmulAddInto: y ${fmt(y.shape)} += a ${fmt(a.shape)} @ b ${fmt(b.shape)} needs 2-D [M, N] += [M, K] @ [K, N]`);
  if (!y.isContiguous()) throw new ShapeError(`matmulAddInto: y ${fmt(y.shape)} must be contiguous`);
  const ar = kernelReady(a);
  const br = kernelReady(b);
  try {
    runKernel('matmul', [ar, br], [], [1, matmulPrecisionParam(b.dtype)], [y]);
  } finally {
    if (ar !== a) ar.dispose();
    if (br !== b) br.dispose();
  }
}

/** Matrix product with PyTorch's matmul semantics (1-D, 2-D and batched, broadcasting batch dims). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  a.assertLive('matmul');
  b.assertLive('matmul');
  expectDType('matmul', a, 'float32');
  expectDType('matmul', b, 'float32', 'float16', 'bfloat16');
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: operands must have rank >= 1, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
  const tmp: Tensor[] = [];
  let x = a;
  let w = b;
  if (a.ndim === 1) tmp.push((x = unsqueeze(a, 0)));
  if (b.ndim === 1) tmp.push((w = unsqueeze(b, 1)));
  // [..., M, K] @ [K, N]: fold the batch into M so the kernel runs one large GEMM.
  let folded = false;
  const lead = x.shape.slice(0, -1);
  if (w.ndim === 2 && x.ndim > 2) {
    tmp.push((x = reshape(x, [-1, x.shape[x.ndim - 1]!])));
    folded = true;
  }
  let y = mm(x, w);
  if (folded) {
    const r = reshape(y, [...lead, y.shape[1]!]);
    y.dispose();
    y = r;
  }
  if (b.ndim === 1) {
    const r = squeeze(y, -1);
    y.dispose();
    y = r;
  }
  if (a.ndim === 1) {
    const r = squeeze(y, a.ndim === 1 && b.ndim === 1 ? 0 : -2);
    y.dispose();
    y = r;
  }
  for (const t of tmp) t.dispose();
  return y;
}

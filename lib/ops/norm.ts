// rmsNorm and layerNorm over the last dim, each one fused kernel with a fused backward.
import { ShapeError } from '../errors.js';
import { record } from '../autograd/engine.js';
import { runKernel } from '../native/run.js';
import type { Tensor } from '../tensor.js';
import { full } from './creation.js';
import { expectDType, expectFinite, fmt } from './util.js';

// [C] view of one stored value (stride 0): stands in for a missing weight (1) or bias (0).
function constVec(value: number, C: number, device: string): Tensor {
  const one = full([1], value, { device });
  const v = one.view([C], [0], one.offset, { internal: true });
  one.dispose();
  return v;
}

function checkVec(op: string, name: string, t: Tensor | null, x: Tensor): void {
  if (!t) return;
  t.assertLive(op);
  expectDType(op, t, 'float32');
  const C = x.shape[x.ndim - 1]!;
  if (t.ndim !== 1 || t.shape[0] !== C)
    throw new ShapeError(`${op}: ${name} of shape ${fmt(t.shape)} does not match the last dim of x ${fmt(x.shape)} (expected [${C}])`);
}

function checkX(op: string, x: Tensor, eps: number): void {
  x.assertLive(op);
  expectDType(op, x, 'float32');
  expectFinite(op, 'eps', eps);
  if (x.ndim < 1) throw new ShapeError(`${op}: x must have at least one dim, got shape ${fmt(x.shape)}`);
}

const contig = (t: Tensor): Tensor => (t.isContiguous() ? t : t.contiguousCopy());

/**
 * RMSNorm over the last dim: y = x / sqrt(mean(x^2) + eps) * weight, for x [..., C] and
 * weight [C] (null: no scaling and no weight gradient).
 */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-6): Tensor {
  const op = 'rmsNorm';
  checkX(op, x, eps);
  checkVec(op, 'weight', weight, x);
  const C = x.shape[x.ndim - 1]!;
  const xc = contig(x);
  const w = weight ?? constVec(1, C, x.device);
  try {
    const [y, rstd] = runKernel(op, [xc, w], [
      { shape: x.shape, dtype: 'float32' },
      { shape: x.shape.slice(0, -1), dtype: 'float32' },
    ], [eps]);
    record(op, [x, weight], [y!], [xc, w, rstd!], ([dy], [xs, ws, rs], needs) => {
      const g = contig(dy!);
      const [dx, dw] = runKernel('rmsNormBwd', [xs!, ws!, rs!, g], [
        { shape: xs!.shape, dtype: 'float32' },
        { shape: [C], dtype: 'float32' },
      ]);
      if (g !== dy) g.dispose();
      if (!needs[0]) dx!.dispose();
      if (!needs[1]) dw!.dispose();
      return [needs[0] ? dx! : null, needs[1] ? dw! : null];
    });
    rstd!.dispose();
    return y!;
  } finally {
    if (xc !== x) xc.dispose();
    if (w !== weight) w.dispose();
  }
}

/**
 * LayerNorm over the last dim: y = (x - mean) / sqrt(var + eps) * weight + bias (biased
 * variance), x [..., C], weight and bias [C] or null.
 */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const op = 'layerNorm';
  checkX(op, x, eps);
  checkVec(op, 'weight', weight, x);
  checkVec(op, 'bias', bias, x);
  const C = x.shape[x.ndim - 1]!;
  const xc = contig(x);
  const w = weight ?? constVec(1, C, x.device);
  const b = bias ?? constVec(0, C, x.device);
  try {
    const rowShape = x.shape.slice(0, -1);
    const [y, mean, rstd] = runKernel(op, [xc, w, b], [
      { shape: x.shape, dtype: 'float32' },
      { shape: rowShape, dtype: 'float32' },
      { shape: rowShape, dtype: 'float32' },
    ], [eps]);
    record(op, [x, weight, bias], [y!], [xc, w, mean!, rstd!], ([dy], [xs, ws, ms, rs], needs) => {
      const g = contig(dy!);
      const [dx, dw, db] = runKernel('layerNormBwd', [xs!, ws!, ms!, rs!, g], [
        { shape: xs!.shape, dtype: 'float32' },
        { shape: [C], dtype: 'float32' },
        { shape: [C], dtype: 'float32' },
      ]);
      if (g !== dy) g.dispose();
      const keep = [dx!, dw!, db!].map((t, i) => {
        if (needs[i]) return t;
        t.dispose();
        return null;
      });
      return keep;
    });
    mean!.dispose();
    rstd!.dispose();
    return y!;
  } finally {
    if (xc !== x) xc.dispose();
    if (w !== weight) w.dispose();
    if (b !== bias) b.dispose();
  }
}

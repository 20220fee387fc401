// softmax / logSoftmax over a dim, and crossEntropy fused with log-softmax.
import { record } from '../autograd/engine.js';
import { ShapeError, ValueError } from '../errors.js';
import { runKernel } from '../native/run.js';
import type { Tensor } from '../tensor.js';
import { div } from './binary.js';
import { ne } from './compare.js';
import { cast, contiguous } from './copy.js';
import { sum } from './reduce.js';
import { transpose } from './shape.js';
import { expectDType, fmt, normDim } from './util.js';

const contig = (t: Tensor): Tensor => (t.isContiguous() ? t : t.contiguousCopy());

// Row kernels work on the last dim of a contiguous tensor: move `dim` last, run, move it back.
function rowwise(op: 'softmax' | 'logSoftmax', x: Tensor, dim: number): Tensor {
  x.assertLive(op);
  expectDType(op, x, 'float32');
  // a 0-d tensor is one row of one element
  const d = x.ndim === 0 ? 0 : normDim(op, dim, x.ndim);
  const last = Math.max(x.ndim - 1, 0);
  const moved = d === last ? x : transpose(x, d, last);
  const c = contig(moved);
  const y = runKernel(op, [c], [{ shape: c.shape, dtype: 'float32' }])[0]!;
  if (c !== moved) c.dispose();
  const bwd = op === 'softmax' ? 'softmaxBwd' : 'logSoftmaxBwd';
  // recorded against the moved view so the gradient arrives in x's layout through transpose
  record(op, [moved], [y], [y], ([dy], [ys]) => {
    const g = contiguous(dy!);
    const dx = runKernel(bwd, [ys!, g], [{ shape: ys!.shape, dtype: 'float32' }])[0]!;
    g.dispose();
    return [dx];
  });
  if (moved !== x) moved.dispose();
  if (d === last) return y;
  const out = transpose(y, d, last);
  y.dispose();
  return out;
}

/** exp(x) / sum(exp(x)) along dim (default: last). */
export function softmax(x: Tensor, dim = -1): Tensor {
  return rowwise('softmax', x, dim);
}

/** x - logsumexp(x) along dim (default: last). */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return rowwise('logSoftmax', x, dim);
}

export interface CrossEntropyOptions {
  /** Targets equal to this contribute no loss and no gradient (default -100, as in PyTorch). */
  ignoreIndex?: number;
  /** 'mean' over the non-ignored targets (NaN when there are none), 'sum', or per-target 'none'. */
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Cross-entropy of logits [..., C] against int32 class targets [...] (logits' shape without its
 * last dim): logsumexp(logits) - logits[target], in one fused kernel with a fused backward.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts?: CrossEntropyOptions): Tensor {
  const op = 'crossEntropy';
  logits.assertLive(op);
  targets.assertLive(op);
  expectDType(op, logits, 'float32');
  expectDType(op, targets, 'int32');
  const ignoreIndex = opts?.ignoreIndex ?? -100;
  const reduction = opts?.reduction ?? 'mean';
  if (!Number.isInteger(ignoreIndex) || Math.abs(ignoreIndex) > 2 ** 31 - 1)
    throw new ValueError(`${op}: ignoreIndex must be an int32 integer, got ${ignoreIndex}`);
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none')
    throw new ValueError(`${op}: reduction must be 'mean', 'sum' or 'none', got ${String(reduction)}`);
  if (logits.ndim < 1) throw new ShapeError(`${op}: logits must have a class dim, got shape ${fmt(logits.shape)}`);
  const rowShape = logits.shape.slice(0, -1);
  if (targets.ndim !== rowShape.length || targets.shape.some((s, i) => s !== rowShape[i]))
    throw new ShapeError(
      `${op}: targets of shape ${fmt(targets.shape)} do not match logits of shape ${fmt(logits.shape)} (expected targets ${fmt(rowShape)})`,
    );

  const xc = contig(logits);
  const tc = contig(targets);
  let loss: Tensor;
  try {
    const [l, lse] = runKernel(op, [xc, tc], [
      { shape: rowShape, dtype: 'float32' },
      { shape: rowShape, dtype: 'float32' },
    ], [ignoreIndex]);
    loss = l!;
    record(op, [logits], [loss], [xc, tc, lse!], ([dl], [xs, ts, ls]) => {
      const g = contig(dl!);
      const dx = runKernel('crossEntropyBwd', [xs!, ts!, ls!, g], [{ shape: xs!.shape, dtype: 'float32' }], [ignoreIndex])[0]!;
      if (g !== dl) g.dispose();
      return [dx];
    });
    lse!.dispose();
  } finally {
    if (xc !== logits) xc.dispose();
    if (tc !== targets) tc.dispose();
  }
  if (reduction === 'none') return loss;
  const total = sum(loss);
  loss.dispose();
  if (reduction === 'sum') return total;
  // count of non-ignored targets, on the device (no host sync); 0/0 gives PyTorch's NaN
  const tf = cast(targets, 'float32');
  const keep = ne(tf, ignoreIndex);
  const keepF = cast(keep, 'float32');
  const count = sum(keepF);
  tf.dispose();
  keep.dispose();
  keepF.dispose();
  const mean = div(total, count);
  total.dispose();
  count.dispose();
  return mean;
}

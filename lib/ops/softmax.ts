// softmax / logSoftmax over a dim, and crossEntropy fused with log-softmax.
import { record } from '../autograd/engine.js';
import { runKernel } from '../native/run.js';
import type { Tensor } from '../tensor.js';
import { contiguous } from './copy.js';
import { transpose } from './shape.js';
import { expectDType, normDim } from './util.js';

// Row kernels work on the last dim of a contiguous tensor: move `dim` last, run, move it back.
function rowwise(op: 'softmax' | 'logSoftmax', x: Tensor, dim: number): Tensor {
  x.assertLive(op);
  expectDType(op, x, 'float32');
  const d = normDim(op, dim, x.ndim);
  const last = Math.max(x.ndim - 1, 0);
  const moved = d === last ? x : transpose(x, d, last);
  const c = moved.isContiguous() ? moved : moved.contiguousCopy();
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

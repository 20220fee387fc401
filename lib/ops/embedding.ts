// Embedding lookup: rows of a [V, D] table gathered by int32 ids, with a scatter-add gradient.
import { record } from '../autograd/engine.js';
import { ShapeError } from '../errors.js';
import { runKernel } from '../native/run.js';
import type { Tensor } from '../tensor.js';
import { expectDType, fmt } from './util.js';

/**
 * weight [V, D] indexed by int32 ids of any shape -> [...ids.shape, D]. Ids outside [0, V) throw
 * IndexError. The gradient goes to weight only (float32); float16/bfloat16 tables (frozen base
 * models) are looked up without one.
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  const op = 'embedding';
  weight.assertLive(op);
  ids.assertLive(op);
  expectDType(op, weight, 'float32', 'float16', 'bfloat16');
  expectDType(op, ids, 'int32');
  if (weight.ndim !== 2) throw new ShapeError(`${op}: weight must be [num, dim], got shape ${fmt(weight.shape)}`);
  const [V, D] = weight.shape as [number, number];
  // the kernel wants weight rows with unit stride and ids contiguous
  const w = weight.strides[1] === 1 || D <= 1 ? weight : weight.contiguousCopy();
  const ic = ids.isContiguous() ? ids : ids.contiguousCopy();
  try {
    const y = runKernel(op, [w, ic], [{ shape: [...ids.shape, D], dtype: weight.dtype }])[0]!;
    record(op, [weight], [y], [ic], ([dy], [is]) => {
      const g = dy!.isContiguous() ? dy! : dy!.contiguousCopy();
      const dw = runKernel('embeddingBwd', [g, is!], [{ shape: [V, D], dtype: 'float32' }])[0]!;
      if (g !== dy) g.dispose();
      return [dw];
    });
    return y;
  } finally {
    if (w !== weight) w.dispose();
    if (ic !== ids) ic.dispose();
  }
}

// The few kernels the engine runs itself: seed gradients, zeros for outputs that got no
// gradient, the sum of two gradients of one tensor, a contiguous copy for a leaf's .grad. They
// call the kernels directly (not lib/ops, which sits above autograd and records onto its tape).
// They run with autograd off, so nothing here is recorded.
import type { DType } from '../dtype.js';
import { DTypeError, ShapeError } from '../errors.js';
import { runKernel } from '../native/run.js';
import { Tensor } from '../tensor.js';

/** A tensor of `shape` filled with `value`. */
export function filled(shape: readonly number[], dtype: DType, device: string, value: number): Tensor {
  const t = Tensor.empty(shape, dtype, device);
  runKernel('fill', [], [], [value], [t]);
  return t;
}

/** a + b for two gradients of one tensor: same shape, float32 (what the add kernel reads). */
export function sumGrads(a: Tensor, b: Tensor): Tensor {
  if (a.shape.length !== b.shape.length || a.shape.some((s, i) => s !== b.shape[i]))
    throw new ShapeError(`backward: gradients of shapes [${a.shape}] and [${b.shape}] for one tensor cannot be summed`);
  if (a.dtype !== 'float32' || b.dtype !== 'float32')
    throw new DTypeError(`backward: gradients are summed in float32, got ${a.dtype} and ${b.dtype} (shape [${a.shape}])`);
  return runKernel('add', [a, b], [{ shape: a.shape, dtype: 'float32' }])[0]!;
}

/** t when it is contiguous, else a contiguous copy of it. */
export function contiguousOf(t: Tensor): Tensor {
  return t.isContiguous() ? t : runKernel('copy', [t], [{ shape: t.shape, dtype: t.dtype }])[0]!;
}

// Copies: contiguous(), cast(), to(device), clone(), and the in-place copyInto() that cat uses.
import { type DType, DTYPE_SIZE, isFloat, parseDType } from '../dtype.js';
import { fromNative, ShapeError } from '../errors.js';
import { record } from '../autograd/engine.js';
import { resolveDevice } from '../device.js';
import { native } from '../native/addon.js';
import { runKernel } from '../native/run.js';
import { Tensor, contiguousStrides } from '../tensor.js';
import { fmt, sameShape } from './util.js';

function rawCopy(x: Tensor, dtype: DType): Tensor {
  return runKernel('copy', [x], [{ shape: x.shape, dtype }])[0]!;
}

/** x if it is already contiguous (as a new alias), else a contiguous copy. Differentiable. */
export function contiguous(x: Tensor): Tensor {
  x.assertLive('contiguous');
  const y = x.isContiguous() ? x.view(x.shape, x.strides, x.offset) : rawCopy(x, x.dtype);
  record('contiguous', [x], [y], [], ([dy]) => [dy!]);
  return y;
}

/** A copy that owns its storage. Differentiable. */
export function clone(x: Tensor): Tensor {
  x.assertLive('clone');
  const y = rawCopy(x, x.dtype);
  record('clone', [x], [y], [], ([dy]) => [dy!]);
  return y;
}

/** Converts to another dtype (a copy). Gradients flow between floating dtypes. */
export function cast(x: Tensor, dtype: DType | string): Tensor {
  x.assertLive('cast');
  const d = parseDType(dtype, 'cast');
  const y = rawCopy(x, d);
  if (isFloat(d) && isFloat(x.dtype)) record('cast', [x], [y], [], ([dy]) => [rawCopy(dy!, x.dtype)]);
  return y;
}

/** Writes src (broadcast to dst's shape) into dst's elements in place, from any device. No autograd. */
export function copyInto(dst: Tensor, src: Tensor): void {
  if (!sameShape(dst.shape, src.shape)) throw new ShapeError(`copyInto: source ${fmt(src.shape)} does not match destination ${fmt(dst.shape)}`);
  if (src.device === dst.device) return void runKernel('copy', [src], [], [], [dst]);
  const moved = to(src, dst.device);
  try {
    runKernel('copy', [moved], [], [], [dst]);
  } finally {
    moved.dispose();
  }
}

/** The tensor on another device (itself when already there). Differentiable. */
export function to(x: Tensor, device: string): Tensor {
  x.assertLive('to');
  const dev = resolveDevice(device, 'to');
  if (dev === x.device) return x;
  const src = x.isContiguous() ? x : rawCopy(x, x.dtype);
  const bytes = src.numel * DTYPE_SIZE[src.dtype];
  let y: Tensor | undefined;
  try {
    y = Tensor.empty(x.shape, x.dtype, dev);
    // queued on both devices' streams: returns at once, like any op
    if (bytes > 0) native.copyBuffer(src.storage.handle, src.offset * DTYPE_SIZE[src.dtype], y.storage.handle, 0, bytes);
  } catch (e) {
    y?.dispose();
    throw fromNative(e, 'to');
  } finally {
    if (src !== x) src.dispose();
  }
  record('to', [x], [y], [], ([dy]) => [to(dy!, x.device)]);
  return y;
}

Tensor.prototype.contiguousCopy = function (this: Tensor): Tensor {
  return rawCopy(this, this.dtype);
};

export { contiguousStrides };

// Tensor creation: from JS data, constants, ranges and random numbers.
import { type DType, DTYPE_SIZE, f32ToBf16, f32ToF16, parseDType } from '../dtype.js';
import { ShapeError, fromNative } from '../errors.js';
import { resolveDevice } from '../device.js';
import { native } from '../native/addon.js';
import { runKernel } from '../native/run.js';
import { OP } from '../native/ops.js';
import { to } from './copy.js';
import { nextSeed, seedKey } from '../random.js';
import { Tensor } from '../tensor.js';
import { checkShape, expectFinite, fmt, prod } from './util.js';

export interface CreateOptions {
  dtype?: DType | string;
  device?: string;
  requiresGrad?: boolean;
}

type Nested = number | boolean | Nested[];

function inferShape(data: Nested, op: string): number[] {
  const shape: number[] = [];
  let cur: Nested = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0]!;
  }
  return checkShape(op, shape);
}

function flatten(data: Nested, shape: number[], out: number[], dim: number, op: string): void {
  if (dim === shape.length) {
    if (Array.isArray(data)) throw new ShapeError(`${op}: ragged nested array (expected a number at depth ${dim})`);
    out.push(typeof data === 'boolean' ? Number(data) : (data as number));
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim])
    throw new ShapeError(`${op}: ragged nested array: expected length ${shape[dim]} at depth ${dim}, got ${Array.isArray(data) ? data.length : 'a number'}`);
  for (const x of data) flatten(x, shape, out, dim + 1, op);
}

/** Copies host values into a tensor's storage (converting to its dtype). */
export function uploadValues(t: Tensor, values: ArrayLike<number>): void {
  let buf: ArrayBufferView;
  switch (t.dtype) {
    case 'float32':
      buf = values instanceof Float32Array ? values : Float32Array.from(values);
      break;
    case 'int32':
      buf = values instanceof Int32Array ? values : Int32Array.from(values);
      break;
    case 'uint8':
      buf = values instanceof Uint8Array ? values : Uint8Array.from(values);
      break;
    case 'float16':
    case 'bfloat16': {
      const conv = t.dtype === 'float16' ? f32ToF16 : f32ToBf16;
      const h = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) h[i] = conv(values[i]!);
      buf = h;
      break;
    }
  }
  if (buf.byteLength === 0) return;
  try {
    native.upload(t.storage.handle, t.offset * DTYPE_SIZE[t.dtype], buf);
  } catch (e) {
    throw fromNative(e, 'upload');
  }
}

function dtypeOfArray(a: unknown): DType | undefined {
  if (a instanceof Float32Array || a instanceof Float64Array) return 'float32';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint8Array) return 'uint8';
  return undefined;
}

/**
 * A tensor from nested arrays (`tensor([[1, 2], [3, 4]])`) or from a typed array and a shape
 * (`tensor(new Float32Array(6), [2, 3])`). The dtype follows the typed array, else float32.
 */
export function tensor(data: Nested | ArrayLike<number>, shapeOrOpts?: readonly number[] | CreateOptions, maybeOpts?: CreateOptions): Tensor {
  const op = 'tensor';
  let shape: number[];
  let values: ArrayLike<number>;
  let opts: CreateOptions | undefined;
  if (Array.isArray(shapeOrOpts)) {
    shape = checkShape(op, shapeOrOpts);
    opts = maybeOpts;
    values = data as ArrayLike<number>;
    if (prod(shape) !== values.length)
      throw new ShapeError(`${op}: ${values.length} values do not fill shape ${fmt(shape)} (${prod(shape)} elements)`);
  } else {
    opts = shapeOrOpts as CreateOptions | undefined;
    if (ArrayBuffer.isView(data)) {
      values = data as unknown as ArrayLike<number>;
      shape = [values.length];
    } else {
      shape = inferShape(data as Nested, op);
      const flat: number[] = [];
      flatten(data as Nested, shape, flat, 0, op);
      values = flat;
    }
  }
  const dtype = opts?.dtype ? parseDType(opts.dtype, op) : (dtypeOfArray(values) ?? 'float32');
  const t = Tensor.empty(shape, dtype, resolveDevice(opts?.device, op));
  uploadValues(t, values);
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A tensor filled with `value`. */
export function full(shape: readonly number[], value: number, opts?: CreateOptions): Tensor {
  const s = checkShape('full', shape);
  if (typeof value !== 'number') throw new TypeError(`full: value must be a number, got ${typeof value}`);
  const dtype = opts?.dtype ? parseDType(opts.dtype, 'full') : 'float32';
  const t = Tensor.empty(s, dtype, resolveDevice(opts?.device, 'full'));
  runKernel('fill', [], [], [value], [t]);
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}
export const zeros = (shape: readonly number[], opts?: CreateOptions): Tensor => full(shape, 0, opts);
export const ones = (shape: readonly number[], opts?: CreateOptions): Tensor => full(shape, 1, opts);
export const zerosLike = (t: Tensor, opts?: CreateOptions): Tensor => full(t.shape, 0, { dtype: t.dtype, device: t.device, ...opts });
export const onesLike = (t: Tensor, opts?: CreateOptions): Tensor => full(t.shape, 1, { dtype: t.dtype, device: t.device, ...opts });
export const fullLike = (t: Tensor, value: number, opts?: CreateOptions): Tensor =>
  full(t.shape, value, { dtype: t.dtype, device: t.device, ...opts });
/** Zeros of a given shape, dtype and device (a dtype given as a string, as a gradient records it). */
export function zerosOf(shape: readonly number[], dtype: string, device: string): Tensor {
  return full(shape, 0, { dtype: dtype as DType, device });
}

/** Values start, start+step, ... below end (float32 unless a dtype is given). */
export function arange(start: number, end?: number, step = 1, opts?: CreateOptions): Tensor {
  if (end === undefined) [start, end] = [0, start];
  expectFinite('arange', 'start', start);
  expectFinite('arange', 'end', end);
  expectFinite('arange', 'step', step);
  if (step === 0) throw new ShapeError('arange: step must be non-zero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = start + i * step;
  return tensor(v, [n], { dtype: 'float32', ...opts });
}

export interface RandomOptions extends CreateOptions {
  /** Explicit seed: the same numbers on every device and thread count. */
  seed?: number;
}

function randomKey(opts: RandomOptions | undefined, op: string): number {
  if (opts?.seed === undefined) return nextSeed();
  expectFinite(op, 'seed', opts.seed);
  return seedKey(opts.seed);
}

// A device without the random kernels gets the CPU's numbers uploaded: the stream is defined by
// (key, index), so the values are the same wherever they are made.
function randomOn(device: string, shape: number[], op: 'randNormal' | 'randUniform', params: number[]): Tensor {
  const where = native.supportsOp(device, OP[op]) ? device : 'cpu';
  const t = Tensor.empty(shape, 'float32', where);
  runKernel(op, [], [], params, [t]);
  if (where === device) return t;
  const moved = to(t, device);
  t.dispose();
  return moved;
}

/** Standard normal samples scaled by `std` and shifted by `mean` (Philox + Box-Muller in edgetrain's own float math: the same bits on every device). */
export function randn(shape: readonly number[], opts?: RandomOptions & { mean?: number; std?: number }): Tensor {
  const s = checkShape('randn', shape);
  const mean = opts?.mean ?? 0;
  const std = opts?.std ?? 1;
  expectFinite('randn', 'mean', mean);
  expectFinite('randn', 'std', std);
  const t = randomOn(resolveDevice(opts?.device, 'randn'), s, 'randNormal', [randomKey(opts, 'randn'), mean, std]);
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Uniform samples in [low, high). */
export function rand(shape: readonly number[], opts?: RandomOptions & { low?: number; high?: number }): Tensor {
  const s = checkShape('rand', shape);
  const low = opts?.low ?? 0;
  const high = opts?.high ?? 1;
  expectFinite('rand', 'low', low);
  expectFinite('rand', 'high', high);
  const t = randomOn(resolveDevice(opts?.device, 'rand'), s, 'randUniform', [randomKey(opts, 'rand'), low, high]);
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

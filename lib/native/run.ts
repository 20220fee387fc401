// Runs one kernel: checks devices, allocates outputs, fills the shared meta array, calls exec.
import type { DType } from '../dtype.js';
import { DTYPE_ID, DTYPE_SIZE } from '../dtype.js';
import { DeviceError, DisposedError, fromNative } from '../errors.js';
import { Storage, Tensor } from '../tensor.js';
import { native } from './addon.js';
import { OP, type OpName } from './ops.js';

const HEADER = 4;
const SLOT = 20;
const PARAMS = 248;
const meta = new Float64Array(native.metaSize);
native.setMeta(meta);

const supportCache = new Map<string, boolean>();
function supports(device: string, op: OpName): boolean {
  const key = `${device}/${op}`;
  let r = supportCache.get(key);
  if (r === undefined) {
    r = native.supportsOp(device, OP[op]);
    supportCache.set(key, r);
  }
  return r;
}

function put(i: number, t: Tensor): void {
  const b = HEADER + SLOT * i;
  meta[b] = DTYPE_ID[t.dtype];
  const nd = t.shape.length;
  meta[b + 1] = nd;
  meta[b + 2] = t.offset;
  for (let d = 0; d < nd; d++) {
    meta[b + 3 + d] = t.shape[d]!;
    meta[b + 11 + d] = t.strides[d]!;
  }
}

export interface OutSpec {
  shape: readonly number[];
  dtype: DType;
}

/**
 * Runs `op` on `inputs`, allocating fresh contiguous outputs from `outs` (or writing into `into`,
 * which may be strided views, for in-place ops). Returns the outputs.
 */
export function runKernel(
  op: OpName,
  inputs: readonly Tensor[],
  outs: readonly OutSpec[],
  params: readonly number[] = [],
  into?: readonly Tensor[],
): Tensor[] {
  let device: string | undefined;
  for (let i = 0; i < inputs.length; i++) {
    const t = inputs[i]!;
    if (t.isDisposed) throw new DisposedError(`${op}: input ${i} (shape [${t.shape}]) was disposed`);
    if (device === undefined) device = t.device;
    else if (t.device !== device)
      throw new DeviceError(`${op}: inputs are on different devices (${device} and ${t.device}); move them with .to()`);
  }
  if (into) {
    for (const t of into) {
      if (t.isDisposed) throw new DisposedError(`${op}: output (shape [${t.shape}]) was disposed`);
      if (device === undefined) device = t.device;
      else if (t.device !== device) throw new DeviceError(`${op}: output is on ${t.device}, inputs on ${device}`);
    }
  }
  if (device === undefined) throw new DeviceError(`${op}: no device given`);
  if (!supports(device, op))
    throw new DeviceError(`${op} is not implemented on ${device}${device === 'cpu' ? '' : "; move the tensors with .to('cpu')"}`);
  const outputs = into ? [...into] : outs.map((o) => Tensor.empty(o.shape, o.dtype, device!));
  let allEmpty = outputs.length > 0;
  for (const o of outputs) if (o.numel > 0) allEmpty = false;
  if (allEmpty) return outputs;
  meta[0] = OP[op];
  meta[1] = inputs.length;
  meta[2] = outputs.length;
  const handles = new Array(inputs.length + outputs.length);
  for (let i = 0; i < inputs.length; i++) {
    put(i, inputs[i]!);
    handles[i] = inputs[i]!.storage.handle;
  }
  for (let i = 0; i < outputs.length; i++) {
    put(inputs.length + i, outputs[i]!);
    handles[inputs.length + i] = outputs[i]!.storage.handle;
  }
  for (let i = 0; i < params.length; i++) meta[PARAMS + i] = params[i]!;
  try {
    native.exec(...handles);
  } catch (e) {
    if (!into) for (const o of outputs) o.dispose();
    throw fromNative(e, op);
  }
  return outputs;
}

/** Bytes a contiguous tensor of this shape and dtype needs. */
export function byteSize(shape: readonly number[], dtype: DType): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n * DTYPE_SIZE[dtype];
}

export { Storage };

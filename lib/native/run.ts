// Runs one kernel: checks devices, allocates outputs, fills the shared meta array, calls exec.
import type { DType } from '../dtype.js';
import { DTYPE_ID, DTYPE_SIZE } from '../dtype.js';
import { DeviceError, DisposedError, fromNative, ValueError } from '../errors.js';
import { Storage, Tensor } from '../tensor.js';
import { native } from './addon.js';
import { OP, type OpName } from './ops.js';
import { activeProfile, recordKernel } from './profile.js';

const { header: HEADER, slot: SLOT, params: PARAMS, maxDims: MAX_DIMS, maxParams: MAX_PARAMS } = native.callLayout;
/** The shared call description exec() reads (exported for the native-level tests). */
export const meta = new Float64Array(native.callLayout.size);
native.setMeta(meta);

function put(i: number, t: KernelArg): void {
  const b = HEADER + SLOT * i;
  meta[b] = DTYPE_ID[t.dtype];
  const nd = t.shape.length;
  meta[b + 1] = nd;
  meta[b + 2] = t.offset;
  for (let d = 0; d < nd; d++) {
    meta[b + 3 + d] = t.shape[d]!;
    meta[b + 3 + MAX_DIMS + d] = t.strides[d]!;
  }
}

/**
 * What a kernel reads: a tensor, or a lightweight view made with rawView() for temporaries
 * (broadcast or permuted inputs) that never reach user code, so they skip the bookkeeping of a
 * Tensor (finalizer registration, tidy tracking).
 */
export interface KernelArg {
  readonly storage: Storage;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  readonly device: string;
  readonly isDisposed: boolean;
}

/** A kernel argument viewing t's storage with other geometry (valid while t is alive). */
export function rawView(t: KernelArg, shape: readonly number[], strides: readonly number[], offset = t.offset): KernelArg {
  return { storage: t.storage, shape, strides, offset, dtype: t.dtype, device: t.device, isDisposed: t.isDisposed };
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
  inputs: readonly KernelArg[],
  outs: readonly OutSpec[],
  params: readonly number[] = [],
  into?: readonly KernelArg[],
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
  // the addon checks arity, dtypes against the op schema and device support before running
  const fresh = into ? [] : outs.map((o) => Tensor.empty(o.shape, o.dtype, device!));
  const outputs: readonly KernelArg[] = into ?? fresh;
  let allEmpty = outputs.length > 0;
  for (const o of outputs) if (o.shape.every((d) => d !== 0)) allEmpty = false;
  if (allEmpty) return fresh;
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
  if (params.length > MAX_PARAMS) throw new ValueError(`${op}: ${params.length} parameters, at most ${MAX_PARAMS}`);
  // params not given are 0 (the meta block is reused: a previous call's would remain)
  for (let i = 0; i < MAX_PARAMS; i++) meta[PARAMS + i] = i < params.length ? params[i]! : 0;
  try {
    if (activeProfile()) {
      // kernels run queued: wait for the earlier ones, then for this one, to time it alone
      native.sync(device);
      const t0 = performance.now();
      native.exec(...handles);
      native.sync(device);
      recordKernel(op, inputs.map((t) => `[${t.shape.join(',')}]`).join(' '), performance.now() - t0);
    } else native.exec(...handles);
  } catch (e) {
    for (const o of fresh) o.dispose();
    throw fromNative(e, op);
  }
  return fresh;
}

/** Bytes a contiguous tensor of this shape and dtype needs. */
export function byteSize(shape: readonly number[], dtype: DType): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n * DTYPE_SIZE[dtype];
}

export { Storage };

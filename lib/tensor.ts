// Tensor: a strided view (shape, strides, offset, dtype) over reference-counted device storage.
// Views share storage; memory is released when the last tensor over it is disposed (or collected).
import { type DType, DTYPE_SIZE, bf16ToF32, f16ToF32, type DataArray } from './dtype.js';
import { DisposedError, ShapeError, fromNative } from './errors.js';
import { native, type Handle } from './native/addon.js';
import { registerTensorClass, track } from './scope.js';
import type { Node } from './autograd/node.js';

// The native handle is a plain number, so freeing is JS's job: release() frees explicitly, and
// this registry frees a storage that became unreachable without reaching zero references (a
// mapped file never closed; tensors over a storage hold it through their own registry below).
const storageRegistry = new FinalizationRegistry<Handle>((handle) => native.free(handle));

/** Reference-counted device allocation shared by a tensor and its views. */
export class Storage {
  refs = 0;
  constructor(
    public handle: Handle,
    public readonly bytes: number,
    public readonly device: string,
  ) {
    storageRegistry.register(this, handle, this);
  }
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0) {
      storageRegistry.unregister(this);
      native.free(this.handle);
    }
  }
}

const registry = new FinalizationRegistry<{ storage: Storage; device: string }>((held) => {
  liveCount.set(held.device, (liveCount.get(held.device) ?? 1) - 1);
  held.storage.release();
});
const liveCount = new Map<string, number>();
/** Live (undisposed, uncollected) tensor objects per device. */
export function liveTensorCounts(): Record<string, number> {
  return Object.fromEntries(liveCount);
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Typed view of raw element bytes; 16-bit floats widened to float32. */
function decode(ab: ArrayBuffer, dtype: DType): DataArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(ab);
    case 'int32':
      return new Int32Array(ab);
    case 'uint8':
      return new Uint8Array(ab);
    case 'float16':
    case 'bfloat16': {
      const h = new Uint16Array(ab);
      const f = new Float32Array(h.length);
      const widen = dtype === 'float16' ? f16ToF32 : bf16ToF32;
      for (let i = 0; i < h.length; i++) f[i] = widen(h[i]!);
      return f;
    }
    default:
      throw new Error(`data: unknown dtype ${String(dtype)}`);
  }
}

export interface TensorInit {
  internal?: boolean; // not tracked by tidy scopes (saved for backward, optimizer state)
}

export class Tensor {
  readonly storage: Storage;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  /** Autograd node that produced this tensor (null for leaves). */
  gradFn: Node | null = null;
  /** Which output of gradFn this tensor is. */
  outputIndex = 0;
  /** Accumulated gradient of a leaf after backward(). */
  grad: Tensor | null = null;
  private _requiresGrad = false;
  private _disposed = false;
  private readonly token = {};
  /** Optional name (parameters carry theirs for messages and state dicts). */
  name?: string;

  constructor(storage: Storage, shape: readonly number[], strides: readonly number[], offset: number, dtype: DType, init?: TensorInit) {
    this.storage = storage;
    this.shape = shape;
    this.strides = strides;
    this.offset = offset;
    this.dtype = dtype;
    storage.retain();
    registry.register(this, { storage, device: storage.device }, this.token);
    liveCount.set(storage.device, (liveCount.get(storage.device) ?? 0) + 1);
    if (!init?.internal) track(this);
  }

  /** A new contiguous tensor with uninitialised contents. */
  static empty(shape: readonly number[], dtype: DType, device: string, init?: TensorInit): Tensor {
    let n = 1;
    for (const s of shape) n *= s;
    let handle: Handle;
    try {
      handle = native.alloc(device, n * DTYPE_SIZE[dtype]);
    } catch (e) {
      throw fromNative(e, `alloc [${shape}] ${dtype}`);
    }
    return new Tensor(new Storage(handle, n * DTYPE_SIZE[dtype], device), [...shape], contiguousStrides(shape), 0, dtype, init);
  }

  /** A view of this tensor's storage with other geometry (no copy, no autograd). */
  view(shape: readonly number[], strides: readonly number[], offset: number, init?: TensorInit): Tensor {
    this.assertLive('view');
    return new Tensor(this.storage, shape, strides, offset, this.dtype, init);
  }

  get device(): string {
    return this.storage.device;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    let n = 1;
    for (const s of this.shape) n *= s;
    return n;
  }
  get isDisposed(): boolean {
    return this._disposed;
  }
  get isLeaf(): boolean {
    return this.gradFn === null;
  }
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(v: boolean) {
    if (!v && this.gradFn) throw new Error('requiresGrad: cannot turn off on a non-leaf tensor; use detach()');
    this._requiresGrad = v;
  }
  /** Marks the tensor as produced by the autograd node (used by the engine). */
  setGradFn(node: Node, index: number): void {
    this.gradFn = node;
    this.outputIndex = index;
    this._requiresGrad = true;
  }

  isContiguous(): boolean {
    let s = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== s) return false;
      s *= this.shape[i]!;
    }
    return true;
  }

  assertLive(op: string): void {
    if (this._disposed) throw new DisposedError(`${op}: tensor of shape [${this.shape}] was disposed`);
  }

  /** Frees this tensor's hold on its storage (memory goes when no view uses it). Idempotent. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    registry.unregister(this.token);
    liveCount.set(this.device, (liveCount.get(this.device) ?? 1) - 1);
    this.storage.release();
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * Reads the elements in row-major order (16-bit floats widened to float32). Blocks until the
   * work queued on the tensor has run; `await t.data()` waits without blocking the event loop.
   */
  dataSync(): DataArray {
    this.assertLive('data');
    const src = this.isContiguous() ? this : this.contiguousCopy();
    try {
      const bytes = src.numel * DTYPE_SIZE[src.dtype];
      try {
        return decode(native.download(src.storage.handle, src.offset * DTYPE_SIZE[src.dtype], bytes), src.dtype);
      } catch (e) {
        throw fromNative(e, 'data');
      }
    } finally {
      if (src !== this) src.dispose();
    }
  }

  /**
   * Reads the elements once the work queued on the device before this call has run; the event
   * loop stays free meanwhile. A kernel error met on the way rejects the promise, typed and
   * naming its op.
   */
  async data(): Promise<DataArray> {
    this.assertLive('data');
    const src = this.isContiguous() ? this : this.contiguousCopy();
    try {
      const bytes = src.numel * DTYPE_SIZE[src.dtype];
      let pending: Promise<ArrayBuffer>;
      try {
        pending = native.downloadAsync(src.storage.handle, src.offset * DTYPE_SIZE[src.dtype], bytes);
      } catch (e) {
        throw fromNative(e, 'data');
      }
      try {
        return decode(await pending, src.dtype);
      } catch (e) {
        throw fromNative(e, 'data');
      }
    } finally {
      if (src !== this) src.dispose();
    }
  }

  /** Elements as nested arrays matching the shape (a number for 0-d tensors). */
  toArray(): unknown {
    const d = this.dataSync();
    const shape = this.shape;
    if (shape.length === 0) return d[0];
    let pos = 0;
    const build = (dim: number): unknown[] => {
      const n = shape[dim]!;
      const out = new Array(n);
      for (let i = 0; i < n; i++) out[i] = dim === shape.length - 1 ? d[pos++] : build(dim + 1);
      return out;
    };
    return build(0);
  }

  /** The single element of a one-element tensor, as a number. */
  item(): number {
    this.assertLive('item');
    if (this.numel !== 1) throw new ShapeError(`item: tensor has ${this.numel} elements (shape [${this.shape}]), expected 1`);
    return this.dataSync()[0]!;
  }

  toString(): string {
    return `Tensor(shape=[${this.shape}], dtype=${this.dtype}, device=${this.device}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  /** A contiguous copy without autograd; replaced by lib/ops/copy.ts when ops load. */
  contiguousCopy(): Tensor {
    throw new Error('edgetrain ops are not loaded; import from the package entry point');
  }
}
registerTensorClass(Tensor);

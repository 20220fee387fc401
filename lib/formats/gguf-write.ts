// GGUF writer: metadata with explicit or inferred types, tensor infos, aligned tensor data
// (float tensors, or quantized blocks as stored), written atomically. The layout is the one
// gguf-read.ts describes and checks.
import { type DType, DTYPE_SIZE } from '../dtype.js';
import { DTypeError, DisposedError, ShapeError, ValueError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { writeFileAtomic } from './atomic.js';
import type { GGUFValue } from './gguf-read.js';
import { DEFAULT_ALIGNMENT, GGML_TYPE_BY_NAME, type GGUFScalarTypeName, type GGUFTypeName, MAGIC, MAX_DIMS, MAX_NAME, MAX_NESTING, VALUE_MIN_BYTES, VALUE_TYPE_ID, align } from './gguf-types.js';
import { tensorBytes } from './safetensors.js';

/** A metadata value with its GGUF type spelled out (made by the `gguf.*` helpers). */
export class GGUFTyped {
  constructor(
    readonly type: GGUFScalarTypeName | 'array',
    readonly value: unknown,
    /** Element type, for arrays. */
    readonly elem?: GGUFScalarTypeName | 'array',
  ) {}
}

/** A metadata value for writeGGUF: a typed value, or a plain JS value whose type is inferred. */
export type GGUFWritable = GGUFTyped | GGUFValue | number[] | GGUFWritable[];

/**
 * Helpers that give a metadata value its GGUF type explicitly. Plain values are inferred
 * instead: string → string, boolean → bool, integer → int32 (uint32, then int64, when it does not
 * fit), other numbers → float32, bigint → int64 (uint64 above its range), typed arrays → arrays of
 * their element type, string[] → array<string>, boolean[] → array<bool>, number[] → array<int32>
 * or array<float32>, arrays of arrays → array<array>.
 */
export const gguf = {
  u8: (v: number) => new GGUFTyped('uint8', v),
  i8: (v: number) => new GGUFTyped('int8', v),
  u16: (v: number) => new GGUFTyped('uint16', v),
  i16: (v: number) => new GGUFTyped('int16', v),
  u32: (v: number) => new GGUFTyped('uint32', v),
  i32: (v: number) => new GGUFTyped('int32', v),
  f32: (v: number) => new GGUFTyped('float32', v),
  f64: (v: number) => new GGUFTyped('float64', v),
  u64: (v: number | bigint) => new GGUFTyped('uint64', v),
  i64: (v: number | bigint) => new GGUFTyped('int64', v),
  bool: (v: boolean) => new GGUFTyped('bool', v),
  str: (v: string) => new GGUFTyped('string', v),
  /** An array of `elem` values (for elem 'array', each value is itself an array, typed or inferred). */
  arr: (elem: GGUFScalarTypeName | 'array', values: ArrayLike<unknown> | Iterable<unknown>) => new GGUFTyped('array', values, elem),
  /**
   * A value with a type name as GGUFHeader.metadataTypes reports it, for copying a header. Inside
   * `array<array>` the inner arrays' types are inferred again, which loses the element type of
   * an empty inner string/bool array (it is written as an empty int32 array).
   */
  typed: (type: GGUFTypeName, value: unknown): GGUFTyped => {
    const m = /^array<(\w+)>$/.exec(type);
    return m ? new GGUFTyped('array', value, m[1] as GGUFScalarTypeName | 'array') : new GGUFTyped(type as GGUFScalarTypeName, value);
  },
};

/** Bytes appended to a growing buffer. */
class Bytes {
  buf = new Uint8Array(4096);
  view = new DataView(this.buf.buffer);
  len = 0;
  private room(n: number): number {
    if (this.len + n > this.buf.byteLength) {
      const next = new Uint8Array(Math.max(this.buf.byteLength * 2, this.len + n));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.len;
    this.len += n;
    return at;
  }
  // room() may replace the buffer, so it runs before `this.view` is read
  u32(v: number): void {
    const at = this.room(4);
    this.view.setUint32(at, v, true);
  }
  u64(v: number | bigint): void {
    const at = this.room(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }
  raw(b: Uint8Array): void {
    const at = this.room(b.byteLength);
    this.buf.set(b, at);
  }
  /** Reserves n bytes and returns a DataView over the buffer and their offset in it. */
  reserve(n: number): [DataView, number] {
    const at = this.room(n);
    return [this.view, at];
  }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.byteLength);
    this.raw(b);
  }
  pad(alignment: number): void {
    this.room(align(this.len, alignment) - this.len); // fresh bytes are zero
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

const INT_RANGE: Partial<Record<GGUFScalarTypeName, [bigint, bigint]>> = {
  uint8: [0n, 255n],
  int8: [-128n, 127n],
  uint16: [0n, 65535n],
  int16: [-32768n, 32767n],
  uint32: [0n, 4294967295n],
  int32: [-2147483648n, 2147483647n],
  uint64: [0n, 2n ** 64n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
};

function inferScalar(v: unknown, field: string): GGUFTyped {
  if (v instanceof GGUFTyped) return v;
  switch (typeof v) {
    case 'string':
      return gguf.str(v);
    case 'boolean':
      return gguf.bool(v);
    case 'bigint':
      return v > 2n ** 63n - 1n ? gguf.u64(v) : gguf.i64(v);
    case 'number':
      if (!Number.isInteger(v)) return gguf.f32(v);
      if (v >= -2147483648 && v <= 2147483647) return gguf.i32(v);
      if (v >= 0 && v <= 4294967295) return gguf.u32(v);
      if (Number.isSafeInteger(v)) return gguf.i64(v);
      return gguf.f64(v);
  }
  if (v instanceof Uint8Array) return gguf.arr('uint8', v);
  if (v instanceof Int8Array) return gguf.arr('int8', v);
  if (v instanceof Uint16Array) return gguf.arr('uint16', v);
  if (v instanceof Int16Array) return gguf.arr('int16', v);
  if (v instanceof Uint32Array) return gguf.arr('uint32', v);
  if (v instanceof Int32Array) return gguf.arr('int32', v);
  if (v instanceof Float32Array) return gguf.arr('float32', v);
  if (v instanceof Float64Array) return gguf.arr('float64', v);
  if (v instanceof BigUint64Array) return gguf.arr('uint64', v);
  if (v instanceof BigInt64Array) return gguf.arr('int64', v);
  if (Array.isArray(v)) {
    if (v.length === 0) return gguf.arr('int32', v);
    if (v.every((x) => typeof x === 'string')) return gguf.arr('string', v);
    if (v.every((x) => typeof x === 'boolean')) return gguf.arr('bool', v);
    if (v.every((x) => typeof x === 'number')) {
      if (v.every((x) => Number.isInteger(x) && x >= -2147483648 && x <= 2147483647)) return gguf.arr('int32', v);
      return gguf.arr('float32', v);
    }
    if (v.every((x) => Array.isArray(x) || ArrayBuffer.isView(x) || (x instanceof GGUFTyped && x.type === 'array'))) return gguf.arr('array', v);
    throw new ValueError(`writeGGUF: metadata ${field}: cannot infer one element type for a mixed array; use gguf.arr(type, values)`);
  }
  throw new ValueError(`writeGGUF: metadata ${field}: cannot store a value of type ${v === null ? 'null' : typeof v}`);
}

function writeScalar(out: Bytes, type: GGUFScalarTypeName, v: unknown, field: string): void {
  const bad = (why: string): never => {
    throw new ValueError(`writeGGUF: metadata ${field}: ${why}`);
  };
  if (type === 'string') {
    if (typeof v !== 'string') bad(`expected a string, got ${typeof v}`);
    out.string(v as string);
    return;
  }
  if (type === 'bool') {
    if (typeof v !== 'boolean') bad(`expected a boolean, got ${typeof v}`);
    const [dv, at] = out.reserve(1);
    dv.setUint8(at, v ? 1 : 0);
    return;
  }
  if (type === 'float32' || type === 'float64') {
    if (typeof v !== 'number') bad(`expected a number for ${type}, got ${typeof v}`);
    if (type === 'float32') {
      const [dv, at] = out.reserve(4);
      dv.setFloat32(at, v as number, true);
    } else {
      const [dv, at] = out.reserve(8);
      dv.setFloat64(at, v as number, true);
    }
    return;
  }
  const range = INT_RANGE[type]!;
  let iv: bigint;
  if (typeof v === 'bigint') iv = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) iv = BigInt(v);
  else bad(`${String(v)} is not an integer for ${type}`);
  if (iv! < range[0] || iv! > range[1]) bad(`${iv!} is out of range for ${type}`);
  const [dv, at] = out.reserve(VALUE_MIN_BYTES[VALUE_TYPE_ID[type]]!);
  const n = Number(iv!);
  switch (type) {
    case 'uint8':
      dv.setUint8(at, n);
      break;
    case 'int8':
      dv.setInt8(at, n);
      break;
    case 'uint16':
      dv.setUint16(at, n, true);
      break;
    case 'int16':
      dv.setInt16(at, n, true);
      break;
    case 'uint32':
      dv.setUint32(at, n, true);
      break;
    case 'int32':
      dv.setInt32(at, n, true);
      break;
    case 'uint64':
      dv.setBigUint64(at, iv!, true);
      break;
    case 'int64':
      dv.setBigInt64(at, iv!, true);
      break;
  }
}

const TYPED_OF: Partial<Record<GGUFScalarTypeName, unknown>> = {
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  uint32: Uint32Array,
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array,
  uint64: BigUint64Array,
  int64: BigInt64Array,
};

/** Writes an array's element type, count and elements (the body of an array value). */
function writeArrayBody(out: Bytes, elem: GGUFScalarTypeName | 'array', values: unknown, field: string, depth: number): void {
  if (depth > MAX_NESTING) throw new ValueError(`writeGGUF: metadata ${field}: arrays nested more than ${MAX_NESTING} deep`);
  if (values === null || typeof values !== 'object' || !(Symbol.iterator in (values as object)))
    throw new ValueError(`writeGGUF: metadata ${field}: array values must be an array or typed array`);
  if (elem !== 'array' && ArrayBuffer.isView(values) && values.constructor === TYPED_OF[elem]) {
    // a typed array of the element type holds exactly the file's bytes (both little-endian)
    out.u32(VALUE_TYPE_ID[elem]);
    out.u64((values as unknown as ArrayLike<unknown>).length);
    out.raw(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    return;
  }
  const list = Array.from(values as Iterable<unknown>);
  out.u32(VALUE_TYPE_ID[elem]);
  out.u64(list.length);
  list.forEach((v, i) => {
    if (elem !== 'array') return writeScalar(out, elem, v, `${field}[${i}]`);
    const t = inferScalar(v, `${field}[${i}]`);
    if (t.type !== 'array') throw new ValueError(`writeGGUF: metadata ${field}[${i}]: expected an array inside array<array>, got ${t.type}`);
    writeArrayBody(out, t.elem!, t.value, `${field}[${i}]`, depth + 1);
  });
}

function writeKV(out: Bytes, key: string, v: GGUFWritable): void {
  const field = `'${key}'`;
  const t = inferScalar(v, field);
  if (!(t.type in VALUE_TYPE_ID)) throw new ValueError(`writeGGUF: metadata ${field}: unknown type '${t.type}'`);
  out.string(key);
  out.u32(VALUE_TYPE_ID[t.type]);
  if (t.type === 'array') {
    if (!t.elem || !(t.elem in VALUE_TYPE_ID)) throw new ValueError(`writeGGUF: metadata ${field}: unknown array element type '${t.elem}'`);
    writeArrayBody(out, t.elem, t.value, field, 1);
  } else writeScalar(out, t.type, t.value, field);
}

const GGML_OF_DTYPE: Partial<Record<DType, string>> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', int32: 'I32' };

/** A tensor already in a ggml block format: its type name ('Q4_0', ...), row-major shape and blocks. */
export interface GGUFBlockData {
  type: string;
  shape: readonly number[];
  bytes: Uint8Array;
}

export interface WriteGGUFOptions {
  /** Metadata key/values, written in order (typed with `gguf.*` or inferred, see `gguf`). */
  metadata?: Map<string, GGUFWritable> | Record<string, GGUFWritable>;
  /**
   * Tensors in file order: float32, float16, bfloat16 and int32 tensors of rank up to 4, or
   * block-quantized data (GGUFBlockData) written as it is.
   */
  tensors?: { name: string; tensor: Tensor | GGUFBlockData }[];
  /** Data alignment (a power of two; default 32, or metadata 'general.alignment'). */
  alignment?: number;
}

/**
 * Writes a GGUF v3 file atomically (see writeFileAtomic). Tensor shapes are row-major as
 * edgetrain's; the file stores them reversed, in ggml order. A 0-d tensor is stored with ne [1].
 * Each tensor's data starts at a multiple of the alignment. Note that llama.cpp itself refuses
 * nested arrays and tensor names of 64 bytes or more (the latter is refused here too).
 */
export function writeGGUF(path: string, opts: WriteGGUFOptions): void {
  const entries: [string, GGUFWritable][] = opts.metadata
    ? opts.metadata instanceof Map
      ? [...opts.metadata]
      : Object.entries(opts.metadata)
    : [];
  let alignment = opts.alignment;
  const alignIdx = entries.findIndex(([k]) => k === 'general.alignment');
  if (alignIdx >= 0) {
    const v = entries[alignIdx]![1];
    const n = v instanceof GGUFTyped ? v.value : v;
    if (typeof n !== 'number') throw new ValueError(`writeGGUF: metadata 'general.alignment' must be a number`);
    if (alignment !== undefined && alignment !== n)
      throw new ValueError(`writeGGUF: alignment ${alignment} disagrees with metadata 'general.alignment' ${n}`);
    alignment = n;
  }
  alignment ??= DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment > 0xffffffff || (alignment & (alignment - 1)) !== 0)
    throw new ValueError(`writeGGUF: alignment ${alignment} is not a positive power of two`);
  // llama.cpp reads general.alignment only as uint32
  if (alignIdx >= 0) entries[alignIdx] = ['general.alignment', gguf.u32(alignment)];
  else if (alignment !== DEFAULT_ALIGNMENT) entries.push(['general.alignment', gguf.u32(alignment)]);

  const seenKeys = new Set<string>();
  const out = new Bytes();
  out.u32(MAGIC);
  out.u32(3);
  const tensors = opts.tensors ?? [];
  out.u64(tensors.length);
  out.u64(entries.length);
  for (const [k, v] of entries) {
    if (seenKeys.has(k)) throw new ValueError(`writeGGUF: duplicate metadata key '${k}'`);
    seenKeys.add(k);
    writeKV(out, k, v);
  }

  const names = new Set<string>();
  let offset = 0;
  const plan: { name: string; tensor: Tensor | Uint8Array; bytes: number; offset: number }[] = [];
  for (const { name, tensor } of tensors) {
    if (typeof name !== 'string' || name === '') throw new ValueError(`writeGGUF: tensor name must be a non-empty string`);
    if (Buffer.byteLength(name) >= MAX_NAME) throw new ValueError(`writeGGUF: tensor name '${name}' is ${Buffer.byteLength(name)} bytes; ggml allows at most ${MAX_NAME - 1}`);
    if (names.has(name)) throw new ValueError(`writeGGUF: duplicate tensor name '${name}'`);
    names.add(name);
    if (!(tensor instanceof Tensor)) {
      const q = tensor as GGUFBlockData;
      const info = GGML_TYPE_BY_NAME.get(q?.type);
      if (!info || !(q.bytes instanceof Uint8Array) || !Array.isArray(q.shape)) throw new ValueError(`writeGGUF: '${name}' is neither a Tensor nor block data {type, shape, bytes}`);
      const numel = q.shape.reduce((a, b) => a * b, 1);
      const rowLen = q.shape.length ? q.shape[q.shape.length - 1]! : 1;
      if (rowLen % info.blockSize !== 0 || q.bytes.length !== (numel / info.blockSize) * info.bytesPerBlock)
        throw new ValueError(`writeGGUF: '${name}': ${q.bytes.length} bytes of ${q.type} do not hold shape [${q.shape}] (rows of ${rowLen} in blocks of ${info.blockSize}, ${info.bytesPerBlock} bytes each)`);
      const ne = q.shape.length === 0 ? [1] : [...q.shape].reverse();
      out.string(name);
      out.u32(ne.length);
      for (const d of ne) out.u64(d);
      out.u32(info.id);
      offset = align(offset, alignment);
      out.u64(offset);
      plan.push({ name, tensor: q.bytes, bytes: q.bytes.length, offset });
      offset += q.bytes.length;
      continue;
    }
    if (tensor.isDisposed) throw new DisposedError(`writeGGUF: tensor '${name}' (shape [${tensor.shape}]) was disposed`);
    const typeName = GGML_OF_DTYPE[tensor.dtype];
    if (!typeName) throw new DTypeError(`writeGGUF: tensor '${name}' has dtype ${tensor.dtype}; GGUF tensors here are float32, float16, bfloat16 or int32`);
    if (tensor.shape.length > MAX_DIMS) throw new ShapeError(`writeGGUF: tensor '${name}' has shape [${tensor.shape}]; ggml allows at most ${MAX_DIMS} dimensions`);
    const ne = tensor.shape.length === 0 ? [1] : [...tensor.shape].reverse();
    out.string(name);
    out.u32(ne.length);
    for (const d of ne) out.u64(d);
    out.u32(GGML_TYPE_BY_NAME.get(typeName)!.id);
    offset = align(offset, alignment);
    out.u64(offset);
    const bytes = tensor.numel * DTYPE_SIZE[tensor.dtype];
    plan.push({ name, tensor, bytes, offset });
    offset += bytes;
  }
  out.pad(alignment);
  const head = out.result();
  function* chunks(): Generator<Uint8Array> {
    yield head;
    for (const p of plan) {
      const b = p.tensor instanceof Uint8Array ? p.tensor : tensorBytes(p.tensor, p.name);
      if (b.byteLength > 0) yield b;
      const pad = align(p.bytes, alignment!) - p.bytes;
      if (pad > 0) yield new Uint8Array(pad);
    }
  }
  writeFileAtomic(path, chunks());
}

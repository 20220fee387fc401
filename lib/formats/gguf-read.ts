// GGUF (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), versions 2 and 3: "GGUF",
// u32 version, u64 tensor count, u64 metadata count, the metadata key/values, the tensor infos,
// padding to `general.alignment`, then the tensor data. All integers are little-endian.
//
// Files come from anywhere and can be many gigabytes, so the header is read through a small
// window that moves along the file (never the whole file), and every count and length is checked
// against the bytes that remain before anything is allocated for it.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { type DType, DTYPE_SIZE } from '../dtype.js';
import { DTypeError, FormatError, ValueError, fromNative } from '../errors.js';
import { resolveDevice } from '../device.js';
import { native } from '../native/addon.js';
import { Tensor } from '../tensor.js';
import { readExact } from './read.js';
import { BLOCK } from '../quant-types.js';
import { QuantizedWeight } from '../quant/qweight.js';
import { reshape } from '../ops/shape.js';
import { type MappedFile, mapFile } from './mmap.js';
import {
  DEFAULT_ALIGNMENT,
  GGML_REMOVED_TYPES,
  GGML_TYPES,
  type GGMLTypeInfo,
  type GGUFScalarTypeName,
  type GGUFTypeName,
  VALUE_MIN_BYTES,
  MAGIC,
  MAX_DIMS,
  MAX_NAME,
  MAX_NESTING,
  VALUE_TYPE_NAME,
  align,
} from './gguf-types.js';

/**
 * Limits on single metadata items. Counts are already bounded by the file size, but a corrupt
 * count in a multi-gigabyte model would still be "allowed" gigabytes; real files stay far below
 * these (the largest vocabularies hold ~256k tokens and a few MB of strings).
 */
const MAX_STRING = 64 * 1024 * 1024;
const MAX_ARRAY_BYTES = 256 * 1024 * 1024;
const MAX_ARRAY_ITEMS = 16 * 1024 * 1024;
/** The header is read in windows of at least this size. */
const WINDOW = 1024 * 1024;
/** Tensor data is read and uploaded in pieces of this size. */
const READ_PIECE = 256 * 1024 * 1024;

/** A metadata array as the reader returns it: numbers as the matching typed array. */
export type GGUFArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GGUFArray[];
/**
 * A metadata value as the reader returns it. 64-bit integers are numbers when they fit a double
 * exactly and bigints otherwise; 64-bit integer arrays are always BigInt64Array/BigUint64Array.
 */
export type GGUFValue = number | bigint | boolean | string | GGUFArray;

/** One tensor's entry in a GGUF header. */
export interface GGUFTensorInfo {
  name: string;
  /** ggml dimensions: ne[0] varies fastest. */
  ne: number[];
  /** Row-major shape (ne reversed), as edgetrain and PyTorch write it. */
  shape: number[];
  numel: number;
  /** ggml type id. */
  type: number;
  /** ggml type name ('F32', 'F16', 'Q4_K', ...). */
  typeName: string;
  /** Elements per block (1 for unquantized types). */
  blockSize: number;
  bytesPerBlock: number;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  /** Byte offset relative to the data section, as stored in the file. */
  relativeOffset: number;
  bytes: number;
}

/** A parsed and validated GGUF header. */
export interface GGUFHeader {
  path: string;
  version: number;
  metadata: Map<string, GGUFValue>;
  /** Each metadata value's type as stored ('uint32', 'array<string>', ...). */
  metadataTypes: Map<string, GGUFTypeName>;
  tensors: GGUFTensorInfo[];
  /** Absolute byte offset of the data section (the end of the header, aligned). */
  dataOffset: number;
  alignment: number;
  fileSize: number;
}

function fail(path: string, field: string, offset: number, what: string): never {
  throw new FormatError(`GGUF ${path}: ${field} (byte offset ${offset}): ${what}`);
}

function read(fd: number, buf: Uint8Array, position: number, path: string, field: string): void {
  readExact(fd, buf, position, (offset, what) => fail(path, field, offset, what));
}

/** Sequential reads over a window of the file that is refilled as the position moves past it. */
class Cursor {
  pos = 0;
  private buf: Buffer = Buffer.alloc(0);
  private view = new DataView(this.buf.buffer);
  private winStart = 0;
  private winLen = 0;
  constructor(
    private readonly fd: number,
    readonly fileSize: number,
    readonly path: string,
  ) {}

  get remaining(): number {
    return this.fileSize - this.pos;
  }

  /** Makes [pos, pos + n) readable; returns its index in `buf`. Does not advance. */
  private need(n: number, field: string, index = -1): number {
    if (this.pos >= this.winStart && this.pos + n <= this.winStart + this.winLen) return this.pos - this.winStart;
    if (n > this.fileSize - this.pos)
      fail(this.path, label(field, index), this.pos, `needs ${n} bytes but the file ends after ${this.fileSize - this.pos} more (truncated?)`);
    const size = Math.min(this.fileSize - this.pos, Math.max(n, WINDOW));
    if (this.buf.byteLength < size) {
      this.buf = Buffer.allocUnsafeSlow(size);
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, size);
    }
    read(this.fd, this.buf.subarray(0, size), this.pos, this.path, label(field, index));
    this.winStart = this.pos;
    this.winLen = size;
    return 0;
  }

  u8(field: string): number {
    const i = this.need(1, field);
    this.pos += 1;
    return this.buf[i]!;
  }
  u32(field: string): number {
    const i = this.need(4, field);
    this.pos += 4;
    return this.view.getUint32(i, true);
  }
  u64(field: string): bigint {
    const i = this.need(8, field);
    this.pos += 8;
    return this.view.getBigUint64(i, true);
  }
  /** A u64 that must fit a double exactly (a count or offset). */
  u64n(field: string): number {
    const at = this.pos;
    const v = this.u64(field);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(this.path, field, at, `value ${v} is beyond any file size`);
    return Number(v);
  }
  scalar(type: number, field: string): number | bigint | boolean {
    const size = VALUE_MIN_BYTES[type]!;
    const i = this.need(size, field);
    this.pos += size;
    const v = this.view;
    switch (type) {
      case 0:
        return v.getUint8(i);
      case 1:
        return v.getInt8(i);
      case 2:
        return v.getUint16(i, true);
      case 3:
        return v.getInt16(i, true);
      case 4:
        return v.getUint32(i, true);
      case 5:
        return v.getInt32(i, true);
      case 6:
        return v.getFloat32(i, true);
      case 7:
        return v.getUint8(i) !== 0;
      case 10:
        return safe(v.getBigUint64(i, true));
      case 11:
        return safe(v.getBigInt64(i, true));
      case 12:
        return v.getFloat64(i, true);
      default:
        throw new Error(`unreachable: scalar type ${type}`);
    }
  }
  /** `n` bytes copied out of the file into a fresh, exactly sized buffer. */
  bytes(n: number, field: string): Uint8Array {
    const i = this.need(n, field);
    this.pos += n;
    // a copy (Buffer#slice would alias the window, which the next refill overwrites)
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(i, i + n));
    return out;
  }
  /** A string; `index` >= 0 marks it as element `index` of array `base` (labelled only on failure). */
  string(base: string, index = -1): string {
    const at = this.pos;
    const len = this.view.getBigUint64(this.need(8, base, index), true);
    this.pos += 8;
    if (len > BigInt(this.remaining))
      fail(this.path, label(base, index), at, `string length ${len} runs past the end of the file (${this.remaining} bytes remain)`);
    const n = Number(len);
    if (n > MAX_STRING) fail(this.path, label(base, index), at, `string length ${n} exceeds the ${MAX_STRING}-byte limit`);
    const i = this.need(n, base, index);
    const b = this.buf;
    // most strings (vocabulary tokens) are short ASCII: check that in place before paying for
    // a full UTF-8 validation
    let ascii = true;
    for (let k = i; k < i + n; k++)
      if (b[k]! >= 0x80) {
        ascii = false;
        break;
      }
    if (!ascii && !isUtf8(b.subarray(i, i + n))) fail(this.path, label(base, index), at + 8, 'string is not valid UTF-8');
    this.pos += n;
    return b.toString(ascii ? 'latin1' : 'utf8', i, i + n);
  }
}

const label = (base: string, index: number): string => (index < 0 ? base : `${base}[${index}]`);

function safe(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

const TYPED_CTOR: Record<number, { new (n: number): GGUFArray & ArrayBufferView; BYTES_PER_ELEMENT: number }> = {
  0: Uint8Array,
  1: Int8Array,
  2: Uint16Array,
  3: Int16Array,
  4: Uint32Array,
  5: Int32Array,
  6: Float32Array,
  10: BigUint64Array,
  11: BigInt64Array,
  12: Float64Array,
};

function typeIdName(c: Cursor, type: number, field: string, at: number): GGUFScalarTypeName | 'array' {
  const name = VALUE_TYPE_NAME[type];
  if (name === undefined) fail(c.path, field, at, `unknown metadata value type ${type} (known: 0-12)`);
  return name;
}

function readArray(c: Cursor, field: string, depth: number): { value: GGUFArray; elem: GGUFScalarTypeName | 'array' } {
  if (depth > MAX_NESTING) fail(c.path, field, c.pos, `arrays nested more than ${MAX_NESTING} deep`);
  const typeAt = c.pos;
  const elemType = c.u32(`${field} element type`);
  const elem = typeIdName(c, elemType, `${field} element type`, typeAt);
  const countAt = c.pos;
  const count = c.u64(`${field} count`);
  const min = VALUE_MIN_BYTES[elemType]!;
  if (count > BigInt(Math.floor(c.remaining / min)))
    fail(c.path, `${field} count`, countAt, `${count} ${elem} elements need at least ${count * BigInt(min)} bytes but only ${c.remaining} remain`);
  const n = Number(count);
  const Ctor = TYPED_CTOR[elemType];
  if (Ctor) {
    const nbytes = n * Ctor.BYTES_PER_ELEMENT;
    if (nbytes > MAX_ARRAY_BYTES) fail(c.path, `${field} count`, countAt, `${n} ${elem} elements exceed the ${MAX_ARRAY_BYTES}-byte limit`);
    const raw = c.bytes(nbytes, field);
    // `raw` is a fresh buffer starting at offset 0, so it is aligned for any element size
    // (GGUF and every supported host are little-endian).
    return { value: new (Ctor as unknown as new (b: ArrayBuffer) => GGUFArray)(raw.buffer as ArrayBuffer), elem };
  }
  if (n > MAX_ARRAY_ITEMS) fail(c.path, `${field} count`, countAt, `${n} elements exceed the ${MAX_ARRAY_ITEMS}-element limit`);
  if (elemType === 7) {
    const raw = c.bytes(n, field);
    return { value: Array.from(raw, (b) => b !== 0), elem };
  }
  if (elemType === 8) {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(c.string(field, i));
    return { value: out, elem };
  }
  const out: GGUFArray[] = [];
  for (let i = 0; i < n; i++) out.push(readArray(c, `${field}[${i}]`, depth + 1).value);
  return { value: out, elem };
}

function readValue(c: Cursor, type: number, field: string): { value: GGUFValue; typeName: GGUFTypeName } {
  if (type === 8) return { value: c.string(field), typeName: 'string' };
  if (type === 9) {
    const { value, elem } = readArray(c, field, 1);
    return { value, typeName: `array<${elem}>` };
  }
  return { value: c.scalar(type, field), typeName: VALUE_TYPE_NAME[type] as GGUFScalarTypeName };
}

function parseHeader(fd: number, path: string): GGUFHeader {
  const fileSize = fstatSync(fd).size;
  const c = new Cursor(fd, fileSize, path);
  if (fileSize < 4) fail(path, 'magic', 0, `file is ${fileSize} bytes, too short for a GGUF header`);
  const magic = c.u32('magic');
  if (magic !== MAGIC) {
    const got = Buffer.alloc(4);
    got.writeUInt32LE(magic);
    fail(path, 'magic', 0, `expected "GGUF", found ${JSON.stringify(got.toString('latin1'))} (not a GGUF file)`);
  }
  const version = c.u32('version');
  if (version === 1) fail(path, 'version', 4, 'GGUF version 1 is not supported (it used 32-bit counts); re-convert the file with a current llama.cpp');
  if (version !== 2 && version !== 3) {
    const swapped = ((version & 0xff) << 24) | ((version >>> 8) & 0xff) << 16 | ((version >>> 16) & 0xff) << 8 | (version >>> 24);
    if (swapped === 2 || swapped === 3) fail(path, 'version', 4, `this is a big-endian GGUF file (version ${swapped}); only little-endian files are supported`);
    fail(path, 'version', 4, `unsupported GGUF version ${version} (supported: 2, 3)`);
  }
  const tensorCountAt = c.pos;
  const tensorCount = c.u64('tensor count');
  // a tensor info is at least an 8-byte name length, u32 n_dims, u32 type and u64 offset
  if (tensorCount > BigInt(Math.floor(c.remaining / 24)))
    fail(path, 'tensor count', tensorCountAt, `${tensorCount} tensors cannot fit in the ${c.remaining} bytes that remain`);
  const kvCountAt = c.pos;
  const kvCount = c.u64('metadata count');
  // a key/value is at least an 8-byte key length, a u32 type and a 1-byte value
  if (kvCount > BigInt(Math.floor(c.remaining / 13)))
    fail(path, 'metadata count', kvCountAt, `${kvCount} key/values cannot fit in the ${c.remaining} bytes that remain`);

  const metadata = new Map<string, GGUFValue>();
  const metadataTypes = new Map<string, GGUFTypeName>();
  let alignment = DEFAULT_ALIGNMENT;
  for (let i = 0; i < Number(kvCount); i++) {
    const keyAt = c.pos;
    const key = c.string(`metadata key #${i}`);
    if (metadata.has(key)) fail(path, `metadata key '${key}'`, keyAt, 'duplicate key');
    const typeAt = c.pos;
    const type = c.u32(`metadata '${key}' type`);
    typeIdName(c, type, `metadata '${key}' type`, typeAt);
    const valueAt = c.pos;
    const { value, typeName } = readValue(c, type, `metadata '${key}'`);
    metadata.set(key, value);
    metadataTypes.set(key, typeName);
    if (key === 'general.alignment') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > 0xffffffff || (value & (value - 1)) !== 0)
        fail(path, "metadata 'general.alignment'", valueAt, `${String(value)} (${typeName}) is not a positive power of two`);
      alignment = value;
    }
  }

  interface Raw {
    name: string;
    ne: number[];
    type: GGMLTypeInfo;
    rel: number;
    at: number;
    offsetAt: number;
  }
  const raws: Raw[] = [];
  const names = new Set<string>();
  for (let i = 0; i < Number(tensorCount); i++) {
    const at = c.pos;
    const name = c.string(`tensor #${i} name`);
    const nameBytes = Buffer.byteLength(name);
    if (nameBytes >= MAX_NAME) fail(path, `tensor #${i} name`, at, `'${name.slice(0, MAX_NAME)}...' is ${nameBytes} bytes; ggml allows at most ${MAX_NAME - 1}`);
    if (names.has(name)) fail(path, `tensor '${name}' name`, at, 'duplicate tensor name');
    names.add(name);
    const f = `tensor '${name}'`;
    const nDimsAt = c.pos;
    const nDims = c.u32(`${f} n_dims`);
    if (nDims > MAX_DIMS) fail(path, `${f} n_dims`, nDimsAt, `${nDims} dimensions exceed ggml's limit of ${MAX_DIMS}`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const dimAt = c.pos;
      const v = c.u64(`${f} ne[${d}]`);
      // ggml stores dims as int64; anything past 2^53 cannot describe data in a real file
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(path, `${f} ne[${d}]`, dimAt, `dimension ${v} is out of range`);
      ne.push(Number(v));
    }
    const typeAt = c.pos;
    const typeId = c.u32(`${f} type`);
    const type = GGML_TYPES.get(typeId);
    if (!type) {
      const removed = GGML_REMOVED_TYPES[typeId];
      if (removed) fail(path, `${f} type`, typeAt, `ggml type ${typeId} (${removed}) was removed from ggml; re-convert the file with a current llama.cpp`);
      fail(path, `${f} type`, typeAt, `unknown ggml type ${typeId}`);
    }
    const offsetAt = c.pos;
    const rel = c.u64n(`${f} offset`);
    raws.push({ name, ne, type, rel, at, offsetAt });
  }
  const dataOffset = align(c.pos, alignment);

  const tensors: GGUFTensorInfo[] = [];
  for (const r of raws) {
    const f = `tensor '${r.name}'`;
    const { type } = r;
    if ((r.ne.length > 0 ? r.ne[0]! : 1) % type.blockSize !== 0)
      fail(path, `${f} ne[0]`, r.at, `${r.ne[0] ?? 1} is not a multiple of the ${type.name} block size ${type.blockSize}`);
    // exact arithmetic: dims of up to 2^53 each multiply far beyond a double's precision
    let numel = 1n;
    for (const d of r.ne) numel *= BigInt(d);
    const bytes = (numel / BigInt(type.blockSize)) * BigInt(type.bytesPerBlock);
    if (r.rel % alignment !== 0) fail(path, `${f} offset`, r.offsetAt, `data offset ${r.rel} is not a multiple of the alignment ${alignment}`);
    const abs = dataOffset + r.rel;
    if (BigInt(abs) + bytes > BigInt(fileSize))
      fail(path, `${f} data`, abs, `[offset ${abs}, +${bytes}) runs past the end of the file (${fileSize} bytes)`);
    tensors.push({
      name: r.name,
      ne: [...r.ne],
      shape: [...r.ne].reverse(),
      numel: Number(numel),
      type: type.id,
      typeName: type.name,
      blockSize: type.blockSize,
      bytesPerBlock: type.bytesPerBlock,
      offset: abs,
      relativeOffset: r.rel,
      bytes: Number(bytes),
    });
  }
  const byStart = tensors.filter((t) => t.bytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1]!;
    const cur = byStart[i]!;
    if (cur.offset < prev.offset + prev.bytes)
      fail(path, `tensor '${cur.name}' data`, cur.offset, `[offset ${cur.offset}, +${cur.bytes}) overlaps tensor '${prev.name}' [offset ${prev.offset}, +${prev.bytes})`);
  }
  return { path, version, metadata, metadataTypes, tensors, dataOffset, alignment, fileSize };
}

/**
 * Reads and validates a GGUF (v2 or v3) header without loading tensor data. Only the header
 * region is read, through a window that moves along the file. Every count, length, dimension,
 * type and data range is checked against the file; a malformed or truncated file throws
 * FormatError naming the field and its byte offset.
 */
export function readGGUFHeader(path: string): GGUFHeader {
  const fd = openSync(path, 'r');
  try {
    return parseHeader(fd, path);
  } finally {
    closeSync(fd);
  }
}

/** ggml types that load as a dense edgetrain tensor, and the dtype they become. */
const LOADABLE: Record<string, DType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', I32: 'int32', I16: 'int32', I8: 'int32' };

export interface LoadGGUFTensorOptions {
  /** Device for the tensor (default: the default device). */
  device?: string;
  /**
   * On cpu, map the file and let tensors view its bytes in place instead of copying them
   * (default true; I8/I16, which widen to int32, are always copied).
   */
  mmap?: boolean;
  /**
   * Block-quantized tensors (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) are dequantized to
   * float32, bit-exactly as llama.cpp does (default false: they throw DTypeError).
   */
  dequantize?: boolean;
}

/**
 * Copies the tensor's bytes from the file into `t` (the path for other devices, and for types
 * that are converted on the way in).
 */
function readTensorData(fd: number, header: GGUFHeader, info: GGUFTensorInfo, t: Tensor): void {
  const path = header.path;
  const field = `tensor '${info.name}' data`;
  if (info.typeName === 'I8' || info.typeName === 'I16') {
    // edgetrain has no 8/16-bit integer dtype: widen to int32 on the host
    const raw = new Uint8Array(info.bytes);
    read(fd, raw, info.offset, path, field);
    const src = info.typeName === 'I8' ? new Int8Array(raw.buffer) : new Int16Array(raw.buffer);
    native.upload(t.storage.handle, 0, Int32Array.from(src));
    return;
  }
  const piece = new Uint8Array(Math.min(READ_PIECE, info.bytes));
  for (let off = 0; off < info.bytes; off += READ_PIECE) {
    const n = Math.min(READ_PIECE, info.bytes - off);
    const view = n === piece.byteLength ? piece : piece.subarray(0, n);
    read(fd, view, info.offset + off, path, field);
    native.upload(t.storage.handle, off, view);
  }
}

/** One tensor, viewing `mapped` in place where it can, else copied from `fd`. */
function loadOne(fd: number, header: GGUFHeader, info: GGUFTensorInfo, device: string, mapped: MappedFile | undefined, dequant = false): Tensor {
  const dtype = LOADABLE[info.typeName];
  if (!dtype && dequant && info.typeName in BLOCK) {
    if (info.offset < header.dataOffset || info.offset + info.bytes > header.fileSize)
      throw new ValueError(`loadGGUFTensor: tensor info '${info.name}' does not belong to the header of ${header.path}`);
    const raw = new Uint8Array(info.bytes);
    readExact(fd, raw, info.offset, (offset, what) => fail(header.path, `tensor '${info.name}' data`, offset, what));
    // native dequantization (bit-exact with llama.cpp, like lib/quant/dequant.ts, and fast)
    const K = info.shape[info.shape.length - 1] ?? 1;
    const w = new QuantizedWeight(info.typeName, [info.numel / K, K], raw);
    try {
      const f = w.dequantize();
      const shaped = reshape(f, info.shape);
      if (shaped !== f) f.dispose();
      if (device === 'cpu') return shaped;
      const moved = shaped.to(device);
      shaped.dispose();
      return moved;
    } catch (e) {
      throw fromNative(e, `loadGGUFTensor '${info.name}'`);
    } finally {
      w.dispose();
    }
  }
  if (!dtype)
    throw new DTypeError(
      `GGUF ${header.path}: tensor '${info.name}' has ggml type ${info.typeName}, which cannot be loaded as a dense tensor yet (supported: ${Object.keys(LOADABLE).join(', ')})`,
    );
  if (info.offset < header.dataOffset || info.offset + info.bytes > header.fileSize || info.numel * info.bytesPerBlock !== info.bytes * info.blockSize)
    throw new ValueError(`loadGGUFTensor: tensor info '${info.name}' does not belong to the header of ${header.path}`);
  if (mapped && info.bytes === info.numel * DTYPE_SIZE[dtype] && info.offset % DTYPE_SIZE[dtype] === 0)
    return mapped.tensor(info.offset, info.shape, dtype);
  const t = Tensor.empty(info.shape, dtype, device);
  try {
    readTensorData(fd, header, info, t);
  } catch (e) {
    t.dispose();
    throw fromNative(e, `loadGGUFTensor '${info.name}'`);
  }
  return t;
}

/** Checks the file is still the one the header describes, and maps it when asked to. */
function openForLoad(header: GGUFHeader, device: string, mmap: boolean | undefined): { fd: number; mapped?: MappedFile } {
  const fd = openSync(header.path, 'r');
  let mapped: MappedFile | undefined;
  try {
    const size = fstatSync(fd).size;
    if (size !== header.fileSize)
      fail(header.path, 'file size', 0, `the file is now ${size} bytes but was ${header.fileSize} when its header was read`);
    if (device === 'cpu' && (mmap ?? true)) {
      mapped = mapFile(header.path);
      if (mapped.bytes !== header.fileSize)
        fail(header.path, 'file size', 0, `the file is now ${mapped.bytes} bytes but was ${header.fileSize} when its header was read`);
    }
    return { fd, mapped };
  } catch (e) {
    mapped?.close();
    closeSync(fd);
    throw e;
  }
}

/** The stored bytes of one tensor (any type, block formats included), bounds-checked against the file. */
export function readGGUFTensorBytes(header: GGUFHeader, info: GGUFTensorInfo): Uint8Array {
  if (info.offset < header.dataOffset || info.offset + info.bytes > header.fileSize)
    throw new ValueError(`readGGUFTensorBytes: tensor info '${info.name}' does not belong to the header of ${header.path}`);
  const fd = openSync(header.path, 'r');
  try {
    const b = new Uint8Array(info.bytes);
    readExact(fd, b, info.offset, (offset, what) => fail(header.path, `tensor '${info.name}' data`, offset, what));
    return b;
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads one tensor of a GGUF file (from its header) as an edgetrain tensor with the row-major
 * `info.shape`. F32, F16, BF16 and I32 keep their type; I8 and I16 widen to int32. On cpu the
 * tensor views the mapped file in place (see `mmap`). Quantized types throw DTypeError (a later
 * release dequantizes them).
 */
export function loadGGUFTensor(header: GGUFHeader, info: GGUFTensorInfo, opts?: LoadGGUFTensorOptions): Tensor {
  const device = resolveDevice(opts?.device, 'loadGGUFTensor');
  const { fd, mapped } = openForLoad(header, device, opts?.mmap);
  try {
    return loadOne(fd, header, info, device, mapped, opts?.dequantize);
  } finally {
    mapped?.close(); // a tensor made from it keeps the mapping alive
    closeSync(fd);
  }
}

export interface LoadGGUFOptions extends LoadGGUFTensorOptions {
  /** Loads only the tensors this returns true for (the others' bytes are never read). */
  filter?: (name: string, info: GGUFTensorInfo) => boolean;
}

/**
 * Reads a GGUF header and loads its tensors (see loadGGUFTensor). If any tensor fails, the ones
 * already loaded are disposed and the error is rethrown.
 */
export function loadGGUF(path: string, opts?: LoadGGUFOptions): { header: GGUFHeader; tensors: Map<string, Tensor> } {
  const device = resolveDevice(opts?.device, 'loadGGUF');
  const header = readGGUFHeader(path);
  const { fd, mapped } = openForLoad(header, device, opts?.mmap);
  const tensors = new Map<string, Tensor>();
  try {
    for (const info of header.tensors) {
      if (opts?.filter && !opts.filter(info.name, info)) continue;
      tensors.set(info.name, loadOne(fd, header, info, device, mapped, opts?.dequantize));
    }
    return { header, tensors };
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  } finally {
    mapped?.close();
    closeSync(fd);
  }
}

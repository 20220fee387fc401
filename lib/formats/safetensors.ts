// safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length, a JSON header { name: { dtype, shape, data_offsets: [begin, end) }, "__metadata__":
// { string: string } }, then the raw little-endian tensor bytes. Files come from anywhere, so
// every header field is checked against the file before a byte of tensor data is trusted.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { type MappedFile, mapFile } from './mmap.js';
import { type DType, DTYPE_SIZE } from '../dtype.js';
import { DisposedError, FormatError, ValueError, fromNative } from '../errors.js';
import { resolveDevice } from '../device.js';
import { native } from '../native/addon.js';
import { Tensor } from '../tensor.js';
import { writeFileAtomic } from './atomic.js';
import { readExact } from './read.js';

const TO_FILE: Record<DType, string> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', int32: 'I32', uint8: 'U8' };
const FROM_FILE: Record<string, DType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', I32: 'int32', U8: 'uint8', BOOL: 'uint8' };
// dtypes the format defines but edgetrain has no tensor type for (named in the error)
const KNOWN_UNSUPPORTED = new Set(['F64', 'I64', 'I16', 'I8', 'U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2']);

/** The reference implementation refuses headers above 100 MB; so do we (a corrupt length would otherwise allocate gigabytes). */
const MAX_HEADER = 100 * 1024 * 1024;
const MAX_RANK = 8;
/** Tensor data is read and uploaded in pieces of this size, so a huge tensor needs no huge host buffer. */
const READ_PIECE = 256 * 1024 * 1024;

/** One tensor's entry in a safetensors header. */
export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  /** The dtype string as written in the file (BOOL loads as uint8). */
  fileDType: string;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the data section. */
  dataOffsets: [number, number];
}

/** A parsed and validated safetensors header. */
export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file (8 + header length). */
  dataStart: number;
  fileSize: number;
}

export interface LoadSafetensorsOptions {
  /** Device for the loaded tensors (default: the default device). */
  device?: string;
  /** Loads only the tensors this returns true for (the others' bytes are never read). */
  filter?: (name: string) => boolean;
  /**
   * On cpu, map the file and let tensors view its bytes in place instead of copying them
   * (default true on cpu; writes to such tensors stay private to the process).
   */
  mmap?: boolean;
}

function fail(path: string, field: string, offset: number, what: string): never {
  throw new FormatError(`safetensors ${path}: ${field} (byte offset ${offset}): ${what}`);
}

function read(fd: number, buf: Uint8Array, position: number, path: string, field: string): void {
  readExact(fd, buf, position, (offset, what) => fail(path, field, offset, what));
}

/**
 * The first key that repeats within one object of a JSON text JSON.parse accepted (which keeps
 * the last silently), with its UTF-16 index and nesting depth (1: the header's own keys, the
 * tensor names).
 */
function duplicateKey(text: string): { key: string; index: number; depth: number } | undefined {
  const stack: (Set<string> | undefined)[] = []; // a Set per open object, undefined per open array
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) stack.push(new Set());
    else if (c === 0x5b) stack.push(undefined);
    else if (c === 0x7d || c === 0x5d) stack.pop();
    else if (c === 0x22) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      const keys = stack[stack.length - 1];
      if (!keys) continue;
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j]!)) j++;
      if (text[j] !== ':') continue; // a string value, not a key
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      if (keys.has(key)) return { key, index: start, depth: stack.length };
      keys.add(key);
    }
  }
  return undefined;
}

function parseHeader(fd: number, path: string): SafetensorsHeader {
  const fileSize = fstatSync(fd).size;
  if (fileSize < 8) fail(path, 'header length', 0, `file is ${fileSize} bytes, too short for the 8-byte header length`);
  const lenBuf = new Uint8Array(8);
  read(fd, lenBuf, 0, path, 'header length');
  const len = new DataView(lenBuf.buffer).getBigUint64(0, true);
  if (len > BigInt(fileSize - 8))
    fail(path, 'header length', 0, `header of ${len} bytes runs beyond the end of the file (${fileSize} bytes)`);
  const n = Number(len);
  if (n > MAX_HEADER) fail(path, 'header length', 0, `header of ${n} bytes exceeds the ${MAX_HEADER}-byte limit`);
  const dataStart = 8 + n;
  const dataSize = fileSize - dataStart;
  const hbuf = new Uint8Array(n);
  read(fd, hbuf, 8, path, 'header');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(hbuf);
  } catch {
    fail(path, 'header', 8, 'not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(path, 'header JSON', 8, `cannot parse: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(path, 'header JSON', 8, 'is not a JSON object');
  const dup = duplicateKey(text);
  if (dup) {
    const at = 8 + Buffer.byteLength(text.slice(0, dup.index));
    if (dup.depth === 1) fail(path, dup.key === '__metadata__' ? '__metadata__' : `tensor '${dup.key}' name`, at, dup.key === '__metadata__' ? 'appears twice' : 'duplicate tensor name');
    fail(path, `header JSON key '${dup.key}'`, at, 'duplicate key in an object');
  }

  // Where a key sits in the file, for messages that point at the broken entry.
  const where = (key: string): number => {
    const i = text.indexOf(JSON.stringify(key));
    return i < 0 ? 8 : 8 + Buffer.byteLength(text.slice(0, i));
  };

  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    const at = where(name);
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(path, '__metadata__', at, 'is not an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(path, `__metadata__.${k}`, at, `value is ${JSON.stringify(v)}, not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(path, `tensor '${name}'`, at, 'entry is not an object');
    const e = raw as Record<string, unknown>;
    const fileDType = e.dtype;
    if (typeof fileDType !== 'string') fail(path, `tensor '${name}' dtype`, at, `is ${JSON.stringify(fileDType)}, not a string`);
    const dtype = FROM_FILE[fileDType];
    if (!dtype) {
      if (KNOWN_UNSUPPORTED.has(fileDType))
        fail(path, `tensor '${name}' dtype`, at, `${fileDType} is not supported (F32, F16, BF16, I32, U8, BOOL); convert the file first`);
      fail(path, `tensor '${name}' dtype`, at, `unknown dtype '${fileDType}'`);
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0))
      fail(path, `tensor '${name}' shape`, at, `${JSON.stringify(shape)} is not an array of non-negative integers`);
    if (shape.length > MAX_RANK) fail(path, `tensor '${name}' shape`, at, `rank ${shape.length} exceeds ${MAX_RANK}`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0))
      fail(path, `tensor '${name}' data_offsets`, at, `${JSON.stringify(offs)} is not a pair of non-negative integers`);
    const [begin, end] = offs as [number, number];
    if (begin > end) fail(path, `tensor '${name}' data_offsets`, at, `begin ${begin} is after end ${end}`);
    if (end > dataSize)
      fail(path, `tensor '${name}' data_offsets`, dataStart + begin, `[${begin}, ${end}) is out of range: the data section holds ${dataSize} bytes (file truncated?)`);
    let numel = 1;
    for (const s of shape as number[]) numel *= s;
    const want = numel * DTYPE_SIZE[dtype];
    if (end - begin !== want)
      fail(path, `tensor '${name}' data_offsets`, dataStart + begin, `span of ${end - begin} bytes does not match shape [${shape}] ${fileDType} (${want} bytes)`);
    entries.push({ name, dtype, fileDType, shape: [...(shape as number[])], dataOffsets: [begin, end] });
  }
  const byStart = [...entries].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1]!;
    const cur = byStart[i]!;
    // empty tensors occupy no bytes and may share an offset with anything
    if (cur.dataOffsets[0] < prev.dataOffsets[1] && cur.dataOffsets[0] !== cur.dataOffsets[1])
      fail(
        path,
        `tensor '${cur.name}' data_offsets`,
        dataStart + cur.dataOffsets[0],
        `[${cur.dataOffsets}] overlaps tensor '${prev.name}' [${prev.dataOffsets}]`,
      );
  }
  return { entries, metadata, dataStart, fileSize };
}

/** Reads and validates a safetensors file's header without loading any tensor data. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openSync(path, 'r');
  try {
    return parseHeader(fd, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads a safetensors file. Every header field is checked against the file size first; a
 * malformed file throws FormatError naming the field and its byte offset, and no tensors are
 * left behind. Tensors come back in header order (16-bit floats keep their dtype).
 */
export function loadSafetensors(path: string, opts?: LoadSafetensorsOptions): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const device = resolveDevice(opts?.device, 'loadSafetensors');
  const fd = openSync(path, 'r');
  const tensors = new Map<string, Tensor>();
  let mapped: MappedFile | undefined;
  try {
    const header = parseHeader(fd, path);
    if (device === 'cpu' && (opts?.mmap ?? true)) mapped = mapFile(path);
    for (const e of header.entries) {
      if (opts?.filter && !opts.filter(e.name)) continue;
      const at = header.dataStart + e.dataOffsets[0];
      if (mapped && at % DTYPE_SIZE[e.dtype] === 0) {
        tensors.set(e.name, mapped.tensor(at, e.shape, e.dtype));
        continue;
      }
      const t = Tensor.empty(e.shape, e.dtype, device);
      tensors.set(e.name, t);
      const [begin, end] = e.dataOffsets;
      const piece = new Uint8Array(Math.min(READ_PIECE, end - begin));
      for (let off = begin; off < end; off += READ_PIECE) {
        const n = Math.min(READ_PIECE, end - off);
        const view = n === piece.byteLength ? piece : piece.subarray(0, n);
        read(fd, view, header.dataStart + off, path, `tensor '${e.name}' data`);
        try {
          native.upload(t.storage.handle, off - begin, view);
        } catch (err) {
          throw fromNative(err, `loadSafetensors '${e.name}'`);
        }
      }
    }
    return { tensors, metadata: header.metadata };
  } catch (err) {
    for (const t of tensors.values()) t.dispose();
    throw err;
  } finally {
    mapped?.close(); // the tensors keep the mapping alive
    closeSync(fd);
  }
}

/** A tensor's elements as raw little-endian bytes in row-major order (16-bit floats unconverted). */
export function tensorBytes(t: Tensor, name = 'tensor'): Uint8Array {
  if (t.isDisposed) throw new DisposedError(`saveSafetensors: '${name}' (shape [${t.shape}]) was disposed`);
  const bytes = t.numel * DTYPE_SIZE[t.dtype];
  if (bytes === 0) return new Uint8Array(0);
  const src = t.isContiguous() ? t : t.contiguousCopy();
  try {
    return new Uint8Array(native.download(src.storage.handle, src.offset * DTYPE_SIZE[src.dtype], bytes));
  } catch (e) {
    throw fromNative(e, `saveSafetensors '${name}'`);
  } finally {
    if (src !== t) src.dispose();
  }
}

/**
 * Writes tensors to a safetensors file, atomically (see writeFileAtomic): a failure part way —
 * a disposed tensor, a full disk — leaves any existing file at `path` as it was. Tensors are
 * stored in the given order, back to back; each is read back from its device only when its
 * turn comes, so peak host memory is one tensor.
 */
export function saveSafetensors(
  path: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): void {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== 'string') throw new ValueError(`saveSafetensors: metadata '${k}' must be a string, got ${typeof v}`);
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__' || name === '') throw new ValueError(`saveSafetensors: '${name}' cannot be a tensor name`);
    if (!(t instanceof Tensor)) throw new ValueError(`saveSafetensors: '${name}' is not a Tensor`);
    const bytes = t.numel * DTYPE_SIZE[t.dtype];
    header[name] = { dtype: TO_FILE[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  // the data section starts 8-byte aligned, as the spec recommends (padding is spaces)
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  function* chunks(): Generator<Uint8Array> {
    yield head;
    for (const [name, t] of list) {
      const b = tensorBytes(t, name);
      if (b.byteLength > 0) yield b;
    }
  }
  writeFileAtomic(path, chunks());
}

export { TO_FILE as SAFETENSORS_DTYPE };

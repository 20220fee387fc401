// GGUF reader and writer: round trips of every metadata type and tensor dtype, the real files in
// ../shared (written by llama.cpp; $EDGETRAIN_SHARED overrides; a missing file fails), and
// malformed files, each of which must be a FormatError naming the field.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { closeSync, copyFileSync, existsSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as et from '../lib/index.js';
import {
  GGML_TYPES,
  MAX_NAME,
  type GGUFWritable,
  gguf,
  loadGGUF,
  loadGGUFTensor,
  readGGUFHeader,
  writeGGUF,
} from '../lib/formats/gguf.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.EDGETRAIN_SHARED ?? path.resolve(repoRoot, '../shared');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'et-gguf-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const expectFormatError = (fn: () => unknown, ...patterns: RegExp[]): string => {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a FormatError').toBeInstanceOf(et.FormatError);
  for (const p of patterns) expect((err as Error).message).toMatch(p);
  return (err as Error).message;
};

// --- a byte-level GGUF builder, independent of the writer under test -------------------------
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: number | bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
const str = (s: string | Buffer) => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([u64(b.byteLength), b]);
};
const kvStr = (k: string, v: string) => Buffer.concat([str(k), u32(8), str(v)]);
const kvU32 = (k: string, v: number) => Buffer.concat([str(k), u32(4), u32(v)]);

interface RawTensor {
  name: string;
  ne: (number | bigint)[];
  type: number;
  offset: number | bigint;
}
function craft(
  name: string,
  o: { magic?: string; version?: number; kv?: Buffer[]; tensors?: RawTensor[]; alignment?: number; data?: Buffer; kvCount?: bigint; tensorCount?: bigint },
): string {
  const kv = o.kv ?? [];
  const tensors = o.tensors ?? [];
  const head = Buffer.concat([
    Buffer.from(o.magic ?? 'GGUF', 'latin1'),
    u32(o.version ?? 3),
    u64(o.tensorCount ?? BigInt(tensors.length)),
    u64(o.kvCount ?? BigInt(kv.length)),
    ...kv,
    ...tensors.flatMap((t) => [str(t.name), u32(t.ne.length), ...t.ne.map(u64), u32(t.type), u64(t.offset)]),
  ]);
  const a = o.alignment ?? 32;
  const padded = Buffer.concat([head, Buffer.alloc((a - (head.byteLength % a)) % a)]);
  const p = join(dir, name);
  writeFileSync(p, Buffer.concat([padded, o.data ?? Buffer.alloc(0)]));
  return p;
}

describe('GGUF round trip', () => {
  test('every metadata type: scalars, 64-bit ints, empty and unicode strings, empty and nested arrays', () => {
    const md = new Map<string, GGUFWritable>([
      ['u8', gguf.u8(255)],
      ['i8', gguf.i8(-128)],
      ['u16', gguf.u16(65535)],
      ['i16', gguf.i16(-32768)],
      ['u32', gguf.u32(4294967295)],
      ['i32', gguf.i32(-2147483648)],
      ['f32', gguf.f32(1.5)],
      ['f64', gguf.f64(Math.PI)],
      ['bool.t', gguf.bool(true)],
      ['bool.f', gguf.bool(false)],
      ['str.empty', gguf.str('')],
      ['str.unicode', 'héllo 世界 🦙\n\u0000end'],
      ['u64.max', gguf.u64(2n ** 64n - 1n)],
      ['u64.small', gguf.u64(42)],
      ['i64.min', gguf.i64(-(2n ** 63n))],
      ['i64.small', gguf.i64(-5)],
      ['infer.int', 7],
      ['infer.bigint', 3_000_000_000],
      ['infer.float', 0.25],
      ['infer.bool', true],
      ['infer.strings', ['a', '', 'ü']],
      ['infer.floats', [0.5, 1, -2.25]],
      ['infer.ints', [1, -2, 3]],
      ['arr.u8', new Uint8Array([0, 255])],
      ['arr.i8', new Int8Array([-128, 127])],
      ['arr.u16', new Uint16Array([1, 65535])],
      ['arr.i16', new Int16Array([-32768, 5])],
      ['arr.u32', new Uint32Array([4294967295])],
      ['arr.i32', new Int32Array([-1, 2])],
      ['arr.f32', new Float32Array([0.5, -Infinity, 3])],
      ['arr.f64', new Float64Array([Math.E])],
      ['arr.u64', new BigUint64Array([2n ** 64n - 1n, 0n])],
      ['arr.i64', new BigInt64Array([-(2n ** 63n), 1n])],
      ['arr.bool', [true, false, true]],
      ['arr.str.empty', gguf.arr('string', [])],
      ['arr.u8.empty', gguf.arr('uint8', [])],
      ['arr.typed', gguf.arr('uint16', [1, 2, 3])],
      ['arr.nested', gguf.arr('array', [[1, 2], gguf.arr('string', ['x', 'y']), new Float32Array([]), gguf.arr('array', [[true]])])],
    ]);
    const p = join(dir, 'meta.gguf');
    writeGGUF(p, { metadata: md });
    const h = readGGUFHeader(p);
    expect(h.version).toBe(3);
    expect(h.tensors).toEqual([]);
    expect(h.alignment).toBe(32);
    expect([...h.metadata.keys()]).toEqual([...md.keys()]);
    const m = Object.fromEntries(h.metadata);
    const ty = Object.fromEntries(h.metadataTypes);
    expect(m).toMatchObject({
      u8: 255,
      i8: -128,
      u16: 65535,
      i16: -32768,
      u32: 4294967295,
      i32: -2147483648,
      f32: 1.5,
      f64: Math.PI,
      'bool.t': true,
      'bool.f': false,
      'str.empty': '',
      'str.unicode': 'héllo 世界 🦙\n\u0000end',
      'u64.max': 2n ** 64n - 1n,
      'u64.small': 42,
      'i64.min': -(2n ** 63n),
      'i64.small': -5,
      'infer.int': 7,
      'infer.bigint': 3_000_000_000,
      'infer.float': 0.25,
      'infer.bool': true,
      'infer.strings': ['a', '', 'ü'],
      'arr.bool': [true, false, true],
      'arr.str.empty': [],
    });
    expect(ty).toEqual({
      u8: 'uint8',
      i8: 'int8',
      u16: 'uint16',
      i16: 'int16',
      u32: 'uint32',
      i32: 'int32',
      f32: 'float32',
      f64: 'float64',
      'bool.t': 'bool',
      'bool.f': 'bool',
      'str.empty': 'string',
      'str.unicode': 'string',
      'u64.max': 'uint64',
      'u64.small': 'uint64',
      'i64.min': 'int64',
      'i64.small': 'int64',
      'infer.int': 'int32',
      'infer.bigint': 'uint32',
      'infer.float': 'float32',
      'infer.bool': 'bool',
      'infer.strings': 'array<string>',
      'infer.floats': 'array<float32>',
      'infer.ints': 'array<int32>',
      'arr.u8': 'array<uint8>',
      'arr.i8': 'array<int8>',
      'arr.u16': 'array<uint16>',
      'arr.i16': 'array<int16>',
      'arr.u32': 'array<uint32>',
      'arr.i32': 'array<int32>',
      'arr.f32': 'array<float32>',
      'arr.f64': 'array<float64>',
      'arr.u64': 'array<uint64>',
      'arr.i64': 'array<int64>',
      'arr.bool': 'array<bool>',
      'arr.str.empty': 'array<string>',
      'arr.u8.empty': 'array<uint8>',
      'arr.typed': 'array<uint16>',
      'arr.nested': 'array<array>',
    });
    // numeric arrays come back as the typed array of their element type
    expect(m['infer.floats']).toEqual(new Float32Array([0.5, 1, -2.25]));
    expect(m['infer.ints']).toEqual(new Int32Array([1, -2, 3]));
    expect(m['arr.u8']).toEqual(new Uint8Array([0, 255]));
    expect(m['arr.i8']).toEqual(new Int8Array([-128, 127]));
    expect(m['arr.u16']).toEqual(new Uint16Array([1, 65535]));
    expect(m['arr.i16']).toEqual(new Int16Array([-32768, 5]));
    expect(m['arr.u32']).toEqual(new Uint32Array([4294967295]));
    expect(m['arr.i32']).toEqual(new Int32Array([-1, 2]));
    expect(m['arr.f32']).toEqual(new Float32Array([0.5, -Infinity, 3]));
    expect(m['arr.f64']).toEqual(new Float64Array([Math.E]));
    expect(m['arr.u64']).toEqual(new BigUint64Array([2n ** 64n - 1n, 0n]));
    expect(m['arr.i64']).toEqual(new BigInt64Array([-(2n ** 63n), 1n]));
    expect(m['arr.u8.empty']).toEqual(new Uint8Array([]));
    expect(m['arr.typed']).toEqual(new Uint16Array([1, 2, 3]));
    expect(m['arr.nested']).toEqual([new Int32Array([1, 2]), ['x', 'y'], new Float32Array([]), [[true]]]);

    // copying a header through gguf.typed keeps every type: the rewritten file is byte-identical
    const copy = join(dir, 'meta-copy.gguf');
    writeGGUF(copy, { metadata: new Map([...h.metadata].map(([k, v]) => [k, gguf.typed(h.metadataTypes.get(k)!, v)])) });
    expect(readFileSync(copy).equals(readFileSync(p))).toBe(true);
  });

  test('writer refuses values that do not fit their type', () => {
    const p = join(dir, 'bad-values.gguf');
    expect(() => writeGGUF(p, { metadata: { x: gguf.u8(256) } })).toThrow(et.ValueError);
    expect(() => writeGGUF(p, { metadata: { x: gguf.i32(1.5) } })).toThrow(/not an integer/);
    expect(() => writeGGUF(p, { metadata: { x: gguf.u64(-1n) } })).toThrow(/out of range/);
    expect(() => writeGGUF(p, { metadata: { x: gguf.str(5 as unknown as string) } })).toThrow(et.ValueError);
    expect(() => writeGGUF(p, { metadata: { x: [1, 'a'] as unknown as string[] } })).toThrow(/mixed array/);
    expect(() => writeGGUF(p, { metadata: { x: null as unknown as string } })).toThrow(et.ValueError);
    expect(() => writeGGUF(p, { metadata: {}, alignment: 24 })).toThrow(/power of two/);
    expect(() => writeGGUF(p, { metadata: { 'general.alignment': 64 }, alignment: 32 })).toThrow(/disagrees/);
    expect(existsSync(p)).toBe(false);
  });

  test('tensors f32/f16/bf16/i32 of rank 0-4 keep shape and values; data is aligned', () => {
    const tensors = [
      { name: 'a.f32.1d', tensor: et.tensor([1.5, -2, 3, 1e-30]) },
      { name: 'b.f16.2d', tensor: et.tensor([[0.5, -1, 65504], [2 ** -24, 0, -0]], { dtype: 'float16' }) },
      { name: 'c.bf16.3d', tensor: et.tensor([[[1, -2.5]], [[3e38, 1 / 128]], [[7, 8]]], { dtype: 'bfloat16' }) },
      { name: 'd.i32', tensor: et.tensor([[2147483647, -2147483648, 0]], { dtype: 'int32' }) },
      { name: 'e.f32.4d', tensor: et.arange(0, 120).reshape([2, 3, 4, 5]) },
      { name: 'f.transposed', tensor: et.tensor([[1, 2, 3], [4, 5, 6]]).transpose() },
      { name: 'g.scalar', tensor: et.tensor([3.25]).reshape([]) },
    ];
    for (const alignment of [32, 64, 1]) {
      const p = join(dir, `tensors-${alignment}.gguf`);
      writeGGUF(p, { metadata: { 'general.architecture': 'test' }, tensors, alignment: alignment === 32 ? undefined : alignment });
      const h = readGGUFHeader(p);
      expect(h.alignment).toBe(alignment);
      expect(h.metadata.get('general.alignment')).toBe(alignment === 32 ? undefined : alignment);
      if (alignment !== 32) expect(h.metadataTypes.get('general.alignment')).toBe('uint32');
      expect(h.dataOffset % alignment).toBe(0);
      expect(h.fileSize).toBe(statSync(p).size);
      expect(h.tensors.map((t) => t.name)).toEqual(tensors.map((t) => t.name));
      expect(h.tensors.map((t) => t.typeName)).toEqual(['F32', 'F16', 'BF16', 'I32', 'F32', 'F32', 'F32']);
      const e = h.tensors[4]!;
      expect(e.shape).toEqual([2, 3, 4, 5]);
      expect(e.ne).toEqual([5, 4, 3, 2]);
      expect(h.tensors[6]!.shape).toEqual([1]); // a 0-d tensor is stored with ne [1]
      for (const info of h.tensors) {
        expect(info.offset % alignment).toBe(0);
        expect(info.offset).toBe(h.dataOffset + info.relativeOffset);
      }
      for (const mmap of [true, false]) {
        const { tensors: loaded } = loadGGUF(p, { mmap });
        for (const { name, tensor } of tensors) {
          const t = loaded.get(name)!;
          expect(t.dtype).toBe(tensor.dtype);
          expect(t.shape).toEqual(tensor.shape.length === 0 ? [1] : tensor.shape);
          expect(Array.from(t.dataSync())).toEqual(Array.from(tensor.dataSync()));
          t.dispose();
        }
      }
    }
  });

  test('writer refuses tensors ggml cannot hold and leaves no file', () => {
    const p = join(dir, 'bad-tensors.gguf');
    const x = et.tensor([1, 2]);
    expect(() => writeGGUF(p, { tensors: [{ name: 'u8', tensor: et.tensor([1], { dtype: 'uint8' }) }] })).toThrow(et.DTypeError);
    expect(() => writeGGUF(p, { tensors: [{ name: 'r5', tensor: et.zeros([1, 1, 1, 1, 2]) }] })).toThrow(et.ShapeError);
    expect(() => writeGGUF(p, { tensors: [{ name: 'x'.repeat(64), tensor: x }] })).toThrow(/64 bytes/);
    expect(() => writeGGUF(p, { tensors: [{ name: 'a', tensor: x }, { name: 'a', tensor: x }] })).toThrow(/duplicate/);
    const d = et.tensor([1]);
    d.dispose();
    expect(() => writeGGUF(p, { tensors: [{ name: 'gone', tensor: d }] })).toThrow(/writeGGUF: tensor 'gone'.*disposed/);
    expect(existsSync(p)).toBe(false);
  });

  test('ggml type table: sizes of quantized tensors are computed from block geometry', () => {
    expect(GGML_TYPES.get(2)).toEqual({ id: 2, name: 'Q4_0', blockSize: 32, bytesPerBlock: 18 });
    expect(GGML_TYPES.get(12)).toEqual({ id: 12, name: 'Q4_K', blockSize: 256, bytesPerBlock: 144 });
    expect(GGML_TYPES.get(30)?.name).toBe('BF16');
    const p = craft('q.gguf', {
      tensors: [
        { name: 'q8', ne: [64, 3], type: 8, offset: 0 },
        { name: 'q6k', ne: [256, 2], type: 14, offset: 224 },
      ],
      data: Buffer.alloc(224 + 420),
    });
    const h = readGGUFHeader(p);
    expect(h.tensors.map((t) => [t.typeName, t.bytes, t.shape])).toEqual([
      ['Q8_0', 6 * 34, [3, 64]],
      ['Q6_K', 2 * 210, [2, 256]],
    ]);
    expect(() => loadGGUFTensor(h, h.tensors[0]!)).toThrow(et.DTypeError);
    expect(() => loadGGUFTensor(h, h.tensors[0]!)).toThrow(/Q8_0.*cannot be loaded/);
  });

  test('v2 files and I8/I16 tensors load (widened to int32)', () => {
    const data = Buffer.alloc(64);
    new Int8Array(data.buffer, data.byteOffset, 4).set([-128, 127, 0, 5]);
    new Int16Array(data.buffer, data.byteOffset + 32, 2).set([-32768, 32767]);
    const p = craft('v2.gguf', {
      version: 2,
      kv: [kvStr('general.architecture', 'x')],
      tensors: [
        { name: 'i8', ne: [4], type: 24, offset: 0 },
        { name: 'i16', ne: [2], type: 25, offset: 32 },
      ],
      data,
    });
    const h = readGGUFHeader(p);
    expect(h.version).toBe(2);
    const a = loadGGUFTensor(h, h.tensors[0]!);
    const b = loadGGUFTensor(h, h.tensors[1]!);
    expect(a.dtype).toBe('int32');
    expect(Array.from(a.dataSync())).toEqual([-128, 127, 0, 5]);
    expect(Array.from(b.dataSync())).toEqual([-32768, 32767]);
  });
});

describe('GGUF files written by llama.cpp (../shared)', () => {
  const f16 = path.join(shared, 'quant', 'tiny-llama-f16.gguf');
  const vocabDir = path.join(shared, 'vocab');

  test('the shared files exist', () => {
    expect(existsSync(f16), `${f16} is missing (set EDGETRAIN_SHARED)`).toBe(true);
    expect(existsSync(vocabDir), `${vocabDir} is missing (set EDGETRAIN_SHARED)`).toBe(true);
  });

  test('tiny-llama-f16.gguf: metadata, tensor table, and F32/F16 tensors load with finite values', () => {
    const h = readGGUFHeader(f16);
    const md = h.metadata;
    console.log(
      `tiny-llama-f16.gguf: v${h.version}, ${md.size} keys, ${h.tensors.length} tensors, data at ${h.dataOffset}, ` +
        `arch ${String(md.get('general.architecture'))}, ` +
        h.tensors.map((t) => `${t.name} ${t.typeName} [${t.shape}]`).join('; '),
    );
    expect(h.version).toBe(3);
    expect(md.get('general.architecture')).toBe('llama');
    const dModel = md.get('llama.embedding_length');
    const nLayer = md.get('llama.block_count');
    expect(dModel).toBe(256);
    expect(nLayer).toBe(2);
    expect(md.get('llama.attention.head_count')).toBe(4);
    expect(md.get('llama.attention.head_count_kv')).toBe(2);
    expect(md.get('llama.feed_forward_length')).toBe(768);
    const tokens = md.get('tokenizer.ggml.tokens') as string[];
    expect(Array.isArray(tokens)).toBe(true);
    expect(tokens.length).toBe(4096);
    expect(tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    expect(md.get('tokenizer.ggml.scores')).toBeInstanceOf(Float32Array);
    expect(h.metadataTypes.get('tokenizer.ggml.token_type')).toBe('array<int32>');

    const byName = new Map(h.tensors.map((t) => [t.name, t]));
    expect(byName.get('token_embd.weight')).toMatchObject({ typeName: 'F16', shape: [4096, 256], ne: [256, 4096] });
    expect(byName.get('output.weight')).toMatchObject({ shape: [4096, 256] });
    expect(byName.get('output_norm.weight')).toMatchObject({ typeName: 'F32', shape: [256] });
    for (let l = 0; l < 2; l++) {
      expect(byName.get(`blk.${l}.attn_q.weight`)?.shape).toEqual([256, 256]);
      expect(byName.get(`blk.${l}.attn_k.weight`)?.shape).toEqual([128, 256]); // 2 kv heads of 64
      expect(byName.get(`blk.${l}.ffn_gate.weight`)?.shape).toEqual([768, 256]);
      expect(byName.get(`blk.${l}.ffn_down.weight`)?.shape).toEqual([256, 768]);
      expect(byName.get(`blk.${l}.attn_norm.weight`)?.typeName).toBe('F32');
    }
    // the tensors tile the data section: aligned, inside the file, no overlaps (checked by the reader)
    const last = h.tensors.reduce((a, b) => (a.offset > b.offset ? a : b));
    expect(last.offset + last.bytes).toBeLessThanOrEqual(h.fileSize);
    expect(h.fileSize - (last.offset + last.bytes)).toBeLessThan(h.alignment);

    const norm = loadGGUFTensor(h, byName.get('blk.0.attn_norm.weight')!);
    const q = loadGGUFTensor(h, byName.get('blk.0.attn_q.weight')!);
    expect(norm.dtype).toBe('float32');
    expect(q.dtype).toBe('float16');
    expect(q.shape).toEqual([256, 256]);
    for (const t of [norm, q]) {
      const d = t.dataSync();
      expect(d.every(Number.isFinite)).toBe(true);
      expect(d.some((v) => v !== 0)).toBe(true);
    }
    // bytes as llama.cpp wrote them: element 0 of the F32 norm is the first 4 data bytes
    const raw = readFileSync(f16);
    expect(norm.dataSync()[0]).toBe(raw.readFloatLE(byName.get('blk.0.attn_norm.weight')!.offset));
    norm.dispose();
    q.dispose();
  });

  test('mapped tensors view the file in place; writing to them leaves the file as it was', () => {
    const p = join(dir, 'mapped.gguf');
    copyFileSync(f16, p);
    const before = readFileSync(p);
    const h = readGGUFHeader(p);
    const info = h.tensors.find((t) => t.name === 'output_norm.weight')!;
    const mapped = loadGGUFTensor(h, info);
    const copied = loadGGUFTensor(h, info, { mmap: false });
    expect(mapped.storage.bytes).toBe(h.fileSize); // a view of the whole mapped file
    expect(copied.storage.bytes).toBe(info.bytes);
    expect(Array.from(mapped.dataSync())).toEqual(Array.from(copied.dataSync()));
    const doubled = et.mul(mapped, 2);
    expect(doubled.dataSync()[0]).toBe(2 * copied.dataSync()[0]!);
    mapped.dispose();
    copied.dispose();
    expect(readFileSync(p).equals(before)).toBe(true);
  });

  test('tiny-llama-f16.gguf rewritten by writeGGUF reads back identical', () => {
    const h = readGGUFHeader(f16);
    const { tensors } = loadGGUF(f16);
    const p = join(dir, 'rewritten.gguf');
    writeGGUF(p, {
      metadata: new Map([...h.metadata].map(([k, v]) => [k, gguf.typed(h.metadataTypes.get(k)!, v)])),
      tensors: [...tensors].map(([name, tensor]) => ({ name, tensor })),
    });
    const h2 = readGGUFHeader(p);
    expect(h2.metadata).toEqual(h.metadata);
    expect(h2.metadataTypes).toEqual(h.metadataTypes);
    const strip = (x: typeof h) => x.tensors.map(({ name, ne, typeName, bytes, relativeOffset }) => ({ name, ne, typeName, bytes, relativeOffset }));
    expect(strip(h2)).toEqual(strip(h));
    // same data bytes, so the llama.cpp layout is reproduced exactly
    const a = readFileSync(f16);
    const b = readFileSync(p);
    expect(b.subarray(h2.dataOffset).equals(a.subarray(h.dataOffset))).toBe(true);
    for (const t of tensors.values()) t.dispose();
  });

  test('tiny-llama-f16.gguf cut short anywhere is a FormatError', () => {
    const full = readFileSync(f16);
    const h = readGGUFHeader(f16);
    const cut = join(dir, 'tiny-cut.gguf');
    // through the vocabulary strings, the tensor infos and the data
    for (const n of [3, 12, 1000, 40_000, 80_000, h.dataOffset - 1, h.dataOffset + 10, h.fileSize - 1]) {
      writeFileSync(cut, full.subarray(0, n));
      expectFormatError(() => readGGUFHeader(cut), /tiny-cut\.gguf: /, /byte offset \d+/);
    }
  });

  test('quantized llama.cpp files parse with the expected types', () => {
    const quant = path.join(shared, 'quant');
    const files = readdirSync(quant).filter((f) => f.endsWith('.gguf'));
    expect(files.length).toBeGreaterThanOrEqual(9);
    for (const f of files) {
      const h = readGGUFHeader(path.join(quant, f));
      const types = new Set(h.tensors.map((t) => t.typeName));
      const want = /tiny-llama-(\w+)\.gguf/.exec(f)![1]!.replace(/_M$/, '').toUpperCase();
      expect(h.tensors.length, f).toBe(21);
      if (want !== 'F16') expect([...types].some((t) => t === want || t.startsWith(want.slice(0, 2))), `${f}: ${[...types]}`).toBe(true);
      expect(h.tensors.find((t) => t.name === 'output_norm.weight')?.typeName).toBe('F32');
    }
  });

  const VOCABS = ['llama-spm', 'llama-bpe', 'qwen2', 'gpt-2', 'phi-3'];
  test.each(VOCABS)('vocabulary ggml-vocab-%s.gguf parses', (name) => {
    const file = path.join(vocabDir, `ggml-vocab-${name}.gguf`);
    const t0 = performance.now();
    const h = readGGUFHeader(file);
    const ms = performance.now() - t0;
    const md = h.metadata;
    const arch = md.get('general.architecture') as string;
    const model = md.get('tokenizer.ggml.model') as string;
    const tokens = md.get('tokenizer.ggml.tokens') as string[];
    console.log(`ggml-vocab-${name}.gguf: ${arch}/${model}, ${tokens.length} tokens, ${md.size} keys, parsed in ${ms.toFixed(0)} ms`);
    expect(h.tensors).toEqual([]);
    expect(h.metadataTypes.get('tokenizer.ggml.tokens')).toBe('array<string>');
    expect(tokens.every((s) => typeof s === 'string')).toBe(true);
    expect(['llama', 'gpt2']).toContain(model);
    const vocabSize = md.get(`${arch}.vocab_size`);
    if (vocabSize !== undefined) expect(tokens.length).toBe(vocabSize);
    const types = md.get('tokenizer.ggml.token_type') as Int32Array;
    expect(types).toBeInstanceOf(Int32Array);
    expect(types.length).toBe(tokens.length);
    if (model === 'llama') {
      expect((md.get('tokenizer.ggml.scores') as Float32Array).length).toBe(tokens.length);
      expect(tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    } else {
      const merges = md.get('tokenizer.ggml.merges') as string[];
      expect(merges.length).toBeGreaterThan(1000);
      expect(merges.every((m) => m.split(' ').length === 2)).toBe(true);
    }
    // every expected token id of the llama.cpp test cases is a valid index
    const out = readFileSync(`${file}.out`, 'utf8');
    const ids = out.split(/\s+/).filter(Boolean).map(Number);
    expect(Math.max(...ids)).toBeLessThan(tokens.length);
    const bos = md.get('tokenizer.ggml.bos_token_id') as number;
    expect(bos).toBeLessThan(tokens.length);
  });
});

describe('malformed GGUF files are FormatErrors naming the field', () => {
  const good = () =>
    craft('good.gguf', {
      kv: [kvStr('general.architecture', 'llama'), kvU32('llama.block_count', 2)],
      tensors: [{ name: 'w', ne: [4, 2], type: 0, offset: 0 }],
      data: Buffer.alloc(32),
    });

  test('the baseline crafted file is valid', () => {
    const h = readGGUFHeader(good());
    expect(h.tensors[0]).toMatchObject({ name: 'w', shape: [2, 4], bytes: 32 });
    expect(h.metadata.get('llama.block_count')).toBe(2);
  });

  test('wrong magic, version 1 and 4, big-endian', () => {
    expectFormatError(() => readGGUFHeader(craft('magic.gguf', { magic: 'GGML' })), /magic/, /byte offset 0/, /not a GGUF file/);
    expectFormatError(() => readGGUFHeader(craft('v1.gguf', { version: 1 })), /version/, /byte offset 4/, /version 1 is not supported/);
    expectFormatError(() => readGGUFHeader(craft('v4.gguf', { version: 4 })), /version/, /unsupported GGUF version 4/);
    expectFormatError(() => readGGUFHeader(craft('be.gguf', { version: 0x03000000 })), /big-endian/);
    const empty = join(dir, 'empty.gguf');
    writeFileSync(empty, Buffer.alloc(0));
    expectFormatError(() => readGGUFHeader(empty), /magic/, /too short/);
  });

  test('every truncation of a written file is refused', () => {
    const p = join(dir, 'full.gguf');
    writeGGUF(p, {
      metadata: { 'general.architecture': 'llama', list: ['a', 'bb'], nested: gguf.arr('array', [[1], [2, 3]]), big: gguf.u64(5n) },
      tensors: [
        { name: 'x', tensor: et.ones([3, 5]) },
        { name: 'y', tensor: et.ones([8], { dtype: 'float16' }) },
      ],
    });
    const full = readFileSync(p);
    const h = readGGUFHeader(p);
    const end = Math.max(...h.tensors.map((t) => t.offset + t.bytes));
    const cut = join(dir, 'cut.gguf');
    const fields = new Set<string>();
    for (let n = 0; n < end; n += n < 64 ? 1 : 5) {
      writeFileSync(cut, full.subarray(0, n));
      const msg = expectFormatError(() => readGGUFHeader(cut));
      fields.add(/: (.*?) \(byte offset/.exec(msg)![1]!.replace(/\[.*$/, ''));
    }
    // the truncation is reported at the field it cuts through
    expect([...fields]).toEqual(expect.arrayContaining(['magic', 'version', 'tensor count', 'metadata count', "tensor 'x' data", "tensor 'y' data"]));
  });

  test('a string length larger than the file', () => {
    const kv = Buffer.concat([str('general.name'), u32(8), u64(1_000_000), Buffer.from('abc')]);
    expectFormatError(() => readGGUFHeader(craft('strlen.gguf', { kv: [kv] })), /metadata 'general.name'/, /string length 1000000 runs past the end/);
    const key = Buffer.concat([u64(2n ** 63n), Buffer.from('k')]);
    expectFormatError(() => readGGUFHeader(craft('keylen.gguf', { kv: [key] })), /metadata key #0/, /byte offset 24/);
  });

  test('an array count of 2^40, and counts of tensors / key-values beyond the file', () => {
    const kv = Buffer.concat([str('tokenizer.ggml.tokens'), u32(9), u32(8), u64(2n ** 40n)]);
    expectFormatError(() => readGGUFHeader(craft('arrcount.gguf', { kv: [kv] })), /metadata 'tokenizer.ggml.tokens' count/, /1099511627776 string elements need at least/);
    const f32 = Buffer.concat([str('scores'), u32(9), u32(6), u64(2n ** 62n)]);
    expectFormatError(() => readGGUFHeader(craft('arrcount2.gguf', { kv: [f32] })), /metadata 'scores' count/);
    expectFormatError(() => readGGUFHeader(craft('tcount.gguf', { tensorCount: 2n ** 40n })), /tensor count/, /byte offset 8/);
    expectFormatError(() => readGGUFHeader(craft('kvcount.gguf', { kvCount: 2n ** 64n - 1n })), /metadata count/, /byte offset 16/);
  });

  test('arrays nested deeper than the limit', () => {
    let v = Buffer.concat([u32(4), u64(0)]);
    for (let i = 0; i < 12; i++) v = Buffer.concat([u32(9), u64(1), v]);
    const kv = Buffer.concat([str('deep'), u32(9), v]);
    expectFormatError(() => readGGUFHeader(craft('deep.gguf', { kv: [kv] })), /metadata 'deep'(\[0\])+/, /nested more than 8 deep/);
  });

  test('a tensor name as long as writeGGUF refuses (GGML_MAX_NAME bytes) is refused by the reader too', () => {
    // the first tensor info starts right after the 24-byte header when there is no metadata
    const long = craft('longname.gguf', { tensors: [{ name: 'é'.repeat(32), ne: [4], type: 0, offset: 0 }], data: Buffer.alloc(32) });
    expectFormatError(() => readGGUFHeader(long), /tensor #0 name \(byte offset 24\)/, new RegExp(`is 64 bytes; ggml allows at most ${MAX_NAME - 1}`));
    const fits = craft('fitname.gguf', { tensors: [{ name: 'x'.repeat(MAX_NAME - 1), ne: [4], type: 0, offset: 0 }], data: Buffer.alloc(32) });
    expect(readGGUFHeader(fits).tensors[0]!.name).toHaveLength(MAX_NAME - 1);
    const x = et.ones([4]);
    expect(() => writeGGUF(join(dir, 'w64.gguf'), { tensors: [{ name: 'x'.repeat(MAX_NAME), tensor: x }] })).toThrow(et.ValueError);
    writeGGUF(join(dir, 'w63.gguf'), { tensors: [{ name: 'x'.repeat(MAX_NAME - 1), tensor: x }] });
    expect(readGGUFHeader(join(dir, 'w63.gguf')).tensors[0]!.name).toBe('x'.repeat(MAX_NAME - 1));
  });

  test('a tensor running past the end, misaligned, overlapping, or oversized', () => {
    const past = craft('past.gguf', { tensors: [{ name: 'blk.0.attn_q.weight', ne: [1024], type: 0, offset: 0 }], data: Buffer.alloc(100) });
    expectFormatError(() => readGGUFHeader(past), /tensor 'blk.0.attn_q.weight' data/, /\[offset \d+, \+4096\) runs past the end of the file \(\d+ bytes\)/);
    const mis = craft('mis.gguf', { tensors: [{ name: 'w', ne: [4], type: 0, offset: 4 }], data: Buffer.alloc(64) });
    expectFormatError(() => readGGUFHeader(mis), /tensor 'w' offset/, /not a multiple of the alignment 32/);
    const over = craft('over.gguf', {
      tensors: [
        { name: 'a', ne: [16], type: 0, offset: 0 },
        { name: 'b', ne: [8], type: 0, offset: 32 },
      ],
      data: Buffer.alloc(128),
    });
    expectFormatError(() => readGGUFHeader(over), /tensor 'b' data/, /overlaps tensor 'a'/);
    const huge = craft('huge.gguf', { tensors: [{ name: 'h', ne: [2n ** 40n, 2n ** 40n], type: 0, offset: 0 }], data: Buffer.alloc(64) });
    expectFormatError(() => readGGUFHeader(huge), /tensor 'h' data/, /runs past the end/);
    const dim = craft('dim.gguf', { tensors: [{ name: 'd', ne: [2n ** 63n], type: 0, offset: 0 }] });
    expectFormatError(() => readGGUFHeader(dim), /tensor 'd' ne\[0\]/, /out of range/);
    const offs = craft('offs.gguf', { tensors: [{ name: 'o', ne: [1], type: 0, offset: 2n ** 63n }] });
    expectFormatError(() => readGGUFHeader(offs), /tensor 'o' offset/);
    const rank = craft('rank.gguf', { tensors: [{ name: 'r', ne: [1, 1, 1, 1, 1], type: 0, offset: 0 }] });
    expectFormatError(() => readGGUFHeader(rank), /tensor 'r' n_dims/, /5 dimensions exceed/);
    const block = craft('block.gguf', { tensors: [{ name: 'q', ne: [33], type: 2, offset: 0 }], data: Buffer.alloc(64) });
    expectFormatError(() => readGGUFHeader(block), /tensor 'q' ne\[0\]/, /Q4_0 block size 32/);
    const dup = craft('dupt.gguf', {
      tensors: [
        { name: 'x', ne: [1], type: 0, offset: 0 },
        { name: 'x', ne: [1], type: 0, offset: 32 },
      ],
      data: Buffer.alloc(64),
    });
    expectFormatError(() => readGGUFHeader(dup), /tensor 'x' name/, /duplicate/);
  });

  test('an unknown or removed ggml type', () => {
    const unk = craft('unk.gguf', { tensors: [{ name: 'w', ne: [4], type: 99, offset: 0 }], data: Buffer.alloc(32) });
    expectFormatError(() => readGGUFHeader(unk), /tensor 'w' type/, /unknown ggml type 99/);
    const old = craft('old.gguf', { tensors: [{ name: 'w', ne: [32], type: 4, offset: 0 }], data: Buffer.alloc(32) });
    expectFormatError(() => readGGUFHeader(old), /ggml type 4 \(Q4_2\) was removed/);
  });

  test('a KV value type 99, an array element type 99, duplicate keys, bad UTF-8, bad alignment', () => {
    const kv = Buffer.concat([str('general.thing'), u32(99), u32(0)]);
    expectFormatError(() => readGGUFHeader(craft('kv99.gguf', { kv: [kv] })), /metadata 'general.thing' type/, /byte offset 45/, /unknown metadata value type 99/);
    const arr = Buffer.concat([str('a'), u32(9), u32(99), u64(1)]);
    expectFormatError(() => readGGUFHeader(craft('arr99.gguf', { kv: [arr] })), /metadata 'a' element type/, /unknown metadata value type 99/);
    expectFormatError(() => readGGUFHeader(craft('dupkv.gguf', { kv: [kvU32('k', 1), kvU32('k', 2)] })), /metadata key 'k'/, /duplicate key/);
    const bad = Buffer.concat([str('s'), u32(8), str(Buffer.from([0x61, 0xff, 0xfe]))]);
    expectFormatError(() => readGGUFHeader(craft('utf8.gguf', { kv: [bad] })), /metadata 's'/, /not valid UTF-8/);
    expectFormatError(() => readGGUFHeader(craft('al0.gguf', { kv: [kvU32('general.alignment', 0)] })), /general.alignment/, /power of two/);
    expectFormatError(() => readGGUFHeader(craft('al3.gguf', { kv: [kvU32('general.alignment', 3)] })), /general.alignment/, /power of two/);
    expectFormatError(() => readGGUFHeader(craft('alstr.gguf', { kv: [kvStr('general.alignment', '32')] })), /general.alignment/);
  });

  test('a custom alignment is honoured when reading', () => {
    const p = craft('al64.gguf', {
      kv: [kvU32('general.alignment', 64)],
      alignment: 64,
      tensors: [
        { name: 'a', ne: [4], type: 0, offset: 0 },
        { name: 'b', ne: [4], type: 0, offset: 64 },
      ],
      data: Buffer.alloc(128),
    });
    const h = readGGUFHeader(p);
    expect(h.alignment).toBe(64);
    expect(h.dataOffset % 64).toBe(0);
    const mis = craft('al64mis.gguf', { kv: [kvU32('general.alignment', 64)], alignment: 64, tensors: [{ name: 'a', ne: [4], type: 0, offset: 32 }], data: Buffer.alloc(128) });
    expectFormatError(() => readGGUFHeader(mis), /alignment 64/);
  });

  test('only the header is read: a 1 GB (sparse) tensor costs no memory', () => {
    const p = craft('sparse.gguf', { tensors: [{ name: 'big', ne: [2 ** 28], type: 0, offset: 0 }] });
    const fd = openSync(p, 'r+');
    ftruncateSync(fd, statSync(p).size + 2 ** 30);
    closeSync(fd);
    const before = process.memoryUsage().arrayBuffers;
    const h = readGGUFHeader(p);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 * 2 ** 20);
    expect(h.tensors[0]).toMatchObject({ bytes: 2 ** 30, shape: [2 ** 28] });
  });

  test('loading from a file that changed since its header was read', () => {
    const p = good();
    const h = readGGUFHeader(p);
    writeFileSync(p, readFileSync(p).subarray(0, h.fileSize - 8));
    expectFormatError(() => loadGGUFTensor(h, h.tensors[0]!), /file size/, /when its header was read/);
  });
});

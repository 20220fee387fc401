import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as et from '../lib/index.js';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../lib/formats/safetensors.js';
import { writeFileAtomic } from '../lib/formats/atomic.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'et-safetensors-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A safetensors file from a header (object or raw text) and data bytes. */
function craft(name: string, header: unknown, data: Uint8Array = new Uint8Array(0), lenOverride?: number): string {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const h = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(lenOverride ?? h.byteLength));
  const p = join(dir, name);
  writeFileSync(p, Buffer.concat([len, h, data]));
  return p;
}

const expectFormatError = (fn: () => unknown, ...patterns: RegExp[]) => {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(et.FormatError);
  for (const p of patterns) expect((err as Error).message).toMatch(p);
};

describe('safetensors round trip', () => {
  test('every dtype and shape, including 0-d, empty and non-contiguous tensors, with metadata', () => {
    const t = {
      f32: et.tensor([[1.5, -2, 3], [4, 5, 6.25]]),
      f16: et.tensor([0.5, -1, 65504, 2 ** -24], { dtype: 'float16' }),
      bf16: et.tensor([[1, -2.5], [3e38, 1 / 128]], { dtype: 'bfloat16' }),
      i32: et.tensor([[[1, -2]], [[2147483647, -2147483648]], [[0, 7]]], { dtype: 'int32' }),
      u8: et.tensor([0, 1, 255, 128, 7], { dtype: 'uint8' }),
      scalar: et.tensor(3.25 as unknown as number[]).reshape([]),
      empty: et.zeros([0, 3]),
      transposed: et.tensor([[1, 2, 3], [4, 5, 6]]).transpose(),
    };
    const p = join(dir, 'all.safetensors');
    saveSafetensors(p, t, { format: 'pt', note: 'héllo' });

    const raw = readFileSync(p);
    const n = Number(raw.readBigUInt64LE(0));
    expect(n % 8).toBe(0); // data section 8-byte aligned
    const header = JSON.parse(raw.subarray(8, 8 + n).toString('utf8'));
    expect(header.__metadata__).toEqual({ format: 'pt', note: 'héllo' });
    expect(header.f16).toEqual({ dtype: 'F16', shape: [4], data_offsets: [24, 32] });
    expect(header.scalar.shape).toEqual([]);
    expect(header.empty.data_offsets[0]).toBe(header.empty.data_offsets[1]);
    // no gaps: the last tensor ends at the end of the file
    expect(8 + n + header.transposed.data_offsets[1]).toBe(raw.byteLength);

    const { tensors, metadata } = loadSafetensors(p);
    expect(metadata).toEqual({ format: 'pt', note: 'héllo' });
    expect([...tensors.keys()]).toEqual(Object.keys(t));
    for (const [k, orig] of Object.entries(t)) {
      const got = tensors.get(k)!;
      expect(got.dtype, k).toBe(orig.dtype);
      expect(got.shape, k).toEqual(orig.shape);
      expect(Array.from(got.dataSync()), k).toEqual(Array.from(orig.dataSync()));
    }
    expect(tensors.get('transposed')!.toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
  });

  test('16-bit floats keep their exact bits', () => {
    const bits = new Uint16Array([0x3c00, 0x7bff, 0x0001, 0x8000, 0x7c00, 0xfc00, 0x3555]);
    const p = craft('f16bits.safetensors', { h: { dtype: 'F16', shape: [7], data_offsets: [0, 14] } }, new Uint8Array(bits.buffer));
    const { tensors } = loadSafetensors(p);
    const p2 = join(dir, 'f16bits-again.safetensors');
    saveSafetensors(p2, tensors);
    const raw = readFileSync(p2);
    const n = Number(raw.readBigUInt64LE(0));
    expect(new Uint16Array(raw.buffer.slice(raw.byteOffset + 8 + n, raw.byteOffset + raw.byteLength))).toEqual(bits);
  });

  test('filter loads a subset; readSafetensorsHeader reads no data', () => {
    const p = join(dir, 'subset.safetensors');
    saveSafetensors(p, new Map([['a', et.ones([2])], ['b', et.zeros([3])]]));
    const { tensors } = loadSafetensors(p, { filter: (n) => n === 'b' });
    expect([...tensors.keys()]).toEqual(['b']);
    const h = readSafetensorsHeader(p);
    expect(h.entries.map((e) => [e.name, e.dtype, e.shape, e.dataOffsets])).toEqual([
      ['a', 'float32', [2], [0, 8]],
      ['b', 'float32', [3], [8, 20]],
    ]);
  });

  test('BOOL loads as uint8', () => {
    const p = craft('bool.safetensors', { m: { dtype: 'BOOL', shape: [3], data_offsets: [0, 3] } }, new Uint8Array([1, 0, 1]));
    const m = loadSafetensors(p).tensors.get('m')!;
    expect(m.dtype).toBe('uint8');
    expect(Array.from(m.dataSync())).toEqual([1, 0, 1]);
  });
});

describe('safetensors rejects malformed files with FormatError naming the field', () => {
  test('a file shorter than the length field', () => {
    const p = join(dir, 'tiny.safetensors');
    writeFileSync(p, Buffer.from([1, 2, 3]));
    expectFormatError(() => loadSafetensors(p), /header length/, /byte offset 0/);
  });

  test('a header length beyond the file', () => {
    const p = craft('longheader.safetensors', { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4), 10_000);
    expectFormatError(() => loadSafetensors(p), /header length/, /beyond the end of the file/);
  });

  test('bad JSON', () => {
    const p = craft('badjson.safetensors', '{"a": {"dtype": "F32", ');
    expectFormatError(() => loadSafetensors(p), /header JSON/, /byte offset 8/);
  });

  test('truncated data', () => {
    const p = join(dir, 'trunc.safetensors');
    saveSafetensors(p, { a: et.ones([4]), b: et.ones([8]) });
    truncateSync(p, statSync(p).size - 5);
    expectFormatError(() => loadSafetensors(p), /tensor 'b' data_offsets/, /out of range/);
  });

  test('offsets out of range', () => {
    const p = craft('range.safetensors', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, new Uint8Array(16));
    expectFormatError(() => loadSafetensors(p), /tensor 'b' data_offsets/, /out of range/, /byte offset \d+/);
  });

  test('overlapping tensors', () => {
    const p = craft('overlap.safetensors', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12));
    expectFormatError(() => loadSafetensors(p), /data_offsets/, /overlaps/);
  });

  test('offsets that do not match shape and dtype', () => {
    const p = craft('size.safetensors', { a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8));
    expectFormatError(() => loadSafetensors(p), /tensor 'a' data_offsets/, /does not match shape \[3\] F32/);
  });

  test('unknown and unsupported dtypes', () => {
    const p = craft('dtype.safetensors', { a: { dtype: 'Q7', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1));
    expectFormatError(() => loadSafetensors(p), /tensor 'a' dtype/, /unknown dtype 'Q7'/);
    const p2 = craft('f64.safetensors', { a: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    expectFormatError(() => loadSafetensors(p2), /F64 is not supported/);
  });

  test('bad shapes, offsets and metadata fields', () => {
    expectFormatError(() => loadSafetensors(craft('s1.safetensors', { a: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } })), /tensor 'a' shape/);
    expectFormatError(() => loadSafetensors(craft('s2.safetensors', { a: { dtype: 'F32', shape: [1], data_offsets: [4] } }, new Uint8Array(4))), /data_offsets/);
    expectFormatError(() => loadSafetensors(craft('s3.safetensors', { a: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4))), /begin 4 is after end 0/);
    expectFormatError(() => loadSafetensors(craft('s4.safetensors', { __metadata__: { x: 1 } })), /__metadata__\.x/);
    expectFormatError(() => loadSafetensors(craft('s5.safetensors', '[1, 2]')), /not a JSON object/);
  });

  test('a tensor name given twice (JSON.parse would keep the last), also when escaped differently, and a repeated entry field', () => {
    const a = '{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}';
    const b = '{"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}';
    const head = `{"w": ${a}, "x": ${b}, "w": ${b}}`;
    const p = craft('dup.safetensors', head, new Uint8Array(8));
    expectFormatError(() => readSafetensorsHeader(p), new RegExp(`tensor 'w' name \\(byte offset ${8 + head.lastIndexOf('"w"')}\\): duplicate tensor name`));
    expectFormatError(() => loadSafetensors(craft('dup2.safetensors', `{"w": ${a}, "\\u0077": ${b}}`, new Uint8Array(8))), /tensor 'w' name/, /duplicate tensor name/);
    expectFormatError(() => loadSafetensors(craft('dup3.safetensors', '{"w": {"dtype": "F32", "shape": [1], "dtype": "F16", "data_offsets": [0, 4]}}', new Uint8Array(4))), /header JSON key 'dtype'/, /duplicate key/);
    expectFormatError(() => loadSafetensors(craft('dup4.safetensors', `{"__metadata__": {"a": "1"}, "w": ${a}, "__metadata__": {}}`, new Uint8Array(4))), /__metadata__/, /appears twice/);
    // the same names in different objects, and names that are string values elsewhere, are fine
    const ok = craft('nodup.safetensors', `{"__metadata__": {"w": "w", "dtype": "x"}, "w": ${a}, "x": ${b}}`, new Uint8Array(8));
    expect(readSafetensorsHeader(ok).entries.map((e) => e.name)).toEqual(['w', 'x']);
  });

  test('no tensors are left behind when a later tensor is bad', () => {
    const before = et.memory().cpu!.liveTensors;
    const p = craft('late.safetensors', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, new Uint8Array(12));
    expect(() => loadSafetensors(p)).toThrow(et.FormatError);
    expect(et.memory().cpu!.liveTensors).toBe(before);
  });
});

describe('atomic writes', () => {
  test('an existing file is untouched when serialisation fails midway, and no temp file is left', () => {
    const p = join(dir, 'keep.safetensors');
    saveSafetensors(p, { w: et.tensor([1, 2, 3]) });
    const before = readFileSync(p);
    const gone = et.ones([1000]);
    gone.dispose();
    expect(() => saveSafetensors(p, { a: et.ones([1000]), b: gone, c: et.ones([2]) })).toThrow(et.DisposedError);
    expect(readFileSync(p).equals(before)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(Array.from(loadSafetensors(p).tensors.get('w')!.dataSync())).toEqual([1, 2, 3]);
  });

  test('writeFileAtomic replaces the file, keeps its mode, and cleans up on a throwing chunk source', () => {
    const p = join(dir, 'plain.bin');
    writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    chmodSync(p, 0o640);
    writeFileAtomic(p, [new Uint8Array([4]), new Uint8Array([5, 6])]);
    expect([...readFileSync(p)]).toEqual([4, 5, 6]);
    if (process.platform !== 'win32') expect(statSync(p).mode & 0o777).toBe(0o640);
    function* failing() {
      yield new Uint8Array([9, 9]);
      throw new Error('boom');
    }
    expect(() => writeFileAtomic(p, failing())).toThrow('boom');
    expect([...readFileSync(p)]).toEqual([4, 5, 6]);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  test('invalid tensor names and metadata are refused before anything is written', () => {
    const p = join(dir, 'names.safetensors');
    expect(() => saveSafetensors(p, { __metadata__: et.ones([1]) })).toThrow(et.ValueError);
    expect(() => saveSafetensors(p, { a: et.ones([1]) }, { k: 3 as unknown as string })).toThrow(et.ValueError);
    expect(() => statSync(p)).toThrow();
  });
});

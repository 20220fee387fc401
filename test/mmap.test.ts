// Files mapped into CPU memory: tensors view the file's bytes in place, copy-on-write.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { mapFile } from '../lib/formats/mmap.js';

const dir = mkdtempSync(join(tmpdir(), 'et-mmap-'));

describe('mapFile', () => {
  test('tensors view the mapped bytes without a copy; writes never reach the file', () => {
    const path = join(dir, 'w.safetensors');
    const w = et.tensor(Float32Array.from({ length: 12 }, (_, i) => i * 0.5), [3, 4]);
    et.saveSafetensors(path, { w });
    const before = readFileSync(path);
    const h = et.readSafetensorsHeader(path);
    const e = h.entries[0]!;
    const m = mapFile(path);
    expect(m.bytes).toBe(before.length);
    const liveBefore = et.memory().cpu!.liveBytes;
    const t = m.tensor(h.dataStart + e.dataOffsets[0], [3, 4], 'float32');
    expect(et.memory().cpu!.liveBytes).toBe(liveBefore); // nothing allocated
    expect(t.toArray()).toEqual(w.toArray());
    expect(et.matmul(t, t.transpose()).toArray()).toEqual(et.matmul(w, w.transpose()).toArray());
    et.copyInto(t, et.zeros([3, 4]));
    expect(Array.from(t.dataSync())).toEqual(new Array(12).fill(0));
    expect(readFileSync(path).equals(before)).toBe(true);
    m.close();
    // the tensor keeps the mapping alive after close()
    expect(t.sum().item()).toBe(0);
    t.dispose();
  });

  test('loadSafetensors maps on cpu (no copy) unless told not to', () => {
    const path = join(dir, 'model.safetensors');
    const a = et.randn([64, 32], { seed: 1 });
    const b = et.randn([7], { seed: 2 }).cast('float16');
    et.saveSafetensors(path, { a, b });
    const base = et.memory().cpu!.liveBytes;
    const mapped = et.loadSafetensors(path);
    expect(et.memory().cpu!.liveBytes).toBe(base);
    const copied = et.loadSafetensors(path, { mmap: false });
    expect(et.memory().cpu!.liveBytes).toBe(base + 64 * 32 * 4 + 7 * 2);
    for (const r of [mapped, copied]) {
      expect(Array.from(r.tensors.get('a')!.dataSync())).toEqual(Array.from(a.dataSync()));
      expect(r.tensors.get('b')!.dtype).toBe('float16');
      expect(Array.from(r.tensors.get('b')!.dataSync())).toEqual(Array.from(b.dataSync()));
    }
  });

  test('out-of-range, misaligned and missing files are FormatErrors', () => {
    const path = join(dir, 'small.safetensors');
    et.saveSafetensors(path, { a: et.ones([4]) });
    const m = mapFile(path);
    expect(() => m.tensor(m.bytes - 8, [4], 'float32')).toThrow(et.FormatError);
    expect(() => m.tensor(m.bytes - 8, [4], 'float32')).toThrow(/runs past the end of the file/);
    expect(() => m.tensor(2, [1], 'float32')).toThrow(/not aligned/);
    m.close();
    expect(() => m.tensor(0, [1], 'uint8')).toThrow(/closed/);
    expect(() => mapFile(join(dir, 'missing.bin'))).toThrow(et.FormatError);
    expect(() => mapFile(join(dir, 'missing.bin'))).toThrow(/cannot open .*missing\.bin/);
  });
});

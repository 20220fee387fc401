// ggml block formats dequantized bit-exactly as llama.cpp does: every tensor of every file in
// ../shared/quant (made by llama.cpp's own quantizer) against the SHA-256 of llama.cpp's
// dequantized float32 values (dequantized-reference.json).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { dequantize } from '../lib/quant/dequant.js';
import { BLOCK } from '../lib/quant-types.js';

const shared = process.env.EDGETRAIN_SHARED ?? resolve(new URL('..', import.meta.url).pathname, '../shared');
const ref = JSON.parse(readFileSync(join(shared, 'quant', 'dequantized-reference.json'), 'utf8')) as Record<
  string,
  Record<string, { type: string; elements: number; sha256_f32le: string; first: number[] }>
>;

const files = Object.keys(ref).filter((f) => f !== 'tiny-llama-f16.gguf');

describe.each(files)('%s', (file) => {
  test('every quantized tensor dequantizes to llama.cpp\'s exact float32 values', () => {
    const path = join(shared, 'quant', file);
    const h = et.readGGUFHeader(path);
    let checked = 0;
    const bad: string[] = [];
    for (const t of h.tensors) {
      const r = ref[file]![t.name];
      expect(r, `${file}: ${t.name} in the reference`).toBeDefined();
      if (!(t.typeName in BLOCK)) continue;
      const y = dequantize(t.typeName, et.readGGUFTensorBytes(h, t), t.numel);
      const sha = createHash('sha256').update(new Uint8Array(y.buffer)).digest('hex');
      if (sha !== r!.sha256_f32le) {
        let firstDiff = -1;
        for (let i = 0; i < r!.first.length; i++) if (Math.fround(r!.first[i]!) !== y[i]) { firstDiff = i; break; }
        bad.push(`${t.name} (${t.typeName}): first of 32 differing at ${firstDiff}`);
      }
      checked++;
    }
    expect(bad, bad.join('\n')).toEqual([]);
    expect(checked).toBeGreaterThan(10);
  });
});

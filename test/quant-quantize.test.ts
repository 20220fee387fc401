// Our quantizers against llama.cpp's own: the f16 weights of ../shared/quant/tiny-llama-f16.gguf
// quantized here give byte for byte the blocks llama-quantize wrote into tiny-llama-TYPE.gguf, for
// every tensor stored in a type we write; and dequantize(quantize(x)) stays within each type's
// error bound.
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { dequantize } from '../lib/quant/dequant.js';
import { QUANTIZABLE, quantize } from '../lib/quant/quantize.js';

const shared = process.env.EDGETRAIN_SHARED ?? resolve(new URL('..', import.meta.url).pathname, '../shared');

const f16 = join(shared, 'quant', 'tiny-llama-f16.gguf');
const original = new Map<string, Float32Array>();
{
  const { tensors } = et.loadGGUF(f16, { device: 'cpu' });
  for (const [n, t] of tensors) {
    original.set(n, Float32Array.from(et.cast(t, 'float32').dataSync()));
    t.dispose();
  }
}

describe.each(['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K_M', 'Q5_K_M', 'Q6_K'])('tiny-llama-%s.gguf', (file) => {
  test("quantizing the f16 weights gives llama.cpp's bytes", () => {
    const path = join(shared, 'quant', `tiny-llama-${file}.gguf`);
    let same = 0;
    const header = et.readGGUFHeader(path);
    for (const info of header.tensors) {
      if (!(QUANTIZABLE as readonly string[]).includes(info.typeName)) continue;
      const ours = quantize(info.typeName, original.get(info.name)!);
      const theirs = et.readGGUFTensorBytes(header, info);
      let diff = -1;
      for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) { diff = i; break; }
      expect(diff, `${info.name} (${info.typeName}): first differing byte`).toBe(-1);
      same++;
    }
    expect(same).toBeGreaterThan(5);
  });
});

describe.each(['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1'])('%s', (type) => {
  test('round trip error within the format bound', () => {
    const x = original.get('blk.0.ffn_up.weight')!;
    const y = dequantize(type, quantize(type, x), x.length);
    // per block: half a step (Q8_0, Q4_1, Q5_1), or a whole step on the side the symmetric 4/5-bit
    // formats clip (their largest-magnitude value maps to -8 / -16, the other side stops at 7 / 15);
    // plus the f16 rounding of the scale
    let worst = 0;
    for (let b = 0; b < x.length / 32; b++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let j = 0; j < 32; j++) (lo = Math.min(lo, x[b * 32 + j]!)), (hi = Math.max(hi, x[b * 32 + j]!));
      const amax = Math.max(Math.abs(lo), Math.abs(hi));
      const bound = { Q8_0: amax / 254, Q4_0: amax / 8, Q5_0: amax / 16, Q4_1: (hi - lo) / 30, Q5_1: (hi - lo) / 62 }[type]! + amax * 1e-3 + 1e-7;
      for (let j = 0; j < 32; j++) worst = Math.max(worst, Math.abs(y[b * 32 + j]! - x[b * 32 + j]!) / bound);
    }
    expect(worst).toBeLessThanOrEqual(1);
    expect(worst).toBeGreaterThan(0.3); // the bound is not loose by orders of magnitude
  });
});

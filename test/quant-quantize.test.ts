// Our quantizers against llama.cpp's own: the f16 weights of ../shared/quant/tiny-llama-f16.gguf
// quantized here give byte for byte the blocks llama-quantize wrote into tiny-llama-TYPE.gguf, for
// every tensor stored in a type we write; and dequantize(quantize(x)) stays within each type's
// error bound.
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { dequantize, NF4_LEVELS } from '../lib/quant/dequant.js';
import { matmulQ, quantizeTensor } from '../lib/ops/quant.js';
import { QUANTIZABLE, quantize } from '../lib/quant/quantize.js';
import { QuantizedWeight } from '../lib/quant/qweight.js';
import { randData } from './helpers/data.js';

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

describe('every type: relative RMS error of dequantize(quantize(w)) on real weights', () => {
  // measured on blk.0.ffn_up.weight (heavy tails, per-row scales): Q8_0 .0068, Q4_0 .109, Q4_1 .090,
  // Q5_0 .054, Q5_1 .044, Q4_K .083, Q5_K .042, Q6_K .022, NF4 .105, NF4_DQ .105. The ggml types
  // are byte-identical to llama-quantize (above), so their error is llama.cpp's; the bounds are the
  // measured values + 10%, and the error may not fall below half of them either.
  const BOUND: Record<string, number> = { Q8_0: 0.0075, Q4_0: 0.12, Q4_1: 0.099, Q5_0: 0.06, Q5_1: 0.048, Q4_K: 0.092, Q5_K: 0.047, Q6_K: 0.024, NF4: 0.116, NF4_DQ: 0.116 };
  test.each(QUANTIZABLE.map((t) => t))('%s', (type) => {
    const x = original.get('blk.0.ffn_up.weight')!;
    const y = dequantize(type, quantize(type, x), x.length);
    let e = 0;
    let s = 0;
    for (let i = 0; i < x.length; i++) (e += (y[i]! - x[i]!) ** 2), (s += x[i]! ** 2);
    const rel = Math.sqrt(e / s);
    expect(rel).toBeLessThan(BOUND[type]!);
    expect(rel).toBeGreaterThan(BOUND[type]! / 2);
  });
});

describe.each(['NF4', 'NF4_DQ'])('%s', (type) => {
  const block = type === 'NF4' ? 64 : 256;
  test('each value lands on the nearest level of its block scale (absmax; 8-bit multiple of an f16 scale for NF4_DQ)', () => {
    const x = original.get('blk.1.attn_v.weight')!;
    const bytes = quantize(type, x);
    const y = dequantize(type, bytes, x.length);
    // a value is within half the largest gap between NF4 levels (-1 to -0.696) times its scale
    let gap = 0;
    for (let k = 1; k < 16; k++) gap = Math.max(gap, NF4_LEVELS[k]! - NF4_LEVELS[k - 1]!);
    const halfGap = gap / 2;
    for (let b = 0; b < x.length / 64; b++) {
      let amax = 0;
      for (let j = 0; j < 64; j++) amax = Math.max(amax, Math.abs(x[b * 64 + j]!));
      // NF4_DQ: the sub-block scale is amax rounded to a multiple of d = top / 255 (f16)
      let top = amax;
      if (type === 'NF4_DQ') {
        const s0 = Math.floor(b / 4) * 4;
        for (let k = s0 * 64; k < (s0 + 4) * 64; k++) top = Math.max(top, Math.abs(x[k]!));
      }
      const slack = type === 'NF4' ? amax * 1e-6 : top / 255;
      for (let j = 0; j < 64; j++) expect(Math.abs(y[b * 64 + j]! - x[b * 64 + j]!)).toBeLessThanOrEqual(halfGap * amax + slack + 1e-9);
    }
    expect(bytes.length).toBe((x.length / block) * (type === 'NF4' ? 36 : 134));
  });

  test('zeros stay zeros; a block of equal values is exact', () => {
    const x = new Float32Array(256 * 2);
    for (let i = 256; i < 512; i++) x[i] = -0.375;
    const y = dequantize(type, quantize(type, x), x.length);
    expect(Array.from(y.subarray(0, 256)).every((v) => v === 0)).toBe(true);
    expect(Array.from(y.subarray(256)).every((v) => Math.abs(v + 0.375) < 1e-3)).toBe(true);
  });

  test('native and TypeScript dequantizers agree bit for bit; matmulQ forward and input gradient match the dequantized matmul', () => {
    et.tidy(() => {
      const x = original.get('blk.0.ffn_up.weight')!;
      const [N, K] = [768, 256];
      const w = new QuantizedWeight(type, [N, K], quantize(type, x));
      const W = w.dequantize();
      expect(Buffer.from(W.dataSync().buffer).equals(Buffer.from(dequantize(type, w.data.dataSync() as Uint8Array, N * K).buffer))).toBe(true);
      const a = et.tensor(randData([5, K], 1), [5, K], { requiresGrad: true });
      const y = matmulQ(a, w);
      const want = et.matmul(a.detach(), W.transpose());
      expect(Math.max(...Array.from(et.sub(y, want).dataSync(), Math.abs))).toBeLessThan(1e-5 * Math.max(...Array.from(want.dataSync(), Math.abs)));
      const dy = et.tensor(randData([5, N], 2), [5, N]);
      et.sum(et.mul(y, dy)).backward();
      const wantDx = et.matmul(dy, W);
      expect(Math.max(...Array.from(et.sub(a.grad!, wantDx).dataSync(), Math.abs))).toBeLessThan(1e-5 * Math.max(...Array.from(wantDx.dataSync(), Math.abs)));
      w.dispose();
    });
  });
});

test('quantize: bad input is a typed error', () => {
  expect(() => quantize('Q4_K', new Float32Array(128))).toThrow(/128 values are not whole Q4_K blocks of 256/);
  expect(() => quantize('IQ2_XXS', new Float32Array(256))).toThrow(/IQ2_XXS is not one this version writes/);
  et.tidy(() => expect(() => quantizeTensor('Q4_0', et.ones([4, 48]))).toThrow(/rows are whole blocks of 32, but \[4, 48\] has 48 columns/));
});

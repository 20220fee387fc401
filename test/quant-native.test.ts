// The native block-format kernels: dequantize bit-exact with llama.cpp (the same SHA-256 over
// every tensor of ../shared/quant as test/quant-dequant.test.ts), and matmulQ forward (x . W^T)
// and input gradient (dy . W) against float matmuls with the dequantized weight.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { matmulQ, quantizeTensor } from '../lib/ops/quant.js';
import { BLOCK } from '../lib/quant-types.js';
import { QuantizedWeight } from '../lib/quant/qweight.js';
import { QUANTIZABLE, quantize } from '../lib/quant/quantize.js';
import { randData } from './helpers/data.js';

const shared = process.env.EDGETRAIN_SHARED ?? resolve(new URL('..', import.meta.url).pathname, '../shared');
const ref = JSON.parse(readFileSync(join(shared, 'quant', 'dequantized-reference.json'), 'utf8')) as Record<string, Record<string, { sha256_f32le: string }>>;

function weightOf(file: string, name: string): QuantizedWeight {
  const path = join(shared, 'quant', file);
  const h = et.readGGUFHeader(path);
  const t = h.tensors.find((x) => x.name === name)!;
  return new QuantizedWeight(t.typeName, [t.shape[0]!, t.shape[1]!], et.readGGUFTensorBytes(h, t));
}

const FILES = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K_M', 'Q5_K_M', 'Q6_K'].map((q) => `tiny-llama-${q}.gguf`);

describe.each(FILES)('%s', (file) => {
  test('native dequantize matches llama.cpp bit for bit on every quantized matrix', () => {
    let n = 0;
    for (const t of et.readGGUFHeader(join(shared, 'quant', file)).tensors) {
      if (!(t.typeName in BLOCK) || t.shape.length !== 2) continue;
      et.tidy(() => {
        const w = weightOf(file, t.name);
        const y = w.dequantize();
        const sha = createHash('sha256').update(new Uint8Array(y.dataSync().buffer)).digest('hex');
        expect(sha, `${file} ${t.name} (${t.typeName})`).toBe(ref[file]![t.name]!.sha256_f32le);
        w.dispose();
      });
      n++;
    }
    expect(n).toBeGreaterThan(10);
  });

  test('matmulQ: x . W^T and the input gradient dy . W equal float matmuls with the dequantized W', () => {
    et.tidy(() => {
      for (const [name, M] of [['blk.0.ffn_down.weight', 1], ['blk.1.attn_q.weight', 7], ['blk.0.ffn_up.weight', 33]] as const) {
        const w = weightOf(file, name);
        const [N, K] = w.shape;
        const W = w.dequantize();
        const x = et.tensor(randData([M, K], 3), [M, K], { requiresGrad: true });
        const y = matmulQ(x, w);
        const want = et.matmul(x.detach(), W.transpose());
        const scale = Math.max(...Array.from(want.dataSync(), Math.abs));
        const diff = Math.max(...Array.from(et.sub(y, want).dataSync(), Math.abs));
        expect(diff, `${name} forward`).toBeLessThan(1e-5 * scale);
        const dy = et.tensor(randData([M, N], 4), [M, N]);
        et.sum(et.mul(y, dy)).backward();
        const wantDx = et.matmul(dy, W);
        const s2 = Math.max(...Array.from(wantDx.dataSync(), Math.abs));
        const d2 = Math.max(...Array.from(et.sub(x.grad!, wantDx).dataSync(), Math.abs));
        expect(d2, `${name} input gradient`).toBeLessThan(1e-5 * s2);
        w.dispose();
      }
    });
  });
});

describe('matmulQ on odd shapes, every type this version writes', () => {
  // N rows not a multiple of any tile, K two blocks; M = 1 and 3 take the row-at-a-time path
  // (decode), 5 and 37 the chunked GEMM
  test.each(QUANTIZABLE.map((t) => t))('%s', (type) => {
    et.tidy(() => {
      const K = 2 * BLOCK[type]![0];
      const N = 19;
      const w = new QuantizedWeight(type, [N, K], quantize(type, randData([N, K], 11)));
      const W = w.dequantize();
      for (const M of [1, 3, 5, 37]) {
        const x = et.tensor(randData([M, K], 12 + M), [M, K], { requiresGrad: true });
        const y = matmulQ(x, w);
        const want = et.matmul(x.detach(), W.transpose());
        const scale = Math.max(...Array.from(want.dataSync(), Math.abs));
        expect(Math.max(...Array.from(et.sub(y, want).dataSync(), Math.abs)), `M ${M} forward`).toBeLessThan(1e-5 * scale);
        const dy = et.tensor(randData([M, N], 40 + M), [M, N]);
        et.sum(et.mul(y, dy)).backward();
        const wantDx = et.matmul(dy, W);
        const s2 = Math.max(...Array.from(wantDx.dataSync(), Math.abs));
        expect(Math.max(...Array.from(et.sub(x.grad!, wantDx).dataSync(), Math.abs)), `M ${M} input gradient`).toBeLessThan(1e-5 * s2);
      }
      // a batch of sequences: leading dimensions are flattened and restored
      const x3 = et.tensor(randData([2, 3, K], 99), [2, 3, K]);
      expect(matmulQ(x3, w).shape).toEqual([2, 3, N]);
      w.dispose();
    });
  });
});

describe('decode (inference on one to four rows): 8-bit activations with integer dot products', () => {
  // AVX2 and NEON builds round x to 8 bits per 32 values for Q8_0, Q4_0, Q4_K, Q5_K, Q6_K and NF4
  // weights (as llama.cpp does; NF4's levels as int8 too); other types and the generic build keep
  // the float path. Measured: up to 7e-3 of the output's scale.
  // every tier but x86-64's generic one has the integer dots
  const int8 = et.cpuInfo().isa !== 'generic' ? new Set(['Q8_0', 'Q4_0', 'Q4_K', 'Q5_K', 'Q6_K', 'NF4', 'NF4_DQ']) : new Set<string>();
  test.each(QUANTIZABLE.map((t) => t))('%s', (type) => {
    et.tidy(() => {
      const K = 4 * BLOCK[type]![0];
      const N = 21;
      const w = new QuantizedWeight(type, [N, K], quantize(type, randData([N, K], 21)));
      const W = w.dequantize();
      for (const M of [1, 3, 4]) {
        const x = et.tensor(randData([M, K], 30 + M), [M, K]);
        const want = et.matmul(x, W.transpose());
        const scale = Math.max(...Array.from(want.dataSync(), Math.abs));
        const fast = et.noGrad(() => matmulQ(x, w));
        const exact = et.noGrad(() => matmulQ(x, w, { exact: true }));
        const err = Math.max(...Array.from(et.sub(fast, want).dataSync(), Math.abs)) / scale;
        expect(Math.max(...Array.from(et.sub(exact, want).dataSync(), Math.abs)) / scale, `M ${M} exact`).toBeLessThan(1e-5);
        if (int8.has(type)) {
          expect(err, `M ${M}: 8-bit activations`).toBeLessThan(1e-2);
          expect(err, `M ${M}: the integer path ran`).toBeGreaterThan(1e-5);
        } else expect(err, `M ${M}`).toBeLessThan(1e-5);
        // with x's gradient recorded, the forward is the float one
        const xg = et.tensor(x.dataSync(), [M, K], { requiresGrad: true });
        expect(Math.max(...Array.from(et.sub(matmulQ(xg, w), want).dataSync(), Math.abs)) / scale).toBeLessThan(1e-5);
      }
      w.dispose();
    });
  });
});

test('bad weights are typed errors', () => {
  expect(() => new QuantizedWeight('Q4_0', [2, 48], new Uint8Array(10))).toThrow(/rows must be whole Q4_0 blocks of 32/);
  expect(() => new QuantizedWeight('Q4_0', [2, 64], new Uint8Array(10))).toThrow(/needs 72 bytes, got 10/);
  expect(() => new QuantizedWeight('IQ2_XXS', [2, 256], new Uint8Array(10))).toThrow(/not a block format/);
  expect(() => new QuantizedWeight('Q4_K', [2, 320], new Uint8Array(10))).toThrow(/rows must be whole Q4_K blocks of 256/);
  expect(() => new QuantizedWeight('NF4', [2, 96], new Uint8Array(10))).toThrow(/rows must be whole NF4 blocks of 64/);
  const w = new QuantizedWeight('Q8_0', [2, 32], new Uint8Array(68));
  expect(() => matmulQ(et.ones([3, 31]), w)).toThrow(/does not end in the weight's 32 input features/);
  w.dispose();
});

test('matmulQ input gradient against central differences', () => {
  et.tidy(() => {
    const w = weightOf('tiny-llama-Q4_0.gguf', 'blk.0.attn_k.weight');
    const [N, K] = w.shape;
    const xd = randData([2, K], 5);
    const dy = et.tensor(randData([2, N], 6), [2, N]);
    // the float path: under noGrad, two rows of x would take the 8-bit decode path
    const loss = (v: Float32Array) => et.noGrad(() => et.tidy(() => et.sum(et.mul(matmulQ(et.tensor(v, [2, K]), w, { exact: true }), dy)).item()));
    const x = et.tensor(xd, [2, K], { requiresGrad: true });
    et.sum(et.mul(matmulQ(x, w), dy)).backward();
    const g = x.grad!.dataSync();
    for (const i of [0, 17, K + 3, 2 * K - 1]) {
      const p = Float32Array.from(xd);
      const m = Float32Array.from(xd);
      p[i]! += 1e-2;
      m[i]! -= 1e-2;
      const fd = (loss(p) - loss(m)) / (p[i]! - m[i]!);
      expect(Math.abs(fd - g[i]!)).toBeLessThan(2e-3 * Math.max(1, Math.abs(fd)));
    }
    w.dispose();
  });
});

test.runIf(et.devices().find((d) => d.name === 'vulkan')?.available)('on vulkan the quantized kernels agree with cpu', () => {
  et.tidy(() => {
    for (const type of ['Q8_0', 'Q4_K', 'NF4'] as const) {
      const K = 256;
      const N = 3;
      // the blocks quantized on cpu, then a weight on each device
      const bytes = quantizeTensor(type, et.tensor(randData([N, K], 7), [N, K], { device: 'cpu' }));
      const wc = new QuantizedWeight(type, [N, K], bytes);
      const wv = new QuantizedWeight(type, [N, K], bytes.to('vulkan'));
      expect(wv.data.device).toBe('vulkan');
      expect(Array.from(wv.dequantize().dataSync()), `${type} dequantize`).toEqual(Array.from(wc.dequantize().dataSync()));
      const x = randData([2, K], 8);
      const yc = matmulQ(et.tensor(x, [2, K], { device: 'cpu' }), wc, { exact: true });
      const yv = matmulQ(et.tensor(x, [2, K], { device: 'vulkan' }), wv, { exact: true });
      expect(yv.device).toBe('vulkan');
      const scale = Math.max(...Array.from(yc.dataSync(), Math.abs));
      const diff = Math.max(...Array.from(yc.dataSync(), (v, i) => Math.abs(v - yv.dataSync()[i]!)));
      expect(diff, `${type} matmulQ`).toBeLessThan(1e-5 * scale);
      wc.dispose();
      wv.dispose();
    }
  });
});

// kernels/vulkan/matmul_qv.comp rounds x to 8 bits in shared memory, 256 blocks of 32 split
// between x's rows: these K need two tiles (the second partial), so a tile read stale or
// rounded from the wrong columns shows as a difference from cpu's 8-bit path.
test.runIf(et.devices().find((d) => d.name === 'vulkan')?.available)('on vulkan the 8-bit decode path agrees with cpu past one shared-memory tile of x', () => {
  const cpuInt8 = et.cpuInfo().isa !== 'generic';
  et.tidy(() => {
    for (const type of ['Q8_0', 'Q4_K'] as const) {
      for (const [M, K] of [[1, 256 * 33], [4, 256 * 9]] as const) {
        const N = 10;
        const bytes = quantizeTensor(type, et.tensor(randData([N, K], 40 + M), [N, K], { device: 'cpu' }));
        const wc = new QuantizedWeight(type, [N, K], bytes);
        const wv = new QuantizedWeight(type, [N, K], bytes.to('vulkan'));
        const x = randData([M, K], 50 + M);
        const want = Array.from(et.matmul(et.tensor(x, [M, K]), wc.dequantize().transpose()).dataSync());
        const yv = Array.from(et.noGrad(() => matmulQ(et.tensor(x, [M, K], { device: 'vulkan' }), wv)).dataSync());
        const scale = Math.max(...want.map(Math.abs));
        const err = Math.max(...want.map((v, i) => Math.abs(v - yv[i]!))) / scale;
        expect(err, `${type} M ${M} K ${K}: 8-bit activations`).toBeLessThan(1e-2);
        expect(err, `${type} M ${M} K ${K}: the integer path ran`).toBeGreaterThan(1e-5);
        if (cpuInt8) {
          // the same rounding of x and integer sums; only the order of the float adds differs
          const yc = Array.from(et.noGrad(() => matmulQ(et.tensor(x, [M, K], { device: 'cpu' }), wc)).dataSync());
          expect(Math.max(...yc.map((v, i) => Math.abs(v - yv[i]!))) / scale, `${type} M ${M} K ${K}: vulkan vs cpu`).toBeLessThan(1e-5);
        }
        wc.dispose();
        wv.dispose();
      }
    }
  });
});

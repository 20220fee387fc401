// The native block-format kernels: dequantize bit-exact with llama.cpp (the same SHA-256 over
// every tensor of ../shared/quant as test/quant-dequant.test.ts), and matmulQ forward (x . W^T)
// and input gradient (dy . W) against float matmuls with the dequantized weight.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { matmulQ, quantizeTensor } from '../lib/ops/quant.js';
import { f16ToF32 } from '../lib/dtype.js';
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

const INT8_TYPES = new Set(['Q8_0', 'Q4_0', 'Q4_K', 'Q5_K', 'Q6_K', 'NF4', 'NF4_DQ']);
const NF4_I8 = [-127, -88, -67, -50, -36, -23, -12, 0, 10, 20, 31, 43, 56, 71, 92, 127];

/** x rounded as the native 8-bit paths round it: per 32 values, scale amax / 127 (float32), codes round-half-even(x / scale). */
function roundX8(x: Float32Array): { q: Int8Array; d: Float32Array } {
  const q = new Int8Array(x.length);
  const d = new Float32Array(x.length / 32);
  for (let b = 0; b < d.length; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]!));
    const s = Math.fround(amax / 127);
    const is = s > 0 ? Math.fround(1 / s) : 0;
    d[b] = s;
    for (let j = 0; j < 32; j++) {
      const v = Math.fround(x[32 * b + j]! * is);
      const r = Math.round(v);
      q[32 * b + j] = r - v === 0.5 && r % 2 !== 0 ? r - 1 : r; // half to even
    }
  }
  return { q, d };
}

/** The weight the integer paths multiply: the dequantized one, but NF4's levels as int8 / 127 (float64). */
function int8Weight(w: QuantizedWeight): Float64Array {
  const [N, K] = w.shape;
  if (w.type !== 'NF4' && w.type !== 'NF4_DQ') return Float64Array.from(w.dequantize().dataSync());
  const bytes = w.data.dataSync() as Uint8Array;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(N * K);
  const sub = (scale: number, off: number, dst: number) => {
    for (let l = 0; l < 32; l++) {
      out[dst + l] = (NF4_I8[bytes[off + l]! & 15]! * scale) / 127;
      out[dst + l + 32] = (NF4_I8[bytes[off + l]! >> 4]! * scale) / 127;
    }
  };
  for (let i = 0; i < (N * K) / (w.type === 'NF4' ? 64 : 256); i++)
    if (w.type === 'NF4') sub(dv.getFloat32(36 * i, true), 36 * i + 4, 64 * i);
    else for (let s = 0; s < 4; s++) sub(f16ToF32(dv.getUint16(134 * i, true)) * bytes[134 * i + 2 + s]!, 134 * i + 6 + 32 * s, 256 * i + 64 * s);
  return out;
}

describe('8-bit activations under inference: the integer GEMM (prompts, M > 4) and dot products (decode)', () => {
  // x86 with AVX2 and arm64 with the dot-product extension (EDGETRAIN_CPU_ISA tiers: maddubs,
  // AVX-VNNI, AVX-512 with and without VNNI, sdot); the generic and plain NEON builds keep the float path
  const isa = et.cpuInfo().isa;
  const int8 = isa !== 'generic' && isa !== 'neon' ? INT8_TYPES : new Set<string>();
  const decode8 = isa !== 'generic' ? INT8_TYPES : new Set<string>();
  test.each(QUANTIZABLE.map((t) => t))('%s', (type) => {
    et.tidy(() => {
      // N 37 and 70: a panel of 32 rows, a partial one, a tile of 16 rows split; K 3 blocks of 256
      // or 9 of 32 (Q6_K scales per 16, the K-quants' per 32, NF4's per 64)
      const K = BLOCK[type]![0] === 32 ? 9 * 32 : 3 * BLOCK[type]![0];
      for (const N of [37, 70]) {
        const w = new QuantizedWeight(type, [N, K], quantize(type, randData([N, K], 51 + N)));
        const W = w.dequantize();
        const W8 = int8Weight(w);
        // M 1 and 4: the decode dot products (quant_dot.h), which match the same reference
        for (const M of [1, 4, 5, 7, 13]) {
          const xd = randData([M, K], 60 + M, -2, 2);
          xd[3] = 0; // a zero and a block of zeros (scale 0)
          for (let j = 32; j < 64; j++) xd[(M - 1) * K + j] = 0;
          const x = et.tensor(xd, [M, K]);
          const fast = et.noGrad(() => matmulQ(x, w)).dataSync();
          const want = et.matmul(x, W.transpose()).dataSync();
          const scale = Math.max(...Array.from(want, Math.abs));
          // float64 reference of (8-bit x) . W8
          const { q, d } = roundX8(xd);
          let err8 = 0;
          let errF = 0;
          for (let m = 0; m < M; m++)
            for (let n = 0; n < N; n++) {
              let acc = 0;
              for (let b = 0; b < K / 32; b++) {
                let p = 0;
                for (let j = 32 * b; j < 32 * b + 32; j++) p += q[m * K + j]! * W8[n * K + j]!;
                acc += d[m * (K / 32) + b]! * p;
              }
              err8 = Math.max(err8, Math.abs(fast[m * N + n]! - acc));
              errF = Math.max(errF, Math.abs(fast[m * N + n]! - want[m * N + n]!));
            }
          if (M <= 4 ? decode8.has(type) : int8.has(type)) {
            expect(err8 / scale, `N ${N} M ${M}: against (8-bit x) . W`).toBeLessThan(2e-6);
            expect(errF / scale, `N ${N} M ${M}: the integer path ran`).toBeGreaterThan(1e-5);
            expect(errF / scale, `N ${N} M ${M}: near the float product`).toBeLessThan(2e-2);
          } else expect(errF / scale, `N ${N} M ${M}`).toBeLessThan(1e-5);
          // exact: true and a recorded gradient keep the float path
          const exact = et.noGrad(() => matmulQ(x, w, { exact: true })).dataSync();
          expect(Math.max(...Array.from(exact, (v, i) => Math.abs(v - want[i]!))) / scale, `N ${N} M ${M} exact`).toBeLessThan(1e-5);
          const xg = et.tensor(xd, [M, K], { requiresGrad: true });
          const yg = matmulQ(xg, w).dataSync();
          expect(Math.max(...Array.from(yg, (v, i) => Math.abs(v - want[i]!))) / scale, `N ${N} M ${M} with grad`).toBeLessThan(1e-5);
        }
        w.dispose();
      }
    });
  });

  test.runIf(int8.size > 0)('NaN and infinity in x reach the rows they touch', () => {
    et.tidy(() => {
      const N = 40;
      const w = new QuantizedWeight('Q4_K', [N, 256], quantize('Q4_K', randData([N, 256], 5)));
      const xd = randData([6, 256], 6);
      xd[1 * 256 + 10] = Number.NaN;
      xd[4 * 256 + 200] = Number.POSITIVE_INFINITY;
      const y = et.noGrad(() => matmulQ(et.tensor(xd, [6, 256]), w)).dataSync();
      for (let m = 0; m < 6; m++)
        for (let n = 0; n < N; n++) {
          const v = y[m * N + n]!;
          if (m === 1) expect(v, `row ${m}`).toBeNaN();
          else if (m === 4) expect(Number.isFinite(v), `row ${m}`).toBe(false);
          else expect(Number.isFinite(v), `row ${m}`).toBe(true);
        }
      w.dispose();
    });
  });
});

describe('decode (inference on one to four rows): 8-bit activations with integer dot products', () => {
  // AVX2 and NEON builds round x to 8 bits per 32 values for Q8_0, Q4_0, Q4_K, Q5_K, Q6_K and NF4
  // weights (as llama.cpp does; NF4's levels as int8 too); other types and the generic build keep
  // the float path. Measured: up to 7e-3 of the output's scale.
  // every tier but x86-64's generic one has the integer dots
  const int8 = et.cpuInfo().isa !== 'generic' ? INT8_TYPES : new Set<string>();
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

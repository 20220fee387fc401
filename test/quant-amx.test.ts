// matmulQ at training sizes (M >= 16, both modes) against a float64 reference with the
// dequantized weight. Where the CPU has AMX-BF16 (tier avx512bf16) these products run on AMX tiles
// with A and W split into bf16 parts (csrc/cpu/gemm_amx_wrows.h); the bound below is f32-GEMM
// accuracy, which a part too few would miss by orders of magnitude (two parts for a three-part
// type: ~2^-16 of sum |x w|; one part: ~2^-8). Elsewhere they run the f32 path and pass the same.
// Shapes: odd M and N edges, several K blocks (mode 0: K past one K block of the kernel; mode 1:
// N = 555 weight rows past one), M past one 128-row A block.
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { matmulQ } from '../lib/ops/quant.js';
import { BLOCK } from '../lib/quant-types.js';
import { QuantizedWeight } from '../lib/quant/qweight.js';
import { QUANTIZABLE, quantize } from '../lib/quant/quantize.js';
import { randData } from './helpers/data.js';

/** Largest |got - ref| / sum |a b| over the output, the reference and the magnitudes in float64. */
function relErr(got: Float32Array, a: Float32Array, b: Float32Array, M: number, N: number, K: number, bAt: (k: number, n: number) => number): number {
  let worst = 0;
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let r = 0;
      let s = 0;
      for (let k = 0; k < K; k++) {
        const p = a[m * K + k]! * b[bAt(k, n)]!;
        r += p;
        s += Math.abs(p);
      }
      worst = Math.max(worst, Math.abs(got[m * N + n]! - r) / (s + 1e-30));
    }
  return worst;
}

describe('matmulQ at training sizes against float64 (AMX bf16-part path where available)', () => {
  test.each(QUANTIZABLE.map((t) => t))('%s', (type) => {
    const block = BLOCK[type]![0];
    const K = block * Math.ceil(640 / block);
    et.tidy(() => {
      for (const [M, N] of [
        [37, 45],
        [150, 555],
      ] as const) {
        const w = new QuantizedWeight(type, [N, K], quantize(type, randData([N, K], 5 + M)));
        const Wd = w.dequantize().dataSync();
        const x = randData([M, K], 6 + M);
        const y = et.noGrad(() => matmulQ(et.tensor(x, [M, K]), w, { exact: true })).dataSync();
        // mode 0: y [M, N] = x . W^T
        expect(relErr(y, x, Wd, M, N, K, (k, n) => n * K + k), `${type} M ${M} N ${N} forward`).toBeLessThan(1e-6);
        // mode 1: dx [M, K] = dy . W
        const dy = randData([M, N], 7 + M);
        const xg = et.tensor(new Float32Array(M * K), [M, K], { requiresGrad: true });
        matmulQ(xg, w).backward(et.tensor(dy, [M, N]));
        expect(relErr(xg.grad!.dataSync(), dy, Wd, M, K, N, (n, k) => n * K + k), `${type} M ${M} N ${N} input gradient`).toBeLessThan(1e-6);
        w.dispose();
      }
    });
  });

  // Inf / NaN: the f32 path takes the product (a zero bf16 part times Inf would make NaN where
  // the product is +-Inf), so they land where the float matmul puts them.
  test.each(['Q8_0', 'Q4_0', 'Q4_1', 'Q4_K'])('%s: NaN / Inf in x, NaN scale in a weight row', (type) => {
    const [block, bytes] = BLOCK[type]!;
    const M = 20;
    const N = 40;
    const K = block * Math.ceil(256 / block);
    const rowBytes = (K / block) * bytes;
    et.tidy(() => {
      const q = quantize(type, randData([N, K], 31));
      const w = new QuantizedWeight(type, [N, K], q);
      const qn = new Uint8Array(q);
      // the block's f16 scale d is its first two bytes in these formats: NaN (0x7E00) in row 5
      qn[5 * rowBytes] = 0x00;
      qn[5 * rowBytes + 1] = 0x7e;
      const wn = new QuantizedWeight(type, [N, K], qn);
      const x = randData([M, K], 32);
      const ref = et.noGrad(() => matmulQ(et.tensor(x, [M, K]), w, { exact: true })).dataSync();
      const xb = new Float32Array(x);
      xb[3 * K + 7] = Number.NaN;
      xb[9 * K + 1] = Number.POSITIVE_INFINITY;
      const y = et.noGrad(() => matmulQ(et.tensor(xb, [M, K]), w, { exact: true })).dataSync();
      const yw = et.noGrad(() => matmulQ(et.tensor(x, [M, K]), wn, { exact: true })).dataSync();
      for (let i = 0; i < M * N; i++) {
        const m = Math.floor(i / N);
        if (m === 3) expect(y[i], `x NaN row, ${i}`).toBeNaN();
        else if (m === 9) expect(Number.isFinite(y[i]!), `x Inf row, ${i}`).toBe(false);
        else expect(y[i]).toBeCloseTo(ref[i]!, 4);
        if (i % N === 5) expect(yw[i], `w NaN row, ${i}`).toBeNaN();
        else expect(yw[i]).toBeCloseTo(ref[i]!, 4);
      }
      // input gradient: the NaN scale's block reaches every row's gradient over that block
      const xg = et.tensor(new Float32Array(M * K), [M, K], { requiresGrad: true });
      matmulQ(xg, wn).backward(et.tensor(randData([M, N], 33), [M, N]));
      const g = xg.grad!.dataSync();
      for (let i = 0; i < M * K; i++) {
        if (i % K < block) expect(g[i], `dx NaN block, ${i}`).toBeNaN();
        else expect(Number.isFinite(g[i]!)).toBe(true);
      }
      w.dispose();
      wn.dispose();
    });
  });
});

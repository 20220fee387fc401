// The fused LoRA product (lib/ops/lora-linear.ts): one node whose forward adds s (xin Aᵀ) Bᵀ into
// the base output with the matmul kernel's beta, and whose backward adds s (dy B) A into the base's
// input gradient. On every device its output and its gradients for x, A and B equal the same
// layer spelled out in separate ops (base, two matmuls, scale, add), for dense f32 / bf16 and
// quantized bases, dropout on the adapter's input, leading dims and scale 1; gradients for x also
// against central differences in float64.
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import type { Tensor } from '../lib/index.js';
import { loraLinear } from '../lib/ops/lora-linear.js';
import { randData } from './helpers/data.js';
import { expectClose } from './helpers/compare.js';
import { testDevices } from './helpers/devices.js';

interface Setup {
  lead: number[];
  K: number;
  N: number;
  r: number;
  scale: number;
  base: 'float32' | 'bfloat16' | 'Q8_0' | 'Q4_0';
  dropout: boolean;
}

const cases: [string, Setup][] = [
  ['f32 base, [2, 5] rows, scale 2', { lead: [2, 5], K: 64, N: 48, r: 8, scale: 2, base: 'float32', dropout: false }],
  ['f32 base, one row, scale 1', { lead: [1], K: 32, N: 40, r: 4, scale: 1, base: 'float32', dropout: false }],
  ['f32 base, dropout on the adapter input', { lead: [7], K: 64, N: 33, r: 8, scale: 0.5, base: 'float32', dropout: true }],
  ['bf16 base', { lead: [6], K: 64, N: 24, r: 8, scale: 2, base: 'bfloat16', dropout: false }],
  ['Q8_0 base', { lead: [9], K: 64, N: 20, r: 8, scale: 2, base: 'Q8_0', dropout: false }],
  ['Q4_0 base, dropout', { lead: [3, 3], K: 96, N: 16, r: 4, scale: 2, base: 'Q4_0', dropout: true }],
];

function build(s: Setup, device: string) {
  const Wd = randData([s.N, s.K], 1, -0.5, 0.5);
  const x = et.tensor(randData([...s.lead, s.K], 2), [...s.lead, s.K], { device, requiresGrad: true });
  const A = et.tensor(randData([s.r, s.K], 3, -0.3, 0.3), [s.r, s.K], { device, requiresGrad: true });
  const B = et.tensor(randData([s.N, s.r], 4, -0.3, 0.3), [s.N, s.r], { device, requiresGrad: true });
  let W: Tensor | null = null;
  let qw: et.quant.QuantizedWeight | undefined;
  if (s.base === 'Q8_0' || s.base === 'Q4_0') qw = new et.quant.QuantizedWeight(s.base, [s.N, s.K], et.quant.quantize(s.base, Wd), { device });
  else W = et.cast(et.tensor(Wd, [s.N, s.K], { device }), s.base);
  // the dense weight the reference multiplies by: the quantized one dequantized
  const Wref = qw ? et.tensor(et.quant.dequantize(s.base, qw.data.to('cpu').dataSync() as unknown as Uint8Array, s.N * s.K), [s.N, s.K], { device }) : W!;
  return { x, A, B, W, qw, Wref };
}

// the adapter's dropout mask, the same for both forms: dropout(x) from one fixed seed
const xinOf = (x: Tensor, s: Setup): Tensor => {
  if (!s.dropout) return x;
  et.manualSeed(7);
  return et.dropout(x, 0.25);
};

function grads(loss: Tensor, ts: Tensor[]): number[][] {
  loss.backward();
  return ts.map((t) => Array.from(t.grad!.dataSync()));
}

describe.each(testDevices)('loraLinear on %s', (device) => {
  test.each(cases)('%s: output and gradients equal the layer in separate ops', (_, s) => {
    // the reference multiplies a float32 copy of the weight: a bf16 base at 'highest' precision
    // (exact products, the default) must equal it; 'high' rounds x (matmul-precision.test.ts)
    const prev = et.setMatmulPrecision('highest');
    try {
      body(s);
    } finally {
      et.setMatmulPrecision(prev);
    }
  });

  const body = (s: Setup): void =>
    et.tidy(() => {
      const R = et.tensor(randData([...s.lead, s.N], 5), [...s.lead, s.N], { device });
      const f = build(s, device);
      const y = loraLinear(f.x, { weight: f.W, qweight: f.qw }, xinOf(f.x, s), f.A, f.B, s.scale);
      expect(y.shape).toEqual([...s.lead, s.N]);
      const yv = Array.from(y.dataSync());
      const g = grads(et.sum(et.mul(y, R)), [f.x, f.A, f.B]);

      const r = build(s, device);
      const xin = xinOf(r.x, s);
      const low = et.matmul(et.matmul(xin, et.transpose(r.A, 0, 1)), et.transpose(r.B, 0, 1));
      const yr = et.add(et.matmul(r.x, et.transpose(et.cast(r.Wref, 'float32'), 0, 1)), et.mul(low, s.scale));
      const yrv = Array.from(yr.dataSync());
      const gr = grads(et.sum(et.mul(yr, R)), [r.x, r.A, r.B]);
      // the quantized base's own matmul sums in another order than dequantize + matmul
      const tol = s.base === 'Q8_0' || s.base === 'Q4_0' ? 1e-4 : 1e-5;
      expectClose('y', yv, yrv, tol);
      ['dx', 'dA', 'dB'].forEach((n, i) => expectClose(n, g[i]!, gr[i]!, tol));
    });

  test('dx against central differences in float64 (f32 base)', () => {
    et.tidy(() => {
      const s = cases[0]![1];
      const f = build(s, device);
      const Rv = randData([...s.lead, s.N], 6);
      const R = et.tensor(Rv, [...s.lead, s.N], { device });
      const y = loraLinear(f.x, { weight: f.W }, f.x, f.A, f.B, s.scale);
      const [dx] = grads(et.sum(et.mul(y, R)), [f.x]);
      const X = Array.from(f.x.dataSync());
      const Wv = Array.from(f.W!.to('cpu').dataSync());
      const Av = Array.from(f.A.dataSync());
      const Bv = Array.from(f.B.dataSync());
      const M = X.length / s.K;
      const loss = (xs: number[]): number => {
        let tot = 0;
        for (let m = 0; m < M; m++) {
          const u = new Array<number>(s.r).fill(0);
          for (let j = 0; j < s.r; j++) for (let k = 0; k < s.K; k++) u[j]! += xs[m * s.K + k]! * Av[j * s.K + k]!;
          for (let n = 0; n < s.N; n++) {
            let v = 0;
            for (let k = 0; k < s.K; k++) v += xs[m * s.K + k]! * Wv[n * s.K + k]!;
            for (let j = 0; j < s.r; j++) v += s.scale * u[j]! * Bv[n * s.r + j]!;
            tot += v * Rv[m * s.N + n]!;
          }
        }
        return tot;
      };
      const fd = X.map((_, i) => {
        const p = X.slice();
        const q = X.slice();
        p[i]! += 1e-3;
        q[i]! -= 1e-3;
        return (loss(p) - loss(q)) / 2e-3;
      });
      expectClose('dx vs central differences', dx!, fd, 1e-4);
    });
  });
});

test('a LoRA layer makes one loraLinear node and no elementwise pass over its output', () => {
  et.tidy(() => {
    const lin = new et.nn.Linear(64, 48, { bias: false });
    lin.weight.requiresGrad = false;
    const lora = new et.nn.LoRALinear(lin, { rank: 8, alpha: 16, seed: 1 });
    const x = et.tensor(randData([16, 64], 8), [16, 64], { requiresGrad: true });
    et.startProfile();
    const y = lora.forward(x);
    et.sum(y).backward();
    const ops = et.stopProfile().map((r) => `${r.op} ${r.shapes}`);
    // nothing scales or adds [16, 48] or [16, 64]: the matmuls do it all
    expect(ops.filter((o) => /^(add|mul|affine) \[16,(48|64)\]/.test(o))).toEqual([]);
    expect(ops.filter((o) => o.startsWith('matmul')).length).toBeGreaterThan(0);
  });
});

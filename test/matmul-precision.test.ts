// setMatmulPrecision (lib/ops/precision.ts): with a bfloat16 b, 'highest' (the default) gives the float32
// product of the exact values, 'high' and 'medium' the product of a rounded to bfloat16 (nearest
// even), as PyTorch's bf16 matmul; float32 x float32 products are exact at every setting.
// References in float64 from the same values; CPU (the only backend with bf16 products).
import { afterEach, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { ValueError } from '../lib/errors.js';

const rnd = (n: number, seed: number): Float32Array => {
  const a = new Float32Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    a[i] = (x / 2147483648 - 0.5) * 4;
  }
  return a;
};
// nearest-even bf16 of a float32 value
const bf16 = (v: number): number => {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) >>> 16) << 16;
  return f[0]!;
};

// worst |y - ref| / sum |a b| over the output
function relErr(y: Float32Array, a: Float32Array, b: Float32Array, M: number, K: number, N: number, roundA: boolean): number {
  let err = 0;
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      let mag = 0;
      for (let k = 0; k < K; k++) {
        const av = roundA ? bf16(a[i * K + k]!) : a[i * K + k]!;
        s += av * b[k * N + j]!;
        mag += Math.abs(av * b[k * N + j]!);
      }
      err = Math.max(err, Math.abs(y[i * N + j]! - s) / mag);
    }
  return err;
}

describe('matmul precision', () => {
  afterEach(() => {
    et.setMatmulPrecision('highest');
  });
  // shapes past the AMX tile sizes (32 x 32, k steps of 32) and ragged edges
  const M = 70, K = 200, N = 45;
  const a = rnd(M * K, 1);
  const bvals = Float32Array.from(rnd(K * N, 2), bf16);

  test.each(['highest', 'high', 'medium'] as const)('bf16 b at %s', (p) => {
    expect(et.setMatmulPrecision(p)).toBe('highest');
    expect(et.getMatmulPrecision()).toBe(p);
    const y = et.tidy(() => et.matmul(et.tensor(a, [M, K]), et.cast(et.tensor(bvals, [K, N]), 'bfloat16')).dataSync() as Float32Array);
    const exact = relErr(y, a, bvals, M, K, N, false);
    const rounded = relErr(y, a, bvals, M, K, N, true);
    if (p === 'highest') {
      expect(exact).toBeLessThan(1e-5);
    } else {
      // rounding a to bf16 is visible against the exact product and matches the rounded one
      expect(rounded).toBeLessThan(1e-5);
      expect(exact).toBeGreaterThan(1e-4);
    }
  });

  test('float32 products stay exact at every setting', () => {
    const b = rnd(K * N, 3);
    for (const p of ['highest', 'high', 'medium'] as const) {
      et.setMatmulPrecision(p);
      const y = et.tidy(() => et.matmul(et.tensor(a, [M, K]), et.tensor(b, [K, N])).dataSync() as Float32Array);
      expect(relErr(y, a, b, M, K, N, false), p).toBeLessThan(1e-5);
    }
  });

  test('the input gradient through a bf16 weight follows the setting', () => {
    // dx = dy . W^T with W bf16 [K, N]: at 'high' dy is rounded to bf16 like the forward's x
    const dyv = rnd(M * N, 4);
    const wT = new Float32Array(N * K);
    for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) wT[j * K + k] = bvals[k * N + j]!;
    for (const p of ['highest', 'high'] as const) {
      et.setMatmulPrecision(p);
      const dx = et.tidy(() => {
        const x = et.tensor(a, [M, K]);
        x.requiresGrad = true;
        const y = et.matmul(x, et.cast(et.tensor(bvals, [K, N]), 'bfloat16'));
        et.sum(et.mul(y, et.tensor(dyv, [M, N]))).backward();
        return x.grad!.dataSync() as Float32Array;
      });
      expect(relErr(dx, dyv, wT, M, N, K, p === 'high'), p).toBeLessThan(1e-5);
    }
  });

  test('an unknown setting is a ValueError naming the choices', () => {
    expect(() => et.setMatmulPrecision('low' as never)).toThrow(ValueError);
    expect(() => et.setMatmulPrecision('low' as never)).toThrow(/'highest', 'high', 'medium'/);
    expect(et.getMatmulPrecision()).toBe('highest');
  });
});

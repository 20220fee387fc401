// matmul with a float16 or bfloat16 b (a half-size weight used in place, as a GGUF/safetensors
// f16 / bf16 model keeps it): forward against a float64 reference over the rounded values, the
// input gradient against the reference and central differences, the weight gradient's dtype, and
// the Linear layer.
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { randData } from './helpers/data.js';
import { testDevices } from './helpers/devices.js';

/** Row-major float64 product of a [M,K] and b [K,N]. */
function ref(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number): Float64Array {
  const y = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) {
      const av = a[i * K + k]!;
      for (let j = 0; j < N; j++) y[i * N + j] = y[i * N + j]! + av * b[k * N + j]!;
    }
  return y;
}

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scale = 1e-6;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i]! - want[i]!));
  return e / scale;
}

// [M, K, N, layout of b]: 'kn' b stored [K, N]; 'nk' a Linear weight [N, K] used transposed.
const SHAPES: [number, number, number, 'kn' | 'nk'][] = [
  [1, 256, 300, 'nk'], // decode GEMV (rows of W contiguous)
  [1, 77, 129, 'kn'], // GEMV over columns
  [5, 64, 1, 'nk'], // N == 1
  [3, 5, 7, 'kn'], // tiny
  [13, 33, 17, 'nk'], // ragged register tiles
  [70, 600, 300, 'nk'], // several KC blocks, 2 threads
  [25, 601, 301, 'kn'],
  [200, 40, 520, 'nk'],
];

// half: the weight dtype; round: the relative rounding of one value (2^-11 for f16, 2^-8 for bf16).
const HALVES: { half: 'float16' | 'bfloat16'; round: number }[] = [
  { half: 'float16', round: 2 ** -11 },
  { half: 'bfloat16', round: 2 ** -8 },
];

describe.each(HALVES)('matmul with $half b', ({ half, round }) => {
  test.each(SHAPES)(`[%i, %i] @ ${half} (N=%i, %s): forward and input gradient`, (M, K, N, layout) => {
    et.tidy(() => {
      const a = et.tensor(randData([M * K], 1 + M), [M, K], { requiresGrad: true });
      const stored = layout === 'kn' ? [K, N] : [N, K];
      const w16 = et.cast(et.tensor(randData([K * N], 2 + N), stored), half);
      const b = layout === 'kn' ? w16 : w16.transpose();
      // the f16 values as float32, in [K, N] order, for the reference
      const b32 = Float32Array.from(et.cast(b, 'float32').contiguous().dataSync());
      const y = et.matmul(a, b);
      expect(y.dtype).toBe('float32');
      expect(y.shape).toEqual([M, N]);
      const want = ref(a.dataSync(), b32, M, K, N);
      expect(maxRelErr(y.dataSync(), want)).toBeLessThan(1e-5 * Math.sqrt(K));

      // L = sum(y * dy): dL/da = dy . b^T
      const dy = et.tensor(randData([M * N], 3), [M, N]);
      et.sum(et.mul(y, dy)).backward();
      const bT = new Float64Array(N * K);
      for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) bT[j * K + k] = b32[k * N + j]!;
      const wantDa = ref(dy.dataSync(), bT, M, N, K);
      expect(maxRelErr(a.grad!.dataSync(), wantDa)).toBeLessThan(1e-5 * Math.sqrt(N));
    });
  });

  test('input gradient matches central differences', () => {
    et.tidy(() => {
      const M = 3, K = 40, N = 24;
      const aData = randData([M * K], 9);
      const w16 = et.cast(et.tensor(randData([N * K], 10), [N, K]), half);
      const dy = et.tensor(randData([M * N], 11), [M, N]);
      const loss = (ad: Float32Array) => et.noGrad(() => et.tidy(() => et.sum(et.mul(et.matmul(et.tensor(ad, [M, K]), w16.transpose()), dy)).item()));
      const a = et.tensor(aData, [M, K], { requiresGrad: true });
      et.sum(et.mul(et.matmul(a, w16.transpose()), dy)).backward();
      const g = a.grad!.dataSync();
      const eps = 1e-2;
      for (const i of [0, 7, 41, 80, 119]) {
        const p = Float32Array.from(aData);
        const m = Float32Array.from(aData);
        p[i]! += eps;
        m[i]! -= eps;
        const fd = (loss(p) - loss(m)) / (p[i]! - m[i]!);
        expect(Math.abs(fd - g[i]!)).toBeLessThan(2e-3 * Math.max(1, Math.abs(fd)));
      }
    });
  });

  test(`a ${half} weight that requires a gradient gets a ${half} gradient`, () => {
    et.tidy(() => {
      const a = et.tensor(randData([4 * 8], 1), [4, 8]);
      const w = et.cast(et.tensor(randData([8 * 3], 2), [8, 3]), half);
      w.requiresGrad = true;
      et.sum(et.matmul(a, w)).backward();
      expect(w.grad!.dtype).toBe(half);
      // dL/dw = a^T . 1
      const ad = a.dataSync();
      const gw = et.cast(w.grad!, 'float32').dataSync();
      for (let k = 0; k < 8; k++) {
        let s = 0;
        for (let i = 0; i < 4; i++) s += ad[i * 8 + k]!;
        for (let j = 0; j < 3; j++) expect(Math.abs(gw[k * 3 + j]! - s)).toBeLessThan(4 * round * Math.max(1, Math.abs(s)));
      }
    });
  });

  test(`Linear with a ${half} weight, batched input`, () => {
    et.tidy(() => {
      const lin = new et.nn.Linear(48, 20, { seed: 3 });
      const x = et.tensor(randData([2 * 5 * 48], 4), [2, 5, 48]);
      const y32 = lin.forward(x).dataSync();
      const w16 = et.cast(lin.weight, half);
      const w16as32 = et.cast(w16, 'float32');
      const lin16 = new et.nn.Linear(48, 20, { seed: 3 });
      lin16.loadStateDict({ weight: w16as32, bias: lin.bias! });
      const want = lin16.forward(x).dataSync(); // float32 weight holding the rounded values
      const yh = et.add(et.matmul(x, w16.transpose()), lin.bias!).dataSync();
      expect(maxRelErr(yh, want)).toBeLessThan(1e-5);
      expect(maxRelErr(yh, y32)).toBeLessThan(10 * round); // the rounding of the weight itself
    });
  });

  test(`a ${half} a is refused`, () => {
    const a16 = et.cast(et.ones([2, 2]), half);
    expect(() => et.matmul(a16, et.ones([2, 2]))).toThrow(et.DTypeError);
  });

  test.runIf(testDevices.includes('vulkan'))(`vulkan: a ${half} b (both layouts) matches the reference as on cpu`, () => {
    for (const [M, K, N, layout] of SHAPES)
      et.tidy(() => {
        const a = et.tensor(randData([M * K], 1 + M), [M, K], { device: 'vulkan' });
        const stored = layout === 'kn' ? [K, N] : [N, K];
        const w16 = et.cast(et.tensor(randData([K * N], 2 + N), stored, { device: 'vulkan' }), half);
        const b = layout === 'kn' ? w16 : w16.transpose();
        const b32 = Float32Array.from(et.cast(b, 'float32').contiguous().dataSync());
        const y = et.matmul(a, b);
        expect(y.device).toBe('vulkan');
        expect(y.dtype).toBe('float32');
        expect(maxRelErr(y.dataSync(), ref(a.dataSync(), b32, M, K, N))).toBeLessThan(1e-5 * Math.sqrt(K));
      });
  });
});

test('matmul takes float32, float16 or bfloat16 b, nothing else', () => {
  expect(() => et.matmul(et.ones([2, 2]), et.cast(et.ones([2, 2]), 'int32'))).toThrow(
    /matmul: expected float32 or float16 or bfloat16, got int32/,
  );
});

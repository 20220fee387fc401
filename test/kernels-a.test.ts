// Kernel-level checks for softmax, logSoftmax, crossEntropy, embedding, the Philox random ops,
// dropout and the AdamW/SGD updates: forwards against float64 references written here,
// gradients against central differences, errors by class, and thread-count independence. Every
// block runs on each available device (the default device while it runs); a device lacking a
// block's kernel must answer its call with the DeviceError naming both (helpers/devices.ts).
import { afterAll, afterEach, beforeEach, describe, expect } from 'vitest';
import * as et from '../lib/index.js';
import { numel, randData, randInts } from './helpers/data.js';
import { kernelTests, reportUnsupported, testDevices } from './helpers/devices.js';
import { runKernel } from '../lib/native/run.js';
import { seedKey } from '../lib/random.js';

type Tensor = et.Tensor;
const { crossEntropy, embedding, dropout } = et;

// ---- helpers ----

const mk = (data: Float32Array, shape: readonly number[], requiresGrad = false): Tensor =>
  et.tensor(data, [...shape], { requiresGrad });
const ints = (data: Int32Array, shape: readonly number[]): Tensor => et.tensor(data, [...shape]);

/** |a - e| <= atol + rtol |e| everywhere; NaN must match NaN. */
function expectClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-6, rtol = 1e-5): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) throw new Error(`${label}: element ${i} is ${a}, expected ${e}`);
  }
}

/**
 * Checks the autograd gradient of loss = sum(f(inputs) * R) (R fixed random) for input `wrt`
 * against central differences of the same loss accumulated in float64.
 */
function gradCheck(
  f: (xs: Tensor[]) => Tensor,
  datas: { data: Float32Array; shape: number[] }[],
  wrt: number,
  { eps = 1e-3, tol = 2e-2, seed = 99 } = {},
): void {
  const xs = datas.map((d, i) => mk(d.data, d.shape, i === wrt));
  const y = f(xs);
  const R = y.numel === 1 ? new Float32Array([1.3]) : randData(y.shape, seed);
  const loss = et.sum(et.mul(y, mk(R, y.shape)));
  loss.backward();
  const got = xs[wrt]!.grad!.dataSync();
  const lossAt = (ds: Float32Array[]): number =>
    et.noGrad(() =>
      et.tidy(() => {
        const yy = f(ds.map((d, i) => mk(d, datas[i]!.shape))).dataSync();
        let s = 0;
        for (let i = 0; i < yy.length; i++) s += yy[i]! * R[i]!;
        return s;
      }),
    );
  const base = datas.map((d) => Float32Array.from(d.data));
  const fd = new Float64Array(got.length);
  for (let k = 0; k < fd.length; k++) {
    const x0 = base[wrt]![k]!;
    base[wrt]![k] = x0 + eps;
    const hi = base[wrt]![k]!;
    const lp = lossAt(base);
    base[wrt]![k] = x0 - eps;
    const lo = base[wrt]![k]!;
    const lm = lossAt(base);
    base[wrt]![k] = x0;
    fd[k] = (lp - lm) / (hi - lo); // the float32 step actually taken
  }
  let scale = 0;
  for (const v of fd) scale = Math.max(scale, Math.abs(v));
  for (let k = 0; k < fd.length; k++)
    if (!(Math.abs(got[k]! - fd[k]!) <= tol * scale + 1e-6))
      throw new Error(`gradient element ${k}: autograd ${got[k]}, finite difference ${fd[k]} (max |grad| ${scale})`);
}

// float64 references over rows of a row-major [N, C] array
function refLogSoftmax(x: ArrayLike<number>, N: number, C: number): Float64Array {
  const out = new Float64Array(N * C);
  for (let i = 0; i < N; i++) {
    let m = -Infinity;
    for (let j = 0; j < C; j++) m = Math.max(m, x[i * C + j]!);
    let s = 0;
    for (let j = 0; j < C; j++) s += Math.exp(x[i * C + j]! - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < C; j++) out[i * C + j] = x[i * C + j]! - lse;
  }
  return out;
}
const refSoftmax = (x: ArrayLike<number>, N: number, C: number): Float64Array => refLogSoftmax(x, N, C).map(Math.exp);

function refCrossEntropy(x: ArrayLike<number>, t: ArrayLike<number>, N: number, C: number, ignore: number): Float64Array {
  const ls = refLogSoftmax(x, N, C);
  const out = new Float64Array(N);
  for (let i = 0; i < N; i++) out[i] = t[i] === ignore ? 0 : -ls[i * C + t[i]!]!;
  return out;
}

const threads0 = et.getThreads();
afterAll(() => et.setThreads(threads0));

describe.each(testDevices)('%s', (device) => {
  beforeEach(() => et.setDefaultDevice(device));
  afterEach(() => et.setDefaultDevice('cpu'));

  // ---- softmax / logSoftmax ----

  describe('softmax and logSoftmax', () => {
    const ktest = kernelTests(device, 'softmax', () => et.softmax(mk(randData([2, 3], 1), [2, 3])).dataSync());
    const cases: [string, number[], number][] = [
      ['small rows', [3, 7], -1],
      ['odd sizes', [5, 33], -1],
      ['one long row set (C=5000)', [4, 5000], -1],
      ['3-d, last dim', [2, 3, 17], -1],
      ['single element rows', [6, 1], -1],
    ];
    for (const [name, shape, dim] of cases)
      ktest(`forward matches float64: ${name}`, () => {
        const C = shape[shape.length - 1]!;
        const N = numel(shape) / C;
        const x = randData(shape, 11 + C, -8, 8);
        const xt = mk(x, shape);
        expectClose('softmax', et.softmax(xt, dim).dataSync(), refSoftmax(x, N, C), 1e-7, 2e-6);
        expectClose('logSoftmax', et.logSoftmax(xt, dim).dataSync(), refLogSoftmax(x, N, C), 2e-6, 2e-6);
      });

    ktest('forward over a non-last dim', () => {
      const shape = [3, 6, 4];
      const x = randData(shape, 5, -3, 3);
      // reference: move dim 1 last by hand
      const moved = new Float32Array(x.length);
      for (let a = 0; a < 3; a++) for (let b = 0; b < 6; b++) for (let c = 0; c < 4; c++) moved[(a * 4 + c) * 6 + b] = x[(a * 6 + b) * 4 + c]!;
      const ref = refSoftmax(moved, 12, 6);
      const back = new Float64Array(x.length);
      for (let a = 0; a < 3; a++) for (let b = 0; b < 6; b++) for (let c = 0; c < 4; c++) back[(a * 6 + b) * 4 + c] = ref[(a * 4 + c) * 6 + b]!;
      const y = et.softmax(mk(x, shape), 1);
      expect(y.shape).toEqual(shape);
      expectClose('softmax dim 1', et.contiguous(y).dataSync(), back, 1e-7, 2e-6);
    });

    ktest('large magnitudes stay finite; NaN poisons only its row', () => {
      const x = new Float32Array([1000, 999, -1000, 0, 5, Number.NaN, 1, 2, -80, -90, -100, -87.5]);
      const y = et.softmax(mk(x, [3, 4])).dataSync();
      const ref = refSoftmax([1000, 999, -1000, 0], 1, 4);
      expectClose('row 0', y.slice(0, 4), ref, 1e-7, 2e-6);
      for (let j = 4; j < 8; j++) expect(Number.isNaN(y[j]!)).toBe(true);
      expectClose('row 2 (tiny exps)', y.slice(8), refSoftmax([-80, -90, -100, -87.5], 1, 4), 1e-7, 2e-6);
      const ly = et.logSoftmax(mk(x, [3, 4])).dataSync();
      expectClose('logSoftmax row 0', ly.slice(0, 4), refLogSoftmax([1000, 999, -1000, 0], 1, 4), 1e-4, 2e-6);
      expect(Number.isNaN(ly[5]!)).toBe(true);
    });

    ktest('gradients match finite differences', () => {
      for (const op of [et.softmax, et.logSoftmax]) {
        gradCheck(([x]) => op(x!), [{ data: randData([4, 9], 3, -2, 2), shape: [4, 9] }], 0);
        gradCheck(([x]) => op(x!, 1), [{ data: randData([2, 5, 3], 4, -2, 2), shape: [2, 5, 3] }], 0);
      }
    });
  });

  // ---- crossEntropy ----

  describe('crossEntropy', () => {
    const ktest = kernelTests(device, 'crossEntropy', () => crossEntropy(mk(randData([2, 3], 1), [2, 3]), ints(new Int32Array([0, 1]), [2])).dataSync());
    ktest("per-target loss ('none') matches float64, with ignored rows", () => {
      for (const [N, C] of [
        [7, 5],
        [9, 5000],
        [3, 1],
      ] as const) {
        const x = randData([N, C], 20 + C, -6, 6);
        const t = randInts(N, 30 + C, 0, C);
        t[1 % N] = -100;
        const loss = crossEntropy(mk(x, [N, C]), ints(t, [N]), { reduction: 'none' });
        expect(loss.shape).toEqual([N]);
        expectClose(`loss N=${N} C=${C}`, loss.dataSync(), refCrossEntropy(x, t, N, C, -100), 2e-6, 2e-6);
      }
    });

    ktest("'mean' divides by the non-ignored count, 'sum' adds; extra leading dims; custom ignoreIndex", () => {
      const [B, T, C] = [2, 3, 11];
      const x = randData([B, T, C], 8, -4, 4);
      const t = randInts(B * T, 9, 0, C);
      t[2] = 4;
      t[4] = 4;
      const ref = refCrossEntropy(x, t, B * T, C, 4);
      let s = 0;
      let n = 0;
      for (let i = 0; i < B * T; i++) if (t[i] !== 4) (s += ref[i]!), n++;
      const logits = mk(x, [B, T, C]);
      const targets = ints(t, [B, T]);
      const mean = crossEntropy(logits, targets, { ignoreIndex: 4 });
      expect(mean.shape).toEqual([]);
      expectClose('mean', [mean.item()], [s / n], 1e-6, 2e-6);
      expectClose('sum', [crossEntropy(logits, targets, { ignoreIndex: 4, reduction: 'sum' }).item()], [s], 1e-6, 2e-6);
      const none = crossEntropy(logits, targets, { ignoreIndex: 4, reduction: 'none' });
      expect(none.shape).toEqual([B, T]);
    });

    ktest("'mean' with every target ignored is NaN, as in PyTorch", () => {
      const loss = crossEntropy(mk(randData([3, 4], 1), [3, 4]), ints(new Int32Array([-100, -100, -100]), [3]));
      expect(Number.isNaN(loss.item())).toBe(true);
    });

    ktest('gradients match finite differences (mean, none, sum; ignored rows get zero)', () => {
      const N = 5;
      const C = 7;
      const t = ints(new Int32Array([3, -100, 0, 6, 2]), [N]);
      const data = [{ data: randData([N, C], 12, -2, 2), shape: [N, C] }];
      gradCheck(([x]) => crossEntropy(x!, t), data, 0);
      gradCheck(([x]) => crossEntropy(x!, t, { reduction: 'none' }), data, 0);
      gradCheck(([x]) => crossEntropy(x!, t, { reduction: 'sum' }), data, 0);
      const x = mk(data[0]!.data, [N, C], true);
      crossEntropy(x, t).backward();
      const g = x.grad!.dataSync();
      for (let j = 0; j < C; j++) expect(g[C + j]).toBe(0);
    });

    ktest('gradient of a large row matches (softmax - onehot) / count', () => {
      const [N, C] = [3, 5000];
      const x = randData([N, C], 77, -5, 5);
      const t = new Int32Array([17, 4999, 0]);
      const xt = mk(x, [N, C], true);
      crossEntropy(xt, ints(t, [N])).backward();
      const ref = refSoftmax(x, N, C);
      for (let i = 0; i < N; i++) ref[i * C + t[i]!]! -= 1;
      expectClose('dlogits', xt.grad!.dataSync(), ref.map((v) => v / N), 1e-8, 1e-4);
    });

    ktest('errors: out-of-range target, mismatched shapes, wrong dtype', () => {
      const logits = mk(randData([2, 3], 1), [2, 3]);
      expect(() => crossEntropy(logits, ints(new Int32Array([0, 3]), [2])).dataSync()).toThrow(et.IndexError);
      expect(() => crossEntropy(logits, ints(new Int32Array([0, 3]), [2])).dataSync()).toThrow(/target 3 at row 1 is outside \[0, 3\)/);
      expect(() => crossEntropy(logits, ints(new Int32Array([-1, 0]), [2])).dataSync()).toThrow(et.IndexError);
      expect(() => crossEntropy(logits, ints(new Int32Array([0, 1, 2]), [3]))).toThrow(et.ShapeError);
      expect(() => crossEntropy(logits, ints(new Int32Array([0, 1]), [2]))).not.toThrow();
      try {
        crossEntropy(logits, ints(new Int32Array([0, 1]), [1, 2]));
        throw new Error('no error');
      } catch (e) {
        expect(e).toBeInstanceOf(et.ShapeError);
        expect(String(e)).toContain('[1, 2]');
        expect(String(e)).toContain('[2, 3]');
      }
      expect(() => crossEntropy(logits, et.tensor([0, 1]))).toThrow(et.DTypeError);
    });
  });

  // ---- embedding ----

  describe('embedding', () => {
    const ktest = kernelTests(device, 'embedding', () => embedding(mk(randData([2, 3], 1), [2, 3]), ints(new Int32Array([1]), [1])).dataSync());
    ktest('forward gathers rows for ids of any shape', () => {
      const [V, D] = [10, 6];
      const w = randData([V, D], 2);
      const ids = new Int32Array([3, 0, 9, 3, 5, 1]);
      const y = embedding(mk(w, [V, D]), ints(ids, [2, 3]));
      expect(y.shape).toEqual([2, 3, D]);
      const ref = new Float32Array(ids.length * D);
      ids.forEach((v, n) => ref.set(w.subarray(v * D, v * D + D), n * D));
      expect(Array.from(y.dataSync())).toEqual(Array.from(ref));
      // a frozen bfloat16 table is looked up as stored
      const yb = embedding(et.cast(mk(w, [V, D]), 'bfloat16'), ints(ids, [2, 3]));
      expect(yb.dtype).toBe('bfloat16');
      expect(Array.from(yb.dataSync())).toEqual(Array.from(et.cast(mk(ref, [2, 3, D]), 'bfloat16').dataSync()));
    });

    ktest('gradient matches finite differences and a float64 scatter-add', () => {
      const [V, D] = [6, 4];
      const ids = ints(new Int32Array([1, 4, 1, 1, 0]), [5]);
      gradCheck(([w]) => embedding(w!, ids), [{ data: randData([V, D], 3), shape: [V, D] }], 0);
    });

    ktest('backward is deterministic across thread counts and matches float64', () => {
      const [V, D, N] = [50, 300, 3000];
      const ids = randInts(N, 5, 0, V);
      const dy = randData([N, D], 6);
      const ref = new Float64Array(V * D);
      for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) ref[ids[n]! * D + d]! += dy[n * D + d]!;
      const run = (threads: number) => {
        et.setThreads(threads);
        return runKernel('embeddingBwd', [mk(dy, [N, D]), ints(ids, [N])], [{ shape: [V, D], dtype: 'float32' }])[0]!.dataSync();
      };
      const one = run(1);
      const two = run(2);
      et.setThreads(threads0);
      expect(Array.from(two)).toEqual(Array.from(one));
      expectClose('dweight', one, ref, 1e-4, 1e-5);
    });

    ktest('errors: out-of-range id, wrong dtype', () => {
      const w = mk(randData([4, 3], 1), [4, 3]);
      expect(() => embedding(w, ints(new Int32Array([0, 4]), [2])).dataSync()).toThrow(et.IndexError);
      expect(() => embedding(w, ints(new Int32Array([0, 4]), [2])).dataSync()).toThrow(/embedding/);
      expect(() => embedding(w, ints(new Int32Array([-1]), [1])).dataSync()).toThrow(/index -1 at position 0 is outside \[0, 4\)/);
      expect(() => embedding(w, et.tensor([0, 1]))).toThrow(et.DTypeError);
    });
  });

  // ---- random ----

  // Philox4x32-10 and the uniform mapping, written independently from csrc/cpu/philox.h's header.
  function philox(g: number, key: number): number[] {
    const M0 = 0xd2511f53n;
    const M1 = 0xcd9e8d57n;
    const mask = 0xffffffffn;
    let c = [BigInt(g % 2 ** 32), BigInt(Math.floor(g / 2 ** 32)), 0n, 0n];
    let k0 = BigInt(key % 2 ** 32);
    let k1 = BigInt(Math.floor(key / 2 ** 32));
    for (let r = 0; r < 10; r++) {
      const p0 = M0 * c[0]!;
      const p1 = M1 * c[2]!;
      c = [((p1 >> 32n) ^ c[1]! ^ k0) & mask, p1 & mask, ((p0 >> 32n) ^ c[3]! ^ k1) & mask, p0 & mask];
      k0 = (k0 + 0x9e3779b9n) & mask;
      k1 = (k1 + 0xbb67ae85n) & mask;
    }
    return c.map(Number);
  }
  const u01 = (w: number) => (w >>> 8) / 16777216;

  describe('random (Philox)', () => {
    // rand/randn: a device without the kernels gets cpu's numbers (the same stream), dropout asks the device
    const ktest = kernelTests(device, null, null);
    ktest('Philox known answer', () => {
      expect(philox(0, 0).map((w) => w.toString(16).padStart(8, '0'))).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    });

    ktest('rand reproduces the documented stream exactly', () => {
      const key = seedKey(3);
      const got = et.rand([11], { seed: 3 }).dataSync();
      const ref = Array.from({ length: 11 }, (_, i) => u01(philox(Math.floor(i / 4), key)[i % 4]!));
      expect(Array.from(got)).toEqual(ref);
    });

    ktest('randn follows Box-Muller on word pairs', () => {
      const key = seedKey(8);
      const got = et.randn([10], { seed: 8 }).dataSync();
      const ref: number[] = [];
      for (let g = 0; g < 3; g++) {
        const w = philox(g, key);
        for (const [a, b] of [
          [w[0]!, w[1]!],
          [w[2]!, w[3]!],
        ] as const) {
          const r = Math.sqrt(-2 * Math.log(1 - u01(a)));
          const th = 2 * Math.PI * u01(b);
          ref.push(r * Math.cos(th), r * Math.sin(th));
        }
      }
      expectClose('randn', got, ref.slice(0, 10), 1e-5, 1e-5);
    });

    ktest('randn bits are a known answer (edgetrain float math, no libm, no fma: any device, ISA or platform)', () => {
      const x = et.randn([1 << 16], { seed: 8 }).dataSync();
      const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
      let h = 0x811c9dc5; // FNV-1a over the 32-bit words
      for (const v of bits) h = Math.imul(h ^ v, 0x01000193) >>> 0;
      expect(Array.from(bits.slice(0, 6), (v) => v.toString(16))).toEqual(['3f99a0ba', '3ec8829c', '3d3ce25f', '3f06f863', '3e590156', 'bf7ce19e']);
      expect(h.toString(16)).toBe('8b2c546b');
    });

    ktest('randn statistics over 100k samples', () => {
      const x = et.randn([100000], { seed: 1 }).dataSync();
      let s = 0;
      let s2 = 0;
      for (const v of x) (s += v), (s2 += v * v);
      const mean = s / x.length;
      const std = Math.sqrt(s2 / x.length - mean * mean);
      expect(Math.abs(mean)).toBeLessThan(0.015);
      expect(Math.abs(std - 1)).toBeLessThan(0.015);
      const y = et.randn([1000], { seed: 1, mean: 3, std: 2 }).dataSync();
      expectClose('mean/std params', y, x.slice(0, 1000).map((v) => 3 + 2 * v), 1e-5, 1e-6);
      const u = et.rand([100000], { seed: 2, low: -2, high: 3 }).dataSync();
      let um = 0;
      let outside = 0;
      for (const v of u) {
        if (!(v >= -2 && v < 3)) outside++;
        um += v;
      }
      expect(outside).toBe(0);
      expect(Math.abs(um / u.length - 0.5)).toBeLessThan(0.03);
    });

    ktest('same seed, same numbers for any thread count', () => {
      // 100003 elements span several parallel chunks with odd boundaries (3 threads)
      const draw = (threads: number) => {
        et.setThreads(threads);
        const r = [
          et.randn([1000], { seed: 3 }).dataSync(),
          et.randn([100003], { seed: 3 }).dataSync(),
          et.rand([100003], { seed: 6 }).dataSync(),
          dropout(et.ones([100003]), 0.3, { seed: 5 }).dataSync(),
        ].map((a) => Array.from(a));
        et.setThreads(threads0);
        return r;
      };
      const one = draw(1);
      for (const t of [2, 3]) expect(draw(t)).toEqual(one);
      expect(one[1]!.slice(0, 1000)).toEqual(one[0]); // element i depends on (key, i) only
      expect(Array.from(et.randn([1000], { seed: 4 }).dataSync())).not.toEqual(one[0]);
    });
  });

  // ---- dropout ----

  describe('dropout', () => {
    const ktest = kernelTests(device, 'dropout', () => dropout(et.ones([4]), 0.5, { seed: 1 }).dataSync());
    ktest('keeps about 1 - p of the elements, scaled by 1 / (1 - p), per the documented stream', () => {
      const p = 0.25;
      const n = 40000;
      const x = randData([n], 4, 0.5, 1.5);
      const y = dropout(mk(x, [n]), p, { seed: 9 }).dataSync();
      const key = seedKey(9);
      let kept = 0;
      for (let i = 0; i < n; i++) {
        if (y[i] !== 0) kept++;
        if (i < 64) {
          const keep = u01(philox(Math.floor(i / 4), key)[i % 4]!) >= p;
          expect(y[i]).toBe(keep ? Math.fround(x[i]! * Math.fround(1 / (1 - p))) : 0);
        } else if (y[i] !== 0 && !(Math.abs(y[i]! - x[i]! / (1 - p)) <= 1e-6 * y[i]!)) throw new Error(`element ${i}: ${y[i]}`);
      }
      expect(Math.abs(kept / n - (1 - p))).toBeLessThan(0.01);
    });

    ktest('gradient applies the same mask; eval, p = 0 and p = 1', () => {
      const x = mk(randData([8, 16], 2, 0.5, 1), [8, 16], true);
      const y = dropout(x, 0.5, { seed: 1 });
      et.sum(y).backward();
      const yd = y.dataSync();
      const xd = x.dataSync();
      const g = x.grad!.dataSync();
      for (let i = 0; i < g.length; i++) expect(g[i]).toBeCloseTo(yd[i]! / xd[i]!, 5);
      expect(dropout(x, 0.5, { training: false })).toBe(x);
      expect(dropout(x, 0)).toBe(x);
      expect(Array.from(dropout(x, 1).dataSync()).every((v) => v === 0)).toBe(true);
      // a strided input draws element i's mask bit by its logical index
      const xt = et.transpose(mk(randData([5, 7], 3, 0.5, 1), [5, 7]));
      const a = dropout(xt, 0.4, { seed: 2 }).dataSync();
      const b = dropout(et.contiguous(xt), 0.4, { seed: 2 }).dataSync();
      expect(Array.from(a)).toEqual(Array.from(b));
    });

    kernelTests(device, null, null)('p outside [0, 1] is a ValueError naming dropout and p', () => {
      const x = et.ones([4]);
      expect(() => dropout(x, 1.5)).toThrow(et.ValueError);
      expect(() => dropout(x, 1.5)).toThrow(/dropout.*p.*1\.5/);
      expect(() => dropout(x, -0.1)).toThrow(et.ValueError);
      expect(() => dropout(x, Number.NaN)).toThrow(et.ValueError);
    });
  });

  // ---- optimizer kernels ----

  describe('optimizer kernels', () => {
    const ones = () => et.ones([3]);
    const adamTest = kernelTests(device, 'adamw', () => runKernel('adamw', [ones(), ones(), ones(), ones()], [], [1e-3, 0.9, 0.999, 1e-8, 0, 1, 1]));
    const sgdTest = kernelTests(device, 'sgd', () => runKernel('sgd', [ones(), ones(), ones()], [], [0.1, 0, 0, 0, 0, 1, 1]));
    const n = 1037; // odd: covers the vector body and the scalar tail

    adamTest('adamw matches PyTorch AdamW math over several steps', () => {
      const [lr, b1, b2, eps, wd, scale] = [1e-2, 0.9, 0.95, 1e-8, 0.1, 0.5];
      const p0 = randData([n], 1);
      const p = mk(p0, [n]);
      const m = et.zeros([n]);
      const v = et.zeros([n]);
      const rp = Float64Array.from(p0);
      const rm = new Float64Array(n);
      const rv = new Float64Array(n);
      for (let step = 1; step <= 5; step++) {
        const g0 = randData([n], 100 + step, -2, 2);
        runKernel('adamw', [p, mk(g0, [n]), m, v], [], [lr, b1, b2, eps, wd, step, scale]);
        for (let i = 0; i < n; i++) {
          const g = g0[i]! * scale;
          rp[i]! *= 1 - lr * wd;
          rm[i] = b1 * rm[i]! + (1 - b1) * g;
          rv[i] = b2 * rv[i]! + (1 - b2) * g * g;
          const mh = rm[i]! / (1 - b1 ** step);
          const vh = rv[i]! / (1 - b2 ** step);
          rp[i]! -= (lr * mh) / (Math.sqrt(vh) + eps);
        }
      }
      expectClose('param', p.dataSync(), rp, 1e-6, 1e-5);
      expectClose('exp_avg', m.dataSync(), rm, 1e-6, 1e-5);
      expectClose('exp_avg_sq', v.dataSync(), rv, 1e-7, 1e-5);
    });

    const sgdCases: [string, { mom: number; damp: number; wd: number; nesterov: boolean }][] = [
      ['plain', { mom: 0, damp: 0, wd: 0, nesterov: false }],
      ['momentum + dampening + weight decay', { mom: 0.9, damp: 0.1, wd: 0.01, nesterov: false }],
      ['nesterov', { mom: 0.8, damp: 0, wd: 0.05, nesterov: true }],
    ];
    for (const [name, c] of sgdCases)
      sgdTest(`sgd matches PyTorch SGD: ${name}`, () => {
        const [lr, scale] = [0.05, 2];
        const p0 = randData([n], 3);
        const p = mk(p0, [n]);
        const buf = c.mom ? et.full([n], 123) : et.zeros([0]); // garbage: the first step must overwrite it
        const rp = Float64Array.from(p0);
        const rb = new Float64Array(n);
        for (let step = 1; step <= 4; step++) {
          const g0 = randData([n], 200 + step, -1, 1);
          runKernel('sgd', c.mom ? [p, mk(g0, [n]), buf] : [p, mk(g0, [n])], [], [lr, c.mom, c.damp, c.wd, c.nesterov ? 1 : 0, step === 1 ? 1 : 0, scale]);
          for (let i = 0; i < n; i++) {
            let g = g0[i]! * scale + c.wd * rp[i]!;
            if (c.mom) {
              rb[i] = step === 1 ? g : c.mom * rb[i]! + (1 - c.damp) * g;
              g = c.nesterov ? g + c.mom * rb[i]! : rb[i]!;
            }
            rp[i]! -= lr * g;
          }
        }
        expectClose('param', p.dataSync(), rp, 1e-6, 1e-5);
        if (c.mom) expectClose('momentum_buffer', buf.dataSync(), rb, 1e-6, 1e-5);
      });
  });
});

reportUnsupported();

// Kernel-level checks for rmsNorm, layerNorm, rope, swiglu and scaledDotProductAttention:
// forwards against float64 references written here, gradients against central differences.
// Every block runs on each available device (the default device while it runs); a device lacking
// a block's kernel must answer its call with the DeviceError naming both (helpers/devices.ts).
import { afterEach, beforeEach, describe, expect } from 'vitest';
import * as et from '../lib/index.js';
import { native } from '../lib/native/addon.js';
import { randData, rng } from './helpers/data.js';
import { kernelTests, orUnsupported, reportUnsupported, testDevices } from './helpers/devices.js';
import { layerNorm, rmsNorm } from '../lib/ops/norm.js';
import { rope, type RopeOptions } from '../lib/ops/rope.js';
import { swiglu } from '../lib/ops/swiglu.js';
import { scaledDotProductAttention as sdpa, type AttentionOptions } from '../lib/ops/attention.js';

type Tensor = et.Tensor;

// ---- helpers ----

function mk(data: Float32Array, shape: readonly number[], requiresGrad = false): Tensor {
  return et.tensor(data, [...shape], { requiresGrad });
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(a) || Number.isNaN(e)) throw new Error(`NaN at ${i}: got ${a}, expected ${e}`);
    const err = Math.abs(a - e) - rtol * Math.abs(e);
    if (err > worst) {
      worst = err;
      at = i;
    }
  }
  if (worst > atol) throw new Error(`mismatch at ${at}: got ${actual[at]}, expected ${expected[at]}`);
}

/**
 * Checks autograd gradients of loss = sum(f(inputs) * R) against central differences for the
 * inputs listed in `check` (every element), accumulating the loss in float64.
 */
function gradCheck(
  f: (xs: Tensor[]) => Tensor,
  datas: { data: Float32Array; shape: number[] }[],
  check: number[],
  seed = 99,
  eps = 1e-3,
  tol = 2e-2,
): void {
  const xs = datas.map((d, i) => mk(d.data, d.shape, check.includes(i)));
  const y = f(xs);
  const R = randData(y.shape, seed);
  const loss = et.sum(et.mul(y, mk(R, y.shape)));
  loss.backward();
  const lossAt = (ds: Float32Array[]): number =>
    et.noGrad(() =>
      et.tidy(() => {
        const yy = f(ds.map((d, i) => mk(d, datas[i]!.shape))).dataSync();
        let s = 0;
        for (let i = 0; i < yy.length; i++) s += yy[i]! * R[i]!;
        return s;
      }),
    );
  for (const i of check) {
    const g = xs[i]!.grad;
    expect(g, `input ${i} got no gradient`).toBeTruthy();
    const ga = g!.dataSync();
    const base = datas.map((d) => Float32Array.from(d.data));
    const num = new Float64Array(ga.length);
    for (let e = 0; e < ga.length; e++) {
      const orig = base[i]![e]!;
      base[i]![e] = orig + eps;
      const lp = lossAt(base);
      base[i]![e] = orig - eps;
      const lm = lossAt(base);
      base[i]![e] = orig;
      num[e] = (lp - lm) / (2 * eps);
    }
    let maxAbs = 0;
    for (const v of num) maxAbs = Math.max(maxAbs, Math.abs(v));
    for (let e = 0; e < ga.length; e++) {
      if (!Number.isFinite(ga[e]!)) throw new Error(`input ${i}: non-finite gradient at ${e}`);
      const err = Math.abs(ga[e]! - num[e]!);
      if (err > tol * Math.max(maxAbs, 1e-3))
        throw new Error(`input ${i} grad mismatch at ${e}: autograd ${ga[e]}, numeric ${num[e]} (max |grad| ${maxAbs})`);
    }
  }
}

// ---- float64 references ----

function refRmsNorm(x: Float32Array, w: Float32Array | null, C: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let ss = 0;
    for (let j = 0; j < C; j++) ss += x[r * C + j]! ** 2;
    const rs = 1 / Math.sqrt(ss / C + eps);
    for (let j = 0; j < C; j++) y[r * C + j] = x[r * C + j]! * rs * (w ? w[j]! : 1);
  }
  return y;
}

function refLayerNorm(x: Float32Array, w: Float32Array | null, b: Float32Array | null, C: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let mu = 0;
    for (let j = 0; j < C; j++) mu += x[r * C + j]!;
    mu /= C;
    let v = 0;
    for (let j = 0; j < C; j++) v += (x[r * C + j]! - mu) ** 2;
    const rs = 1 / Math.sqrt(v / C + eps);
    for (let j = 0; j < C; j++) y[r * C + j] = (x[r * C + j]! - mu) * rs * (w ? w[j]! : 1) + (b ? b[j]! : 0);
  }
  return y;
}

function refRope(
  x: Float32Array,
  [B, T, H, D]: readonly [number, number, number, number],
  o: { base: number; pos: number[]; interleaved: boolean; nrot: number; freqScale: number; dir: number },
): Float64Array {
  const y = Float64Array.from(x);
  const half = o.nrot / 2;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++) {
        const off = ((b * T + t) * H + h) * D;
        for (let i = 0; i < half; i++) {
          const ang = o.dir * o.pos[t]! * o.freqScale * Math.pow(o.base, (-2 * i) / o.nrot);
          const [i1, i2] = o.interleaved ? [2 * i, 2 * i + 1] : [i, i + half];
          const a = x[off + i1]!;
          const c = x[off + i2]!;
          y[off + i1] = a * Math.cos(ang) - c * Math.sin(ang);
          y[off + i2] = a * Math.sin(ang) + c * Math.cos(ang);
        }
      }
  return y;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** q [B,Hq,T,D], k [B,Hkv,S,D], v [B,Hkv,S,Dv] (contiguous data), mask [B,Hq,T,S] additive or null. */
function refAttention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  [B, Hq, T, D]: readonly [number, number, number, number],
  [Hkv, S, Dv]: readonly [number, number, number],
  o: { causal: boolean; mask?: Float64Array | null; scale?: number },
): Float64Array {
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const out = new Float64Array(B * Hq * T * Dv);
  const g = Hq / Hkv;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const kh = Math.floor(h / g);
      for (let i = 0; i < T; i++) {
        const s = new Float64Array(S);
        let mx = -Infinity;
        for (let j = 0; j < S; j++) {
          let acc = 0;
          for (let d = 0; d < D; d++) acc += q[((b * Hq + h) * T + i) * D + d]! * k[((b * Hkv + kh) * S + j) * D + d]!;
          acc *= scale;
          if (o.mask) acc += o.mask[((b * Hq + h) * T + i) * S + j]!;
          if (o.causal && j > i + S - T) acc = -Infinity;
          s[j] = acc;
          mx = Math.max(mx, acc);
        }
        if (mx === -Infinity) continue; // fully masked row: output 0
        let den = 0;
        for (let j = 0; j < S; j++) {
          s[j] = Math.exp(s[j]! - mx);
          den += s[j]!;
        }
        for (let dv = 0; dv < Dv; dv++) {
          let acc = 0;
          for (let j = 0; j < S; j++) acc += s[j]! * v[((b * Hkv + kh) * S + j) * Dv + dv]!;
          out[((b * Hq + h) * T + i) * Dv + dv] = acc / den;
        }
      }
    }
  return out;
}

/** Gradients of sum(attention(q, k, v) * dy) in float64 (no mask). */
function refAttentionGrads(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  dy: Float32Array,
  [B, Hq, T, D]: readonly [number, number, number, number],
  [Hkv, S, Dv]: readonly [number, number, number],
  causal: boolean,
): Float64Array[] {
  const scale = 1 / Math.sqrt(D);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const g = Hq / Hkv;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const kh = Math.floor(h / g);
      const qo = (b * Hq + h) * T;
      const ko = (b * Hkv + kh) * S;
      for (let i = 0; i < T; i++) {
        const p = new Float64Array(S);
        let mx = -Infinity;
        for (let j = 0; j < S; j++) {
          let acc = 0;
          for (let d = 0; d < D; d++) acc += q[(qo + i) * D + d]! * k[(ko + j) * D + d]!;
          p[j] = causal && j > i + S - T ? -Infinity : acc * scale;
          mx = Math.max(mx, p[j]!);
        }
        if (mx === -Infinity) continue;
        let den = 0;
        for (let j = 0; j < S; j++) {
          p[j] = Math.exp(p[j]! - mx);
          den += p[j]!;
        }
        const dP = new Float64Array(S);
        let Di = 0;
        for (let j = 0; j < S; j++) {
          p[j] = p[j]! / den;
          let acc = 0;
          for (let d = 0; d < Dv; d++) acc += dy[(qo + i) * Dv + d]! * v[(ko + j) * Dv + d]!;
          dP[j] = acc;
          Di += p[j]! * acc;
        }
        for (let j = 0; j < S; j++) {
          const ds = p[j]! * (dP[j]! - Di) * scale;
          for (let d = 0; d < D; d++) {
            dq[(qo + i) * D + d] = dq[(qo + i) * D + d]! + ds * k[(ko + j) * D + d]!;
            dk[(ko + j) * D + d] = dk[(ko + j) * D + d]! + ds * q[(qo + i) * D + d]!;
          }
          for (let d = 0; d < Dv; d++) dv[(ko + j) * Dv + d] = dv[(ko + j) * Dv + d]! + p[j]! * dy[(qo + i) * Dv + d]!;
        }
      }
    }
  return [dq, dk, dv];
}

describe.each(testDevices)('%s', (device) => {
  beforeEach(() => et.setDefaultDevice(device));
  afterEach(() => et.setDefaultDevice('cpu'));
  /** Checks the ops' TypeScript layer makes before any kernel: the same on every device. */
  const anyDevice = kernelTests(device, null, null);

  // ---- rmsNorm / layerNorm ----

  describe('rmsNorm', () => {
    const ktest = kernelTests(device, 'rmsNorm', () => rmsNorm(et.ones([2, 4]), null).dataSync());
    ktest('forward matches float64 reference (with and without weight)', () => {
      const shape = [3, 5, 37];
      const x = randData(shape, 1, -2, 2);
      const w = randData([37], 2, 0.5, 1.5);
      expectClose(rmsNorm(mk(x, shape), mk(w, [37]), 1e-6).dataSync(), refRmsNorm(x, w, 37, 1e-6));
      expectClose(rmsNorm(mk(x, shape), null, 1e-5).dataSync(), refRmsNorm(x, null, 37, 1e-5));
    });

    ktest('non-contiguous input', () => {
      const x = randData([6, 4], 3);
      const xt = mk(x, [6, 4]).transpose(0, 1); // [4, 6]
      const xs = Float32Array.from(xt.dataSync());
      expectClose(rmsNorm(xt, null).dataSync(), refRmsNorm(xs, null, 6, 1e-6));
    });

    ktest('gradients (x, weight)', () => {
      const C = 9;
      gradCheck(([x, w]) => rmsNorm(x!, w!, 1e-5), [
        { data: randData([4, C], 4), shape: [4, C] },
        { data: randData([C], 5, 0.5, 1.5), shape: [C] },
      ], [0, 1]);
      gradCheck(([x]) => rmsNorm(x!, null), [{ data: randData([2, 3, 8], 6), shape: [2, 3, 8] }], [0]);
    });

    ktest('weight gradient is deterministic over many rows', () => {
      const shape = [513, 64];
      const x = randData(shape, 7);
      const dy = randData(shape, 8);
      const run = () => {
        const xt = mk(x, shape);
        const w = mk(randData([64], 9), [64], true);
        const y = rmsNorm(xt, w);
        y.backward(mk(dy, shape));
        return Array.from(w.grad!.dataSync());
      };
      expect(run()).toEqual(run());
    });

    anyDevice('wrong weight length is a ShapeError naming rmsNorm', () => {
      const x = et.ones([2, 4]);
      expect(() => rmsNorm(x, et.ones([5]))).toThrow(et.ShapeError);
      expect(() => rmsNorm(x, et.ones([5]))).toThrow(/rmsNorm.*\[5\].*\[2, 4\]/);
    });
  });

  describe('layerNorm', () => {
    const ktest = kernelTests(device, 'layerNorm', () => layerNorm(et.ones([2, 4]), null, null).dataSync());
    ktest('forward matches float64 reference', () => {
      const shape = [4, 3, 50];
      const x = randData(shape, 11, 1, 3); // a non-zero mean exercises the two-pass variance
      const w = randData([50], 12);
      const b = randData([50], 13);
      expectClose(layerNorm(mk(x, shape), mk(w, [50]), mk(b, [50])).dataSync(), refLayerNorm(x, w, b, 50, 1e-5), 2e-5);
      expectClose(layerNorm(mk(x, shape), null, null, 1e-3).dataSync(), refLayerNorm(x, null, null, 50, 1e-3), 2e-5);
    });

    ktest('gradients (x, weight, bias)', () => {
      const C = 7;
      gradCheck(([x, w, b]) => layerNorm(x!, w!, b!), [
        { data: randData([5, C], 14), shape: [5, C] },
        { data: randData([C], 15, 0.5, 1.5), shape: [C] },
        { data: randData([C], 16), shape: [C] },
      ], [0, 1, 2]);
    });

    anyDevice('wrong bias length is a ShapeError', () => {
      expect(() => layerNorm(et.ones([2, 4]), null, et.ones([3]))).toThrow(et.ShapeError);
      expect(() => layerNorm(et.ones([2, 4]), null, et.ones([3]))).toThrow(/layerNorm/);
    });
  });

  // ---- rope ----

  describe('rope', () => {
    const ktest = kernelTests(device, 'rope', () => rope(et.ones([1, 2, 1, 4])).dataSync());
    const shape: [number, number, number, number] = [2, 5, 3, 8];
    const x = randData(shape, 21);
    const cases: { name: string; opts: RopeOptions; ref: { base: number; pos: number[]; interleaved: boolean; nrot: number; freqScale: number } }[] = [
      { name: 'neox', opts: {}, ref: { base: 10000, pos: [0, 1, 2, 3, 4], interleaved: false, nrot: 8, freqScale: 1 } },
      {
        name: 'interleaved',
        opts: { mode: 'interleaved', base: 500 },
        ref: { base: 500, pos: [0, 1, 2, 3, 4], interleaved: true, nrot: 8, freqScale: 1 },
      },
      {
        name: 'neox, rotaryDims 4, offset 7, freqScale 0.5',
        opts: { rotaryDims: 4, positions: 7, freqScale: 0.5 },
        ref: { base: 10000, pos: [7, 8, 9, 10, 11], interleaved: false, nrot: 4, freqScale: 0.5 },
      },
      {
        name: 'interleaved, rotaryDims 6, explicit positions',
        // made when the test runs, on its default device (at collection time it would be cpu's)
        get opts(): RopeOptions {
          return { mode: 'interleaved', rotaryDims: 6, positions: et.tensor(new Int32Array([3, 1, 4, 1, 5000]), [5]) };
        },
        ref: { base: 10000, pos: [3, 1, 4, 1, 5000], interleaved: true, nrot: 6, freqScale: 1 },
      },
    ];
    for (const c of cases) {
      ktest(`forward ${c.name}`, () => {
        expectClose(rope(mk(x, shape), c.opts).dataSync(), refRope(x, shape, { ...c.ref, dir: 1 }), 2e-6);
      });
      ktest(`inverse undoes forward, ${c.name}`, () => {
        const y = rope(mk(x, shape), c.opts);
        const back = rope(y, { ...c.opts, inverse: true });
        expectClose(back.dataSync(), x, 2e-6);
      });
    }

    ktest('non-contiguous input', () => {
      const base = mk(x, [2, 3, 5, 8]);
      const xt = base.transpose(1, 2); // [2, 5, 3, 8] view
      const data = Float32Array.from(xt.dataSync());
      expectClose(rope(xt).dataSync(), refRope(data, shape, { base: 10000, pos: [0, 1, 2, 3, 4], interleaved: false, nrot: 8, freqScale: 1, dir: 1 }), 2e-6);
    });

    ktest('gradients, both modes', () => {
      const s = [1, 3, 2, 6];
      gradCheck(([t]) => rope(t!, { positions: 2 }), [{ data: randData(s, 22), shape: s }], [0]);
      gradCheck(([t]) => rope(t!, { mode: 'interleaved', rotaryDims: 4 }), [{ data: randData(s, 23), shape: s }], [0]);
    });

    anyDevice('shape errors', () => {
      expect(() => rope(et.ones([2, 3, 4]))).toThrow(et.ShapeError);
      expect(() => rope(et.ones([1, 2, 3, 5]))).toThrow(et.ShapeError);
    });
  });

  // ---- swiglu ----

  describe('swiglu', () => {
    const ktest = kernelTests(device, 'swiglu', () => swiglu(et.ones([2, 3]), et.ones([2, 3])).dataSync());
    ktest('forward', () => {
      const shape = [3, 41];
      const a = randData(shape, 31, -4, 4);
      const b = randData(shape, 32);
      const ref = Float64Array.from(a, (v, i) => v * sigmoid(v) * b[i]!);
      expectClose(swiglu(mk(a, shape), mk(b, shape)).dataSync(), ref);
    });
    ktest('gradients', () => {
      const shape = [2, 5];
      gradCheck(([a, b]) => swiglu(a!, b!), [
        { data: randData(shape, 33, -3, 3), shape },
        { data: randData(shape, 34), shape },
      ], [0, 1]);
    });
    anyDevice('shape mismatch', () => {
      expect(() => swiglu(et.ones([2, 3]), et.ones([3, 2]))).toThrow(et.ShapeError);
    });
  });

  // ---- attention ----

  describe('scaledDotProductAttention', () => {
    const ktest = kernelTests(device, 'sdpa', () => sdpa(et.ones([1, 1, 2, 4]), et.ones([1, 1, 2, 4]), et.ones([1, 1, 2, 4])).dataSync());
    function qkv(B: number, Hq: number, Hkv: number, T: number, S: number, D: number, Dv: number, seed: number) {
      return {
        q: randData([B, Hq, T, D], seed, -1.5, 1.5),
        k: randData([B, Hkv, S, D], seed + 1, -1.5, 1.5),
        v: randData([B, Hkv, S, Dv], seed + 2),
      };
    }

    const configs = [
      { B: 2, Hq: 2, Hkv: 2, T: 7, S: 7, D: 8, Dv: 8, causal: false },
      { B: 2, Hq: 2, Hkv: 2, T: 7, S: 7, D: 8, Dv: 8, causal: true },
      { B: 1, Hq: 4, Hkv: 2, T: 5, S: 9, D: 6, Dv: 3, causal: true }, // GQA, T < S (KV cache)
      { B: 1, Hq: 4, Hkv: 1, T: 9, S: 5, D: 4, Dv: 4, causal: true }, // MQA, T > S: first rows see nothing
      { B: 1, Hq: 3, Hkv: 3, T: 150, S: 200, D: 16, Dv: 8, causal: false }, // several tiles
      { B: 1, Hq: 2, Hkv: 1, T: 200, S: 200, D: 16, Dv: 16, causal: true },
    ];
    for (const c of configs) {
      ktest(`forward B${c.B} Hq${c.Hq} Hkv${c.Hkv} T${c.T} S${c.S} D${c.D} Dv${c.Dv}${c.causal ? ' causal' : ''}`, () => {
        const { q, k, v } = qkv(c.B, c.Hq, c.Hkv, c.T, c.S, c.D, c.Dv, 41);
        const y = sdpa(mk(q, [c.B, c.Hq, c.T, c.D]), mk(k, [c.B, c.Hkv, c.S, c.D]), mk(v, [c.B, c.Hkv, c.S, c.Dv]), { causal: c.causal });
        expect(y.shape).toEqual([c.B, c.Hq, c.T, c.Dv]);
        expectClose(y.dataSync(), refAttention(q, k, v, [c.B, c.Hq, c.T, c.D], [c.Hkv, c.S, c.Dv], { causal: c.causal }), 2e-5);
      });
    }

    ktest('custom scale', () => {
      const { q, k, v } = qkv(1, 2, 2, 4, 6, 8, 8, 45);
      const y = sdpa(mk(q, [1, 2, 4, 8]), mk(k, [1, 2, 6, 8]), mk(v, [1, 2, 6, 8]), { scale: 0.7 });
      expectClose(y.dataSync(), refAttention(q, k, v, [1, 2, 4, 8], [2, 6, 8], { causal: false, scale: 0.7 }), 2e-5);
    });

    ktest('additive mask [T, S] broadcast, with -inf entries and a fully masked row', () => {
      const [B, H, T, S, D] = [2, 2, 5, 6, 4];
      const { q, k, v } = qkv(B, H, H, T, S, D, D, 51);
      const m = randData([T, S], 52, -2, 2);
      m[3] = -Infinity;
      m[S + 1] = -Infinity;
      for (let j = 0; j < S; j++) m[2 * S + j] = -Infinity; // row 2 sees nothing
      const full = new Float64Array(B * H * T * S);
      for (let i = 0; i < full.length; i++) full[i] = m[i % (T * S)]!;
      const y = sdpa(mk(q, [B, H, T, D]), mk(k, [B, H, S, D]), mk(v, [B, H, S, D]), { mask: mk(m, [T, S]) });
      const got = y.dataSync();
      expectClose(got, refAttention(q, k, v, [B, H, T, D], [H, S, D], { causal: false, mask: full }), 2e-5);
      for (let i = 0; i < D; i++) expect(got[2 * D + i]).toBe(0);
    });

    ktest('bool (uint8) mask [B, 1, T, S] combined with causal', () => {
      const [B, H, T, S, D] = [2, 3, 4, 6, 4];
      const { q, k, v } = qkv(B, H, H, T, S, D, D, 61);
      const r = rng(62);
      const mb = new Uint8Array(B * T * S).map(() => (r() < 0.7 ? 1 : 0));
      for (let j = 0; j < S; j++) mb[1 * T * S + 1 * S + j] = 0; // batch 1, row 1: nothing allowed
      const full = new Float64Array(B * H * T * S);
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          for (let i = 0; i < T * S; i++) full[(b * H + h) * T * S + i] = mb[b * T * S + i] ? 0 : -Infinity;
      const mask = et.tensor(mb, [B, 1, T, S]);
      const y = sdpa(mk(q, [B, H, T, D]), mk(k, [B, H, S, D]), mk(v, [B, H, S, D]), { mask, causal: true });
      expectClose(y.dataSync(), refAttention(q, k, v, [B, H, T, D], [H, S, D], { causal: true, mask: full }), 2e-5);
    });

    ktest('q, k, v as transposed views of [B, T, H, D]', () => {
      const [B, T, H, D] = [2, 6, 4, 8];
      const qd = randData([B, T, H, D], 71);
      const kd = randData([B, T, 2, D], 72);
      const vd = randData([B, T, 2, D], 73);
      const q = mk(qd, [B, T, H, D]).transpose(1, 2);
      const k = mk(kd, [B, T, 2, D]).transpose(1, 2);
      const v = mk(vd, [B, T, 2, D]).transpose(1, 2);
      const y = sdpa(q, k, v, { causal: true });
      const ref = refAttention(Float32Array.from(q.dataSync()), Float32Array.from(k.dataSync()), Float32Array.from(v.dataSync()), [B, H, T, D], [2, T, D], { causal: true });
      expectClose(y.dataSync(), ref, 2e-5);
    });

    ktest('gradients: GQA + causal, T != S', () => {
      const [B, Hq, Hkv, T, S, D, Dv] = [1, 4, 2, 5, 7, 4, 3];
      const { q, k, v } = qkv(B, Hq, Hkv, T, S, D, Dv, 81);
      gradCheck(([a, b, c]) => sdpa(a!, b!, c!, { causal: true }), [
        { data: q, shape: [B, Hq, T, D] },
        { data: k, shape: [B, Hkv, S, D] },
        { data: v, shape: [B, Hkv, S, Dv] },
      ], [0, 1, 2]);
    });

    ktest('gradients: additive mask with a fully masked row, T > S, q transposed', () => {
      const [B, H, T, S, D] = [1, 2, 6, 4, 4];
      const m = randData([T, S], 91, -1, 1);
      for (let j = 0; j < S; j++) m[4 * S + j] = -Infinity;
      const qd = randData([B, T, H, D], 92);
      const { k, v } = qkv(B, H, H, T, S, D, D, 93);
      gradCheck(([a, b, c]) => sdpa(a!.transpose(1, 2), b!, c!, { mask: mk(m, [T, S]), causal: true }), [
        { data: qd, shape: [B, T, H, D] },
        { data: k, shape: [B, H, S, D] },
        { data: v, shape: [B, H, S, D] },
      ], [0, 1, 2]);
    });

    ktest('gradients over several tiles match a float64 reference, deterministically, both schedules', () => {
      // T=150, S=170 crosses 64-row and 64-key tile edges; GQA 4:2, causal and not
      const [B, Hq, Hkv, T, S, D, Dv] = [1, 4, 2, 150, 170, 8, 6];
      const { q, k, v } = qkv(B, Hq, Hkv, T, S, D, Dv, 101);
      const dy = randData([B, Hq, T, Dv], 102);
      // 1 thread: one task per (b, kv head); 8 threads: the two-pass split (see attention.cpp)
      const threads0 = et.getThreads();
      for (const [threads, causal] of [[1, false], [1, true], [8, false], [8, true]] as const) {
        et.setThreads(threads);
        const run = () => {
          const qt = mk(q, [B, Hq, T, D], true);
          const kt = mk(k, [B, Hkv, S, D], true);
          const vt = mk(v, [B, Hkv, S, Dv], true);
          sdpa(qt, kt, vt, { causal }).backward(mk(dy, [B, Hq, T, Dv]));
          return [qt.grad!, kt.grad!, vt.grad!].map((g) => Float32Array.from(g.dataSync()));
        };
        const got = run();
        const ref = refAttentionGrads(q, k, v, dy, [B, Hq, T, D], [Hkv, S, Dv], causal);
        for (let i = 0; i < 3; i++) expectClose(got[i]!, ref[i]!, 2e-5, 1e-3);
        const again = run();
        for (let i = 0; i < 3; i++) expect(Array.from(again[i]!)).toEqual(Array.from(got[i]!));
      }
      et.setThreads(threads0);
    });

    anyDevice('shape errors name the op and shapes', () => {
      const q = et.ones([1, 3, 4, 8]);
      const k = et.ones([1, 2, 4, 8]);
      expect(() => sdpa(q, k, k)).toThrow(et.ShapeError);
      expect(() => sdpa(q, k, k)).toThrow(/scaledDotProductAttention.*\[1, 3, 4, 8\].*\[1, 2, 4, 8\]/);
      expect(() => sdpa(et.ones([1, 2, 4, 8]), k, et.ones([1, 2, 5, 8]))).toThrow(et.ShapeError);
      expect(() => sdpa(et.ones([1, 2, 4, 6]), k, k)).toThrow(et.ShapeError);
      expect(() => sdpa(et.ones([2, 4, 8]), k, k)).toThrow(et.ShapeError);
      expect(() => sdpa(et.ones([1, 2, 4, 8]), k, k, { mask: et.ones([3, 4]) })).toThrow(et.ShapeError);
    });

    ktest('timing B1 H8 T256 D64 (logged)', () => {
      const [B, H, T, D] = [1, 8, 256, 64];
      const { q, k, v } = qkv(B, H, H, T, T, D, D, 111);
      const qt = mk(q, [B, H, T, D], true);
      const kt = mk(k, [B, H, T, D], true);
      const vt = mk(v, [B, H, T, D], true);
      const dy = mk(randData([B, H, T, D], 112), [B, H, T, D]);
      const time = (causal: boolean) => {
        let fwd = Infinity;
        let bwd = Infinity;
        for (let it = 0; it < 5; it++) {
          const t0 = performance.now();
          const y = sdpa(qt, kt, vt, { causal });
          const t1 = performance.now();
          y.backward(dy);
          const t2 = performance.now();
          fwd = Math.min(fwd, t1 - t0);
          bwd = Math.min(bwd, t2 - t1);
          for (const t of [qt, kt, vt]) {
            t.grad?.dispose();
            t.grad = null;
          }
          y.dispose();
        }
        return `fwd ${fwd.toFixed(2)} ms, bwd ${bwd.toFixed(2)} ms`;
      };
      console.log(`sdpa B1 H8 T256 D64 (${et.getThreads()} threads): full ${time(false)}; causal ${time(true)}`);
    });
  });

  // ---- no leaks: forward + backward inside tidy leaves no tensor or byte behind ----

  anyDevice('forward + backward of every op frees its temporaries and saved tensors (also after a DeviceError)', () => {
    const live = () => {
      native.sync(device); // buffers freed while queued work still used them come back once it has run
      const m = et.memory()[device]!;
      return [m.liveTensors, m.liveBytes];
    };
    const cases: [string, (xs: Tensor[]) => Tensor, number[][], string?][] = [
      ['rmsNorm', ([x, w]) => rmsNorm(x!.transpose(0, 1), w!), [[6, 4], [6]]],
      ['rmsNorm no weight', ([x]) => rmsNorm(x!, null), [[3, 4]]],
      ['layerNorm', ([x, w, b]) => layerNorm(x!, w!, b!), [[3, 4], [4], [4]]],
      ['layerNorm no affine', ([x]) => layerNorm(x!, null, null), [[3, 4]]],
      ['rope', ([x]) => rope(x!.transpose(1, 2), { positions: 3 }), [[1, 2, 3, 4]]],
      ['swiglu', ([a, b]) => swiglu(a!.transpose(0, 1), b!), [[4, 3], [3, 4]]],
      [
        'attention',
        ([q, k, v]) => sdpa(q!.transpose(1, 2), k!, v!, { causal: true, mask: et.tensor(new Uint8Array([1, 0, 1, 1, 1, 1]), [2, 3]) }),
        [[1, 2, 2, 4], [1, 1, 3, 4], [1, 1, 3, 4]],
      ],
    ];
    for (const [name, f, shapes] of cases) {
      const before = live();
      orUnsupported(device, name, 'forward + backward', () =>
        et.tidy(() => {
          const xs = shapes.map((s, i) => mk(randData(s, 200 + i), s, true));
          const y = f(xs);
          y.backward(et.onesLike(y));
          for (const x of xs) expect(x.grad, `${name}: gradient`).toBeTruthy();
        }),
      );
      expect(live(), name).toEqual(before);
    }
  });
});

reportUnsupported();

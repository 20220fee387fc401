// NaN and Inf propagate through every op on every device as IEEE 754 (and PyTorch) say: an
// output that depends on a NaN is NaN, outputs that do not depend on it keep their values.
// Each case feeds NaN (and +-Inf where the result is defined) into one op and checks, element by
// element, which outputs are NaN / infinite / finite, comparing the finite ones against the same
// op on a clean copy of the input. A device other than cpu may lack an op: then the op must throw
// the DeviceError the op table accepts (test/helpers/devices.ts) and the case is skipped there.
// EDGETRAIN_REQUIRE_VULKAN=1 makes a missing Vulkan device a failure.
import { afterAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import type { Tensor } from '../lib/index.js';
import { LlamaModel } from '../lib/models/llama.js';
import { matmulQ } from '../lib/ops/quant.js';
import { BLOCK } from '../lib/quant-types.js';
import { QuantizedWeight } from '../lib/quant/qweight.js';
import { quantize } from '../lib/quant/quantize.js';
import { orUnsupported, testDevices, unsupported } from './helpers/devices.js';

const NAN = Number.NaN;
const INF = Number.POSITIVE_INFINITY;

/** What an output element must be: NaN, finite (close to the clean reference), any non-finite, or exactly v. */
type Kind = 'nan' | 'finite' | 'nonfinite' | 'any' | number;

/** NaN as the kind 'nan', any other number as itself. */
const exactly = (v: number): Kind => (Number.isNaN(v) ? 'nan' : v);

/** Deterministic normal-ish values. */
function randn(n: number, seed: number, scale = 1): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  for (let i = 0; i < n; i++) v[i] = scale * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return v;
}

/** A copy of `v` with `at` (flat index -> value) written into it. */
function poke(v: Float32Array, at: Record<number, number>): Float32Array {
  const w = Float32Array.from(v);
  for (const [i, x] of Object.entries(at)) w[Number(i)] = x;
  return w;
}

const read = (t: Tensor): Float32Array => Float32Array.from(t.dataSync());

/**
 * Checks every element of `got` against kind(i); 'finite' elements must also be within
 * tol * (1 + |ref|) of `ref` when a reference is given.
 */
function expectKinds(label: string, got: ArrayLike<number>, kind: (i: number) => Kind, ref?: ArrayLike<number>, tol = 1e-4): void {
  const bad: string[] = [];
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const k = kind(i);
    let ok: boolean;
    let want: string;
    if (k === 'any') continue;
    if (k === 'nan') {
      ok = Number.isNaN(g);
      want = 'NaN';
    } else if (k === 'nonfinite') {
      ok = !Number.isFinite(g);
      want = 'NaN or +-Inf';
    } else if (k === 'finite') {
      const r = ref?.[i];
      ok = Number.isFinite(g) && (r === undefined || Math.abs(g - r) <= tol * (1 + Math.abs(r)));
      want = r === undefined ? 'finite' : `finite ~${r}`;
    } else {
      ok = g === k;
      want = String(k);
    }
    if (!ok) bad.push(`[${i}] = ${g}, want ${want}`);
  }
  if (bad.length) throw new Error(`${label}: ${bad.length} of ${got.length} elements wrong: ${bad.slice(0, 8).join('; ')}`);
}

/** The op on `device`, or 'unsupported' for a device that lacks it (never on cpu). */
function on<T>(device: string, op: string, fn: () => T): T | 'unsupported' {
  return orUnsupported(device, op, 'forward', () => et.tidy(fn));
}

const T = (v: Float32Array | number[], shape: number[], device: string, requiresGrad = false): Tensor =>
  et.tensor(v instanceof Float32Array ? v : Float32Array.from(v), shape, { device, requiresGrad });

// ---- quantized formats ----
// byte offset of the first block's f16 scale (d) for each format
const SCALE_AT: Record<string, { at: number; f32?: boolean }> = {
  Q8_0: { at: 0 }, Q4_0: { at: 0 }, Q4_1: { at: 0 }, Q5_0: { at: 0 }, Q5_1: { at: 0 },
  Q4_K: { at: 0 }, Q5_K: { at: 0 }, Q6_K: { at: 208 }, NF4: { at: 0, f32: true }, NF4_DQ: { at: 0 },
};
const withScale = (bytes: Uint8Array, type: string, row: number, rowBytes: number, v: number): Uint8Array => {
  const out = Uint8Array.from(bytes);
  const { at, f32 } = SCALE_AT[type]!;
  const o = row * rowBytes + at;
  if (f32) new DataView(out.buffer).setFloat32(o, v, true);
  else new DataView(out.buffer).setUint16(o, Number.isNaN(v) ? 0x7e00 : v > 0 ? 0x7c00 : 0xfc00, true);
  return out;
};

const QUANT_TYPES = Object.keys(SCALE_AT);

// (test/ops.test.ts fails when EDGETRAIN_REQUIRE_VULKAN=1 and Vulkan is missing)
describe.each(testDevices)('%s', (device) => {
  // ---- elementwise ----
  const X_SPECIAL = [NAN, INF, -INF, 0.5, -2];
  const UNARY: [string, (x: Tensor) => Tensor, number[]][] = [
    // expected results for NaN, +Inf, -Inf (finite inputs are checked against Math)
    ['exp', et.exp, [NAN, INF, 0]],
    ['log', et.log, [NAN, INF, NAN]],
    ['sqrt', et.sqrt, [NAN, INF, NAN]],
    ['rsqrt', et.rsqrt, [NAN, 0, NAN]],
    ['abs', et.abs, [NAN, INF, INF]],
    ['relu', et.relu, [NAN, INF, 0]],
    ['sigmoid', et.sigmoid, [NAN, 1, 0]],
    ['tanh', et.tanh, [NAN, 1, -1]],
    ['silu', et.silu, [NAN, INF, NAN]],
    ['gelu', (x) => et.gelu(x), [NAN, INF, NAN]],
    ['gelu tanh', (x) => et.gelu(x, { approximate: 'tanh' }), [NAN, INF, NAN]],
    ['neg', (x) => et.neg(x), [NAN, -INF, INF]],
    ['pow 2', (x) => et.pow(x, 2), [NAN, INF, INF]],
    ['pow 2.5', (x) => et.pow(x, 2.5), [NAN, INF, INF]],
  ];
  const REF: Record<string, (x: number) => number> = {
    exp: Math.exp, log: Math.log, sqrt: Math.sqrt, rsqrt: (x) => 1 / Math.sqrt(x), abs: Math.abs, relu: (x) => Math.max(x, 0),
    sigmoid: (x) => 1 / (1 + Math.exp(-x)), tanh: Math.tanh, silu: (x) => x / (1 + Math.exp(-x)), neg: (x) => -x,
    'pow 2': (x) => x * x, 'pow 2.5': (x) => x ** 2.5,
  };
  test.each(UNARY)(`${device} %s of NaN, +Inf, -Inf`, (name, f, want) => {
    const r = on(device, name, () => read(f(T(X_SPECIAL, [5], device))));
    if (r === 'unsupported') return;
    const ref = REF[name];
    const refKind = (x: number): Kind => (ref && Number.isNaN(ref(x)) ? 'nan' : 'finite');
    expectKinds(name, r, (i) => (i < 3 ? exactly(want[i]!) : refKind(X_SPECIAL[i]!)), ref ? X_SPECIAL.map((x, i) => (i < 3 ? 0 : ref(x))) : undefined);
    // in a long strided run too (vectorised loops), NaN only where it was
    const x = poke(randn(70, 3), { 5: NAN, 33: NAN, 69: NAN });
    const long = on(device, name, () => read(f(et.transpose(T(x, [7, 10], device), 0, 1))));
    if (long === 'unsupported') return;
    const nanAt = new Set([5, 33, 69].map((i) => (i % 10) * 7 + Math.floor(i / 10)));
    expectKinds(`${name} [10, 7] transposed`, long, (i) => (nanAt.has(i) ? 'nan' : refKind(x[(i % 7) * 10 + Math.floor(i / 7)]!)));
  });

  test(`${device} relu backward passes dy at a NaN input (as PyTorch's threshold_backward) and a NaN dy where x > 0`, () => {
    const x = [NAN, 1, -1, 2, 0];
    const dy = [1, 2, NAN, NAN, 3];
    const r = on(device, 'relu', () => {
      const xt = T(x, [5], device, true);
      et.relu(xt).backward(T(dy, [5], device));
      return read(xt.grad!);
    });
    if (r === 'unsupported') return;
    expectKinds('relu grad', r, (i) => exactly([1, 2, 0, NAN, 0][i]!));
  });

  test(`${device} dropout keeps NaN (x * 0 is NaN) and embedding rows carry their NaN, forward and backward`, () => {
    const x = poke(randn(64, 90), { 3: NAN, 40: NAN });
    const d = on(device, 'dropout', () => read(et.dropout(T(x, [64], device), 0.5, { training: true, seed: 1 })));
    if (d !== 'unsupported') expectKinds('dropout', d, (i) => (i === 3 || i === 40 ? 'nan' : 'finite'));
    const w = poke(randn(5 * 4, 91), { 9: NAN }); // row 2
    const ids = Int32Array.from([0, 2, 4, 2]);
    const e = on(device, 'embedding', () => {
      const wt = T(w, [5, 4], device, true);
      const y = et.embedding(wt, et.tensor(ids, [4], { device }));
      y.backward(T(poke(new Float32Array(16).fill(1), { 0: NAN }), [4, 4], device));
      return { y: read(y), g: read(wt.grad!) };
    });
    if (e === 'unsupported') return;
    expectKinds('embedding', e.y, (i) => (Math.floor(i / 4) === 1 || Math.floor(i / 4) === 3 ? (i % 4 === 1 ? 'nan' : 'finite') : 'finite'));
    // NaN in dy of row 0 (id 0) reaches weight row 0, element 0 only
    expectKinds('embedding grad', e.g, (i) => (i === 0 ? 'nan' : [0, 2, 4].includes(Math.floor(i / 4)) ? 'finite' : 0));
  });

  test(`${device} add, sub, mul, div with NaN and Inf`, () => {
    const a = [NAN, 1, INF, INF, 0, 2];
    const b = [1, NAN, -INF, INF, INF, 0];
    const r = on(device, 'add', () => ({
      add: read(et.add(T(a, [6], device), T(b, [6], device))),
      sub: read(et.sub(T(a, [6], device), T(b, [6], device))),
      mul: read(et.mul(T(a, [6], device), T(b, [6], device))),
      div: read(et.div(T(a, [6], device), T(b, [6], device))),
    }));
    if (r === 'unsupported') return;
    const want = {
      add: [NAN, NAN, NAN, INF, INF, 2],
      sub: [NAN, NAN, INF, NAN, -INF, 2],
      mul: [NAN, NAN, -INF, INF, NAN, 0],
      div: [NAN, NAN, NAN, NAN, 0, INF],
    };
    for (const [k, w] of Object.entries(want)) expectKinds(k, r[k as keyof typeof r], (i) => exactly(w[i]!));
  });

  test(`${device} maximum, minimum and clamp (maximum(minimum(x, hi), lo)) propagate NaN from either side`, () => {
    const a = [NAN, 1, NAN, 3, -INF, INF];
    const b = [1, NAN, NAN, 2, 0, 0];
    const r = on(device, 'maximum', () => ({
      max: read(et.maximum(T(a, [6], device), T(b, [6], device))),
      min: read(et.minimum(T(a, [6], device), T(b, [6], device))),
      clamp: read(et.maximum(et.minimum(T(a, [6], device), 1), -1)),
      maxScalar: read(et.maximum(T(a, [6], device), 0)),
    }));
    if (r === 'unsupported') return;
    expectKinds('maximum', r.max, (i) => exactly([NAN, NAN, NAN, 3, 0, INF][i]!));
    expectKinds('minimum', r.min, (i) => exactly([NAN, NAN, NAN, 2, -INF, 0][i]!));
    expectKinds('clamp', r.clamp, (i) => exactly([NAN, 1, NAN, 1, -1, 1][i]!));
    expectKinds('maximum with a scalar', r.maxScalar, (i) => exactly([NAN, 1, NAN, 3, 0, INF][i]!));
  });

  test(`${device} maximum / minimum backward: where either operand is NaN both take the gradient (as PyTorch)`, () => {
    const a = [NAN, 1, 3, 2];
    const b = [1, NAN, 2, 2];
    for (const [name, f] of [['maximum', et.maximum], ['minimum', et.minimum]] as const) {
      const r = on(device, name, () => {
        const at = T(a, [4], device, true);
        const bt = T(b, [4], device, true);
        f(at, bt).backward(T([1, 1, 1, 1], [4], device));
        return { ga: read(at.grad!), gb: read(bt.grad!) };
      });
      if (r === 'unsupported') return;
      const aWins = name === 'maximum';
      expectKinds(`${name} grad a`, r.ga, (i) => [1, 1, aWins ? 1 : 0, 0.5][i]!);
      expectKinds(`${name} grad b`, r.gb, (i) => [1, 1, aWins ? 0 : 1, 0.5][i]!);
    }
  });

  // ---- reductions ----
  test(`${device} sum and mean: a NaN or +-Inf poisons its own row only`, () => {
    for (const C of [5, 300, 2000]) {
      const x = poke(randn(4 * C, 1), { [C + 2]: NAN, [2 * C + 1]: INF, [3 * C]: INF, [4 * C - 1]: -INF });
      const clean = poke(x, { [C + 2]: 0, [2 * C + 1]: 0, [3 * C]: 0, [4 * C - 1]: 0 });
      const r = on(device, 'sum', () => ({
        s: read(et.sum(T(x, [4, C], device), 1)),
        m: read(et.mean(T(x, [4, C], device), 1)),
        cols: read(et.sum(T(x, [4, C], device), 0)),
        all: read(et.sum(T(x, [4, C], device))),
        ref: read(et.sum(T(clean, [4, C], device), 1)),
      }));
      if (r === 'unsupported') return;
      // row 1 NaN, row 2 +Inf, row 3 +Inf and -Inf
      expectKinds(`sum rows C=${C}`, r.s, (i) => (['finite', 'nan', INF, 'nan'] as Kind[])[i]!, r.ref);
      expectKinds(`mean rows C=${C}`, r.m, (i) => (i === 0 ? 'finite' : i === 2 ? INF : 'nan'), [r.ref[0]! / C]);
      // over the leading dim: only the columns holding a NaN / Inf
      expectKinds(`sum over dim 0 C=${C}`, r.cols, (i) => (i === 2 ? 'nan' : i === 1 ? INF : i === C - 1 ? -INF : i === 0 ? INF : 'finite'));
      expectKinds(`sum of all C=${C}`, r.all, () => 'nan');
    }
  });

  test(`${device} max, min, argmax: NaN is the maximum (first NaN's index), +-Inf ordinary`, () => {
    const rows = [
      [1, NAN, 3, NAN, 2],
      [1, 5, 3, -2, 2],
      [1, INF, 3, -INF, 2],
      [-INF, -INF, -INF, -INF, -INF],
      [NAN, 1, 2, 3, 4],
      [1, 2, 3, 4, NAN],
    ];
    const x = Float32Array.from(rows.flat());
    const r = on(device, 'max', () => ({
      max: read(et.max(T(x, [6, 5], device), 1)),
      min: read(et.min(T(x, [6, 5], device), 1)),
      arg: Array.from(et.argmax(T(x, [6, 5], device), 1).dataSync()),
      maxT: read(et.max(et.transpose(T(x, [6, 5], device), 0, 1), 0)),
      all: read(et.max(T(x, [6, 5], device))),
      allArg: Array.from(et.argmax(T(x, [6, 5], device)).dataSync()),
    }));
    if (r === 'unsupported') return;
    expectKinds('max', r.max, (i) => exactly([NAN, 5, INF, -INF, NAN, NAN][i]!));
    expectKinds('max (strided)', r.maxT, (i) => exactly([NAN, 5, INF, -INF, NAN, NAN][i]!));
    expectKinds('min', r.min, (i) => exactly([NAN, -2, -INF, -INF, NAN, NAN][i]!));
    expect(r.arg, 'argmax').toEqual([1, 1, 1, 0, 0, 4]);
    expectKinds('max of all', r.all, () => 'nan');
    expect(r.allArg, 'argmax of all').toEqual([1]);
    // long rows: the NaN in the middle of a vectorised run
    const long = poke(randn(3 * 1000, 2), { 1500: NAN, 2999: NAN });
    const l = on(device, 'max', () => ({ v: read(et.max(T(long, [3, 1000], device), 1)), i: Array.from(et.argmax(T(long, [3, 1000], device), 1).dataSync()) }));
    if (l === 'unsupported') return;
    expectKinds('max of long rows', l.v, (i) => (i === 0 ? 'finite' : 'nan'));
    expect(l.i.slice(1), 'argmax of long rows').toEqual([500, 999]);
    // rows longer than one reduction chunk (vulkan cuts rows into 8192-element chunks reduced over
    // several dispatches): the first NaN, and the first of equal maxima, across chunk boundaries
    const W = 20000;
    const wide = poke(new Float32Array(2 * W).fill(1), { 9000: NAN, 19000: NAN, [W + 8191]: 7, [W + 8192]: 7, [2 * W - 1]: 7 });
    const w = on(device, 'max', () => ({ v: read(et.max(T(wide, [2, W], device), 1)), i: Array.from(et.argmax(T(wide, [2, W], device), 1).dataSync()) }));
    if (w === 'unsupported') return;
    expectKinds('max of rows over several chunks', w.v, (i) => exactly([NAN, 7][i]!));
    expect(w.i, 'argmax of rows over several chunks').toEqual([9000, 8191]);
  });

  test(`${device} max and min backward: a NaN maximum's gradient goes to the NaN elements`, () => {
    const x = Float32Array.from([1, NAN, 3, NAN, 2, 1, 5, 3, -2, 2]);
    const r = on(device, 'max', () => {
      const a = T(x, [2, 5], device, true);
      et.max(a, 1).backward(T([1, 1], [2], device));
      const b = T(x, [2, 5], device, true);
      et.min(b, 1).backward(T([1, 1], [2], device));
      const c = T(x, [2, 5], device, true);
      et.max(c).backward();
      return { max: read(a.grad!), min: read(b.grad!), all: read(c.grad!) };
    });
    if (r === 'unsupported') return;
    expectKinds('max grad', r.max, (i) => [0, 0.5, 0, 0.5, 0, 0, 1, 0, 0, 0][i]!);
    expectKinds('min grad', r.min, (i) => [0, 0.5, 0, 0.5, 0, 0, 0, 0, 1, 0][i]!);
    expectKinds('max of all grad', r.all, (i) => [0, 0.5, 0, 0.5, 0, 0, 0, 0, 0, 0][i]!);
  });

  test(`${device} cast to float16 / bfloat16 and back keeps NaN and +-Inf (and overflows to Inf)`, () => {
    const x = [NAN, INF, -INF, 1e6, -1e6, 1.5];
    for (const dt of ['float16', 'bfloat16'] as const) {
      const r = on(device, 'copy', () => read(et.cast(et.cast(T(x, [6], device), dt), 'float32')));
      if (r === 'unsupported') return;
      const big = dt === 'float16' ? [INF, -INF] : ['finite', 'finite'];
      expectKinds(`float32 -> ${dt} -> float32`, r, (i) => (['nan', INF, -INF, ...big, 1.5] as Kind[])[i]!);
    }
  });

  // ---- softmax family ----
  const C = 37; // one full 16-lane run, a second, and a tail
  const softRows = (): { x: Float32Array; clean: Float32Array } => {
    const x = poke(randn(5 * C, 4, 2), { [C + 20]: NAN, [2 * C + 3]: -INF, [2 * C + 30]: -INF, [3 * C + 36]: INF });
    for (let j = 0; j < C; j++) x[4 * C + j] = -INF; // row 4: every logit -Inf
    const clean = poke(x, { [C + 20]: 0, [3 * C + 36]: 0 });
    for (let j = 0; j < C; j++) clean[4 * C + j] = 0;
    return { x, clean };
  };
  // row 0 finite; row 1 one NaN; row 2 two -Inf (weight 0); row 3 one +Inf (Inf - Inf); row 4 all -Inf
  const softKind = (i: number): Kind => {
    const r = Math.floor(i / C);
    if (r === 1 || r === 3 || r === 4) return 'nan';
    return 'finite';
  };

  test(`${device} softmax and logSoftmax: a row with NaN or +Inf is NaN, -Inf logits get probability 0`, () => {
    const { x, clean } = softRows();
    const r = on(device, 'softmax', () => ({
      p: read(et.softmax(T(x, [5, C], device))),
      lp: read(et.logSoftmax(T(x, [5, C], device))),
      pRef: read(et.softmax(T(clean, [5, C], device))),
      lpRef: read(et.logSoftmax(T(clean, [5, C], device))),
    }));
    if (r === 'unsupported') return;
    expectKinds('softmax', r.p, (i) => (i === 2 * C + 3 || i === 2 * C + 30 ? 0 : softKind(i)), r.pRef);
    expectKinds('logSoftmax', r.lp, (i) => (i === 2 * C + 3 || i === 2 * C + 30 ? -INF : softKind(i)), r.lpRef);
  });

  test(`${device} softmax and logSoftmax backward: NaN rows give NaN gradients, other rows unaffected`, () => {
    const { x } = softRows();
    // rows 0-2 (the Inf rows are checked forward only)
    const x3 = x.slice(0, 3 * C);
    const clean = poke(x3, { [C + 20]: 0 });
    const dy = randn(3 * C, 9);
    for (const [name, f] of [['softmax', et.softmax], ['logSoftmax', et.logSoftmax]] as const) {
      const grad = (v: Float32Array) => {
        const xt = T(v, [3, C], device, true);
        f(xt).backward(T(dy, [3, C], device));
        return read(xt.grad!);
      };
      const r = on(device, name, () => ({ g: grad(x3), ref: grad(clean) }));
      if (r === 'unsupported') return;
      expectKinds(`${name} backward`, r.g, (i) => (Math.floor(i / C) === 1 ? 'nan' : 'finite'), r.ref);
    }
  });

  test(`${device} crossEntropy forward and backward: NaN logits give NaN loss and NaN gradients of their row`, () => {
    const N = 4;
    const x = poke(randn(N * C, 5, 2), { [C + 7]: NAN, [3 * C + 2]: NAN });
    const clean = poke(x, { [C + 7]: 0, [3 * C + 2]: 0 });
    const tgt = Int32Array.from([3, 10, 36, -100]); // row 3 ignored
    const run = (v: Float32Array, reduction: 'none' | 'mean') => {
      const xt = T(v, [N, C], device, true);
      const loss = et.crossEntropy(xt, et.tensor(tgt, [N], { device }), { reduction });
      const l = read(loss);
      (reduction === 'none' ? et.sum(loss) : loss).backward();
      return { l, g: read(xt.grad!) };
    };
    const r = on(device, 'crossEntropy', () => ({ none: run(x, 'none'), mean: run(x, 'mean'), ref: run(clean, 'none') }));
    if (r === 'unsupported') return;
    expectKinds('loss per row', r.none.l, (i) => (i === 1 ? 'nan' : i === 3 ? 0 : 'finite'), r.ref.l);
    expectKinds('mean loss', r.mean.l, () => 'nan');
    expectKinds('dlogits', r.none.g, (i) => (Math.floor(i / C) === 1 ? 'nan' : Math.floor(i / C) === 3 ? 0 : 'finite'), r.ref.g);
    // +Inf logit on the target: lse - x = Inf - Inf
    const xi = poke(clean, { [3]: INF });
    const ri = on(device, 'crossEntropy', () => read(et.crossEntropy(T(xi, [N, C], device), et.tensor(tgt, [N], { device }), { reduction: 'none' })));
    if (ri === 'unsupported') return;
    expectKinds('loss with +Inf target logit', ri, (i) => (i === 0 ? 'nan' : i === 3 ? 0 : 'finite'), r.ref.l);
  });

  // ---- norms ----
  for (const kind of ['rmsNorm', 'layerNorm'] as const) {
    test(`${device} ${kind} forward and backward: a NaN poisons its row (x) or column (weight)`, () => {
      const N = 3;
      const D = 40;
      const x = poke(randn(N * D, 6), { [D + 17]: NAN });
      const clean = poke(x, { [D + 17]: 0 });
      const w = randn(D, 7);
      const wn = poke(w, { 9: NAN });
      const dy = randn(N * D, 8);
      const run = (xv: Float32Array, wv: Float32Array) => {
        const xt = T(xv, [N, D], device, true);
        const wt = T(wv, [D], device, true);
        const y = kind === 'rmsNorm' ? et.rmsNorm(xt, wt) : et.layerNorm(xt, wt, T(new Float32Array(D).fill(0.1), [D], device));
        y.backward(T(dy, [N, D], device));
        return { y: read(y), dx: read(xt.grad!), dw: read(wt.grad!) };
      };
      const r = on(device, kind, () => ({ nx: run(x, w), nw: run(clean, wn), ref: run(clean, w) }));
      if (r === 'unsupported') return;
      const row1 = (i: number): Kind => (Math.floor(i / D) === 1 ? 'nan' : 'finite');
      expectKinds(`${kind} y, NaN in x`, r.nx.y, row1, r.ref.y);
      expectKinds(`${kind} dx, NaN in x`, r.nx.dx, row1, r.ref.dx);
      expectKinds(`${kind} dw, NaN in x`, r.nx.dw, () => 'nan');
      expectKinds(`${kind} y, NaN in weight`, r.nw.y, (i) => (i % D === 9 ? 'nan' : 'finite'), r.ref.y);
      // dx mixes every column of its row through the weight
      expectKinds(`${kind} dx, NaN in weight`, r.nw.dx, () => 'nan');
      // dw = sum over rows of dy * normalised x: the weight itself is not in it
      expectKinds(`${kind} dw, NaN in weight`, r.nw.dw, () => 'finite', r.ref.dw);
      // +Inf in x: its row's scale is 0 or NaN, so the Inf element itself is NaN
      const xi = poke(clean, { [D + 17]: INF });
      const yi = on(device, kind, () => read(kind === 'rmsNorm' ? et.rmsNorm(T(xi, [N, D], device), T(w, [D], device)) : et.layerNorm(T(xi, [N, D], device), T(w, [D], device), null)));
      if (yi === 'unsupported') return;
      expectKinds(`${kind} y, +Inf in x`, [yi[D + 17]!], () => 'nan');
      expectKinds(`${kind} y, +Inf in x, other rows`, yi.filter((_, i) => Math.floor(i / D) !== 1), () => 'finite');
    });
  }

  // ---- rope, swiglu ----
  test(`${device} rope: a NaN reaches only itself and its rotation partner, forward and backward`, () => {
    const [B, Tn, H, D] = [1, 3, 2, 8];
    const at = ((0 * Tn + 1) * H + 1) * D + 2; // t 1, head 1, dim 2; neox partner dim 6
    for (const mode of ['neox', 'interleaved'] as const) {
      const partner = at + (mode === 'neox' ? 4 : 1);
      const x = poke(randn(B * Tn * H * D, 10), { [at]: NAN });
      const r = on(device, 'rope', () => {
        const y = et.rope(T(x, [B, Tn, H, D], device), { mode });
        const dyn = T(poke(randn(x.length, 11), { [at]: NAN }), [B, Tn, H, D], device);
        const x2 = T(randn(x.length, 10), [B, Tn, H, D], device, true);
        et.rope(x2, { mode }).backward(dyn);
        return { y: read(y), g: read(x2.grad!) };
      });
      if (r === 'unsupported') return;
      const k = (i: number): Kind => (i === at || i === partner ? 'nan' : 'finite');
      expectKinds(`rope ${mode}`, r.y, k);
      expectKinds(`rope ${mode} backward (NaN in dy)`, r.g, k);
    }
  });

  test(`${device} swiglu: NaN in either operand reaches its element only, forward and backward`, () => {
    const n = 40;
    const a = poke(randn(n, 12), { 3: NAN, 20: INF });
    const b = poke(randn(n, 13), { 7: NAN, 20: 1 });
    const r = on(device, 'swiglu', () => {
      const at = T(a, [2, 20], device, true);
      const bt = T(b, [2, 20], device, true);
      const y = et.swiglu(at, bt);
      y.backward(T(new Float32Array(n).fill(1), [2, 20], device));
      return { y: read(y), da: read(at.grad!), db: read(bt.grad!) };
    });
    if (r === 'unsupported') return;
    expectKinds('swiglu', r.y, (i) => (i === 3 || i === 7 ? 'nan' : i === 20 ? INF : 'finite'));
    expectKinds('swiglu da', r.da, (i) => (i === 3 || i === 7 ? 'nan' : i === 20 ? 'nonfinite' : 'finite'));
    expectKinds('swiglu db', r.db, (i) => (i === 3 ? 'nan' : i === 20 ? INF : 'finite'));
  });

  // ---- attention ----
  describe(`${device} scaledDotProductAttention`, () => {
    const [B, Hq, Hkv, Tq, D] = [1, 4, 2, 5, 8];
    const qv = randn(B * Hq * Tq * D, 20);
    const kv = randn(B * Hkv * Tq * D, 21);
    const vv = randn(B * Hkv * Tq * D, 22);
    const qAt = (h: number, t: number, d: number) => (h * Tq + t) * D + d;
    const kAt = (h: number, s: number, d: number) => (h * Tq + s) * D + d;
    const oRow = (i: number) => Math.floor(i / D); // h * Tq + t
    const sdpa = (q: Float32Array, k: Float32Array, v: Float32Array, opts: Parameters<typeof et.scaledDotProductAttention>[3] = {}, S = Tq, Tn = Tq) => {
      const qt = T(q, [B, Hq, Tn, D], device, true);
      const kt = T(k, [B, Hkv, S, D], device, true);
      const vt = T(v, [B, Hkv, S, D], device, true);
      const o = et.scaledDotProductAttention(qt, kt, vt, opts);
      o.backward(T(randn(o.numel, 23), o.shape as number[], device));
      return { o: read(o), dq: read(qt.grad!), dk: read(kt.grad!), dv: read(vt.grad!) };
    };

    for (const causal of [false, true]) {
      test(`NaN in one query row: that row of o and dq is NaN, the rest unaffected (causal ${causal})`, () => {
        const q = poke(qv, { [qAt(1, 2, 3)]: NAN });
        const r = on(device, 'scaledDotProductAttention', () => ({ n: sdpa(q, kv, vv, { causal }), ref: sdpa(qv, kv, vv, { causal }) }));
        if (r === 'unsupported') return;
        const row = 1 * Tq + 2;
        expectKinds('o', r.n.o, (i) => (oRow(i) === row ? 'nan' : 'finite'), r.ref.o);
        expectKinds('dq', r.n.dq, (i) => (oRow(i) === row ? 'nan' : 'finite'), r.ref.dq);
        // kv head 0 serves query heads 0, 1: the keys query (1, 2) sees get NaN gradients. A key it
        // does not see has P = 0 exactly, so its dv stays finite; its dk may take 0 * NaN from
        // the tile product dS^T q (as a dense attention's would), so it is not checked.
        const seen = (s: number) => !causal || s <= 2;
        expectKinds('dk', r.n.dk, (i) => (oRow(i) < Tq ? (seen(oRow(i)) ? 'nan' : 'any') : 'finite'), r.ref.dk);
        expectKinds('dv', r.n.dv, (i) => (oRow(i) < Tq && seen(oRow(i)) ? 'nan' : 'finite'), r.ref.dv);
      });

      test(`NaN in one key: every query that sees it is NaN (causal ${causal})`, () => {
        const k = poke(kv, { [kAt(1, 3, 0)]: NAN });
        const r = on(device, 'scaledDotProductAttention', () => ({ n: sdpa(qv, k, vv, { causal }), ref: sdpa(qv, kv, vv, { causal }) }));
        if (r === 'unsupported') return;
        // kv head 1 serves query heads 2, 3; causal: query t sees key 3 iff t >= 3
        const hit = (row: number) => Math.floor(row / Tq) >= 2 && (!causal || row % Tq >= 3);
        expectKinds('o', r.n.o, (i) => (hit(oRow(i)) ? 'nan' : 'finite'), r.ref.o);
        // a query of heads 2, 3 that does not see key 3 may take 0 * NaN in dS k: not checked
        expectKinds('dq', r.n.dq, (i) => (hit(oRow(i)) ? 'nan' : oRow(i) >= 2 * Tq ? 'any' : 'finite'), r.ref.dq);
      });
    }

    test('NaN in a value row: the queries that attend to it are NaN', () => {
      const v = poke(vv, { [kAt(0, 1, 5)]: NAN });
      const r = on(device, 'scaledDotProductAttention', () => ({ n: sdpa(qv, kv, v), ref: sdpa(qv, kv, vv) }));
      if (r === 'unsupported') return;
      // every query of heads 0, 1 weighs value row 1 (non-zero softmax weight): column 5 NaN
      expectKinds('o', r.n.o, (i) => (oRow(i) < 2 * Tq && i % D === 5 ? 'nan' : 'finite'), r.ref.o);
    });

    test('+Inf in a query row: scores of both signs are infinite, so the row is NaN', () => {
      const q = poke(qv, { [qAt(3, 0, 1)]: INF });
      const r = on(device, 'scaledDotProductAttention', () => ({ n: sdpa(q, kv, vv), ref: sdpa(qv, kv, vv) }));
      if (r === 'unsupported') return;
      const signs = new Set(Array.from({ length: Tq }, (_, s) => Math.sign(kv[kAt(1, s, 1)]!)));
      expect(signs.has(1), 'fixture: a key with a positive entry in that dim').toBe(true);
      expectKinds('o', r.n.o, (i) => (oRow(i) === 3 * Tq ? 'nan' : 'finite'), r.ref.o);
    });

    test('NaN in the additive mask: that query row is NaN, a fully masked row stays 0 with lse -Inf gradients 0', () => {
      const S = Tq;
      const mask = new Float32Array(Tq * S);
      mask[2 * S + 4] = NAN;
      for (let s = 0; s < S; s++) mask[4 * S + s] = -INF; // query 4 sees nothing
      const run = (m: Float32Array, q: Float32Array) =>
        sdpa(q, kv, vv, { mask: et.tensor(m, [1, 1, Tq, S], { device }) });
      const clean = Float32Array.from(mask, (x) => (Number.isNaN(x) ? 0 : x));
      const r = on(device, 'scaledDotProductAttention', () => ({ n: run(mask, qv), ref: run(clean, qv), masked: run(clean, poke(qv, { [qAt(0, 4, 0)]: NAN })) }));
      if (r === 'unsupported') return;
      expectKinds('o', r.n.o, (i) => (oRow(i) % Tq === 2 ? 'nan' : oRow(i) % Tq === 4 ? 0 : 'finite'), r.ref.o);
      expectKinds('o with finite inputs: the fully masked row', r.ref.o, (i) => (oRow(i) % Tq === 4 ? 0 : 'finite'));
      expectKinds('dq with finite inputs: the fully masked row', r.ref.dq, (i) => (oRow(i) % Tq === 4 ? 0 : 'finite'));
      // a NaN query on the fully masked row: NaN + -Inf is NaN, so it still shows
      expectKinds('o, NaN query in the fully masked row', r.masked.o, (i) => (oRow(i) === 4 ? 'nan' : oRow(i) % Tq === 4 ? 0 : 'finite'), r.ref.o);
    });

    test('decode (T = 1 of S = 6, causal) with a NaN key and a long key run', () => {
      for (const S of [6, 300]) {
        const q1 = randn(B * Hq * D, 30);
        const k = poke(randn(B * Hkv * S * D, 31), { [(0 * S + S - 1) * D + 2]: NAN });
        const v = randn(B * Hkv * S * D, 32);
        const r = on(device, 'scaledDotProductAttention', () => sdpa(q1, k, v, { causal: true }, S, 1));
        if (r === 'unsupported') return;
        expectKinds(`o S=${S}`, r.o, (i) => (Math.floor(i / D) < 2 ? 'nan' : 'finite'));
      }
    });
  });

  // ---- optimizers ----
  test(`${device} AdamW and SGD steps: a NaN or Inf gradient makes its parameter NaN, others step normally`, () => {
    const p0 = randn(20, 40);
    const g = poke(randn(20, 41), { 4: NAN, 11: INF });
    const gc = poke(g, { 4: 0, 11: 0 });
    type Make = (p: Tensor) => { step(): void };
    const step = (make: Make, grad: Float32Array) => {
      const p = T(p0, [20], device, true);
      p.grad = T(grad, [20], device);
      const opt = make(p);
      opt.step();
      opt.step();
      return read(p);
    };
    const opts: [string, Make][] = [
      ['adamw', (p) => new et.optim.AdamW([p], { lr: 0.1, weightDecay: 0.01 })],
      ['sgd', (p) => new et.optim.SGD([p], { lr: 0.1 })],
      ['sgd momentum', (p) => new et.optim.SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
    ];
    for (const [name, make] of opts) {
      const r = on(device, name === 'adamw' ? 'adamw' : 'sgd', () => ({ p: step(make, g), ref: step(make, gc) }));
      if (r === 'unsupported') continue;
      // SGD without momentum: p - lr * Inf = -Inf; everything else mixes Inf into m / sqrt(v)
      expectKinds(name, r.p, (i) => (i === 4 ? 'nan' : i === 11 ? (name === 'sgd' ? -INF : 'nonfinite') : 'finite'), r.ref);
    }
  });

  // ---- matmul ----
  for (const [M, K, N] of [[3, 5, 4], [70, 90, 80], [2, 600, 50], [50, 300, 3]] as const) {
    test(`${device} matmul ${M}x${K} @ ${K}x${N}: NaN poisons its row / column, Inf * 0 is NaN`, () => {
      const a = poke(randn(M * K, 50), { [1 * K + 2]: NAN });
      const b = poke(randn(K * N, 51), { [3 * N + 2]: NAN });
      const ac = poke(a, { [1 * K + 2]: 0 });
      const bc = poke(b, { [3 * N + 2]: 0 });
      const bT = new Float32Array(2 * N * K);
      for (let i = 0; i < N * K; i++) bT[i] = bT[N * K + i] = b[(i % K) * N + Math.floor(i / K)]!;
      const r = on(device, 'matmul', () => ({
        y: read(et.matmul(T(a, [M, K], device), T(b, [K, N], device))),
        ref: read(et.matmul(T(ac, [M, K], device), T(bc, [K, N], device))),
        // b as a transposed view (unit stride along K), a broadcast over a batch of 2
        yt: read(et.matmul(et.expand(T(a, [1, M, K], device), [2, M, K]), et.transpose(T(bT, [2, N, K], device), 1, 2))),
      }));
      if (r === 'unsupported') return;
      const k = (i: number): Kind => (Math.floor(i / N) === 1 || i % N === 2 ? 'nan' : 'finite');
      expectKinds('a @ b', r.y, k, r.ref, 1e-3);
      expectKinds('a @ b^T^T, batched', r.yt, (i) => k(i % (M * N)), Array.from(r.yt, (_, i) => r.ref[i % (M * N)]!), 1e-3);
      // Inf in a: Inf * (b of both signs) + ... ; Inf * 0 is NaN
      const ai = poke(ac, { [0]: INF });
      const bz = poke(bc, { [0 * N + 1]: 0 });
      const ri = on(device, 'matmul', () => ({
        y: read(et.matmul(T(ai, [M, K], device), T(bz, [K, N], device))),
        ref: read(et.matmul(T(ac, [M, K], device), T(bz, [K, N], device))),
      }));
      if (ri === 'unsupported') return;
      expectKinds('Inf in a', ri.y, (i) => (i === 1 ? 'nan' : i < N ? (bz[i]! > 0 ? INF : -INF) : 'finite'), ri.ref, 1e-3);
    });
  }

  // a half-size b (float16 / bfloat16 weights, test/matmul-f16.test.ts) is widened with its NaN / Inf
  test.each([
    ['float16', 6, 40, 24], ['float16', 1, 300, 40], ['float16', 65, 300, 70],
    ['bfloat16', 6, 40, 24], ['bfloat16', 1, 300, 40], ['bfloat16', 65, 300, 70],
  ] as const)(`${device} matmul with a %s b, [%i, %i] @ [K, %i]: NaN and Inf halves propagate`, (half, M, K, N) => {
    const a = randn(M * K, 60);
    const b = poke(randn(K * N, 61), { [5 * N + 3]: NAN, [7 * N + 9]: INF });
    const r = on(device, 'matmul', () => read(et.matmul(T(a, [M, K], device), et.cast(T(b, [K, N], device), half))));
    if (r === 'unsupported') return;
    // column 9: a * Inf over the rows, sign of a[m, 7]
    expectKinds(`a @ ${half} b`, r, (i) => (i % N === 3 ? 'nan' : i % N === 9 ? (a[Math.floor(i / N) * K + 7]! > 0 ? INF : -INF) : 'finite'));
  });

  // ---- quantized (formats: SCALE_AT at the top, block sizes from lib/quant-types.ts) ----
  describe.each(QUANT_TYPES)(`${device} %s`, (type) => {
    const [blk, bytesPer] = BLOCK[type]!;
    const N = 8;
    const K = 2 * Math.max(blk, 256);
    const rowBytes = (K / blk) * bytesPer;
    const wf = randn(N * K, 70, 0.5);
    const bytes = quantize(type, wf);

    test('dequantize: a NaN scale gives NaN, an Inf scale non-finite values, in that block only', () => {
      for (const [v, kind] of [[NAN, 'nan'], [INF, 'nonfinite']] as const) {
        const w = new QuantizedWeight(type, [N, K], et.tensor(withScale(bytes, type, 2, rowBytes, v), [N * rowBytes], { device }));
        const r = on(device, 'dequantize', () => read(w.dequantize().to('cpu')));
        w.dispose();
        if (r === 'unsupported') return;
        // NF4_DQ's sub-scales and Q4_K's mins can zero a few codes; those stay 0 * d = NaN
        expectKinds(`dequantize, scale ${v}`, r, (i) => (Math.floor(i / K) === 2 && i % K < blk ? kind : 'finite'));
      }
    });

    for (const [exact, M] of [[true, 3], [true, 6], [false, 3]] as const) {
      test(`matmulQ (${exact ? 'float' : '8-bit decode'} path, M = ${M}): NaN / Inf in x, NaN scale in w`, () => {
        const x = poke(randn(M * K, 71), { [1 * K + 37]: NAN, [2 * K + 100]: INF });
        const xc = poke(x, { [1 * K + 37]: 0, [2 * K + 100]: 0 });
        const w = new QuantizedWeight(type, [N, K], et.tensor(bytes, [N * rowBytes], { device }));
        const wn = new QuantizedWeight(type, [N, K], et.tensor(withScale(bytes, type, 5, rowBytes, NAN), [N * rowBytes], { device }));
        const r = on(device, 'matmulQ', () => ({
          y: read(matmulQ(T(x, [M, K], device), w, { exact })),
          yw: read(matmulQ(T(xc, [M, K], device), wn, { exact })),
          ref: read(matmulQ(T(xc, [M, K], device), w, { exact })),
        }));
        w.dispose();
        wn.dispose();
        if (r === 'unsupported') return;
        const row = (i: number) => Math.floor(i / N);
        expectKinds('NaN / Inf in x', r.y, (i) => (row(i) === 1 ? 'nan' : row(i) === 2 ? 'nonfinite' : 'finite'), r.ref, 1e-3);
        expectKinds('NaN scale in row 5 of w', r.yw, (i) => (i % N === 5 ? 'nan' : 'finite'), r.ref, 1e-3);
      });
    }

    test('matmulQ input gradient (dy . W): a NaN in dy or in a scale reaches its row / block', () => {
      const M = 3;
      const dy = poke(randn(M * N, 72), { [1 * N + 4]: NAN });
      const w = new QuantizedWeight(type, [N, K], et.tensor(bytes, [N * rowBytes], { device }));
      const wn = new QuantizedWeight(type, [N, K], et.tensor(withScale(bytes, type, 5, rowBytes, NAN), [N * rowBytes], { device }));
      const r = on(device, 'matmulQ', () => {
        const grad = (wq: QuantizedWeight, d: Float32Array) => {
          const x = T(new Float32Array(M * K).fill(0.1), [M, K], device, true);
          matmulQ(x, wq).backward(T(d, [M, N], device));
          return read(x.grad!);
        };
        return { g: grad(w, dy), gw: grad(wn, poke(dy, { [1 * N + 4]: 0 })) };
      });
      w.dispose();
      wn.dispose();
      if (r === 'unsupported') return;
      expectKinds('NaN in dy', r.g, (i) => (Math.floor(i / K) === 1 ? 'nan' : 'finite'));
      expectKinds('NaN scale in block 0 of row 5', r.gw, (i) => (i % K < blk ? 'nan' : 'finite'));
    });
  });

  // ---- end to end ----
  for (const proj of ['q_proj', 'k_proj'] as const) {
    test(`${device} a tiny Llama with one NaN weight in ${proj} gives NaN logits and a NaN loss`, () => {
      const CFG = { vocabSize: 40, hiddenSize: 16, intermediateSize: 24, numLayers: 2, numHeads: 4, numKvHeads: 2, maxPositionEmbeddings: 32 };
      et.manualSeed(3);
      const model = new LlamaModel(CFG, { device });
      try {
        const ids = et.tensor(Int32Array.from([3, 17, 5, 9, 33, 1]), [1, 6], { device });
        const clean = on(device, 'LlamaModel.forward', () => read(model.forward(ids)));
        if (clean === 'unsupported') return;
        expectKinds('clean logits', clean, () => 'finite');
        et.noGrad(() => {
          const w = new Map(model.stateDict()).get(`model.layers.0.self_attn.${proj}.weight`)!;
          const v = read(w);
          v[5] = NAN;
          et.copyInto(w, T(v, w.shape as number[], device));
        });
        const r = on(device, 'LlamaModel.forward', () => {
          const logits = model.forward(ids);
          const loss = et.crossEntropy(et.reshape(logits, [6, CFG.vocabSize]), et.tensor(Int32Array.from([17, 5, 9, 33, 1, 2]), [6], { device }));
          return { logits: read(logits), loss: loss.item() };
        });
        if (r === 'unsupported') return;
        expectKinds('logits', r.logits, () => 'nan');
        expect(r.loss, 'loss').toBeNaN();
      } finally {
        for (const t of model.parameters()) t.dispose();
      }
    });
  }
});

// The quantizer (cpu) and the TypeScript dequantizer: a block that holds NaN or +-Inf becomes a
// NaN block; every other block keeps its bytes.
describe.each(QUANT_TYPES)('quantize %s', (type) => {
  test('a non-finite block quantizes to NaN, the other blocks are unchanged; host dequantize agrees', () => {
    const [blk, bytesPer] = BLOCK[type]!;
    const K = 2 * Math.max(blk, 256);
    const x = randn(3 * K, 80, 0.5);
    const xn = poke(x, { [blk + 5]: NAN, [K + 1]: INF, [2 * K + K - 1]: -INF });
    const clean = quantize(type, x);
    const got = quantize(type, xn);
    const bad = new Set([1, K / blk, 2 * (K / blk) + K / blk - 1]); // flat block indices
    for (let b = 0; b < 3 * (K / blk); b++) {
      if (bad.has(b)) continue;
      expect(Array.from(got.subarray(b * bytesPer, (b + 1) * bytesPer)), `block ${b} bytes`).toEqual(Array.from(clean.subarray(b * bytesPer, (b + 1) * bytesPer)));
    }
    const kind = (i: number): Kind => (bad.has(Math.floor(i / blk)) ? 'nan' : 'finite');
    expectKinds('host dequantize', et.quant.dequantize(type, got, 3 * K), kind);
    const w = new QuantizedWeight(type, [3, K], got);
    try {
      expectKinds('native dequantize', read(w.dequantize()), kind);
    } finally {
      w.dispose();
    }
  });
});

afterAll(() => {
  const lines = [...unsupported].map(([d, ops]) => `  ${d}: ${[...ops].join(', ')}`);
  if (lines.length) console.info(`ops answered with DeviceError (not implemented on that device):\n${lines.join('\n')}`);
});

// Parity rows for the row kernels (softmax family, cross-entropy, embedding), norms, rope,
// swiglu, attention, the optimizer updates and the block-quantized kernels
// (test/helpers/parity.ts runs them; test/parity-b.test.ts registers them).
import * as et from '../../lib/index.js';
import type { Tensor } from '../../lib/index.js';
import type { OpName } from '../../lib/native/ops.js';
import { ALL_DTYPES } from './parity-rows-a.js';
import { type Case, Dev, describeOperands, type ErrorCase, f32, type Operand, randomShape, type Rows } from './parity.js';

/** The outputs of `fn` run once on cpu, read back (the saved tensors a backward kernel takes). */
function onCpu(fn: (d: Dev) => Tensor[]): () => number[][] {
  let memo: number[][] | undefined;
  return () => (memo ??= et.tidy(() => fn(new Dev('cpu')).map((t) => Array.from(t.dataSync()))));
}

const F = 'float32' as const;
const I = 'int32' as const;
const rowShapes: number[][] = [[3, 7], [5, 33], [1, 1], [6, 1], [2, 1000], randomShape(7, 2, 600)];

// ---- softmax family ----

function softmaxCases(op: 'softmax' | 'logSoftmax'): Case[] {
  const cases: Case[] = rowShapes.map((shape, i) => {
    const x: Operand = { shape, seed: 10 + i, lo: -8, hi: 8 };
    return { name: describeOperands([x]), in: [F], out: [F], tol: 1e-5, run: (d) => d.k(op, [d.input(x)], f32(shape)) };
  });
  const rows = [[1000, 999, -1000, 0], [5, NaN, 1, 2], [-80, -90, -100, -87.5], [-Infinity, 0, -Infinity, 1], [-Infinity, -Infinity, -Infinity, -Infinity]];
  cases.push({ name: 'large magnitudes, NaN, -inf entries, a row of -inf', in: [F], out: [F], tol: 1e-5, run: (d) => d.k(op, [d.tensor(rows.flat(), [5, 4])], f32([5, 4])) });
  return cases;
}

function softmaxBwdCases(op: 'softmaxBwd' | 'logSoftmaxBwd'): Case[] {
  const fwd = op === 'softmaxBwd' ? 'softmax' : 'logSoftmax';
  return rowShapes.map((shape, i) => {
    const y = onCpu((d) => d.k(fwd, [d.input({ shape, seed: 20 + i, lo: -4, hi: 4 })], f32(shape)));
    const dy: Operand = { shape, seed: 30 + i };
    return { name: describeOperands([dy, dy]), in: [F, F], out: [F], tol: 1e-5, run: (d) => d.k(op, [d.tensor(y()[0]!, shape), d.input(dy)], f32(shape)) };
  });
}

// ---- cross-entropy (rows whose target is ignoreIndex get loss 0) ----

const ceShapes: [number, number, number][] = [[7, 5, -100], [9, 1000, -100], [3, 1, -100], [4, 33, 4], [1, 7, -100]];

function targets(N: number, C: number, ignore: number, seed: number): Operand {
  const t = Array.from({ length: N }, (_, i) => (i % 3 === 1 ? ignore : (seed * 7 + i * 5) % C));
  return { shape: [N], dtype: I, seed, values: t };
}

function crossEntropyCases(): Case[] {
  return ceShapes.map(([N, C, ignore], i) => {
    const x: Operand = { shape: [N, C], seed: 40 + i, lo: -6, hi: 6 };
    const t = targets(N, C, ignore, i);
    return {
      name: `${describeOperands([x, t])}, ignoreIndex ${ignore}`,
      in: [F, I],
      out: [F, F],
      tol: 1e-5,
      run: (d) => d.k('crossEntropy', [d.input(x), d.input(t)], f32([N], [N]), [ignore]),
    };
  });
}

function crossEntropyBwdCases(): Case[] {
  return ceShapes.map(([N, C, ignore], i) => {
    const x: Operand = { shape: [N, C], seed: 50 + i, lo: -6, hi: 6 };
    const t = targets(N, C, ignore, i);
    const lse = onCpu((d) => [d.k('crossEntropy', [d.input(x), d.input(t)], f32([N], [N]), [ignore])[1]!]);
    const dl: Operand = { shape: [N], seed: 60 + i };
    return {
      name: `${describeOperands([x, t])}, ignoreIndex ${ignore}`,
      in: [F, I, F, F],
      out: [F],
      tol: 1e-5,
      run: (d) => d.k('crossEntropyBwd', [d.input(x), d.input(t), d.tensor(lse()[0]!, [N]), d.input(dl)], f32([N, C]), [ignore]),
    };
  });
}

// ---- embedding: a table of any dtype, rows gathered by int32 ids ----

function ids(n: number, V: number, seed: number): Operand {
  return { shape: [n], dtype: I, seed, values: Array.from({ length: n }, (_, i) => (seed * 13 + i * 7) % V) };
}

function embeddingCases(): Case[] {
  const cases: Case[] = [];
  for (const dtype of ALL_DTYPES)
    for (const [V, D, n, view] of [[10, 6, 6, 'contiguous'], [7, 33, 50, 'padded'], [1, 1, 3, 'contiguous']] as const) {
      const w: Operand = { shape: [V, D], dtype, seed: V + D, view, lo: dtype === 'uint8' ? 0 : -100, hi: 100 };
      const idx = ids(n, V, D);
      cases.push({
        name: `${dtype} ${describeOperands([w, idx])}`,
        in: [dtype, I],
        out: [dtype],
        tol: 'bits',
        run: (d) => d.k('embedding', [d.input(w), d.input(idx)], [{ shape: [n, D], dtype }]),
      });
    }
  return cases;
}

function embeddingBwdCases(): Case[] {
  return [[6, 4, 5], [50, 30, 3000], [1, 7, 9], [33, 3, 1]].map(([V, D, n]) => {
    const dy: Operand = { shape: [n!, D!], seed: V! + n! };
    const idx = ids(n!, V!, D!);
    return {
      name: `${describeOperands([dy, idx])} -> [${V}, ${D}]`,
      in: [F, I],
      out: [F],
      tol: 1e-5,
      run: (d) => d.k('embeddingBwd', [d.input(dy), d.input(idx)], f32([V!, D!])),
    };
  });
}

/** An index outside the table: an IndexError found by the kernel (surfacing at the call or at the read). */
const indexErrors: Record<string, ErrorCase[]> = {
  embedding: [
    {
      name: 'id 4 of a 4-row table',
      run: (d) => d.k('embedding', [d.input({ shape: [4, 3], seed: 1 }), d.tensor([0, 4], [2], I)], f32([2, 3]))[0]!.dataSync(),
      error: et.IndexError,
      message: /embedding: index 4 at position 1 is outside \[0, 4\)/,
    },
    {
      name: 'id -1',
      run: (d) => d.k('embedding', [d.input({ shape: [4, 3], seed: 1 }), d.tensor([-1], [1], I)], f32([1, 3]))[0]!.dataSync(),
      error: et.IndexError,
      message: /embedding: index -1 at position 0 is outside \[0, 4\)/,
    },
  ],
  crossEntropy: [
    {
      name: 'target 3 of 3 classes',
      run: (d) => d.k('crossEntropy', [d.input({ shape: [2, 3], seed: 1 }), d.tensor([0, 3], [2], I)], f32([2], [2]), [-100])[0]!.dataSync(),
      error: et.IndexError,
      message: /crossEntropy: .*target 3 at row 1 is outside \[0, 3\)/,
    },
  ],
};

// ---- norms ----

const normShapes: [number[], number][] = [[[15, 37], 1e-6], [[1, 1], 1e-5], [[7, 33], 1e-5], [[3, 4096], 1e-6], [randomShape(3, 2, 900), 1e-5]];

function normCases(op: 'rmsNorm' | 'layerNorm'): Case[] {
  return normShapes.map(([shape, eps], i) => {
    const C = shape[1]!;
    const ops: Operand[] = [{ shape, seed: 70 + i, lo: op === 'layerNorm' ? 1 : -2, hi: 3 }, { shape: [C], seed: 80 + i, lo: 0.5, hi: 1.5 }];
    if (op === 'layerNorm') ops.push({ shape: [C], seed: 90 + i });
    const outs = op === 'rmsNorm' ? f32(shape, [shape[0]!]) : f32(shape, [shape[0]!], [shape[0]!]);
    return { name: `${describeOperands(ops)}, eps ${eps}`, in: ops.map(() => F), out: outs.map(() => F), tol: 1e-5, run: (d) => d.k(op, ops.map((o) => d.input(o)), outs, [eps]) };
  });
}

function normBwdCases(op: 'rmsNormBwd' | 'layerNormBwd'): Case[] {
  const fwd = op === 'rmsNormBwd' ? 'rmsNorm' : 'layerNorm';
  return normShapes.map(([shape, eps], i) => {
    const [N, C] = shape as [number, number];
    const x: Operand = { shape, seed: 100 + i, lo: fwd === 'layerNorm' ? 1 : -2, hi: 3 };
    const w: Operand = { shape: [C], seed: 110 + i, lo: 0.5, hi: 1.5 };
    const b: Operand = { shape: [C], seed: 120 + i };
    const stats = onCpu((d) =>
      fwd === 'rmsNorm'
        ? d.k(fwd, [d.input(x), d.input(w)], f32(shape, [N]), [eps]).slice(1)
        : d.k(fwd, [d.input(x), d.input(w), d.input(b)], f32(shape, [N], [N]), [eps]).slice(1),
    );
    const dy: Operand = { shape, seed: 130 + i };
    const outs = fwd === 'rmsNorm' ? f32(shape, [C]) : f32(shape, [C], [C]);
    return {
      name: `${describeOperands([x, w])}, eps ${eps}`,
      in: fwd === 'rmsNorm' ? [F, F, F, F] : [F, F, F, F, F],
      out: outs.map(() => F),
      tol: 1e-5,
      run: (d) => d.k(op, [d.input(x), d.input(w), ...stats().map((s) => d.tensor(s, [N])), d.input(dy)], outs),
    };
  });
}

// ---- rope: x [B, T, H, D], pos [T]; params base, mode (0 neox, 1 interleaved), direction, rotaryDims, freqScale ----

function ropeCases(): Case[] {
  const configs: [number[], number[], number[]][] = [
    [[2, 5, 3, 8], [0, 1, 2, 3, 4], [10000, 0, 1, 8, 1]],
    [[2, 5, 3, 8], [0, 1, 2, 3, 4], [500, 1, 1, 8, 1]],
    [[1, 5, 3, 8], [7, 8, 9, 10, 11], [10000, 0, 1, 4, 0.5]],
    [[1, 5, 2, 8], [3, 1, 4, 1, 5000], [10000, 1, 1, 6, 1]],
    [[2, 7, 3, 6], [0, 1, 2, 3, 4, 5, 6], [10000, 0, -1, 6, 1]],
    [[1, 7, 1, 34], [9, 8, 7, 6, 5, 4, 3], [10000, 1, -1, 34, 2]],
    [[1, 1, 1, 2], [3], [10000, 0, 1, 2, 1]],
  ];
  return configs.map(([shape, pos, params], i) => {
    const x: Operand = { shape, seed: 140 + i };
    return {
      name: `${describeOperands([x])}, positions [${pos}], base ${params[0]}, ${params[1] ? 'interleaved' : 'neox'}, direction ${params[2]}, rotaryDims ${params[3]}, freqScale ${params[4]}`,
      in: [F, I],
      out: [F],
      tol: 1e-5,
      run: (d) => d.k('rope', [d.input(x), d.tensor(pos, [pos.length], I)], f32(shape), params),
    };
  });
}

// ---- swiglu ----

const swiShapes = [[3, 41], [1], [7, 33], randomShape(4, 3)];

function swigluCases(bwd: boolean): Case[] {
  return swiShapes.map((shape, i) => {
    const ops: Operand[] = [{ shape, seed: 150 + i, lo: -4, hi: 4 }, { shape, seed: 160 + i }];
    if (bwd) ops.push({ shape, seed: 170 + i });
    const outs = bwd ? f32(shape, shape) : f32(shape);
    return { name: describeOperands(ops), in: ops.map(() => F), out: outs.map(() => F), tol: 1e-5, run: (d) => d.k(bwd ? 'swigluBwd' : 'swiglu', ops.map((o) => d.input(o)), outs) };
  });
}

// ---- attention: q [B, Hq, T, D], k [B, Hkv, S, D], v [B, Hkv, S, Dv], optional additive mask broadcast to [B, Hq, T, S] ----

interface Attn {
  B: number;
  Hq: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
  Dv: number;
  causal: boolean;
  scale?: number;
  /** q, k, v as [B, H, T, D] views of [B, T, H, D] buffers. */
  headsMajor?: boolean;
  /** An additive [T, S] mask broadcast over B and heads (stride 0), with -inf entries and a fully masked row. */
  mask?: boolean;
}

const ATTN: Attn[] = [
  { B: 2, Hq: 2, Hkv: 2, T: 7, S: 7, D: 8, Dv: 8, causal: false },
  { B: 2, Hq: 2, Hkv: 2, T: 7, S: 7, D: 8, Dv: 8, causal: true },
  { B: 1, Hq: 4, Hkv: 2, T: 5, S: 9, D: 6, Dv: 3, causal: true },
  { B: 1, Hq: 4, Hkv: 1, T: 9, S: 5, D: 4, Dv: 4, causal: true },
  { B: 1, Hq: 3, Hkv: 3, T: 70, S: 90, D: 16, Dv: 8, causal: false },
  { B: 1, Hq: 2, Hkv: 2, T: 4, S: 6, D: 8, Dv: 8, causal: false, scale: 0.7 },
  { B: 2, Hq: 2, Hkv: 2, T: 5, S: 6, D: 4, Dv: 4, causal: false, mask: true },
  { B: 1, Hq: 2, Hkv: 1, T: 6, S: 4, D: 4, Dv: 4, causal: true, mask: true },
  { B: 2, Hq: 4, Hkv: 2, T: 6, S: 6, D: 8, Dv: 8, causal: true, headsMajor: true },
  // head dims past 128 (the Vulkan shaders' column passes) and tiles past 16 queries / keys
  { B: 1, Hq: 4, Hkv: 2, T: 20, S: 37, D: 136, Dv: 72, causal: true },
  { B: 1, Hq: 2, Hkv: 1, T: 33, S: 33, D: 64, Dv: 130, causal: false, mask: true },
];

const attnName = (a: Attn): string =>
  `B${a.B} Hq${a.Hq} Hkv${a.Hkv} T${a.T} S${a.S} D${a.D} Dv${a.Dv}${a.causal ? ' causal' : ''}${a.scale ? ` scale ${a.scale}` : ''}${a.mask ? ' [T, S] mask' : ''}${a.headsMajor ? ' q/k/v transposed views' : ''}`;

/** q, k, v (and the mask view) on the device. */
function attnInputs(d: Dev, a: Attn, seed: number): Tensor[] {
  const qkv = (H: number, L: number, Dh: number, s: number, lo = -1.5, hi = 1.5): Tensor => {
    if (!a.headsMajor) return d.input({ shape: [a.B, H, L, Dh], seed: s, lo, hi });
    return et.transpose(d.input({ shape: [a.B, L, H, Dh], seed: s, lo, hi }), 1, 2);
  };
  const t = [qkv(a.Hq, a.T, a.D, seed), qkv(a.Hkv, a.S, a.D, seed + 1), qkv(a.Hkv, a.S, a.Dv, seed + 2, -1, 1)];
  if (a.mask) {
    const m = Array.from({ length: a.T * a.S }, (_, i) => (i % 5 === 3 ? -Infinity : Math.fround(Math.sin(i) * 2)));
    for (let j = 0; j < a.S; j++) m[2 * a.S + j] = -Infinity; // row 2 sees nothing
    t.push(d.tensor(m, [a.T, a.S]).view([a.B, a.Hq, a.T, a.S], [0, 0, a.S, 1], 0));
  }
  return t;
}

const attnParams = (a: Attn): number[] => [a.scale ?? 1 / Math.sqrt(a.D), a.causal ? 1 : 0, a.mask ? 1 : 0];
const attnOuts = (a: Attn) => f32([a.B, a.Hq, a.T, a.Dv], [a.B, a.Hq, a.T]);

function sdpaCases(): Case[] {
  return ATTN.map((a, i) => ({
    name: attnName(a),
    in: a.mask ? [F, F, F, F] : [F, F, F],
    out: [F, F],
    tol: 1e-5,
    run: (d) => d.k('sdpa', attnInputs(d, a, 200 + 3 * i), attnOuts(a), attnParams(a)),
  }));
}

function sdpaBwdCases(): Case[] {
  return ATTN.map((a, i) => {
    const seed = 300 + 3 * i;
    const saved = onCpu((d) => d.k('sdpa', attnInputs(d, a, seed), attnOuts(a), attnParams(a)));
    const dout: Operand = { shape: [a.B, a.Hq, a.T, a.Dv], seed: seed + 9 };
    return {
      name: attnName(a),
      in: a.mask ? [F, F, F, F, F, F, F] : [F, F, F, F, F, F],
      out: [F, F, F],
      tol: 1e-5,
      run: (d) => {
        const [q, k, v, mask] = attnInputs(d, a, seed);
        const [o, lse] = saved();
        const ins = [q!, k!, v!, d.tensor(o!, [a.B, a.Hq, a.T, a.Dv]), d.tensor(lse!, [a.B, a.Hq, a.T]), d.input(dout)];
        if (mask) ins.push(mask);
        return d.k('sdpaBwd', ins, f32(q!.shape, k!.shape, v!.shape), attnParams(a));
      },
    };
  });
}

// ---- optimizer updates (in place, several steps) ----

function optimizerCases(op: 'adamw' | 'sgd'): Case[] {
  const variants: [string, number[]][] =
    op === 'adamw'
      ? [['lr 1e-2, betas 0.9/0.95, weight decay 0.1, grad scale 0.5', [1e-2, 0.9, 0.95, 1e-8, 0.1, 0, 0.5]], ['no weight decay, eps 1e-6', [1e-3, 0.8, 0.999, 1e-6, 0, 0, 1]]]
      : [['plain', [0.05, 0, 0, 0, 0, 0, 2]], ['momentum, dampening, weight decay', [0.05, 0.9, 0.1, 0.01, 0, 0, 1]], ['nesterov', [0.05, 0.8, 0, 0.05, 1, 0, 1]]];
  const cases: Case[] = [];
  for (const n of [1037, 1, 33])
    for (const [name, base] of variants)
      cases.push({
        name: `[${n}] ${name}, 3 steps`,
        in: op === 'adamw' ? [F, F, F, F] : [F, F, F],
        out: [],
        tol: 1e-6,
        run: (d) => {
          const p = d.input({ shape: [n], seed: n });
          const state = op === 'adamw' ? [d.tensor(new Array(n).fill(0), [n]), d.tensor(new Array(n).fill(0), [n])] : [d.tensor(new Array(n).fill(123), [n])];
          for (let step = 1; step <= 3; step++) {
            const g = d.input({ shape: [n], seed: 10 * n + step, lo: -2, hi: 2 });
            const params = [...base];
            if (op === 'adamw') params[5] = step;
            else params[5] = step === 1 ? 1 : 0; // firstStep: the momentum buffer is overwritten
            d.k(op, [p, g, ...state], [], params);
          }
          return [p, ...state];
        },
      });
  return cases;
}

// ---- block-quantized kernels (ggml formats; the ids and block geometry of csrc/quant_types.h) ----

const QTYPES: [string, number, number, number][] = [
  ['Q8_0', 8, 32, 34],
  ['Q4_0', 2, 32, 18],
  ['Q4_1', 3, 32, 20],
  ['Q5_0', 6, 32, 22],
  ['Q5_1', 7, 32, 24],
  ['Q4_K', 12, 256, 144],
  ['Q5_K', 13, 256, 176],
  ['Q6_K', 14, 256, 210],
  ['NF4', 1024, 64, 36],
  ['NF4_DQ', 1025, 256, 134],
];

const U = 'uint8' as const;

/** Weights [N, K] of a type (K whole blocks), quantized on cpu. */
function quantized(type: number, N: number, K: number, seed: number) {
  const x: Operand = { shape: [N, K], seed, lo: -2, hi: 2 };
  const [, , bs, bytes] = QTYPES.find((q) => q[1] === type)!;
  const shape = [N, (K / bs) * bytes];
  return { x, shape, bytes: onCpu((d) => d.k('quantize', [d.input(x)], [{ shape, dtype: U }], [type, K])) };
}

function quantizeCases(): Case[] {
  return QTYPES.map(([name, type, bs], i) => {
    const { x, shape } = quantized(type, 3 + (i % 3) * 2, bs * (1 + (i % 2)), 400 + i);
    return { name: `${name} ${describeOperands([x])}`, in: [F], out: [U], tol: 'bits', run: (d) => d.k('quantize', [d.input(x)], [{ shape, dtype: U }], [type, x.shape[1]!]) };
  });
}

function dequantizeCases(): Case[] {
  return QTYPES.map(([name, type, bs], i) => {
    const [N, K] = [1 + (i % 4) * 2, bs * (1 + (i % 3))];
    const q = quantized(type, N, K, 500 + i);
    return { name: `${name} [${N}, ${K}]`, in: [U], out: [F], tol: 0, run: (d) => d.k('dequantize', [d.tensor(q.bytes()[0]!, q.shape, U)], f32([N, K]), [type, K]) };
  });
}

function matmulQCases(): Case[] {
  const cases: Case[] = [];
  QTYPES.forEach(([name, type, bs], i) => {
    const [N, K] = [5 + (i % 3), bs * (1 + (i % 2))];
    const q = quantized(type, N, K, 600 + i);
    for (const [M, transpose, int8] of [[1, 0, 0], [7, 0, 0], [3, 1, 0], [2, 0, 1]] as const) {
      const x: Operand = { shape: [M, transpose ? N : K], seed: 700 + i + M, view: M === 7 ? 'padded' : 'contiguous' };
      cases.push({
        name: `${name} w [${N}, ${K}], x ${describeOperands([x])}${transpose ? ', x . W' : ''}${int8 ? ', int8 activations' : ''}`,
        in: [F, U],
        out: [F],
        tol: int8 ? 1e-3 : 1e-5,
        run: (d) => d.k('matmulQ', [d.input(x), d.tensor(q.bytes()[0]!, q.shape, U)], f32([M, transpose ? K : N]), [type, K, transpose, int8]),
      });
    }
  });
  return cases;
}

const row = (op: OpName, cases: Case[]) => ({ cases, errors: indexErrors[op] });

export const ROWS_B: Rows = {
  softmax: row('softmax', softmaxCases('softmax')),
  softmaxBwd: row('softmaxBwd', softmaxBwdCases('softmaxBwd')),
  logSoftmax: row('logSoftmax', softmaxCases('logSoftmax')),
  logSoftmaxBwd: row('logSoftmaxBwd', softmaxBwdCases('logSoftmaxBwd')),
  crossEntropy: row('crossEntropy', crossEntropyCases()),
  crossEntropyBwd: row('crossEntropyBwd', crossEntropyBwdCases()),
  embedding: row('embedding', embeddingCases()),
  embeddingBwd: row('embeddingBwd', embeddingBwdCases()),
  rmsNorm: row('rmsNorm', normCases('rmsNorm')),
  rmsNormBwd: row('rmsNormBwd', normBwdCases('rmsNormBwd')),
  layerNorm: row('layerNorm', normCases('layerNorm')),
  layerNormBwd: row('layerNormBwd', normBwdCases('layerNormBwd')),
  rope: row('rope', ropeCases()),
  swiglu: row('swiglu', swigluCases(false)),
  swigluBwd: row('swigluBwd', swigluCases(true)),
  sdpa: row('sdpa', sdpaCases()),
  sdpaBwd: row('sdpaBwd', sdpaBwdCases()),
  adamw: row('adamw', optimizerCases('adamw')),
  sgd: row('sgd', optimizerCases('sgd')),
  quantize: row('quantize', quantizeCases()),
  dequantize: row('dequantize', dequantizeCases()),
  matmulQ: row('matmulQ', matmulQCases()),
};

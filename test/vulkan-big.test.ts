// Tensors larger than one storage binding may span (EDGETRAIN_VULKAN_MAX_BUFFER=1 MiB here, as
// maxStorageBufferRange is 128 MiB on lavapipe and many phone drivers): they allocate, and the
// ops that meet big tensors in LLM training bind windows of them and run in chunks
// (csrc/vulkan/window.cpp), giving cpu's results; a call that cannot be windowed (one row larger
// than the limit) is an OutOfMemoryError naming the bytes and the limit.
import { BIG_LIMITS } from './helpers/big-limits.js'; // first: before the addon opens the devices
import { expect, test } from 'vitest';
import * as et from '../lib/index.js';
import type { Tensor } from '../lib/index.js';
import { requireVulkan, testDevices } from './helpers/devices.js';
import { seedKey } from '../lib/random.js';
import { expectClose } from './helpers/compare.js';
import { type Case, Dev, f32, type Operand, parityTests, type Rows } from './helpers/parity.js';

const F = 'float32' as const;
const H = 'float16' as const;
const I = 'int32' as const;
const U = 'uint8' as const;
const LIMIT = Number(BIG_LIMITS.EDGETRAIN_VULKAN_MAX_BUFFER);

test('the binding limit is in force on every available Vulkan device', () => {
  const vk = et.devices().filter((d) => d.backend === 'vulkan' && d.available);
  if (requireVulkan) expect(vk.length, 'EDGETRAIN_REQUIRE_VULKAN=1 but no Vulkan device').toBeGreaterThan(0);
  for (const d of vk) expect(d.features.maxBufferBytes, d.name).toBe(LIMIT);
});

function onCpu(fn: (d: Dev) => Tensor[]): () => number[][] {
  let memo: number[][] | undefined;
  return () => (memo ??= et.tidy(() => fn(new Dev('cpu')).map((t) => Array.from(t.dataSync()))));
}

const big = (shape: number[], seed: number, view?: Operand['view'], o: Partial<Operand> = {}): Operand => ({ shape, seed, view, ...o });
const c = (name: string, i: Case['in'], o: Case['out'], run: Case['run'], tol: Case['tol'] = 0): Case => ({ name, in: i, out: o, run, tol });

// ---- elementwise / copy / random ----
function into(d: Dev, op: 'randUniform' | 'randNormal', params: number[]): Tensor[] {
  const { base, view } = d.outputView('offset', S, F);
  d.k(op, [], [], params, [view]);
  return [base];
}
const S = [600, 1000]; // 2.4 MB of float32
const elementwise: Rows = {
  add: {
    cases: [
      c('contiguous [600, 1000]', [F, F], [F], (d) => d.k('add', [d.input(big(S, 1)), d.input(big(S, 2))], f32(S))),
      c('transposed + broadcast', [F, F], [F], (d) => d.k('add', [d.input(big(S, 3, 'transposed')), d.input(big(S, 4, 'broadcast'))], f32(S))),
    ],
  },
  mul: {
    cases: [
      c('sliced * contiguous', [F, F], [F], (d) => d.k('mul', [d.input(big(S, 5, 'sliced')), d.input(big(S, 6))], f32(S))),
      c('into a transposed output', [F, F], [F], (d) => {
        const { base, view } = d.outputView('transposed', S, F);
        d.k('mul', [d.input(big(S, 7)), d.input(big(S, 8, 'padded'))], [], [], [view]);
        return [base];
      }),
    ],
  },
  exp: {
    cases: [
      c('contiguous', [F], [F], (d) => d.k('exp', [d.input(big(S, 9))], f32(S)), 1e-6),
      c('reversed', [F], [F], (d) => d.k('exp', [d.input(big(S, 10, 'reversed'))], f32(S)), 1e-6),
    ],
  },
  copy: {
    cases: [
      c('transposed float32', [F], [F], (d) => d.k('copy', [d.input(big(S, 11, 'transposed'))], [{ shape: S, dtype: F }])),
      c('cast float32 -> float16 at an offset', [F], [H], (d) => d.k('copy', [d.input(big(S, 12, 'offset'))], [{ shape: S, dtype: H }]), 'bits'),
      c('cast float16 sliced -> float32', [H], [F], (d) => d.k('copy', [d.input(big(S, 13, 'sliced', { dtype: H }))], [{ shape: S, dtype: F }])),
    ],
  },
  randUniform: { cases: [c('[600, 1000] at an offset', [], [F], (d) => into(d, 'randUniform', [seedKey(3), -2, 3]), 1e-6)] },
  randNormal: { cases: [c('[600, 1000] at an offset', [], [F], (d) => into(d, 'randNormal', [seedKey(4), 0.5, 2]), 1e-5)] },
  dropout: { cases: [c('[600, 1000]', [F], [F], (d) => d.k('dropout', [d.input(big(S, 14))], f32(S), [seedKey(5), 0.3]), 1e-6)] },
  fill: {
    cases: [
      c('a sliced view of [600, 1000]', [], [F], (d) => {
        const { base, view } = d.outputView('sliced', S, F);
        d.k('fill', [], [], [2.5], [view]);
        return [base];
      }),
    ],
  },
};

// ---- matmul: the lm_head shapes (a big b = W^T of W [V, D]; a big a; the backward's dx = dlogits @ W and
// dW = dlogits^T @ x, which cut the contraction K and sum the chunks) ----
const matmul: Rows = {
  matmul: {
    cases: [
      c('x [8, 256] @ W^T, W [5000, 256]', [F, F], [F], (d) => d.k('matmul', [d.input(big([8, 256], 20)), d.input(big([256, 5000], 21, 'transposed'))], f32([8, 5000])), 1e-5),
      c('a [5000, 256] @ b [256, 64]', [F, F], [F], (d) => d.k('matmul', [d.input(big([5000, 256], 22)), d.input(big([256, 64], 23))], f32([5000, 64])), 1e-5),
      c('row-major b [256, 5000] (K cut)', [F, F], [F], (d) => d.k('matmul', [d.input(big([4, 256], 26)), d.input(big([256, 5000], 27))], f32([4, 5000])), 1e-5),
      c('dlogits [64, 6000] @ W [6000, 64] (K cut)', [F, F], [F], (d) => d.k('matmul', [d.input(big([64, 6000], 28)), d.input(big([6000, 64], 29))], f32([64, 64])), 1e-5),
      c('dlogits^T [6000, 64] @ x [64, 64] (K cut)', [F, F], [F], (d) => d.k('matmul', [d.input(big([6000, 64], 30, 'transposed')), d.input(big([64, 64], 31))], f32([6000, 64])), 1e-5),
      // accumulating into y (beta 1, the fused LoRA layer's form): only the first K chunk adds y
      c('dlogits [64, 6000] @ W [6000, 64] (K cut) + y', [F, F], [F], (d) => {
        const y = d.input(big([64, 64], 32));
        d.k('matmul', [d.input(big([64, 6000], 28)), d.input(big([6000, 64], 29))], [], [1], [y]);
        return [y];
      }, 1e-5),
      c('x [8, 256] @ W^T, W [5000, 256] + 0.5 y', [F, F], [F], (d) => {
        const y = d.input(big([8, 5000], 33));
        d.k('matmul', [d.input(big([8, 256], 20)), d.input(big([256, 5000], 21, 'transposed'))], [], [0.5], [y]);
        return [y];
      }, 1e-5),
      c('a [300, 256] @ W^T, W [1200, 256]', [F, F], [F], (d) => d.k('matmul', [d.input(big([300, 256], 24)), d.input(big([256, 1200], 25, 'transposed'))], f32([300, 1200])), 1e-5),
    ],
  },
};

// ---- embedding [6000, 64] (1.5 MB) ----
const V = 6000, D = 64, NI = 700;
const ids: Operand = { shape: [NI], dtype: I, seed: 30, values: Array.from({ length: NI }, (_, i) => (i * 2654435761) % V) };
const NB = 5000;
const idsOf = (n: number, v: number): Operand => ({ shape: [n], dtype: I, seed: 36, values: Array.from({ length: n }, (_, i) => (i * 7919) % v) });
const embedding: Rows = {
  embedding: {
    cases: [
      c('table [6000, 64] float32', [F, I], [F], (d) => d.k('embedding', [d.input(big([V, D], 31)), d.input(ids)], f32([NI, D]))),
      c('table [6000, 200] float16', [H, I], [H], (d) => d.k('embedding', [d.input(big([V, 200], 32, undefined, { dtype: H })), d.input(ids)], [{ shape: [NI, 200], dtype: H }]), 'bits'),
    ],
  },
  embeddingBwd: {
    cases: [
      c('dweight [6000, 64]', [F, I], [F], (d) => d.k('embeddingBwd', [d.input(big([NI, D], 33)), d.input(ids)], f32([V, D]))),
      // big dy: position chunks, each one's scatter-add summed into dweight (another summation order)
      c('dy [5000, 64] into dweight [300, 64]', [F, I], [F], (d) => d.k('embeddingBwd', [d.input(big([NB, D], 34)), d.input(idsOf(NB, 300))], f32([300, D])), 1e-5),
      c('dy [5000, 64] into dweight [6000, 64]', [F, I], [F], (d) => d.k('embeddingBwd', [d.input(big([NB, D], 35)), d.input(idsOf(NB, V))], f32([V, D])), 1e-5),
    ],
    errors: [
      {
        name: 'an index out of range in a later chunk of positions names its position in the call',
        run: (d) => d.k('embeddingBwd', [d.input(big([NB, D], 34)), d.tensor(Array.from({ length: NB }, (_, i) => (i === 4321 ? 300 : i % 300)), [NB], I)], f32([300, D]))[0]!.dataSync(),
        error: et.IndexError,
        message: /embeddingBwd: .*index 300 at position 4321 is outside \[0, 300\)/,
      },
    ],
  },
};

// ---- row ops: crossEntropy on [8, 40000] logits, softmax, sum / max ----
const [N, C] = [8, 40000];
const target: Operand = { shape: [N], dtype: I, seed: 40, values: [5, 39999, -100, 0, 12345, 20000, 7, 31000] };
const lse = onCpu((d) => [d.k('crossEntropy', [d.input(big([N, C], 41, undefined, { lo: -6, hi: 6 })), d.input(target)], f32([N], [N]), [-100])[1]!]);
const rows: Rows = {
  crossEntropy: {
    cases: [c('[8, 40000]', [F, I], [F, F], (d) => d.k('crossEntropy', [d.input(big([N, C], 41, undefined, { lo: -6, hi: 6 })), d.input(target)], f32([N], [N]), [-100]), 1e-5)],
    errors: [
      {
        name: 'a target out of range in a later chunk names its row in the call',
        run: (d) => d.k('crossEntropy', [d.input(big([N, C], 41)), d.tensor([0, 1, 2, 3, 4, 5, 6, C], [N], I)], f32([N], [N]), [-100])[0]!.dataSync(),
        error: et.IndexError,
        message: /crossEntropy: .*target 40000 at row 7 is outside \[0, 40000\)/,
      },
    ],
  },
  crossEntropyBwd: {
    cases: [
      c('[8, 40000]', [F, I, F, F], [F], (d) => d.k('crossEntropyBwd', [d.input(big([N, C], 41, undefined, { lo: -6, hi: 6 })), d.input(target), d.tensor(lse()[0]!, [N]), d.input(big([N], 42))], f32([N, C]), [-100]), 1e-5),
    ],
  },
  softmax: {
    cases: [
      c('[2, 8, 40000]', [F], [F], (d) => d.k('softmax', [d.input(big([2, 8, C], 43, undefined, { lo: -8, hi: 8 }))], f32([2, 8, C])), 1e-5),
      c('padded rows [20, 30000]', [F], [F], (d) => d.k('softmax', [d.input(big([20, 30000], 44, 'padded'))], f32([20, 30000])), 1e-5),
    ],
  },
  rmsNorm: {
    cases: [c('[3000, 512]', [F, F], [F, F], (d) => d.k('rmsNorm', [d.input(big([3000, 512], 51)), d.input(big([512], 52))], f32([3000, 512], [3000]), [1e-5]), 1e-5)],
  },
  layerNorm: {
    cases: [c('[2, 1500, 512]', [F, F, F], [F, F, F], (d) => d.k('layerNorm', [d.input(big([2, 1500, 512], 53)), d.input(big([512], 54)), d.input(big([512], 55))], f32([2, 1500, 512], [3000], [3000]), [1e-5]), 1e-5)],
  },
  logSoftmaxBwd: {
    cases: [c('[16, 40000]', [F, F], [F], (d) => d.k('logSoftmaxBwd', [d.input(big([16, C], 46, undefined, { lo: -9, hi: -1 })), d.input(big([16, C], 47))], f32([16, C])), 1e-5)],
  },
  sum: {
    cases: [
      c('[4, 8, 40000] over the last dim', [F], [F], (d) => d.k('sum', [d.input(big([4, 8, C], 48))], f32([4, 8]), [1]), 1e-5),
      c('padded [3000, 1000] over the last dim', [F], [F], (d) => d.k('sum', [d.input(big([3000, 1000], 49, 'padded'))], f32([3000]), [1]), 1e-5),
      c('all of [600, 1000] (partial sums per chunk)', [F], [F], (d) => d.k('sum', [d.input(big(S, 65, undefined, { lo: 0, hi: 1 }))], f32([]), [2]), 1e-5),
      c('all of a padded [600, 1000]', [F], [F], (d) => d.k('sum', [d.input(big(S, 66, 'padded', { lo: 0, hi: 1 }))], f32([]), [2]), 1e-5),
      c('all of a transposed [600, 1000]', [F], [F], (d) => d.k('sum', [d.input(big(S, 67, 'transposed', { lo: 0, hi: 1 }))], f32([]), [2]), 1e-5),
    ],
  },
  max: {
    cases: [
      c('[16, 40000] over the last dim', [F], [F, I], (d) => d.k('max', [d.input(big([16, C], 50))], [{ shape: [16], dtype: F }, { shape: [16], dtype: I }], [1])),
      // full reductions cut the reduced range: partials per chunk, then their max (first argmax)
      c('all of [600, 1000], the max tied in later chunks', [F], [F, I], (d) => d.k('max', [d.input(big(S, 0, undefined, { values: tiedMax }))], [{ shape: [], dtype: F }, { shape: [], dtype: I }], [2])),
      c('all of [600, 1000] with a NaN', [F], [F, I], (d) => d.k('max', [d.input(big(S, 0, undefined, { values: nanMax }))], [{ shape: [], dtype: F }, { shape: [], dtype: I }], [2])),
      c('all of a reversed [600, 1000]', [F], [F, I], (d) => d.k('max', [d.input(big(S, 56, 'reversed'))], [{ shape: [], dtype: F }, { shape: [], dtype: I }], [2])),
    ],
  },
  rmsNormBwd: {
    cases: [c('[1500, 512] (dw summed over row chunks)', [F, F, F, F], [F, F], (d) => d.k('rmsNormBwd', [d.input(big([1500, 512], 57)), d.input(big([512], 58, undefined, { lo: 0.5, hi: 1.5 })), d.tensor(rstd()[0]!, [1500]), d.input(big([1500, 512], 59))], f32([1500, 512], [512])), 1e-5)],
  },
  layerNormBwd: {
    cases: [
      c('[2, 750, 512] (dw, db summed over row chunks)', [F, F, F, F, F], [F, F, F], (d) =>
        d.k('layerNormBwd', [d.input(big([2, 750, 512], 61, undefined, { lo: 1, hi: 3 })), d.input(big([512], 62, undefined, { lo: 0.5, hi: 1.5 })), ...lnStats().map((s) => d.tensor(s, [1500])), d.input(big([2, 750, 512], 63))], f32([2, 750, 512], [512], [512])), 1e-5),
    ],
  },
};
// full-reduction max inputs over [600, 1000]: small values, 9 at 400007 and later (first wins), or a NaN at 650000
const tiedMax = Array.from({ length: S[0]! * S[1]! }, (_, i) => (i === 400007 || i === 500003 || i === 599999 ? 9 : (i % 997) / 1000));
const nanMax = tiedMax.map((v, i) => (i === 650000 ? NaN : v));
const rstd = onCpu((d) => [d.k('rmsNorm', [d.input(big([1500, 512], 57)), d.input(big([512], 58, undefined, { lo: 0.5, hi: 1.5 }))], f32([1500, 512], [1500]), [1e-5])[1]!]);
const lnStats = onCpu((d) => d.k('layerNorm', [d.input(big([2, 750, 512], 61, undefined, { lo: 1, hi: 3 })), d.input(big([512], 62, undefined, { lo: 0.5, hi: 1.5 })), d.input(big([512], 64))], f32([2, 750, 512], [1500], [1500]), [1e-5]).slice(1));

// ---- quantized weights over the limit: Q4_0 [1200, 2048] (1.4 MB), Q8_0 [700, 2048] (1.5 MB) ----
const K = 2048;
const QW = [
  ['Q4_0', 2, 18, 1200],
  ['Q8_0', 8, 34, 700],
].map(([name, type, bytes, Nq], i) => {
  const shape = [Nq as number, (K / 32) * (bytes as number)];
  const x = big([Nq as number, K], 60 + i, undefined, { lo: -2, hi: 2 });
  const q = onCpu((d) => d.k('quantize', [d.input(x)], [{ shape, dtype: U }], [type as number, K]));
  return { name: name as string, type: type as number, Nq: Nq as number, shape, q, i };
});
const quant: Rows = {
  dequantize: {
    cases: QW.map(({ name, type, Nq, shape, q }) =>
      c(`${name} [${Nq}, ${K}]`, [U], [F], (d) => d.k('dequantize', [d.tensor(q()[0]!, shape, U)], f32([Nq, K]), [type, K])),
    ),
  },
  matmulQ: {
    cases: QW.flatMap(({ name, type, Nq, shape, q, i }) => [
      c(`${name} x [6, ${K}] . W^T`, [F, U], [F], (d) => d.k('matmulQ', [d.input(big([6, K], 70 + i)), d.tensor(q()[0]!, shape, U)], f32([6, Nq]), [type, K, 0, 0]), 1e-5),
      c(`${name} x [2, ${K}] . W^T, int8 activations`, [F, U], [F], (d) => d.k('matmulQ', [d.input(big([2, K], 72 + i)), d.tensor(q()[0]!, shape, U)], f32([2, Nq]), [type, K, 0, 1]), 1e-3),
      // y = x @ W: W's rows are the contraction, cut and summed (another summation order)
      c(`${name} x [5, ${Nq}] . W`, [F, U], [F], (d) => d.k('matmulQ', [d.input(big([5, Nq], 74 + i)), d.tensor(q()[0]!, shape, U)], f32([5, K]), [type, K, 1, 0]), 1e-5),
    ]),
  },
  // rows of x [300, 2048] (2.4 MB), written as bytes
  quantize: {
    cases: [
      ['Q8_0', 8],
      ['Q4_K', 12],
      ['Q5_1', 7],
    ].map(([name, type]) => {
      const bytes = { 8: 34, 12: 144, 7: 24 }[type as number]!;
      const per = { 8: 32, 12: 256, 7: 32 }[type as number]!;
      return c(`${name} x [300, ${K}]`, [F], [U], (d) => d.k('quantize', [d.input(big([300, K], 76, undefined, { lo: -3, hi: 3 }))], [{ shape: [300, (K / per) * bytes], dtype: U }], [type as number, K]), 'bits');
    }),
  },
};

// ---- rope: batches, then positions (one batch [1, 1200, 4, 64] is 1.2 MB) ----
const posOf = (n: number): Operand => ({ shape: [n], dtype: I, seed: 0, values: Array.from({ length: n }, (_, i) => (i * 37) % 5000) });
const rope: Rows = {
  rope: {
    cases: [
      c('[2, 300, 8, 64] neox', [F, I], [F], (d) => d.k('rope', [d.input(big([2, 300, 8, 64], 80)), d.input(posOf(300))], f32([2, 300, 8, 64]), [10000, 0, 1, 64, 1]), 1e-5),
      c('[2, 1200, 4, 64] interleaved, inverse, 48 rotary dims', [F, I], [F], (d) => d.k('rope', [d.input(big([2, 1200, 4, 64], 81)), d.input(posOf(1200))], f32([2, 1200, 4, 64]), [500000, 1, -1, 48, 0.5]), 1e-5),
    ],
  },
};

// ---- attention: batches, query heads (kv heads in groups), query rows (a head of q [2500, 128] is 1.28 MB) ----
type Att = { B: number; Hq: number; Hkv: number; T: number; S: number; D: number; Dv: number; causal: boolean; mask?: boolean };
const ATT: Att[] = [
  { B: 2, Hq: 4, Hkv: 1, T: 1100, S: 512, D: 64, Dv: 64, causal: true }, // chunks of 2 query heads share a kv head
  // S < T: the first T - S rows see no key; a [T, S] mask broadcast over heads, 2 MB
  { B: 1, Hq: 2, Hkv: 1, T: 2500, S: 200, D: 128, Dv: 64, causal: true, mask: true },
  { B: 1, Hq: 2, Hkv: 2, T: 2100, S: 150, D: 128, Dv: 32, causal: false },
];
const attName = (a: Att) => `q [${a.B}, ${a.Hq}, ${a.T}, ${a.D}], k [${a.B}, ${a.Hkv}, ${a.S}, ${a.D}], v [.., ${a.Dv}]${a.causal ? ' causal' : ''}${a.mask ? ' [T, S] mask' : ''}`;
function attIn(d: Dev, a: Att, seed: number): Tensor[] {
  const t = [d.input(big([a.B, a.Hq, a.T, a.D], seed, undefined, { lo: -1.5, hi: 1.5 })), d.input(big([a.B, a.Hkv, a.S, a.D], seed + 1, undefined, { lo: -1.5, hi: 1.5 })), d.input(big([a.B, a.Hkv, a.S, a.Dv], seed + 2))];
  if (a.mask) {
    const m = Array.from({ length: a.T * a.S }, (_, i) => (i % 7 === 3 ? -Infinity : Math.fround(Math.sin(i))));
    t.push(d.tensor(m, [a.T, a.S]).view([a.B, a.Hq, a.T, a.S], [0, 0, a.S, 1], 0));
  }
  return t;
}
const attP = (a: Att) => [1 / Math.sqrt(a.D), a.causal ? 1 : 0, a.mask ? 1 : 0];
const attOut = (a: Att) => f32([a.B, a.Hq, a.T, a.Dv], [a.B, a.Hq, a.T]);
const attSaved = ATT.map((a, i) => onCpu((d) => d.k('sdpa', attIn(d, a, 100 + 10 * i), attOut(a), attP(a))));
const attention: Rows = {
  sdpa: { cases: ATT.map((a, i) => c(attName(a), a.mask ? [F, F, F, F] : [F, F, F], [F, F], (d) => d.k('sdpa', attIn(d, a, 100 + 10 * i), attOut(a), attP(a)), 1e-5)) },
  // dk, dv summed over chunks of a group's query heads and of query rows (another summation order)
  sdpaBwd: {
    cases: ATT.map((a, i) =>
      c(attName(a), a.mask ? [F, F, F, F, F, F, F] : [F, F, F, F, F, F], [F, F, F], (d) => {
        const [q, k, v, mask] = attIn(d, a, 100 + 10 * i);
        const [o, lse] = attSaved[i]!();
        const ins = [q!, k!, v!, d.tensor(o!, [a.B, a.Hq, a.T, a.Dv]), d.tensor(lse!, [a.B, a.Hq, a.T]), d.input(big([a.B, a.Hq, a.T, a.Dv], 105 + 10 * i))];
        if (mask) ins.push(mask);
        return d.k('sdpaBwd', ins, f32(q!.shape, k!.shape, v!.shape), attP(a));
      }, 1e-5),
    ),
  },
};

// every case above spans several windows of its biggest buffer, on every device compared with cpu
test('the cases meet buffers larger than the limit', () => {
  expect(4 * S[0]! * S[1]!).toBeGreaterThan(2 * LIMIT);
  for (const { shape } of QW) expect(shape[0]! * shape[1]!).toBeGreaterThan(LIMIT);
  expect(4 * N * C).toBeGreaterThan(LIMIT);
  expect(4 * 2 * 1200 * 4 * 64).toBeGreaterThan(2 * LIMIT); // rope: one batch over the limit
  for (const a of ATT) expect(4 * a.B * a.Hq * a.T * a.D).toBeGreaterThan(LIMIT); // q
  expect(4 * 2500 * 128).toBeGreaterThan(LIMIT); // one head of q: cut by query rows
  expect(4 * NB * D).toBeGreaterThan(LIMIT); // embeddingBwd's dy
  expect(4 * 300 * K).toBeGreaterThan(2 * LIMIT); // quantize's x
  expect(4 * 1500 * 512).toBeGreaterThan(2 * LIMIT); // the norm backwards' x
  expect(testDevices).toContain('cpu');
});

// What cannot be windowed fails naming the bytes and the limit (cpu has no such limit).
const WINDOW_ERROR = /needs a window of \d+ bytes of its buffer, more than the 1048576 bytes one storage binding may span \(EDGETRAIN_VULKAN_MAX_BUFFER\)/;
const onVulkan = test.runIf(requireVulkan || testDevices.includes('vulkan'));
onVulkan('vulkan: a single softmax row larger than the window is an OutOfMemoryError', () => {
  const d = new Dev('vulkan');
  et.tidy(() => {
    expect(() => d.k('softmax', [d.input(big([2, 300000], 45))], f32([2, 300000]))[0]!.dataSync()).toThrow(et.OutOfMemoryError);
    expect(() => d.k('softmax', [d.input(big([2, 300000], 45))], f32([2, 300000]))[0]!.dataSync()).toThrow(WINDOW_ERROR);
  });
});
onVulkan('vulkan: quantizing a single row larger than the window is an OutOfMemoryError', () => {
  const d = new Dev('vulkan');
  et.tidy(() => {
    const run = () => d.k('quantize', [d.input(big([2, 300000], 68))], [{ shape: [2, (300000 / 32) * 34], dtype: U }], [8, 300000])[0]!.dataSync();
    expect(run).toThrow(et.OutOfMemoryError);
    expect(run).toThrow(WINDOW_ERROR);
  });
});
// One training step of a tied-free LM head over a [6000, 64] vocabulary through autograd and AdamW:
// embedding, x @ W^T, crossEntropy, their backwards and the update, all on windowed buffers.
function trainStep(device: string): number[][] {
  return et.tidy(() => {
    const [Vt, Dt, T] = [6000, 64, 40];
    const host = (seed: number) => Array.from(et.randn([Vt, Dt], { seed, std: 0.5 }).dataSync());
    const emb = et.tensor(Float32Array.from(host(90)), [Vt, Dt], { device, requiresGrad: true });
    const head = et.tensor(Float32Array.from(host(91)), [Vt, Dt], { device, requiresGrad: true });
    const ids = et.tensor(Int32Array.from({ length: T }, (_, i) => (i * 7919) % Vt), [T], { dtype: 'int32', device });
    const tgt = et.tensor(Int32Array.from({ length: T }, (_, i) => (i * 104729 + 11) % Vt), [T], { dtype: 'int32', device });
    const opt = new et.optim.AdamW([emb, head], { lr: 1e-2 });
    const loss = et.crossEntropy(et.matmul(et.embedding(emb, ids), et.transpose(head)), tgt);
    loss.backward();
    const grads = [emb.grad!, head.grad!].map((t) => Array.from(t.dataSync()));
    opt.step();
    return [...[loss, emb, head].map((t) => Array.from(t.dataSync())), ...grads];
  });
}
onVulkan('vulkan: a training step on a [6000, 64] embedding and LM head gives cpu\'s loss and weights', () => {
  const want = trainStep('cpu');
  const got = trainStep('vulkan');
  // loss and both gradients to float32 rounding; the updated weights to 1e-4 of their range: the
  // first AdamW step moves each weight by lr * g / (|g| + eps), which turns float32 rounding in a
  // near-zero gradient into up to lr of movement (the CPU's AMX and FMA kernels, and Vulkan's, sum
  // in different orders)
  const names = ['loss', 'emb after the step', 'head after the step', 'emb grad', 'head grad'];
  want.forEach((w, i) => expectClose(names[i]!, got[i]!, w, i === 1 || i === 2 ? 1e-4 : 1e-5));
});

parityTests({ ...elementwise, ...matmul, ...embedding, ...rows, ...quant, ...rope, ...attention });

// Parity rows for the creation, copy, random, elementwise, comparison, reduction and matmul
// kernels (test/helpers/parity.ts runs them; test/parity-a.test.ts registers them).
import * as et from '../../lib/index.js';
import type { DType } from '../../lib/index.js';
import { native } from '../../lib/native/addon.js';
import type { OpName } from '../../lib/native/ops.js';
import { seedKey } from '../../lib/random.js';
import {
  type Case,
  describeOperands,
  type ErrorCase,
  f32,
  INPUT_VIEWS,
  type Operand,
  OUTPUT_VIEWS,
  randomShape,
  type Range,
  type Rows,
  SPECIAL,
  type ViewKind,
} from './parity.js';

export const ALL_DTYPES: DType[] = ['float32', 'float16', 'bfloat16', 'int32', 'uint8'];

// ---- fill: every dtype's bit pattern of awkward values, into views that split 32-bit words ----

const FILL_VALUES: Record<DType, number[]> = {
  float32: [-2.75, NaN, -0, Infinity, 1e-40, 1e39],
  float16: [-2.75, 65520, 6e-8, -0, NaN, 1 / 3],
  bfloat16: [-2.75, 1 / 3, 3e38, NaN, -0, 1e-40],
  int32: [-123456789, 16777217, 3e9, -3e9, NaN, -2.9],
  uint8: [200, 300, -1, 2.9, NaN, 255.5],
};

function fillCases(): Case[] {
  const cases: Case[] = [];
  for (const dtype of ALL_DTYPES)
    FILL_VALUES[dtype].forEach((value, i) => {
      const kind = OUTPUT_VIEWS[i % OUTPUT_VIEWS.length]!;
      const shape = i % 2 ? [3, 5] : [7];
      const outOfRange = dtype === 'int32' && !(value < 2 ** 31); // NaN or above INT_MAX
      cases.push({
        name: `${dtype} ${value} into [${shape}] ${kind}`,
        in: [],
        out: [dtype],
        tol: 'bits',
        known: outOfRange ? { vulkan: 'cpu fills int32 with INT_MIN for NaN and values above INT_MAX; vulkan saturates (NaN -> 0), as copy does on both' } : undefined,
        run: (d) => {
          const { base, view } = d.outputView(kind, shape, dtype, 9);
          d.k('fill', [], [], [value], [view]);
          return [base];
        },
      });
    });
  for (const dtype of ALL_DTYPES)
    cases.push({
      name: `${dtype} 5 into [1025] offset (vector body and tail)`,
      in: [],
      out: [dtype],
      tol: 'bits',
      run: (d) => {
        const { base, view } = d.outputView('offset', [1025], dtype, 9);
        d.k('fill', [], [], [5], [view]);
        return [base];
      },
    });
  return cases;
}

// ---- copy: every dtype pair, special values, strided / broadcast inputs, strided outputs ----

const FLOAT_SPECIAL = [0, 1, -1, 0.5, -2.75, 3.14159, 65504, 65520, 1e-5, -1e-7, 6e-8, 123.456, 70000, -0, NaN, Infinity, -Infinity, 1.9, -1.9, 255.5, 256, -300.7, 3e9, -3e9, 16777217, 1e-40];
const COPY_VALUES: Record<DType, number[]> = {
  float32: FLOAT_SPECIAL,
  float16: FLOAT_SPECIAL,
  bfloat16: FLOAT_SPECIAL,
  int32: [0, 1, -1, 2, 255, 256, -300, 2 ** 30, -(2 ** 31), 2 ** 31 - 1, 16777217, 65504, 196608],
  uint8: [0, 1, 127, 128, 255, 3, 17],
};

function copyCases(): Case[] {
  const cases: Case[] = [];
  let i = 0;
  for (const from of ALL_DTYPES)
    for (const to of ALL_DTYPES) {
      const inView = INPUT_VIEWS[i % INPUT_VIEWS.length]!;
      const outView: ViewKind | null = i % 4 === 0 ? null : OUTPUT_VIEWS[i % OUTPUT_VIEWS.length]!;
      const shape = randomShape(100 + i, 2 + (i % 2), 300);
      const x: Operand = { shape, dtype: from, seed: i, view: inView, values: COPY_VALUES[from] };
      cases.push({
        name: `${from} -> ${to}: ${describeOperands([x])} into ${outView ?? 'a new tensor'}`,
        in: [from],
        out: [to],
        tol: 'bits',
        run: (d) => {
          const xt = d.input(x);
          if (!outView) return d.k('copy', [xt], [{ shape, dtype: to }]);
          const { base, view } = d.outputView(outView, shape, to, 99);
          d.k('copy', [xt], [], [], [view]);
          return [base];
        },
      });
      i++;
    }
  return cases;
}

// ---- random kernels and dropout (counter-based: the same numbers on every device) ----

function randomCases(op: 'randUniform' | 'randNormal'): Case[] {
  const shapes = [[1], [33], [7, 3], [1027]];
  return shapes.map((shape, i) => {
    const params = op === 'randUniform' ? [seedKey(i + 1), -2, 3] : [seedKey(i + 1), 0.5, 2];
    const kind: ViewKind = i === 3 ? 'offset' : 'contiguous';
    return {
      name: `[${shape}] ${kind} seed ${i + 1}`,
      in: [],
      out: ['float32'],
      tol: 'bits',
      run: (d) => {
        const { base, view } = d.outputView(kind, shape, 'float32', 0);
        d.k(op, [], [], params, [view]);
        return [kind === 'contiguous' ? base : view];
      },
    };
  });
}

function dropoutCases(): Case[] {
  return [0.25, 0.5, 0.9, 0].map((p, i) => {
    const x: Operand = { shape: randomShape(200 + i, 1 + (i % 3), 3000), seed: 300 + i, view: INPUT_VIEWS[i]!, lo: 0.5, hi: 2 };
    return {
      name: `p ${p}: ${describeOperands([x])}`,
      in: ['float32'],
      out: ['float32'],
      tol: 'bits',
      run: (d) => d.k('dropout', [d.input(x)], f32(x.shape), [seedKey(7 + i), p]),
    };
  });
}

// ---- unary ----

/** Each unary op: input range, tolerance, parameter sets (the first is used with every view). */
const UNARY: [OpName, Range, number, number[][]][] = [
  ['affine', { lo: -2, hi: 2 }, 1e-6, [[1.5, -0.25], [0, 3], [-1, 0]]],
  ['exp', { lo: -5, hi: 5 }, 1e-5, [[]]],
  ['log', { lo: 0.01, hi: 10 }, 1e-5, [[]]],
  ['sqrt', { lo: 0, hi: 10 }, 1e-6, [[]]],
  ['rsqrt', { lo: 0.01, hi: 10 }, 1e-5, [[]]],
  ['abs', { lo: -3, hi: 3 }, 0, [[]]],
  ['sign', { lo: -3, hi: 3, step: 0.5 }, 0, [[]]],
  ['relu', { lo: -3, hi: 3, step: 0.25 }, 0, [[]]],
  ['geluTanh', { lo: -5, hi: 5 }, 1e-5, [[]]],
  ['geluErf', { lo: -5, hi: 5 }, 1e-5, [[]]],
  ['silu', { lo: -8, hi: 8 }, 1e-5, [[]]],
  ['sigmoid', { lo: -8, hi: 8 }, 1e-5, [[]]],
  ['tanh', { lo: -4, hi: 4 }, 1e-5, [[]]],
  ['powScalar', { lo: 0, hi: 3 }, 1e-5, [[2.5], [3], [2], [-2], [0.5], [0]]],
];

/** Math on subnormal inputs may flush them to zero on a GPU (Vulkan allows it): left to copy and fill. */
const NORMAL_SPECIAL = SPECIAL.filter((v) => !(v !== 0 && Math.abs(v) < 2 ** -126));

function unaryCases(op: OpName, range: Range, tol: number, paramSets: number[][]): Case[] {
  const one = (name: string, x: Operand, params: number[]): Case => ({
    name,
    in: ['float32'],
    out: ['float32'],
    tol,
    run: (d) => d.k(op, [d.input(x)], f32(x.shape), params),
  });
  const cases = INPUT_VIEWS.map((view, i) => {
    const x: Operand = { shape: randomShape(10 * i + op.length, 1 + (i % 4)), seed: 40 + i, view, ...range };
    return one(describeOperands([x]), x, paramSets[0]!);
  });
  paramSets.forEach((params, j) => {
    cases.push(one(`special values, params [${params}]`, { shape: [NORMAL_SPECIAL.length], seed: 0, values: NORMAL_SPECIAL }, params));
    if (j > 0) cases.push(one(`[7, 33], params [${params}]`, { shape: [7, 33], seed: 50 + j, ...range }, params));
  });
  return cases;
}

/** The queue under load: 300 dependent calls (more than one submitted batch) with each input disposed while queued. */
const affineChain: Case = {
  name: '300 queued calls, each input disposed while its reader is queued',
  in: ['float32'],
  out: ['float32'],
  tol: 1e-4, // x * a + b fused or not: an ulp a step
  run: (d) => {
    let cur = d.input({ shape: [1000], seed: 1 });
    const first = cur;
    for (let i = 0; i < 300; i++) {
      const y = d.k('affine', [cur], f32([1000]), [1.001, 0.001])[0]!;
      if (cur !== first) cur.dispose();
      cur = y;
    }
    return [cur];
  },
};

/** An upload into a buffer that queued kernels still read is ordered after them. */
const affineUploadOrder: Case = {
  name: 'upload after queued reads of the same buffer',
  in: ['float32'],
  out: ['float32'],
  tol: 0,
  run: (d) => {
    const a = d.tensor([1, 2, 3, 4], [4]);
    const y1 = d.k('affine', [a], f32([4]), [2, 0])[0]!;
    native.upload(a.storage.handle, 0, new Float32Array([10, 20, 30, 40]));
    const y2 = d.k('affine', [a], f32([4]), [2, 0])[0]!;
    return [y1, y2, a];
  },
};

// ---- binary (broadcast inputs, stride 0) and the x/dy backward kernels ----

const PAIRS: [ViewKind, ViewKind][] = [
  ['contiguous', 'contiguous'],
  ['transposed', 'broadcast'],
  ['sliced', 'reversed'],
  ['broadcast', 'transposed'],
  ['scalar', 'padded'],
  ['offset', 'scalar'],
];

const BINARY: [OpName, Range, Range, number][] = [
  ['add', { lo: -3, hi: 3 }, { lo: -3, hi: 3 }, 1e-6],
  ['sub', { lo: -3, hi: 3 }, { lo: -3, hi: 3 }, 1e-6],
  ['mul', { lo: -3, hi: 3 }, { lo: -3, hi: 3 }, 1e-6],
  ['div', { lo: -3, hi: 3 }, { lo: 0.25, hi: 2 }, 1e-6],
  ['maximum', { lo: -2, hi: 2, step: 0.5 }, { lo: -2, hi: 2, step: 0.5 }, 0],
  ['minimum', { lo: -2, hi: 2, step: 0.5 }, { lo: -2, hi: 2, step: 0.5 }, 0],
  ['reluBwd', { lo: -3, hi: 3, step: 0.25 }, { lo: -1, hi: 1 }, 0],
  ['geluTanhBwd', { lo: -4, hi: 4 }, { lo: -1, hi: 1 }, 1e-5],
  ['geluErfBwd', { lo: -4, hi: 4 }, { lo: -1, hi: 1 }, 1e-5],
  ['siluBwd', { lo: -6, hi: 6 }, { lo: -1, hi: 1 }, 1e-5],
];

function binaryCases(op: OpName, ra: Range, rb: Range, out: DType, tol: number, into = false): Case[] {
  const cases: Case[] = PAIRS.map(([va, vb], i) => {
    const shape = randomShape(7 * i + op.length, 1 + (i % 4));
    const a: Operand = { shape, seed: 60 + i, view: va, ...ra };
    const b: Operand = { shape, seed: 70 + i, view: vb, ...rb };
    return { name: describeOperands([a, b]), in: ['float32', 'float32'], out: [out], tol, run: (d) => d.k(op, [d.input(a), d.input(b)], [{ shape, dtype: out }]) };
  });
  cases.push({
    name: 'every pair of special values',
    in: ['float32', 'float32'],
    out: [out],
    tol,
    run: (d) => {
      const n = SPECIAL.length;
      const a = d.input({ shape: [n, n], seed: 0, values: SPECIAL.flatMap((v) => SPECIAL.map(() => v)) });
      const b = d.input({ shape: [n, n], seed: 0, values: SPECIAL });
      return d.k(op, [a, b], [{ shape: [n, n], dtype: out }]);
    },
  });
  if (into)
    for (const kind of ['offset', 'sliced'] as ViewKind[])
      cases.push({
        name: `[7, 5] written into a ${kind} view of a larger buffer (neighbours kept)`,
        in: ['float32', 'float32'],
        out: [out],
        tol,
        run: (d) => {
          const { base, view } = d.outputView(kind, [7, 5], out, 7);
          d.k(op, [d.input({ shape: [7, 5], seed: 80, ...ra }), d.input({ shape: [7, 5], seed: 81, view: 'broadcast', ...rb })], [], [], [view]);
          return [base];
        },
      });
  return cases;
}

const CMP_OPS: OpName[] = ['gt', 'ge', 'lt', 'le', 'eq', 'ne'];
const TIES: Range = { lo: -2, hi: 2, step: 0.5 };

function whereCases(): Case[] {
  const triples: [ViewKind, ViewKind, ViewKind][] = [
    ['contiguous', 'contiguous', 'contiguous'],
    ['broadcast', 'transposed', 'scalar'],
    ['sliced', 'reversed', 'broadcast'],
    ['offset', 'padded', 'sliced'],
  ];
  return triples.map(([vc, va, vb], i) => {
    const shape = randomShape(90 + i, 2 + (i % 3));
    const ops: Operand[] = [
      { shape, dtype: 'uint8', seed: 91 + i, view: vc, lo: 0, hi: 3 }, // 2 counts as true
      { shape, seed: 92 + i, view: va },
      { shape, seed: 93 + i, view: vb, lo: 10, hi: 20 },
    ];
    return {
      name: describeOperands(ops),
      in: ['uint8', 'float32', 'float32'],
      out: ['float32'],
      tol: 0,
      run: (d) => d.k('where', ops.map((o) => d.input(o)), f32(shape)),
    };
  });
}

// ---- reductions over trailing dims of strided views ----

function reduceCases(op: 'sum' | 'max', tol: number): Case[] {
  const out: DType[] = op === 'sum' ? ['float32'] : ['float32', 'int32'];
  const shapes: [number[], number, ViewKind, Range][] = [
    [[4, 6], 1, 'contiguous', {}],
    [[3, 4, 5], 2, 'transposed', {}],
    [[3, 4, 5], 3, 'sliced', {}],
    [[3, 4], 0, 'contiguous', {}],
    [[5, 1000], 1, 'padded', {}],
    [[5000, 3], 1, 'contiguous', {}],
    [[1, 70000], 1, 'contiguous', {}],
    [[7, 33], 1, 'reversed', TIES],
    [[2, 3, 7], 1, 'broadcast', TIES],
    [randomShape(95, 4, 2000), 2, 'offset', {}],
  ];
  const cases: Case[] = shapes.map(([shape, dims, view, range], i) => {
    const x: Operand = { shape, seed: 100 + i, view, ...range };
    const lead = shape.slice(0, shape.length - dims);
    const outs = out.map((dtype) => ({ shape: lead, dtype }));
    return { name: `${describeOperands([x])}, ${dims} trailing dims`, in: ['float32'], out, tol, run: (d) => d.k(op, [d.input(x)], outs, [dims]) };
  });
  cases.push({
    name: 'rows with NaN, infinities and ties',
    in: ['float32'],
    out,
    tol,
    run: (d) => {
      const rows = [
        [1, NaN, 3, 3],
        [-Infinity, -Infinity, -Infinity, -Infinity],
        [2, 5, 5, -1],
        [Infinity, 1, Infinity, NaN],
        [-0, 0, -1, -2],
      ];
      return d.k(op, [d.tensor(rows.flat(), [5, 4])], out.map((dtype) => ({ shape: [5], dtype })), [1]);
    },
  });
  return cases;
}

// ---- matmul: odd sizes, transposed and padded operands, batch broadcast (stride 0), float16 and bfloat16 weights ----

function matmulCases(): Case[] {
  const sizes: [number[], number, number, number, ViewKind, ViewKind][] = [
    [[], 2, 3, 4, 'contiguous', 'contiguous'],
    [[], 37, 53, 29, 'contiguous', 'contiguous'],
    [[], 1, 300, 1, 'contiguous', 'contiguous'],
    [[], 130, 70, 200, 'contiguous', 'contiguous'],
    [[], 1, 33, 7, 'contiguous', 'transposed'], // decode with a [N, K] weight
    [[], 7, 1, 5, 'contiguous', 'contiguous'],
    [[], 4, 0, 5, 'contiguous', 'contiguous'],
    [[], 37, 53, 29, 'transposed', 'contiguous'],
    [[], 37, 53, 29, 'contiguous', 'transposed'],
    [[], 65, 17, 66, 'transposed', 'transposed'],
    [[], 33, 7, 3, 'padded', 'padded'],
    [[3], 37, 53, 29, 'contiguous', 'contiguous'],
    [[3], 37, 53, 29, 'contiguous', 'broadcast'],
    [[2], 37, 53, 29, 'broadcast', 'transposed'],
    [[2, 3], 5, 7, 3, 'padded', 'broadcast'],
  ];
  const withHalf = new Set([1, 4, 8, 12, 13]);
  const cases: Case[] = [];
  sizes.forEach(([batch, M, K, N, va, vb], i) => {
    for (const bt of (withHalf.has(i) ? ['float32', 'float16', 'bfloat16'] : ['float32']) as DType[]) {
      const a: Operand = { shape: [...batch, M, K], seed: 120 + i, view: va };
      const b: Operand = { shape: [...batch, K, N], dtype: bt, seed: 140 + i, view: vb };
      cases.push({
        name: `${bt !== 'float32' ? `${bt} b: ` : ''}${describeOperands([a, b])}`,
        in: ['float32', bt],
        out: ['float32'],
        tol: 1e-5,
        run: (d) => d.k('matmul', [d.input(a), d.input(b)], f32([...batch, M, N])),
      });
    }
  });
  // y = a @ b + beta y into an existing y (the fused LoRA layer's accumulation); gemv, tiny and
  // blocked paths, a batch, a half-size b
  const acc: [number[], number, number, number, ViewKind, DType, number][] = [
    [[], 37, 53, 29, 'contiguous', 'float32', 1],
    [[], 130, 70, 200, 'transposed', 'float32', 1],
    [[], 1, 33, 7, 'transposed', 'float32', 1],
    [[], 7, 1, 5, 'contiguous', 'float32', 0.5],
    [[3], 37, 53, 29, 'broadcast', 'float32', -2],
    [[], 65, 17, 66, 'transposed', 'bfloat16', 1],
  ];
  acc.forEach(([batch, M, K, N, vb, bt, beta], i) => {
    const a: Operand = { shape: [...batch, M, K], seed: 170 + i };
    const b: Operand = { shape: [...batch, K, N], dtype: bt, seed: 180 + i, view: vb };
    const y: Operand = { shape: [...batch, M, N], seed: 190 + i };
    cases.push({
      name: `beta ${beta} (y += a @ b): ${bt !== 'float32' ? `${bt} b: ` : ''}${describeOperands([a, b])}`,
      in: ['float32', bt],
      out: ['float32'],
      tol: 1e-5,
      run: (d) => {
        const out = d.input(y);
        d.k('matmul', [d.input(a), d.input(b)], [], [beta], [out]);
        return [out];
      },
    });
  });
  return cases;
}

// ---- calls every device must refuse the same way ----

const CPU_UNCHECKED = { cpu: 'the cpu kernel trusts the TypeScript op to have checked this; vulkan checks it' };

const shapeErrors: Record<string, ErrorCase[]> = {
  exp: [
    {
      name: 'an int32 input is a DTypeError naming the op and the operand',
      run: (d) => d.k('exp', [d.tensor([1, 2], [2], 'int32')], f32([2])),
      error: et.DTypeError,
      message: /exp: input x must be float32, got int32/,
    },
  ],
  add: [
    {
      name: 'inputs that do not broadcast to the output',
      run: (d) => d.k('add', [d.input({ shape: [2, 3], seed: 1 }), d.input({ shape: [2, 3], seed: 2 })], f32([3, 2]))[0]!.dataSync(),
      error: et.EdgeTrainError,
      message: /add/,
      known: CPU_UNCHECKED,
    },
  ],
  sum: [
    {
      name: 'a fractional dims parameter is a ValueError',
      run: (d) => d.k('sum', [d.input({ shape: [2, 3], seed: 1 })], f32([2]), [1.5])[0]!.dataSync(),
      error: et.ValueError,
      message: /sum/,
      known: CPU_UNCHECKED,
    },
  ],
  matmul: [
    {
      name: 'operands whose K differ are a ShapeError naming the op and shapes',
      run: (d) => d.k('matmul', [d.input({ shape: [2, 3], seed: 1 }), d.input({ shape: [4, 2], seed: 2 })], f32([2, 2]))[0]!.dataSync(),
      error: et.ShapeError,
      message: /matmul: .*float32\[2,3\], float32\[4,2\]/,
      known: CPU_UNCHECKED,
    },
    {
      name: 'a wrong-dtype a operand',
      run: (d) => d.k('matmul', [d.tensor([1, 2], [1, 2], 'float16'), d.input({ shape: [2, 1], seed: 1 })], f32([1, 1])),
      error: et.DTypeError,
      message: /matmul: input a must be float32, got float16/,
    },
  ],
};

const row = (op: string, cases: Case[]) => ({ cases, errors: shapeErrors[op] });

export const ROWS_A: Rows = {
  fill: row('fill', fillCases()),
  copy: row('copy', copyCases()),
  randUniform: row('randUniform', randomCases('randUniform')),
  randNormal: row('randNormal', randomCases('randNormal')),
  dropout: row('dropout', dropoutCases()),
  ...Object.fromEntries(
    UNARY.map(([op, range, tol, params]) => [op, row(op, [...unaryCases(op, range, tol, params), ...(op === 'affine' ? [affineChain, affineUploadOrder] : [])])]),
  ),
  ...Object.fromEntries(BINARY.map(([op, ra, rb, tol]) => [op, row(op, binaryCases(op, ra, rb, 'float32', tol))])),
  ...Object.fromEntries(CMP_OPS.map((op) => [op, row(op, binaryCases(op, TIES, TIES, 'uint8', 0, true))])),
  where: row('where', whereCases()),
  sum: row('sum', reduceCases('sum', 1e-5)),
  max: row('max', reduceCases('max', 0)),
  matmul: row('matmul', matmulCases()),
};

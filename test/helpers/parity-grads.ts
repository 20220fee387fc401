// Finite-difference gradient cases for the parity harness: each runs a public op (through
// test/helpers/op-table.ts) whose backward uses the kernels it lists, on small odd shapes with
// strided and broadcast operands. test/parity-grad.test.ts checks autograd against central
// differences on every device (and each device's gradients against cpu's); test/parity.test.ts
// checks every backward kernel has a case here.
import type { OpName } from '../../lib/native/ops.js';
import type { FixtureInput, OpCase, TensorData, ViewSpec } from './fixtures.js';
import { hostValues, numel, type Range } from './parity.js';

export interface GradCase {
  case: OpCase;
  /** The kernels its forward and backward run (the DeviceError of a device lacking one must name it). */
  kernels: OpName[];
}

/** A float32 input needing a gradient, seeded; values within `gap` of 0 are pushed away from kinks. */
function leaf(shape: number[], seed: number, r: Range & { gap?: number } = {}, view?: ViewSpec | ViewSpec[]): FixtureInput {
  let data = hostValues(numel(shape), seed, 'float32', r);
  if (r.gap) data = data.map((v) => Math.fround(v < 0 ? v - r.gap! : v + r.gap!));
  return { shape, dtype: 'float32', data, requiresGrad: true, view };
}
const ints = (shape: number[], values: number[], dtype: 'int32' | 'uint8' = 'int32'): FixtureInput => ({ shape, dtype, data: values });

const T = (a: number, b: number): ViewSpec => ({ kind: 'transpose', args: [a, b] });
const E = (shape: number[]): ViewSpec => ({ kind: 'expand', args: [shape] });
const S = (dim: number, start: number, end: number | null, step: number): ViewSpec => ({ kind: 'slice', args: [dim, start, end, step] });

/** dy for every float output, given the output shapes (seeded; computed once per case). */
export function upstream(shapes: (readonly number[] | null)[], seed: number): (TensorData | null)[] {
  return shapes.map((s, k) => (s ? { shape: [...s], dtype: 'float32', data: hostValues(numel(s), seed + k, 'float32') } : null));
}

function gc(name: string, op: string, params: Record<string, unknown>, inputs: FixtureInput[], kernels: OpName[]): GradCase {
  return { case: { name, op, params, inputs, outputs: [], dy: [], grads: inputs.map(() => null), tol: { fwd: 0, grad: 0 }, fd: true }, kernels };
}

const unary = (op: string, kernels: OpName[], r: Range & { gap?: number }, params: Record<string, unknown> = {}): GradCase =>
  gc(`${op}${Object.keys(params).length ? ` ${JSON.stringify(params)}` : ''} [3, 7] transposed`, op, params, [leaf([7, 3], op.length, r, T(0, 1))], kernels);

const binary = (op: string, kernels: OpName[], rb: Range = { lo: -1, hi: 1 }): GradCase =>
  gc(`${op} [3, 5] and a broadcast [5]`, op, {}, [leaf([3, 5], 11, { lo: -1, hi: 1 }), leaf([1, 5], 12, rb, E([3, 5]))], [...kernels, 'sum']);

const attn = (q: number[], k: number[], v: number[], mask?: FixtureInput): FixtureInput[] => [
  leaf(q, 31, { lo: -1.5, hi: 1.5 }),
  leaf(k, 32, { lo: -1.5, hi: 1.5 }),
  leaf(v, 33),
  ...(mask ? [mask] : []),
];

export const GRAD_CASES: GradCase[] = [
  unary('relu', ['relu', 'reluBwd'], { lo: -1, hi: 1, gap: 0.05 }),
  unary('gelu', ['geluTanh', 'geluTanhBwd'], { lo: -3, hi: 3 }, { approximate: 'tanh' }),
  unary('gelu', ['geluErf', 'geluErfBwd'], { lo: -3, hi: 3 }, { approximate: 'none' }),
  unary('silu', ['silu', 'siluBwd'], { lo: -4, hi: 4 }),
  unary('exp', ['exp', 'mul'], { lo: -2, hi: 2 }),
  unary('log', ['log', 'div'], { lo: 0.5, hi: 3 }),
  unary('sqrt', ['sqrt', 'div', 'affine'], { lo: 0.5, hi: 3 }),
  unary('rsqrt', ['rsqrt', 'powScalar', 'mul', 'affine'], { lo: 0.5, hi: 3 }),
  unary('abs', ['abs', 'sign', 'mul'], { lo: -1, hi: 1, gap: 0.05 }),
  unary('sigmoid', ['sigmoid', 'affine', 'mul'], { lo: -4, hi: 4 }),
  unary('tanh', ['tanh', 'mul', 'affine'], { lo: -2, hi: 2 }),
  unary('pow', ['powScalar', 'affine', 'mul'], { lo: 0.5, hi: 2 }, { p: 2.5 }),
  binary('add', ['add']),
  binary('sub', ['sub', 'affine']),
  binary('mul', ['mul']),
  binary('div', ['div', 'mul'], { lo: 0.5, hi: 2 }),
  binary('maximum', ['maximum', 'gt', 'where']),
  binary('minimum', ['minimum', 'gt', 'where']),
  gc('add of a scalar (affine) to [3, 7] sliced', 'add', { scalar: 0.75 }, [leaf([3, 15], 13, {}, S(1, 1, null, 2))], ['affine']),
  gc('where [4, 5], cond broadcast', 'where', {}, [ints([4, 5], [1, 0, 2, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0], 'uint8'), leaf([4, 5], 14), leaf([4, 5], 15)], ['where', 'fill']),
  gc('sum over dim 1 of [3, 7, 2] transposed', 'sum', { dim: 1 }, [leaf([3, 2, 7], 16, {}, T(1, 2))], ['sum', 'copy']),
  gc('mean of [5, 3]', 'mean', {}, [leaf([5, 3], 17)], ['sum', 'affine']),
  gc('max over dim 1 of [4, 7]', 'max', { dim: 1 }, [leaf([4, 7], 18)], ['max', 'eq', 'where']),
  gc('matmul [3, 5] transposed @ [5, 4] (batch 2 broadcast)', 'matmul', {}, [leaf([2, 5, 3], 19, {}, T(1, 2)), leaf([5, 4], 20)], ['matmul', 'copy']),
  gc('contiguous of a [3, 5] transposed view (copy)', 'contiguous', {}, [leaf([5, 3], 21, {}, T(0, 1))], ['copy']),
  gc('softmax over the last dim of [3, 7]', 'softmax', { dim: -1 }, [leaf([3, 7], 22, { lo: -2, hi: 2 })], ['softmax', 'softmaxBwd']),
  gc('softmax over dim 0 of [5, 3]', 'softmax', { dim: 0 }, [leaf([5, 3], 23, { lo: -2, hi: 2 })], ['softmax', 'softmaxBwd', 'copy']),
  gc('logSoftmax over the last dim of [4, 5]', 'logSoftmax', { dim: -1 }, [leaf([4, 5], 24, { lo: -2, hi: 2 })], ['logSoftmax', 'logSoftmaxBwd']),
  gc('crossEntropy [5, 7] with an ignored row', 'crossEntropy', {}, [leaf([5, 7], 25, { lo: -2, hi: 2 }), ints([5], [3, -100, 0, 6, 2])], ['crossEntropy', 'crossEntropyBwd']),
  gc('embedding [6, 4] by ids with repeats', 'embedding', {}, [leaf([6, 4], 26), ints([5], [1, 4, 1, 1, 0])], ['embedding', 'embeddingBwd']),
  gc('rmsNorm [4, 9] with weight', 'rmsNorm', { weight: true, eps: 1e-5 }, [leaf([4, 9], 27), leaf([9], 28, { lo: 0.5, hi: 1.5 })], ['rmsNorm', 'rmsNormBwd']),
  gc('layerNorm [3, 7] with weight and bias', 'layerNorm', { weight: true, bias: true, eps: 1e-5 }, [leaf([3, 7], 29), leaf([7], 30, { lo: 0.5, hi: 1.5 }), leaf([7], 31)], ['layerNorm', 'layerNormBwd']),
  gc('rope neox [1, 3, 2, 6] from position 2', 'rope', { offset: 2 }, [leaf([1, 3, 2, 6], 32)], ['rope']),
  gc('rope interleaved, rotaryDims 4, [1, 3, 2, 6]', 'rope', { mode: 'interleaved', rotaryDims: 4 }, [leaf([1, 3, 2, 6], 33)], ['rope']),
  gc('swiglu [2, 5]', 'swiglu', {}, [leaf([2, 5], 34, { lo: -3, hi: 3 }), leaf([2, 5], 35)], ['swiglu', 'swigluBwd']),
  gc('attention GQA 4:2 causal, T 3, S 4', 'scaledDotProductAttention', { causal: true }, attn([1, 4, 3, 2], [1, 2, 4, 2], [1, 2, 4, 3]), ['sdpa', 'sdpaBwd']),
  gc(
    'attention with a [3, 4] additive mask (a fully masked row)',
    'scaledDotProductAttention',
    {},
    attn([1, 2, 3, 2], [1, 2, 4, 2], [1, 2, 4, 2], { shape: [3, 4], dtype: 'float32', data: [0, -1, 0.5, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, 0.2, 0, -0.3, 0] }),
    ['sdpa', 'sdpaBwd'],
  ),
  gc('dropout p 0.3 on [4, 6]', 'dropout', { p: 0.3, seed: 9 }, [leaf([4, 6], 36)], ['dropout']),
];

// The op table fixtures (test/fixtures/ops.json, written by scripts/gen-fixtures.py): types, loading,
// and turning a fixture input into an edgetrain tensor (the stored base, then its views).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as et from '../../lib/index.js';
import type { DType, Tensor } from '../../lib/index.js';

export interface ViewSpec {
  kind: 'transpose' | 'slice' | 'expand' | 'permute';
  args: unknown[];
}

export interface TensorData {
  shape: number[];
  dtype: DType;
  data: number[];
}

export interface FixtureInput extends TensorData {
  requiresGrad?: boolean;
  /** Applied in order to the stored base tensor to get the op's operand (gradients are w.r.t. the base). */
  view?: ViewSpec | ViewSpec[];
}

export interface OpCase {
  name: string;
  op: string;
  params: Record<string, unknown>;
  inputs: FixtureInput[];
  outputs: TensorData[];
  /** Upstream gradient per output (null for outputs that carry none: ints, masks). */
  dy: (TensorData | null)[];
  /** d sum(y * dy) / d base input, per input (null where the input needs no gradient). */
  grads: (TensorData | null)[];
  tol: { fwd: number; grad: number };
  /** Whether the finite-difference check applies (float32 inputs that need gradients). */
  fd: boolean;
}

export interface Fixtures {
  generator: string;
  torch: string;
  seed: number;
  cases: OpCase[];
}

const here = dirname(fileURLToPath(import.meta.url));

export function loadFixtures(): Fixtures {
  return JSON.parse(readFileSync(join(here, '..', 'fixtures', 'ops.json'), 'utf8')) as Fixtures;
}

/** A host array of the dtype's storage kind (16-bit floats are given as float32 values). */
export function hostArray(dtype: DType, data: ArrayLike<number>): Float32Array | Int32Array | Uint8Array {
  if (dtype === 'int32') return Int32Array.from(data);
  if (dtype === 'uint8') return Uint8Array.from(data);
  return Float32Array.from(data);
}

/** A contiguous tensor holding the data on `device`. */
export function makeTensor(t: TensorData, device: string, data: ArrayLike<number> = t.data, requiresGrad = false): Tensor {
  return et.tensor(hostArray(t.dtype, data), t.shape, { dtype: t.dtype, device, requiresGrad });
}

export function applyView(t: Tensor, view: ViewSpec | ViewSpec[] | undefined): Tensor {
  if (!view) return t;
  let x = t;
  for (const v of Array.isArray(view) ? view : [view]) {
    const a = v.args;
    switch (v.kind) {
      case 'transpose':
        x = et.transpose(x, a[0] as number, a[1] as number);
        break;
      case 'permute':
        x = et.permute(x, a[0] as number[]);
        break;
      case 'expand':
        x = et.expand(x, a[0] as number[]);
        break;
      case 'slice':
        x = et.slice(x, a[0] as number, (a[1] as number | null) ?? undefined, (a[2] as number | null) ?? undefined, (a[3] as number | null) ?? 1);
        break;
      default:
        throw new Error(`fixture: unknown view kind ${String((v as ViewSpec).kind)}`);
    }
  }
  return x;
}

export const isFloatDType = (d: string): boolean => d === 'float32' || d === 'float16' || d === 'bfloat16';

export const fmtShape = (s: readonly number[]): string => `[${s.join(', ')}]`;

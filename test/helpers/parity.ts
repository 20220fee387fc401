// The backend parity harness (the role of ggml's test-backend-ops): every kernel op in
// lib/native/ops.ts KERNEL_OPS has a row of cases; each case runs the kernel through runKernel on
// every device present, on inputs made from seeded host data, and each device other than cpu must
// give cpu's results (tolerance per case, relative to the output's largest magnitude). A device
// that lacks an op or a dtype combination must throw et.DeviceError naming the op and the device:
// the harness asserts that and lists the gaps when the file ends, never skips. A case may name a
// known divergence on a device: its test there must fail (test.fails) until the kernel is fixed.
// The row tables are test/helpers/parity-rows-*.ts; test/parity.test.ts checks they cover the
// schema (every op, every operand dtype it accepts).
import { afterAll, describe, expect, test } from 'vitest';
import * as et from '../../lib/index.js';
import type { DType, Tensor } from '../../lib/index.js';
import { DTYPE_SIZE } from '../../lib/dtype.js';
import { native } from '../../lib/native/addon.js';
import { OP, type OpName } from '../../lib/native/ops.js';
import { type OutSpec, runKernel } from '../../lib/native/run.js';
import { expectClose } from './compare.js';
import { rng } from './data.js';
import { isUnsupported, testDevices } from './devices.js';

// ---------------------------------------------------------------------------------------------
// host data

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export const contiguousStrides = (shape: readonly number[]): number[] => {
  const s = new Array<number>(shape.length);
  for (let d = shape.length - 1, acc = 1; d >= 0; acc *= shape[d]!, d--) s[d] = acc;
  return s;
};

export interface Range {
  lo?: number;
  hi?: number;
  /** Rounds each value to a multiple of this (plants ties and exact zeros). */
  step?: number;
}

/** n seeded values in [lo, hi): integers for int32/uint8, float32-rounded otherwise. */
export function hostValues(n: number, seed: number, dtype: DType, { lo = -1, hi = 1, step }: Range = {}): number[] {
  const r = rng(seed);
  const out = new Array<number>(n);
  const int = dtype === 'int32' || dtype === 'uint8';
  for (let i = 0; i < n; i++) {
    let v = lo + (hi - lo) * r();
    if (step) v = Math.round(v / step) * step;
    out[i] = int ? Math.floor(v) : Math.fround(v);
  }
  return out;
}

/** Shapes drawn from sizes that stress vector bodies and tails (1, 3, 7, 33, ...), at most `cap` elements. */
export function randomShape(seed: number, rank: number, cap = 4096, sizes = [1, 2, 3, 5, 7, 16, 33]): number[] {
  const r = rng(seed);
  for (;;) {
    const s = Array.from({ length: rank }, () => sizes[Math.floor(r() * sizes.length)]!);
    if (numel(s) <= cap && (rank === 0 || numel(s) > 1)) return s;
  }
}

// ---------------------------------------------------------------------------------------------
// views: how a case's operand of a given logical shape sits in its buffer

/**
 * contiguous; transposed (last two dims swapped in memory); sliced (stride 2 in the last dim, an odd
 * offset, rows padded); padded (unit last stride, rows 3 elements longer, offset 1); broadcast (stride 0 on the first dim larger than 1); scalar (one element,
 * every stride 0); reversed (negative last stride); offset (contiguous from element 3: 16-bit and
 * 8-bit data that does not start on a 32-bit word).
 */
export type ViewKind = 'contiguous' | 'transposed' | 'sliced' | 'padded' | 'broadcast' | 'scalar' | 'reversed' | 'offset';
export const INPUT_VIEWS: ViewKind[] = ['contiguous', 'transposed', 'sliced', 'padded', 'broadcast', 'reversed', 'offset'];
/** Views an output can be written through (no zero strides). */
export const OUTPUT_VIEWS: ViewKind[] = ['offset', 'sliced', 'transposed'];

export interface Geometry {
  base: number[];
  strides: number[];
  offset: number;
}

export function geometry(kind: ViewKind, shape: readonly number[]): Geometry {
  const r = shape.length;
  const plain = { base: [...shape], strides: contiguousStrides(shape), offset: 0 };
  if (r === 0 || numel(shape) === 0) return plain;
  switch (kind) {
    case 'contiguous':
      return plain;
    case 'transposed': {
      if (r < 2) return geometry('reversed', shape);
      const base = [...shape];
      [base[r - 2], base[r - 1]] = [shape[r - 1]!, shape[r - 2]!];
      const strides = contiguousStrides(base);
      [strides[r - 2], strides[r - 1]] = [strides[r - 1]!, strides[r - 2]!];
      return { base, strides, offset: 0 };
    }
    case 'sliced': {
      const base = [...shape];
      base[r - 1] = 2 * shape[r - 1]! + 1;
      if (r > 1) base[0]! += 1;
      const strides = contiguousStrides(base);
      strides[r - 1] = 2;
      return { base, strides, offset: (r > 1 ? strides[0]! : 0) + 1 };
    }
    case 'padded': {
      if (r < 2) return geometry('offset', shape);
      const base = [...shape];
      base[r - 1] = shape[r - 1]! + 3;
      base[0]! += 1;
      return { base, strides: contiguousStrides(base), offset: 1 };
    }
    case 'broadcast': {
      const d = Math.max(0, shape.findIndex((s) => s > 1));
      const base = [...shape];
      base[d] = 1;
      const strides = contiguousStrides(base);
      strides[d] = 0;
      return { base, strides, offset: 0 };
    }
    case 'scalar':
      return { base: [1], strides: shape.map(() => 0), offset: 0 };
    case 'reversed': {
      const strides = contiguousStrides(shape);
      strides[r - 1] = -1;
      return { base: [...shape], strides, offset: shape[r - 1]! - 1 };
    }
    case 'offset':
      return { base: [numel(shape) + 3], strides: contiguousStrides(shape), offset: 3 };
  }
}

// ---------------------------------------------------------------------------------------------
// cases and rows

export interface Operand extends Range {
  shape: number[];
  dtype?: DType;
  seed: number;
  view?: ViewKind;
  /** Explicit values for the buffer (repeated to fill it) instead of seeded ones. */
  values?: ArrayLike<number>;
}

/** One kernel call (or a few of the same op) on seeded inputs; `run` returns the tensors compared. */
export interface Case {
  name: string;
  /** Operand dtypes as the kernel sees them, checked against every call the case makes. */
  in: DType[];
  out: DType[];
  run(d: Dev): Tensor[];
  /** 'bits': identical bytes; a number: rtol relative to each output's largest finite magnitude (0: equal values). */
  tol: number | 'bits';
  /** Known divergences: device -> why; the case must still fail there (vitest test.fails), so a fix shows up. */
  known?: Record<string, string>;
}

/** A call that must fail the same way on every device (or with DeviceError where the op is missing). */
export interface ErrorCase {
  name: string;
  /** Makes the call and reads its outputs (kernel-time errors may surface only at the read). */
  run(d: Dev): unknown;
  error: new (...args: never[]) => Error;
  message: RegExp;
  known?: Record<string, string>;
}

export type Row =
  | { cases: Case[]; errors?: ErrorCase[] }
  /** Exercised only inside another op's row; says so explicitly. */
  | { via: OpName; why: string };

export type Rows = Record<string, Row>;

/** A device to build a case's inputs on, and the kernel calls made through it. */
export class Dev {
  readonly calls: { op: string; in: DType[]; out: DType[] }[] = [];
  constructor(readonly device: string) {}

  /** A contiguous tensor holding host values. */
  tensor(values: ArrayLike<number>, shape: readonly number[], dtype: DType = 'float32'): Tensor {
    const data = dtype === 'int32' ? Int32Array.from(values) : dtype === 'uint8' ? Uint8Array.from(values) : Float32Array.from(values);
    return et.tensor(data, [...shape], { dtype, device: this.device });
  }

  /** An operand of `o.shape` seen through view `o.view` of a buffer of seeded (or given) values. */
  input(o: Operand): Tensor {
    const dtype = o.dtype ?? 'float32';
    const g = geometry(o.view ?? 'contiguous', o.shape);
    const n = numel(g.base);
    const vals = o.values ? Array.from({ length: n }, (_, i) => o.values![i % o.values!.length]!) : hostValues(n, o.seed, dtype, o);
    const base = this.tensor(vals, g.base, dtype);
    return o.view && o.view !== 'contiguous' ? base.view(o.shape, g.strides, g.offset) : base;
  }

  /** A buffer filled with `sentinel` and a view of `shape` into it, for kernels that write views. */
  outputView(kind: ViewKind, shape: readonly number[], dtype: DType, sentinel = 7): { base: Tensor; view: Tensor } {
    const g = geometry(kind, shape);
    const base = this.tensor(new Array(numel(g.base)).fill(sentinel), g.base, dtype);
    return { base, view: base.view([...shape], g.strides, g.offset) };
  }

  /** runKernel, recording the operand dtypes. */
  k(op: OpName, inputs: Tensor[], outs: OutSpec[], params: number[] = [], into?: Tensor[]): Tensor[] {
    this.calls.push({ op, in: inputs.map((t) => t.dtype), out: (into ?? outs).map((o) => o.dtype) });
    return runKernel(op, inputs, outs, params, into);
  }
}

/** float32 outputs of these shapes. */
export const f32 = (...shapes: (readonly number[])[]): OutSpec[] => shapes.map((shape) => ({ shape, dtype: 'float32' }));

// ---------------------------------------------------------------------------------------------
// running and comparing

/** The bytes of a contiguous tensor as stored. */
export function rawBytes(t: Tensor): Uint8Array {
  const size = DTYPE_SIZE[t.dtype];
  if (!t.isContiguous()) throw new Error(`parity: raw bytes of a strided [${t.shape}] view`);
  return new Uint8Array(native.download(t.storage.handle, t.offset * size, t.numel * size));
}

type Read = { dtype: DType; shape: readonly number[]; values: ArrayLike<number> };

function runCase(op: string, c: Case, device: string): Read[] {
  return et.tidy(() => {
    const d = new Dev(device);
    const outs = c.run(d);
    const read = outs.map((t) => ({ dtype: t.dtype, shape: [...t.shape], values: c.tol === 'bits' ? rawBytes(t) : Array.from(t.dataSync()) }));
    expect(d.calls.length, `${c.name}: kernel calls`).toBeGreaterThan(0);
    for (const call of d.calls) {
      expect(call.op, `${c.name}: a case calls its row's op only`).toBe(op);
      expect({ in: call.in, out: call.out }, `${c.name}: operand dtypes`).toEqual({ in: c.in, out: c.out });
    }
    return read;
  });
}

/** device -> op -> the dtype signatures that answered DeviceError (none listed when the whole op is missing). */
export const gaps = new Map<string, Map<string, Set<string>>>();

const supportsOp = (device: string, op: string): boolean => native.supportsOp(device, OP[op as OpName]);

/** Asserts `e` is the DeviceError of a device that lacks `op` (naming both) and records the gap. */
function expectGap(e: unknown, device: string, op: string, c: { name: string; in?: DType[]; out?: DType[] }): void {
  if (!isUnsupported(e, device, op, c.name)) throw e;
  const msg = (e as Error).message;
  expect(new RegExp(`(^|[^A-Za-z0-9])${op}([^A-Za-z0-9]|$)`).test(msg), `DeviceError names ${op}: "${msg}"`).toBe(true);
  let ops = gaps.get(device);
  if (!ops) gaps.set(device, (ops = new Map()));
  let sigs = ops.get(op);
  if (!sigs) ops.set(op, (sigs = new Set()));
  if (supportsOp(device, op) && c.in) sigs.add(`${c.in.join(',')} -> ${c.out!.join(',')}`);
}

function sameValues(label: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length, `${label}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]) && Number.isNaN(want[i])))
      throw new Error(`${label}: element ${i} is ${got[i]}, cpu has ${want[i]}`);
}

function compare(c: Case, got: Read[], want: Read[], who: string): void {
  expect(got.length, `${c.name}: outputs`).toBe(want.length);
  want.forEach((w, k) => {
    const g = got[k]!;
    const label = `${c.name}: output ${k} (${w.dtype} [${w.shape}]) on ${who}`;
    expect([...g.shape], `${label}: shape`).toEqual([...w.shape]);
    expect(g.dtype, `${label}: dtype`).toBe(w.dtype);
    if (c.tol === 'bits' || c.tol === 0 || w.dtype === 'int32' || w.dtype === 'uint8') sameValues(label, g.values, w.values);
    else expectClose(label, g.values, w.values, c.tol);
  });
}

/**
 * cpu: runs the case twice and expects identical results (kernels are deterministic). Another
 * device: its results against cpu's, or the DeviceError of a missing op / dtype combination
 * (which must be one: where supportsOp says the op is missing, every case must throw it).
 */
export function checkCase(op: string, c: Case, device: string): void {
  const want = runCase(op, c, 'cpu');
  if (device === 'cpu') {
    compare({ ...c, tol: 'bits' === c.tol ? 'bits' : 0 }, runCase(op, c, 'cpu'), want, 'cpu again');
    return;
  }
  let got: Read[];
  try {
    got = runCase(op, c, device);
  } catch (e) {
    expectGap(e, device, op, c);
    return;
  }
  expect(supportsOp(device, op), `${op} ran on ${device} although supportsOp says it is missing`).toBe(true);
  compare(c, got, want, device);
}

/** The call throws e.error with a message matching e.message, or the DeviceError of a missing op. */
export function checkError(op: string, e: ErrorCase, device: string): void {
  let thrown: unknown;
  try {
    et.tidy(() => e.run(new Dev(device)));
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `${e.name}: no error on ${device}`).toBeDefined();
  if (device !== 'cpu' && !supportsOp(device, op) && thrown instanceof et.DeviceError) return expectGap(thrown, device, op, e);
  expect(thrown, `${e.name} on ${device}: ${String(thrown)}`).toBeInstanceOf(e.error);
  expect((thrown as Error).message).toMatch(e.message);
}

/** A test, or for a known divergence on this device a test that must fail (listed at the end). */
function register(known: string[], op: string, name: string, device: string, why: string | undefined, fn: () => void): void {
  if (!why) return void test(`${device}: ${name}`, fn);
  known.push(`  ${device}: ${op}: ${name}: ${why}`);
  test.fails(`${device}: ${name} (known divergence: ${why})`, fn);
}

/** Registers a describe block per row and a test per (case, device); prints the gaps at the end. */
export function parityTests(rows: Rows): void {
  const known: string[] = [];
  for (const [op, row] of Object.entries(rows)) {
    if ('via' in row) continue;
    describe(op, () => {
      for (const device of testDevices) {
        for (const c of row.cases) register(known, op, c.name, device, c.known?.[device], () => checkCase(op, c, device));
        for (const e of row.errors ?? []) register(known, op, `error: ${e.name}`, device, e.known?.[device], () => checkError(op, e, device));
      }
    });
  }
  afterAll(() => {
    const lines = [...gaps].map(
      ([device, ops]) => `  ${device}: ${[...ops].map(([op, sigs]) => (sigs.size ? `${op} (only for ${[...sigs].join('; ')})` : op)).join(', ')}`,
    );
    if (lines.length) console.info(`parity gaps (DeviceError: not implemented on that device):\n${lines.join('\n')}`);
    if (known.length) console.info(`known divergences (tests that must fail until fixed):\n${known.join('\n')}`);
  });
}

// ---------------------------------------------------------------------------------------------
// builders shared by the row tables

/** A case name: the op's operand shapes and views, e.g. "[3, 7] transposed, [7] broadcast". */
export const describeOperands = (ops: Operand[]): string => ops.map((o) => `[${o.shape.join(', ')}]${o.view && o.view !== 'contiguous' ? ` ${o.view}` : ''}`).join(', ');

/** Values that hit the edges of float math: signed zeros, NaN, infinities, huge, tiny and subnormal. */
export const SPECIAL = [0, -0, 1, -1, 0.5, -2.5, 3, 100, -100, 3e9, -3e9, 1e-30, -1e-30, 1e-40, NaN, Infinity, -Infinity, 88.5, -88.5, 1e38];

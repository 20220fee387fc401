// Shape helpers shared by the op files.
import type { DType } from '../dtype.js';
import { DTypeError, IndexError, ShapeError, ValueError } from '../errors.js';
import type { Tensor } from '../tensor.js';

export const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** NumPy broadcasting of two shapes; ShapeError naming the op otherwise. */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1)
      throw new ShapeError(`${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast (dim ${i}: ${x} vs ${y})`);
    out[i] = x === 1 ? y : x;
  }
  return out;
}

/** Strides that view t as `shape` under broadcasting (0 on broadcast dims), or ShapeError. */
export function broadcastStrides(op: string, t: Tensor, shape: readonly number[]): number[] {
  const n = shape.length;
  const off = n - t.shape.length;
  if (off < 0) throw new ShapeError(`${op}: cannot broadcast ${fmt(t.shape)} to ${fmt(shape)}`);
  const st = new Array<number>(n).fill(0);
  for (let i = 0; i < t.shape.length; i++) {
    const s = t.shape[i]!;
    if (s === shape[off + i]) st[off + i] = s === 1 ? 0 : t.strides[i]!;
    else if (s === 1) st[off + i] = 0;
    else throw new ShapeError(`${op}: cannot broadcast ${fmt(t.shape)} to ${fmt(shape)}`);
  }
  return st;
}

/** Normalises a possibly negative dim; IndexError naming the op otherwise. */
export function normDim(op: string, dim: number, ndim: number): number {
  if (!Number.isInteger(dim) || dim < -Math.max(ndim, 1) || dim >= Math.max(ndim, 1))
    throw new IndexError(`${op}: dim ${dim} out of range for a tensor of rank ${ndim}`);
  return dim < 0 ? dim + ndim : dim;
}

export function expectDType(op: string, t: Tensor, ...allowed: DType[]): void {
  if (!allowed.includes(t.dtype))
    throw new DTypeError(`${op}: expected ${allowed.join(' or ')}, got ${t.dtype} (shape ${fmt(t.shape)}); convert with .cast()`);
}

export function expectFinite(op: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValueError(`${op}: ${name} must be a finite number, got ${v}`);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

export function prod(s: readonly number[]): number {
  let n = 1;
  for (const x of s) n *= x;
  return n;
}

export function checkShape(op: string, shape: readonly number[]): number[] {
  if (!Array.isArray(shape)) throw new ShapeError(`${op}: shape must be an array of integers, got ${String(shape)}`);
  if (shape.length > 8) throw new ShapeError(`${op}: rank ${shape.length} exceeds the maximum of 8 (shape ${fmt(shape)})`);
  for (const s of shape)
    if (!Number.isInteger(s) || s < 0) throw new ShapeError(`${op}: invalid dimension ${s} in shape ${fmt(shape)}`);
  return [...shape];
}

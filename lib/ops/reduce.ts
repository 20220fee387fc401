// Reductions over dims: sum, mean, max/min (values and indices), argmax; and sumToShape, which
// folds a broadcast gradient back onto its input's shape.
import { ShapeError } from '../errors.js';
import { record } from '../autograd/engine.js';
import { rawView, runKernel } from '../native/run.js';
import type { Tensor } from '../tensor.js';
import { mulScalar, where, mul, div } from './binary.js';
import { eq, ne } from './compare.js';
import { expand, reshape } from './shape.js';
import { expectDType, normDim } from './util.js';

export interface ReduceOptions {
  keepdim?: boolean;
}

function reduceDims(op: string, x: Tensor, dim: number | readonly number[] | undefined): number[] {
  if (dim === undefined) return x.shape.map((_, i) => i);
  const ds = (typeof dim === 'number' ? [dim] : [...dim]).map((d) => normDim(op, d, x.ndim));
  if (new Set(ds).size !== ds.length) throw new ShapeError(`${op}: repeated dim in [${ds}]`);
  return ds.sort((a, b) => a - b);
}

/** x viewed with the reduced dims moved last (no copy), plus the kept shapes. */
function arrange(x: Tensor, dims: number[]) {
  const keep = x.shape.map((_, i) => i).filter((i) => !dims.includes(i));
  const order = [...keep, ...dims];
  const v = rawView(
    x,
    order.map((i) => x.shape[i]!),
    order.map((i) => x.strides[i]!),
  );
  return { v, outShape: keep.map((i) => x.shape[i]!) };
}

function sumRaw(x: Tensor, dims: number[]): Tensor {
  const { v, outShape } = arrange(x, dims);
  return runKernel('sum', [v], [{ shape: outShape, dtype: 'float32' }], [dims.length])[0]!;
}

const keptShape = (x: Tensor, dims: number[]) => x.shape.map((s, i) => (dims.includes(i) ? 1 : s));

/** Sum over `dim` (one, several, or all when omitted). */
export function sum(x: Tensor, dim?: number | readonly number[], opts?: ReduceOptions): Tensor {
  x.assertLive('sum');
  expectDType('sum', x, 'float32');
  const dims = reduceDims('sum', x, dim);
  let y = sumRaw(x, dims);
  if (opts?.keepdim) {
    const r = reshape(y, keptShape(x, dims));
    y.dispose();
    y = r;
  }
  record('sum', [x], [y], [], ([dy]) => {
    const k = reshape(dy!, keptShape(x, dims));
    const e = expand(k, x.shape);
    k.dispose();
    return [e];
  });
  return y;
}

/** Mean over `dim` (one, several, or all when omitted). */
export function mean(x: Tensor, dim?: number | readonly number[], opts?: ReduceOptions): Tensor {
  const dims = reduceDims('mean', x, dim);
  let n = 1;
  for (const d of dims) n *= x.shape[d]!;
  const s = sum(x, dims, opts);
  const y = mulScalar(s, 1 / n);
  s.dispose();
  return y;
}

function maxRaw(op: string, x: Tensor, dim: number | undefined, opts?: ReduceOptions) {
  x.assertLive(op);
  expectDType(op, x, 'float32');
  if (x.numel === 0) throw new ShapeError(`${op}: cannot reduce an empty tensor (shape [${x.shape}])`);
  const dims = dim === undefined ? x.shape.map((_, i) => i) : [normDim(op, dim, x.ndim)];
  const { v, outShape } = arrange(x, dims);
  const [vals, idx] = runKernel('max', [v], [
    { shape: outShape, dtype: 'float32' },
    { shape: outShape, dtype: 'int32' },
  ], [dims.length]);
  const keepdim = opts?.keepdim ?? false;
  if (!keepdim) return { vals: vals!, idx: idx!, dims };
  const rv = reshape(vals!, keptShape(x, dims));
  const ri = reshape(idx!, keptShape(x, dims));
  vals!.dispose();
  idx!.dispose();
  return { vals: rv, idx: ri, dims };
}

/**
 * Maximum over `dim` (or all elements). The gradient goes to every element equal to the
 * maximum, split evenly between ties (as PyTorch does for a full reduction); a NaN maximum's
 * gradient goes to the NaN elements.
 */
export function max(x: Tensor, dim?: number, opts?: ReduceOptions): Tensor {
  const { vals, idx } = maxRaw('max', x, dim, opts);
  idx.dispose();
  const dims = dim === undefined ? x.shape.map((_, i) => i) : [normDim('max', dim, x.ndim)];
  record('max', [x], [vals], [x, vals], ([dy], [xs, ys]) => {
    const kept = keptShape(x, dims);
    const yk = reshape(ys!, kept);
    const mask = eq(xs!, yk);
    // NaN == NaN is false: where the maximum is NaN, the NaN elements are its ties
    const nanY = ne(yk, yk);
    const nanX = ne(xs!, xs!);
    const nanYf = where(nanY, 1, 0);
    const nanTie = where(nanX, nanYf, 0);
    const ones = where(mask, 1, nanTie);
    const count = sum(ones, dims, { keepdim: true });
    const dyk = reshape(dy!, kept);
    const share = div(dyk, count);
    const dx = mul(ones, share);
    for (const t of [yk, mask, nanY, nanX, nanYf, nanTie, ones, count, dyk, share]) t.dispose();
    return [dx];
  });
  return vals;
}

/** Minimum over `dim` (or all elements). */
export function min(x: Tensor, dim?: number, opts?: ReduceOptions): Tensor {
  const n = mulScalar(x, -1);
  const m = max(n, dim, opts);
  const y = mulScalar(m, -1);
  n.dispose();
  m.dispose();
  return y;
}

/** Index of the maximum along `dim` (flat index over all elements when omitted), int32. */
export function argmax(x: Tensor, dim?: number, opts?: ReduceOptions): Tensor {
  const { vals, idx } = maxRaw('argmax', x, dim, opts);
  vals.dispose();
  return idx;
}

/** Sums a broadcast result back to `shape` (the inverse of broadcasting, for gradients). */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (g.ndim === shape.length && g.shape.every((s, i) => s === shape[i])) return g.view(g.shape, g.strides, g.offset);
  const lead = g.ndim - shape.length;
  const dims: number[] = [];
  for (let i = 0; i < g.ndim; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  const s = sumRaw(g, dims);
  const out = reshape(s, shape);
  s.dispose();
  return out;
}

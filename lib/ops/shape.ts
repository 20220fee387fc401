// Views without copies (reshape where possible, transpose, permute, slice, expand, squeeze,
// unsqueeze) and the joins/splits built on them (cat, split, chunk, stack).
import { DTypeError, ShapeError } from '../errors.js';
import { record } from '../autograd/engine.js';
import { Tensor, contiguousStrides } from '../tensor.js';
import { rawView, runKernel } from '../native/run.js';
import { contiguous } from './copy.js';
import { zerosOf } from './creation.js';
import { sumToShape } from './reduce.js';
import { broadcastStrides, checkShape, fmt, normDim, prod } from './util.js';

/** Strides that let `shape` view the same elements as (shape0, strides0), or null if a copy is needed. */
function viewStrides(shape0: readonly number[], strides0: readonly number[], shape: readonly number[]): number[] | null {
  if (shape0.length === 0) return contiguousStrides(shape);
  // Walk old dims from the back in chunks that are contiguous among themselves, laying new dims
  // over each chunk; a new dim that would straddle two chunks needs a copy.
  const out = new Array<number>(shape.length);
  let vd = shape.length - 1;
  let base = strides0[strides0.length - 1]!;
  let tNumel = 1;
  let vNumel = 1;
  for (let td = shape0.length - 1; td >= 0; td--) {
    tNumel *= shape0[td]!;
    if (td === 0 || (shape0[td - 1] !== 1 && strides0[td - 1] !== tNumel * base)) {
      while (vd >= 0 && (vNumel < tNumel || shape[vd] === 1)) {
        out[vd] = vNumel * base;
        vNumel *= shape[vd]!;
        vd--;
      }
      if (vNumel !== tNumel) return null;
      if (td > 0) {
        base = strides0[td - 1]!;
        tNumel = 1;
        vNumel = 1;
      }
    }
  }
  return vd === -1 ? out : null;
}

/** Same elements in a new shape (one dim may be -1). A view when strides allow, else a copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  x.assertLive('reshape');
  const s = [...shape];
  const neg = s.indexOf(-1);
  if (neg >= 0) {
    const rest = prod(s.filter((_, i) => i !== neg));
    if (rest === 0 || x.numel % rest !== 0) throw new ShapeError(`reshape: cannot reshape ${fmt(x.shape)} into ${fmt(shape)}`);
    s[neg] = x.numel / rest;
  }
  checkShape('reshape', s);
  if (prod(s) !== x.numel) throw new ShapeError(`reshape: cannot reshape ${fmt(x.shape)} (${x.numel} elements) into ${fmt(shape)}`);
  const st = x.numel === 0 ? contiguousStrides(s) : viewStrides(x.shape, x.strides, s);
  let y: Tensor;
  if (st) y = x.view(s, st, x.offset);
  else {
    const c = x.contiguousCopy();
    y = c.view(s, contiguousStrides(s), 0);
    c.dispose();
  }
  record('reshape', [x], [y], [], ([dy]) => [reshape(dy!, x.shape)]);
  return y;
}

/** Flattens dims start..end into one. */
export function flatten(x: Tensor, start = 0, end = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const a = normDim('flatten', start, x.ndim);
  const b = normDim('flatten', end, x.ndim);
  return reshape(x, [...x.shape.slice(0, a), prod(x.shape.slice(a, b + 1)), ...x.shape.slice(b + 1)]);
}

/** Reorders dims (a view). */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  x.assertLive('permute');
  if (dims.length !== x.ndim) throw new ShapeError(`permute: ${dims.length} dims given for a tensor of rank ${x.ndim} (shape ${fmt(x.shape)})`);
  const d = dims.map((v) => normDim('permute', v, x.ndim));
  if (new Set(d).size !== d.length) throw new ShapeError(`permute: repeated dim in ${fmt(dims)}`);
  const y = x.view(
    d.map((i) => x.shape[i]!),
    d.map((i) => x.strides[i]!),
    x.offset,
  );
  const inv = new Array<number>(d.length);
  d.forEach((v, i) => (inv[v] = i));
  record('permute', [x], [y], [], ([dy]) => [permute(dy!, inv)]);
  return y;
}

/** Swaps two dims (a view); defaults to the last two. */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const a = normDim('transpose', dim0, x.ndim);
  const b = normDim('transpose', dim1, x.ndim);
  const p = x.shape.map((_, i) => i);
  p[a] = b;
  p[b] = a;
  return permute(x, p);
}

/** Elements start..end (exclusive, negatives count from the end, clamped) of dim, every step-th (a view). */
export function slice(x: Tensor, dim: number, start = 0, end?: number, step = 1): Tensor {
  x.assertLive('slice');
  const d = normDim('slice', dim, x.ndim);
  const n = x.shape[d]!;
  if (!Number.isInteger(step) || step < 1) throw new ShapeError(`slice: step must be a positive integer, got ${step}`);
  let s = start < 0 ? start + n : start;
  let e = end === undefined ? n : end < 0 ? end + n : end;
  s = Math.min(Math.max(s, 0), n);
  e = Math.min(Math.max(e, s), n);
  const len = Math.ceil((e - s) / step);
  const shape = [...x.shape];
  shape[d] = len;
  const strides = [...x.strides];
  strides[d] = x.strides[d]! * step;
  const y = x.view(shape, strides, x.offset + s * x.strides[d]!);
  record('slice', [x], [y], [], ([dy]) => {
    const dx = zerosOf(x.shape, dy!.dtype, dy!.device);
    const st = [...dx.strides];
    st[d] = dx.strides[d]! * step;
    runKernel('copy', [dy!], [], [], [rawView(dx, dy!.shape, st, dx.offset + s * dx.strides[d]!)]);
    return [dx];
  });
  return y;
}

/** Broadcasts size-1 dims (and new leading dims) to `shape` without copying; -1 keeps a dim. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  x.assertLive('expand');
  const off = shape.length - x.ndim;
  const s = shape.map((v, i) => (v === -1 ? x.shape[i - off]! : v));
  checkShape('expand', s);
  const st = broadcastStrides('expand', x, s);
  const y = x.view(s, st, x.offset);
  record('expand', [x], [y], [], ([dy]) => [sumToShape(dy!, x.shape)]);
  return y;
}

/** Removes size-1 dims (all, or the one given). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  let shape: number[];
  if (dim === undefined) shape = x.shape.filter((s) => s !== 1);
  else {
    const d = normDim('squeeze', dim, x.ndim);
    shape = x.shape[d] === 1 ? x.shape.filter((_, i) => i !== d) : [...x.shape];
  }
  return reshape(x, shape);
}

/** Inserts a size-1 dim at `dim`. */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim('unsqueeze', dim, x.ndim + 1);
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return reshape(x, shape);
}

/** Joins tensors along an existing dim. */
export function cat(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new ShapeError('cat: no tensors given');
  const first = xs[0]!;
  const d = normDim('cat', dim, first.ndim);
  for (const t of xs) {
    t.assertLive('cat');
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i]))
      throw new ShapeError(`cat: shapes ${xs.map((x) => fmt(x.shape)).join(', ')} differ outside dim ${d}`);
    if (t.dtype !== first.dtype) throw new DTypeError(`cat: dtypes differ (${first.dtype}, ${t.dtype})`);
  }
  const shape = [...first.shape];
  shape[d] = xs.reduce((a, t) => a + t.shape[d]!, 0);
  const y = Tensor.empty(shape, first.dtype, first.device);
  let pos = 0;
  const bounds: number[] = [];
  for (const t of xs) {
    const n = t.shape[d]!;
    runKernel('copy', [t], [], [], [rawView(y, t.shape, y.strides, y.offset + pos * y.strides[d]!)]);
    bounds.push(pos);
    pos += n;
  }
  record('cat', xs, [y], [], ([dy]) =>
    xs.map((t, i) => (t.requiresGrad ? contiguous(slice(dy!, d, bounds[i]!, bounds[i]! + t.shape[d]!)) : null)),
  );
  return y;
}

/** Splits along dim into pieces of `size` (a number) or of the listed sizes (views). */
export function split(x: Tensor, sizes: number | readonly number[], dim = 0): Tensor[] {
  const d = normDim('split', dim, x.ndim);
  const n = x.shape[d]!;
  let parts: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes < 1) throw new ShapeError(`split: size must be a positive integer, got ${sizes}`);
    parts = [];
    for (let i = 0; i < n; i += sizes) parts.push(Math.min(sizes, n - i));
  } else {
    parts = [...sizes];
    if (parts.reduce((a, b) => a + b, 0) !== n)
      throw new ShapeError(`split: sizes ${fmt(parts)} do not add up to dim ${d} of shape ${fmt(x.shape)}`);
  }
  const out: Tensor[] = [];
  let pos = 0;
  for (const p of parts) {
    out.push(slice(x, d, pos, pos + p));
    pos += p;
  }
  return out;
}

/** Splits into `chunks` nearly equal pieces along dim. */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  const d = normDim('chunk', dim, x.ndim);
  return split(x, Math.ceil(x.shape[d]! / chunks), d);
}

/** Joins tensors along a new dim. */
export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new ShapeError('stack: no tensors given');
  for (const t of xs)
    if (t.ndim !== xs[0]!.ndim || t.shape.some((s, i) => s !== xs[0]!.shape[i]))
      throw new ShapeError(`stack: shapes differ: ${xs.map((x) => fmt(x.shape)).join(', ')}`);
  const d = normDim('stack', dim, xs[0]!.ndim + 1);
  const us = xs.map((t) => unsqueeze(t, d));
  const y = cat(us, d);
  for (const u of us) u.dispose();
  return y;
}

// Broadcasting arithmetic: add, sub, mul, div, maximum, minimum (tensor or number operands),
// where / maskedFill, and the scalar forms built on the fused affine kernel (y = x*a + b).
import { record } from '../autograd/engine.js';
import { type OutSpec, rawView, runKernel } from '../native/run.js';
import { Tensor } from '../tensor.js';
import { full } from './creation.js';
import { gt, eq } from './compare.js';
import { sumToShape } from './reduce.js';
import { broadcastShapes, broadcastStrides, expectDType, sameShape } from './util.js';

export type Operand = Tensor | number;

/** Runs an elementwise kernel over inputs broadcast to their common shape. */
export function elementwise(op: Parameters<typeof runKernel>[0], xs: Tensor[], dtype: OutSpec['dtype'], params: number[] = []): Tensor {
  for (const x of xs) x.assertLive(op);
  let shape: readonly number[] = xs[0]!.shape;
  for (let i = 1; i < xs.length; i++) if (!sameShape(shape, xs[i]!.shape)) shape = broadcastShapes(op, shape, xs[i]!.shape);
  const views = xs.map((x) => (sameShape(x.shape, shape) ? x : rawView(x, shape, broadcastStrides(op, x, shape))));
  return runKernel(op, views, [{ shape, dtype }], params)[0]!;
}

/** y = x*scale + shift in one kernel. */
export function affine(x: Tensor, scale: number, shift: number): Tensor {
  x.assertLive('affine');
  expectDType('affine', x, 'float32');
  // non-finite scalars are allowed (x + -Infinity is a valid mask), as in PyTorch
  const y = runKernel('affine', [x], [{ shape: x.shape, dtype: 'float32' }], [scale, shift])[0]!;
  record('affine', [x], [y], [], ([dy]) => [scale === 1 ? dy!.view(dy!.shape, dy!.strides, dy!.offset) : affine(dy!, scale, 0)]);
  return y;
}
export const mulScalar = (x: Tensor, c: number): Tensor => affine(x, c, 0);
export const addScalar = (x: Tensor, c: number): Tensor => affine(x, 1, c);
export const neg = (x: Tensor): Tensor => affine(x, -1, 0);

/** A number operand as a 0-d tensor on `like`'s device (the caller disposes it). */
export function asTensor(v: Operand, like: Tensor): Tensor {
  return v instanceof Tensor ? v : full([], v, { device: like.device });
}

function binary(
  op: 'add' | 'sub' | 'mul' | 'div' | 'maximum' | 'minimum',
  a: Tensor,
  b: Tensor,
  grad: (dy: Tensor, a: Tensor, b: Tensor, y: Tensor, needs: boolean[]) => (Tensor | null)[],
  saveAB: boolean,
): Tensor {
  expectDType(op, a, 'float32');
  expectDType(op, b, 'float32');
  const y = elementwise(op, [a, b], 'float32');
  record(op, [a, b], [y], saveAB ? [a, b, y] : [], ([dy], s, needs) => {
    const [ga, gb] = grad(dy!, s[0] ?? a, s[1] ?? b, s[2] ?? y, needs);
    const ra = ga ? sumToShape(ga, a.shape) : null;
    const rb = gb ? sumToShape(gb, b.shape) : null;
    ga?.dispose();
    gb?.dispose();
    return [ra, rb];
  });
  return y;
}

const alias = (t: Tensor) => t.view(t.shape, t.strides, t.offset);

export function add(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number') return addScalar(a as Tensor, b);
  if (typeof a === 'number') return addScalar(b, a);
  return binary('add', a, b, (dy) => [alias(dy), alias(dy)], false);
}

export function sub(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number') return addScalar(a as Tensor, -b);
  if (typeof a === 'number') return affine(b, -1, a);
  return binary('sub', a, b, (dy, _a, _b, _y, n) => [alias(dy), n[1] ? neg(dy) : null], false);
}

export function mul(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number') return mulScalar(a as Tensor, b);
  if (typeof a === 'number') return mulScalar(b, a);
  return binary('mul', a, b, (dy, x, w, _y, n) => [n[0] ? mul(dy, w) : null, n[1] ? mul(dy, x) : null], true);
}

export function div(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number') return mulScalar(a as Tensor, 1 / b);
  const at = asTensor(a, b);
  try {
    return binary(
      'div',
      at,
      b,
      (dy, _x, w, y, n) => {
        const ga = n[0] ? div(dy, w) : null;
        let gb: Tensor | null = null;
        if (n[1]) {
          const t = mul(dy, y);
          const q = div(t, w);
          gb = neg(q);
          t.dispose();
          q.dispose();
        }
        return [ga, gb];
      },
      true,
    );
  } finally {
    if (at !== a) at.dispose();
  }
}

function minmax(op: 'maximum' | 'minimum', a: Operand, b: Operand): Tensor {
  const like = a instanceof Tensor ? a : (b as Tensor);
  const at = asTensor(a, like);
  const bt = asTensor(b, like);
  try {
    return binary(
      op,
      at,
      bt,
      (dy, x, w) => {
        // the larger (smaller) operand takes the gradient; ties split it evenly. As in PyTorch an
        // operand loses it only to a strictly better one, so where either is NaN both take it.
        const loseA = op === 'maximum' ? gt(w, x) : gt(x, w);
        const loseB = op === 'maximum' ? gt(x, w) : gt(w, x);
        const tie = eq(x, w);
        const share = where(tie, 0.5, 1);
        const wa = where(loseA, 0, share);
        const wb = where(loseB, 0, share);
        const ga = mul(dy, wa);
        const gb = mul(dy, wb);
        for (const t of [loseA, loseB, tie, share, wa, wb]) t.dispose();
        return [ga, gb];
      },
      true,
    );
  } finally {
    if (at !== a) at.dispose();
    if (bt !== b) bt.dispose();
  }
}
export const maximum = (a: Operand, b: Operand): Tensor => minmax('maximum', a, b);
export const minimum = (a: Operand, b: Operand): Tensor => minmax('minimum', a, b);

/** Elementwise cond ? a : b, broadcasting all three. cond is a uint8 mask. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  expectDType('where', cond, 'uint8');
  const at = asTensor(a, cond);
  const bt = asTensor(b, cond);
  try {
    expectDType('where', at, 'float32');
    expectDType('where', bt, 'float32');
    const y = elementwise('where', [cond, at, bt], 'float32');
    record('where', [null, at, bt], [y], [cond], ([dy], [c], n) => {
      const ga = n[1] ? where(c!, dy!, 0) : null;
      const gb = n[2] ? where(c!, 0, dy!) : null;
      const ra = ga ? sumToShape(ga, at.shape) : null;
      const rb = gb ? sumToShape(gb, bt.shape) : null;
      ga?.dispose();
      gb?.dispose();
      return [null, ra, rb];
    });
    return y;
  } finally {
    if (at !== a) at.dispose();
    if (bt !== b) bt.dispose();
  }
}

/** x with `value` wherever mask (uint8, broadcastable) is set. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  return where(mask, value, x);
}

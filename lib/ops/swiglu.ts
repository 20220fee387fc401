// SwiGLU, the gated activation of LLaMA-style MLPs: silu(gate) * up in one kernel.
import { ShapeError } from '../errors.js';
import { record } from '../autograd/engine.js';
import { runKernel } from '../native/run.js';
import type { Tensor } from '../tensor.js';
import { expectDType, fmt, sameShape } from './util.js';

const contig = (t: Tensor): Tensor => (t.isContiguous() ? t : t.contiguousCopy());

/** silu(a) * b for a and b of the same shape (no broadcasting), with a fused backward. */
export function swiglu(a: Tensor, b: Tensor): Tensor {
  const op = 'swiglu';
  a.assertLive(op);
  b.assertLive(op);
  expectDType(op, a, 'float32');
  expectDType(op, b, 'float32');
  if (!sameShape(a.shape, b.shape)) throw new ShapeError(`${op}: a ${fmt(a.shape)} and b ${fmt(b.shape)} must have the same shape`);
  const ac = contig(a);
  const bc = contig(b);
  const y = runKernel(op, [ac, bc], [{ shape: a.shape, dtype: 'float32' }])[0]!;
  record(op, [a, b], [y], [ac, bc], ([dy], [as, bs], needs) => {
    const g = contig(dy!);
    const [da, db] = runKernel('swigluBwd', [as!, bs!, g], [
      { shape: as!.shape, dtype: 'float32' },
      { shape: bs!.shape, dtype: 'float32' },
    ]);
    if (g !== dy) g.dispose();
    if (!needs[0]) da!.dispose();
    if (!needs[1]) db!.dispose();
    return [needs[0] ? da! : null, needs[1] ? db! : null];
  });
  if (ac !== a) ac.dispose();
  if (bc !== b) bc.dispose();
  return y;
}

// A LoRA layer's product as one autograd node: y = base(x) + s (xin Aᵀ) Bᵀ, where base is x Wᵀ
// (dense W [N, K], float32 / f16 / bf16) or a quantized W, xin is x or its dropout, A [r, K] and
// B [N, r]. The low-rank product is added into the base output by the matmul kernel itself
// (beta 1), and in the backward s (dy B) A is added into the base's input gradient the same way,
// so neither direction makes a pass over [M, N] or [M, K] beyond the matmuls. Written out as
// separate ops the layer also costs: s·low and base + low forward, s·dlow and dx + dxin backward.
//   forward   u = xin Aᵀ [M, r]   us = s u   y = base(x);  y += us Bᵀ
//   backward  g = s dy B [M, r]   dA = gᵀ xin   dB = dyᵀ us   dx = base'(dy) (+= g A when xin is x)
import { isGradEnabled, noGrad, record } from '../autograd/engine.js';
import { ShapeError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { affine } from './binary.js';
import { contiguous } from './copy.js';
import { matmul, matmulAddInto } from './matmul.js';
import { matmulQ, matmulQInputGrad, type QuantizedMatrix } from './quant.js';
import { reshape, transpose } from './shape.js';
import { fmt } from './util.js';

export interface LoRABase {
  /** Dense weight [N, K] (out, in), or null when `qweight` is given. */
  weight: Tensor | null;
  qweight?: QuantizedMatrix;
}

const rows = (t: Tensor, M: number, C: number): Tensor => contiguous(reshape(t, [M, C]));

/**
 * x [..., K] -> [..., N]: base(x) + scale (xin Aᵀ) Bᵀ, one node recording gradients for x, xin
 * (when it is not x), A and B; the base weight gets none (it is frozen).
 */
export function loraLinear(x: Tensor, base: LoRABase, xin: Tensor, A: Tensor, B: Tensor, scale: number): Tensor {
  for (const t of [x, xin, A, B]) t.assertLive('loraLinear');
  const K = x.shape[x.ndim - 1]!;
  const r = A.shape[0]!;
  const N = B.shape[0]!;
  if (A.ndim !== 2 || B.ndim !== 2 || A.shape[1] !== K || B.shape[1] !== r || xin.shape.join() !== x.shape.join())
    throw new ShapeError(`loraLinear: x ${fmt(x.shape)}, xin ${fmt(xin.shape)}, A ${fmt(A.shape)} [r, K], B ${fmt(B.shape)} [N, r] do not fit`);
  const lead = x.shape.slice(0, -1);
  const M = lead.reduce((a, b) => a * b, 1);
  const sameIn = xin === x;
  // the quantized base rounds x to 8 bits only under inference (matmulQ's rule)
  const exact = isGradEnabled();
  const { y, us, xin2 } = noGrad(() => {
    const x2 = rows(x, M, K);
    const xin2 = sameIn ? x2 : rows(xin, M, K);
    const At = transpose(A);
    const u = matmul(xin2, At);
    At.dispose();
    const us = scale === 1 ? u : affine(u, scale, 0);
    if (us !== u) u.dispose();
    let y: Tensor;
    if (base.qweight) y = matmulQ(x2, base.qweight, { exact });
    else {
      const Wt = transpose(base.weight!);
      y = matmul(x2, Wt);
      Wt.dispose();
    }
    const Bt = transpose(B);
    matmulAddInto(y, us, Bt);
    Bt.dispose();
    if (x2 !== x && !sameIn) x2.dispose();  // (when sameIn, x2 is xin2)
    return { y, us, xin2 };
  });
  const out = reshape(y, [...lead, N]);
  if (out !== y) y.dispose();
  const inputs = sameIn ? [x, A, B] : [x, xin, A, B];
  const saved = [us, xin2];
  record('loraLinear', inputs, [out], saved, ([dy], [usS, xinS], needs) => {
    const [needX, needXin, needA, needB] = sameIn ? [needs[0], needs[0], needs[1], needs[2]] : needs;
    const dy2 = rows(dy!, M, N);
    let g: Tensor | null = null;
    if (needXin || needA) {
      const g1 = matmul(dy2, B);
      g = scale === 1 ? g1 : affine(g1, scale, 0);
      if (g !== g1) g1.dispose();
    }
    let dA: Tensor | null = null;
    if (needA) {
      const gt = transpose(g!);
      dA = matmul(gt, xinS!);
      gt.dispose();
    }
    let dB: Tensor | null = null;
    if (needB) {
      const dyt = transpose(dy2);
      dB = matmul(dyt, usS!);
      dyt.dispose();
    }
    let dx: Tensor | null = null;
    let dxin: Tensor | null = null;
    if (needX) {
      let d: Tensor;
      if (base.qweight) d = matmulQInputGrad(dy2, base.qweight);
      else d = matmul(dy2, base.weight!);
      if (sameIn && g) matmulAddInto(d, g, A);
      dx = reshape(d, [...lead, K]);
      if (dx !== d) d.dispose();
    }
    if (!sameIn && needXin) {
      const d = matmul(g!, A);
      dxin = reshape(d, [...lead, K]);
      if (dxin !== d) d.dispose();
    }
    g?.dispose();
    if (dy2 !== dy) dy2.dispose();
    return sameIn ? [dx, dA, dB] : [dx, dxin, dA, dB];
  });
  // record() keeps its own aliases of what backward needs
  us.dispose();
  if (xin2 !== xin && xin2 !== x) xin2.dispose();
  return out;
}

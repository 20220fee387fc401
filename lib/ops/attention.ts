// Fused scaled dot-product attention (flash-attention style kernel, no T x S buffer) with GQA,
// causal masking and an optional mask, and its fused backward.
import { DTypeError, ShapeError } from '../errors.js';
import { record } from '../autograd/engine.js';
import { runKernel } from '../native/run.js';
import type { Tensor } from '../tensor.js';
import { where } from './binary.js';
import { broadcastStrides, expectDType, expectFinite, fmt } from './util.js';

export interface AttentionOptions {
  /** Query i (of T) sees key j (of S) iff j <= i + S - T (queries are the last T positions). */
  causal?: boolean;
  /**
   * Broadcastable to [B, Hq, T, S]: float32 added to the scaled scores (-Infinity hides a key),
   * or uint8 where 1 = may attend. A query row that sees no key gets output 0.
   */
  mask?: Tensor;
  /** Score scale; default 1 / sqrt(D). */
  scale?: number;
}

// The kernel needs unit stride in the last dim only (q may be a transposed [B, T, H, D] view).
function unitLast(t: Tensor): Tensor {
  const n = t.ndim;
  return t.strides[n - 1] === 1 || t.shape[n - 1]! <= 1 ? t : t.contiguousCopy();
}

/**
 * softmax(q k^T * scale + mask) v for q [B, Hq, T, D], k [B, Hkv, S, D], v [B, Hkv, S, Dv]
 * -> [B, Hq, T, Dv]. Hq must be a multiple of Hkv (query head h uses kv head h / (Hq / Hkv)).
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const op = 'scaledDotProductAttention';
  for (const t of [q, k, v]) {
    t.assertLive(op);
    expectDType(op, t, 'float32');
  }
  const shapes = `q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)}`;
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4)
    throw new ShapeError(`${op}: q, k, v must be rank 4 ([B, H, T, D]); got ${shapes}`);
  const [B, Hq, T, D] = q.shape as [number, number, number, number];
  const [Bk, Hkv, S, Dk] = k.shape as [number, number, number, number];
  const [Bv, Hv, Sv, Dv] = v.shape as [number, number, number, number];
  if (Bk !== B || Bv !== B) throw new ShapeError(`${op}: batch sizes differ: ${shapes}`);
  if (Hv !== Hkv) throw new ShapeError(`${op}: k and v head counts differ: ${shapes}`);
  if (Hkv === 0 || Hq % Hkv !== 0) throw new ShapeError(`${op}: query heads (${Hq}) must be a multiple of kv heads (${Hkv}): ${shapes}`);
  if (Dk !== D) throw new ShapeError(`${op}: q and k head dims differ: ${shapes}`);
  if (Sv !== S) throw new ShapeError(`${op}: k and v sequence lengths differ: ${shapes}`);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  expectFinite(op, 'scale', scale);
  const causal = opts.causal ? 1 : 0;

  const temps: Tensor[] = [];
  const prep = (t: Tensor): Tensor => {
    const u = unitLast(t);
    if (u !== t) temps.push(u);
    return u;
  };
  const qv = prep(q);
  const kv = prep(k);
  const vv = prep(v);
  let maskView: Tensor | null = null;
  if (opts.mask) {
    const m = opts.mask;
    m.assertLive(op);
    let additive: Tensor;
    if (m.dtype === 'uint8') {
      additive = where(m, 0, -Infinity);
      temps.push(additive);
    } else if (m.dtype === 'float32') additive = m;
    else throw new DTypeError(`${op}: mask must be float32 (additive) or uint8 (1 = may attend), got ${m.dtype} (shape ${fmt(m.shape)})`);
    const full = [B, Hq, T, S];
    let st: number[];
    try {
      st = broadcastStrides(op, additive, full);
    } catch {
      throw new ShapeError(`${op}: mask ${fmt(m.shape)} cannot be broadcast to [B, Hq, T, S] = ${fmt(full)} (${shapes})`);
    }
    maskView = additive.view(full, st, additive.offset, { internal: true });
    temps.push(maskView);
  }
  const params = [scale, causal, maskView ? 1 : 0];
  const inputs = maskView ? [qv, kv, vv, maskView] : [qv, kv, vv];
  let o: Tensor;
  let lse: Tensor;
  try {
    [o, lse] = runKernel('sdpa', inputs, [
      { shape: [B, Hq, T, Dv], dtype: 'float32' },
      { shape: [B, Hq, T], dtype: 'float32' },
    ], params) as [Tensor, Tensor];
    const saved = maskView ? [qv, kv, vv, o, lse, maskView] : [qv, kv, vv, o, lse];
    record(op, [q, k, v], [o], saved, ([dy], s, needs) => {
      const g = unitLast(dy!);
      const bwdIn = [s[0]!, s[1]!, s[2]!, s[3]!, s[4]!, g];
      if (s[5]) bwdIn.push(s[5]);
      const grads = runKernel('sdpaBwd', bwdIn, [
        { shape: q.shape, dtype: 'float32' },
        { shape: k.shape, dtype: 'float32' },
        { shape: v.shape, dtype: 'float32' },
      ], params);
      if (g !== dy) g.dispose();
      return grads.map((t, i) => {
        if (needs[i]) return t;
        t.dispose();
        return null;
      });
    });
  } finally {
    for (const t of temps) t.dispose();
  }
  lse.dispose();
  return o;
}

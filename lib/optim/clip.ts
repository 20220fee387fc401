// Gradient clipping by global norm: the norm over all gradients together, as one number.
import { noGrad } from '../autograd/engine.js';
import { ValueError } from '../errors.js';
import { abs, pow } from '../ops/unary.js';
import { add, maximum, mul, mulScalar } from '../ops/binary.js';
import { max, sum } from '../ops/reduce.js';
import { keep, tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';

export interface ClipGradNormOptions {
  /** Which p-norm (default 2); Infinity gives the largest absolute value. */
  normType?: number;
  /** Throw ValueError when the norm is NaN or infinite (default false: leave the grads alone). */
  errorIfNonfinite?: boolean;
}

/**
 * Computes the norm of all parameters' gradients taken together and, when it exceeds
 * `maxNorm`, scales every gradient by maxNorm / (norm + 1e-6) (replacing `p.grad` with a scaled
 * tensor and freeing the old one). Returns the norm before clipping. Parameters without a
 * gradient are ignored. A non-finite norm leaves the gradients unchanged (check the result to
 * skip the step), or throws with `errorIfNonfinite`. Reading the norm waits for the queued
 * backward pass; clipGradNormAsync waits without blocking the event loop.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, opts?: ClipGradNormOptions): number {
  const plan = planClip(params, maxNorm, opts);
  if (!plan) return 0;
  const parts = plan.parts.map((t) => {
    try {
      return t.item();
    } finally {
      t.dispose();
    }
  });
  return applyClip(plan, parts);
}

/** clipGradNorm, awaiting the norm's read-back instead of blocking on it. */
export async function clipGradNormAsync(params: Iterable<Tensor>, maxNorm: number, opts?: ClipGradNormOptions): Promise<number> {
  const plan = planClip(params, maxNorm, opts);
  if (!plan) return 0;
  const parts: number[] = [];
  try {
    for (const t of plan.parts) parts.push((await t.data())[0]!);
  } finally {
    for (const t of plan.parts) t.dispose();
  }
  return applyClip(plan, parts);
}

interface ClipPlan {
  ps: Tensor[];
  maxNorm: number;
  normType: number;
  errorIfNonfinite: boolean;
  /** One partial (sum of |g|^p, or max |g|) per device, accumulated on the device. */
  parts: Tensor[];
}

function planClip(params: Iterable<Tensor>, maxNorm: number, opts?: ClipGradNormOptions): ClipPlan | null {
  const normType = opts?.normType ?? 2;
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) throw new ValueError(`clipGradNorm: maxNorm must be >= 0, got ${maxNorm}`);
  if (typeof normType !== 'number' || !(normType > 0)) throw new ValueError(`clipGradNorm: normType must be > 0 or Infinity, got ${normType}`);
  const ps = [...params].filter((p) => p.grad && p.grad.numel > 0);
  if (ps.length === 0) return null;
  const inf = normType === Infinity;
  const parts = noGrad(() =>
    tidy(() => {
      const acc = new Map<string, Tensor>();
      for (const p of ps) {
        const g = p.grad!;
        let part: Tensor;
        if (inf) part = max(abs(g));
        else if (normType === 2) part = sum(mul(g, g));
        else part = sum(pow(abs(g), normType));
        const prev = acc.get(g.device);
        acc.set(g.device, prev ? (inf ? maximum(prev, part) : add(prev, part)) : part);
      }
      return [...acc.values()];
    }),
  );
  return { ps, maxNorm, normType, errorIfNonfinite: !!opts?.errorIfNonfinite, parts };
}

function applyClip(plan: ClipPlan, parts: number[]): number {
  const { ps, maxNorm, normType } = plan;
  const inf = normType === Infinity;
  let total = 0;
  for (const v of parts) total = inf ? Math.max(total, v) : total + v;
  const norm = inf ? total : normType === 2 ? Math.sqrt(total) : total ** (1 / normType);
  if (!Number.isFinite(norm)) {
    if (plan.errorIfNonfinite) throw new ValueError(`clipGradNorm: the total gradient norm is ${norm}`);
    return norm;
  }
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    noGrad(() => {
      for (const p of ps) {
        const old = p.grad!;
        p.grad = keep(mulScalar(old, coef));
        old.dispose();
      }
    });
  }
  return norm;
}

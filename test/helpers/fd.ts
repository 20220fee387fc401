// Central finite differences of L = sum(y * dy) with respect to every float32 input that needs a
// gradient: each element is moved by +-eps in float32 (the step actually taken is used), the loss
// is accumulated in float64 from the read-back outputs.
import * as et from '../../lib/index.js';
import type { OpCase } from './fixtures.js';
import { projectedLoss, runCase } from './run-case.js';

export const FD_EPS = 1e-3;
/** Inputs larger than this are probed at evenly spaced elements only. */
export const FD_MAX_PROBES = 48;

export interface FdGrad {
  input: number;
  /** Probed element indices (all of them for small inputs). */
  index: number[];
  grad: number[];
}

function probes(n: number): number[] {
  if (n <= FD_MAX_PROBES) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let k = 0; k < FD_MAX_PROBES; k++) out.push(Math.floor((k * n) / FD_MAX_PROBES));
  return out;
}

/** Finite-difference gradients of the case's projected loss on `device` (no autograd involved). */
export function finiteDifferences(c: OpCase, device: string, eps = FD_EPS): FdGrad[] {
  const loss = (override: (ArrayLike<number> | undefined)[]): number =>
    et.tidy(() =>
      et.noGrad(() => {
        const { outputs } = runCase(c, device, false, override);
        return projectedLoss(c, outputs);
      }),
    );
  const result: FdGrad[] = [];
  c.inputs.forEach((inp, i) => {
    if (!inp.requiresGrad || inp.dtype !== 'float32') return;
    const x = Float32Array.from(inp.data);
    const override: (Float32Array | undefined)[] = c.inputs.map(() => undefined);
    override[i] = x;
    const index = probes(x.length);
    const grad = index.map((j) => {
      const x0 = x[j]!;
      const xp = Math.fround(x0 + eps);
      const xm = Math.fround(x0 - eps);
      x[j] = xp;
      const lp = loss(override);
      x[j] = xm;
      const lm = loss(override);
      x[j] = x0;
      return (lp - lm) / (xp - xm);
    });
    result.push({ input: i, index, grad });
  });
  return result;
}

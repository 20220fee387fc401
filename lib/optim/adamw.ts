// AdamW (Loshchilov & Hutter), PyTorch's update rule, as one fused native kernel per parameter.
import { runKernel } from '../native/run.js';
import type { Tensor } from '../tensor.js';
import { ValueError } from '../errors.js';
import { type BaseOptions, type ParamGroup, type ParamState, type ParamsInput, Optimizer, checkNumber } from './optimizer.js';

export interface AdamWOptions extends BaseOptions {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Decay rates of the first and second moment averages (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to the denominator for stability (default 1e-8). */
  eps: number;
  /** Decoupled weight decay: p -= lr * weightDecay * p each step (default 0.01). */
  weightDecay: number;
}

/**
 * AdamW. Per step t, for each parameter with a gradient g:
 * `p *= 1 - lr·wd; m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²;
 *  p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps)`, exactly as torch.optim.AdamW.
 * State (m, v, step) is created on a parameter's first update.
 */
export class AdamW extends Optimizer<AdamWOptions> {
  constructor(params: ParamsInput<AdamWOptions>, opts?: Partial<AdamWOptions>) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, ...opts });
  }

  protected validate(o: AdamWOptions): void {
    checkNumber('AdamW', 'lr', o.lr, 0);
    if (!Array.isArray(o.betas) || o.betas.length !== 2) throw new ValueError(`AdamW: betas must be a pair of numbers, got ${String(o.betas)}`);
    o.betas.forEach((b, i) => {
      checkNumber('AdamW', `betas[${i}]`, b, 0);
      if (b >= 1) throw new ValueError(`AdamW: betas[${i}] must be in [0, 1), got ${b}`);
    });
    checkNumber('AdamW', 'eps', o.eps);
    if (o.eps <= 0) throw new ValueError(`AdamW: eps must be > 0, got ${o.eps}`);
    checkNumber('AdamW', 'weightDecay', o.weightDecay, 0);
  }

  protected bufferNames(): string[] {
    return ['m', 'v'];
  }

  protected update(p: Tensor, g: Tensor, o: ParamGroup<AdamWOptions>, st: ParamState, gradScale: number): void {
    runKernel('adamw', [p, g, st.buffers.m!, st.buffers.v!], [], [o.lr, o.betas[0], o.betas[1], o.eps, o.weightDecay, st.step, gradScale]);
  }
}

// Learning-rate schedules: multipliers of the base learning rate by step (PyTorch's LambdaLR),
// with the warmup shapes of Hugging Face's get_*_schedule_with_warmup.
import { ValueError } from '../errors.js';
import type { BaseOptions, Optimizer } from './optimizer.js';

/** Multiplier of the base learning rate at a (0-based) step. */
export type LRLambda = (step: number) => number;

export interface WarmupOptions {
  /** Steps of linear warmup from 0 to the base rate (default 0). */
  warmupSteps?: number;
  /** Step at which decay reaches its floor. */
  totalSteps: number;
  /** Floor of the decay as a fraction of the base rate (default 0). */
  minLrRatio?: number;
}

function checkWarmup(name: string, o: WarmupOptions): Required<WarmupOptions> {
  const warmupSteps = o.warmupSteps ?? 0;
  const minLrRatio = o.minLrRatio ?? 0;
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new ValueError(`${name}: warmupSteps must be an integer >= 0, got ${warmupSteps}`);
  if (!Number.isInteger(o.totalSteps) || o.totalSteps < warmupSteps)
    throw new ValueError(`${name}: totalSteps must be an integer >= warmupSteps (${warmupSteps}), got ${o.totalSteps}`);
  if (!(minLrRatio >= 0 && minLrRatio <= 1)) throw new ValueError(`${name}: minLrRatio must be in [0, 1], got ${minLrRatio}`);
  return { warmupSteps, totalSteps: o.totalSteps, minLrRatio };
}

/** Always 1. */
export function constant(): LRLambda {
  return () => 1;
}

/** Linear warmup over `warmupSteps` (step/warmupSteps, so step 0 is 0), then 1. */
export function warmupConstant(o: { warmupSteps: number }): LRLambda {
  const { warmupSteps } = checkWarmup('warmupConstant', { ...o, totalSteps: o.warmupSteps });
  return (s) => (s < warmupSteps ? s / warmupSteps : 1);
}

/**
 * Linear warmup (step/warmupSteps), then linear decay to `minLrRatio` at `totalSteps`,
 * staying there after.
 */
export function warmupLinear(o: WarmupOptions): LRLambda {
  const { warmupSteps, totalSteps, minLrRatio } = checkWarmup('warmupLinear', o);
  return (s) => {
    if (s < warmupSteps) return s / warmupSteps;
    const f = Math.max(0, (totalSteps - s) / Math.max(1, totalSteps - warmupSteps));
    return minLrRatio + (1 - minLrRatio) * f;
  };
}

/**
 * Linear warmup (step/warmupSteps), then half a cosine from 1 down to `minLrRatio` at
 * `totalSteps`, staying there after.
 */
export function warmupCosine(o: WarmupOptions): LRLambda {
  const { warmupSteps, totalSteps, minLrRatio } = checkWarmup('warmupCosine', o);
  return (s) => {
    if (s < warmupSteps) return s / warmupSteps;
    const progress = Math.min(1, (s - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
    return minLrRatio + (1 - minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

/**
 * Sets an optimizer's learning rates to base × lambda(step), PyTorch LambdaLR style: the base
 * rates are the groups' rates at construction, which applies lambda(0); call step() after each
 * optimizer.step() to move on.
 */
export class LRScheduler {
  readonly baseLrs: number[];
  private _step = 0;

  constructor(
    readonly optimizer: Optimizer<BaseOptions>,
    readonly lambda: LRLambda,
  ) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply();
  }

  /** Steps taken so far (the argument lambda last got). */
  get lastStep(): number {
    return this._step;
  }

  /** Advances one step and sets the new rates. */
  step(): void {
    this._step++;
    this.apply();
  }

  /** The rates set by the last step, per group. */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  private apply(): void {
    const f = this.lambda(this._step);
    if (!Number.isFinite(f) || f < 0) throw new ValueError(`LRScheduler: schedule gave multiplier ${f} at step ${this._step}`);
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = this.baseLrs[i]! * f));
  }

  stateDict(): { lastStep: number; baseLrs: number[] } {
    return { lastStep: this._step, baseLrs: [...this.baseLrs] };
  }

  loadStateDict(sd: { lastStep: number; baseLrs: number[] }): void {
    if (sd.baseLrs.length !== this.baseLrs.length)
      throw new ValueError(`LRScheduler.loadStateDict: ${sd.baseLrs.length} base rates, ${this.baseLrs.length} groups here`);
    this.baseLrs.splice(0, this.baseLrs.length, ...sd.baseLrs);
    this._step = sd.lastStep;
    this.apply();
  }
}

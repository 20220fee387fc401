// detach, valueAndGrad and activation checkpointing, built on the engine.
import { EdgeTrainError } from '../errors.js';
import { getRngState, setRngState } from '../random.js';
import { tidy, track, untrack } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { backward, enableGrad, isGradEnabled, noGrad, record } from './engine.js';
import { filled } from './kernels.js';

/** The same values, cut from the graph (shares storage, never requires grad). */
export function detach(x: Tensor): Tensor {
  x.assertLive('detach');
  return x.view(x.shape, x.strides, x.offset);
}

/**
 * Wraps fn so that calling it returns its (scalar) value and the gradients with respect to
 * its tensor arguments, without touching any `.grad` of those arguments.
 */
export function valueAndGrad<A extends Tensor[]>(fn: (...args: A) => Tensor): (...args: A) => { value: Tensor; grads: Tensor[] } {
  return (...args: A) => {
    const leaves = args.map((a) => {
      const d = detach(a);
      d.requiresGrad = true;
      return d;
    }) as A;
    const value = enableGrad(() => fn(...leaves));
    if (value.numel !== 1) throw new EdgeTrainError(`valueAndGrad: fn must return a one-element tensor, got shape [${value.shape}]`);
    backward([value]);
    const grads = leaves.map((l) => {
      const g = l.grad ?? filled(l.shape, l.dtype, l.device, 0);
      l.grad = null;
      return g;
    });
    for (const l of leaves) l.dispose();
    const v = detach(value);
    value.dispose();
    // gradients were untracked by the engine; the caller's tidy scope owns them now
    for (const g of grads) track(g);
    return { value: v, grads };
  };
}


/**
 * Activation checkpointing: runs fn without keeping its intermediate activations, and runs it
 * again during backward to get them. Trades one extra forward for the memory of fn's graph.
 * fn must be deterministic given its inputs; random ops inside it (dropout) repeat exactly
 * because the RNG position is restored for the recomputation.
 */
export function checkpoint<T extends Tensor | Tensor[]>(fn: (...xs: Tensor[]) => T, ...inputs: Tensor[]): T {
  if (!isGradEnabled()) return fn(...inputs);
  const rng = getRngState();
  const out = tidy(() => noGrad(() => fn(...inputs)));
  const outs: Tensor[] = Array.isArray(out) ? out : [out as Tensor];
  // inputs are saved (aliased) so the caller may dispose them before backward, as tidy does
  record(
    'checkpoint',
    inputs,
    outs,
    inputs,
    (dys, saved) => {
      const now = getRngState();
      setRngState(rng);
      const leaves = saved.map((x, i) => {
        const d = detach(x);
        untrack(d);
        d.requiresGrad = inputs[i]!.requiresGrad;
        return d;
      });
      try {
        tidy(() => {
          const r = enableGrad(() => fn(...leaves));
          const re = Array.isArray(r) ? r : [r];
          const used = re.map((t) => t.requiresGrad);
          const roots = re.filter((_, i) => used[i]);
          if (roots.length) backward(roots, dys.filter((_, i) => used[i]));
        });
      } finally {
        setRngState(now);
      }
      return leaves.map((l) => {
        const g = l.grad;
        l.grad = null;
        l.dispose();
        return g;
      });
    },
    true,
  );
  return out;
}

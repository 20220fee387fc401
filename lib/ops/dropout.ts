// Dropout with a counter-based mask: the mask is a function of (key, element index), so the
// backward regenerates it from the key instead of storing it (the kernel: csrc/cpu/dropout.cpp,
// its Philox stream: csrc/cpu/philox.h).
import { record } from '../autograd/engine.js';
import { ValueError } from '../errors.js';
import { runKernel } from '../native/run.js';
import { nextSeed, seedKey } from '../random.js';
import type { Tensor } from '../tensor.js';
import { expectDType, expectFinite } from './util.js';

export interface DropoutOptions {
  /** Identity when false (evaluation). Default true. */
  training?: boolean;
  /** Explicit seed for the mask; a fresh key from the global stream (manualSeed) when omitted. */
  seed?: number;
}

/**
 * Zeroes each element with probability p and scales the others by 1 / (1 - p). Returns x itself
 * when not training or p == 0.
 */
export function dropout(x: Tensor, p: number, opts?: DropoutOptions): Tensor {
  const op = 'dropout';
  x.assertLive(op);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ValueError(`${op}: p must be in [0, 1], got ${p}`);
  if (opts?.training === false || p === 0) return x;
  expectDType(op, x, 'float32');
  let key: number;
  if (opts?.seed === undefined) key = nextSeed();
  else {
    expectFinite(op, 'seed', opts.seed);
    key = seedKey(opts.seed);
  }
  const y = runKernel(op, [x], [{ shape: x.shape, dtype: 'float32' }], [key, p])[0]!;
  // dy has x's shape, so element i of dy meets the same mask bit as element i of x
  record(op, [x], [y], [], ([dy]) => [runKernel(op, [dy!], [{ shape: dy!.shape, dtype: 'float32' }], [key, p])[0]!]);
  return y;
}

// Seeded host data for kernel tests.
import { seededRandom } from '../../lib/random.js';

export const rng = seededRandom;

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Uniform float32 data in [lo, hi) for a shape. */
export function randData(shape: readonly number[], seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(numel(shape));
  for (let i = 0; i < a.length; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

/** n int32 values uniform in [lo, hi). */
export function randInts(n: number, seed: number, lo: number, hi: number): Int32Array {
  const r = rng(seed);
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor((hi - lo) * r());
  return a;
}

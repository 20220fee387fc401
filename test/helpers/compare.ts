// Numeric comparisons with messages that name the worst element.
import { fmtShape } from './fixtures.js';

/** Largest finite magnitude (infinities and NaN are compared exactly, not scaled against). */
function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]!)) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function worst(actual: ArrayLike<number>, expected: ArrayLike<number>, bound: (e: number) => number) {
  let wi = -1;
  let wr = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    // equal infinities and NaN against NaN are no error; any other non-finite mismatch is
    const err = a === e || (Number.isNaN(a) && Number.isNaN(e)) ? 0 : Number.isFinite(a) && Number.isFinite(e) ? Math.abs(a - e) : Infinity;
    const r = err / bound(e);
    if (!(r <= 1) && (wi < 0 || !(r <= wr))) {
      wi = i;
      wr = r;
    }
  }
  return { wi, wr };
}

function checkLength(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  if (actual.length !== expected.length) throw new Error(`${label}: ${actual.length} elements, expected ${expected.length}`);
}

/**
 * Forward values: |a - e| <= rtol * (|e| + max|e|) (relative, with the output's largest finite
 * magnitude as the floor for elements near zero); infinities and NaN must match exactly. rtol 0
 * means exact.
 */
export function expectClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number): void {
  checkLength(label, actual, expected);
  const scale = maxAbs(expected);
  const { wi, wr } = worst(actual, expected, (e) => rtol * (Math.abs(e) + scale) || Number.MIN_VALUE);
  if (wi >= 0)
    throw new Error(
      `${label}: element ${wi} is ${actual[wi]}, expected ${expected[wi]} ` +
        `(error ${Math.abs(actual[wi]! - expected[wi]!).toExponential(2)} = ${wr.toFixed(1)}x the tolerance, rtol ${rtol}, max|expected| ${scale.toExponential(2)})`,
    );
}

/** Exact equality (integer and mask outputs). */
export function expectEqual(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  checkLength(label, actual, expected);
  for (let i = 0; i < expected.length; i++)
    if (actual[i] !== expected[i]) throw new Error(`${label}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
}

/** Gradients: |a - e| <= tol * max|e| + abs. */
export function expectGradClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, abs = 1e-6): void {
  checkLength(label, actual, expected);
  const scale = maxAbs(expected);
  const bound = tol * scale + abs;
  const { wi } = worst(actual, expected, () => bound);
  if (wi >= 0)
    throw new Error(
      `${label}: element ${wi} is ${actual[wi]}, expected ${expected[wi]} ` +
        `(error ${Math.abs(actual[wi]! - expected[wi]!).toExponential(2)} > ${tol} * max|grad| ${scale.toExponential(2)} + ${abs})`,
    );
}

export function expectShape(label: string, actual: readonly number[], expected: readonly number[]): void {
  if (actual.length !== expected.length || actual.some((s, i) => s !== expected[i]))
    throw new Error(`${label}: shape ${fmtShape(actual)}, expected ${fmtShape(expected)}`);
}

// Per-op kernel timing: wall time of each native exec call, grouped by op and input shapes.
// Turned on with startProfile() or EDGETRAIN_PROFILE=1 (which prints the table at exit).
// Vulkan kernels are timed as submitted, not as run on the device.
import type { OpName } from './ops.js';

export interface ProfileRow {
  op: OpName;
  /** Shapes of the inputs, e.g. "[1,1,256] [32000,256]". */
  shapes: string;
  calls: number;
  totalMs: number;
}

let rows: Map<string, ProfileRow> | null = null;

/** The profile being collected, or null (runKernel checks it on every call). */
export function activeProfile(): Map<string, ProfileRow> | null {
  return rows;
}

export function recordKernel(op: OpName, shapes: string, ms: number): void {
  const key = `${op} ${shapes}`;
  const r = rows!.get(key);
  if (r) {
    r.calls++;
    r.totalMs += ms;
  } else rows!.set(key, { op, shapes, calls: 1, totalMs: ms });
}

/** Starts (or restarts) collecting kernel times. */
export function startProfile(): void {
  rows = new Map();
}

/** Stops collecting; returns the rows, slowest total first. */
export function stopProfile(): ProfileRow[] {
  const r = [...(rows?.values() ?? [])].sort((a, b) => b.totalMs - a.totalMs);
  rows = null;
  return r;
}

/** The rows as an aligned text table (top `limit` rows). */
export function formatProfile(r: readonly ProfileRow[], limit = 30): string {
  const total = r.reduce((s, x) => s + x.totalMs, 0);
  const lines = [`${'ms'.padStart(10)} ${'%'.padStart(5)} ${'calls'.padStart(7)} ${'us/call'.padStart(9)}  op  input shapes`];
  for (const x of r.slice(0, limit))
    lines.push(
      `${x.totalMs.toFixed(2).padStart(10)} ${((100 * x.totalMs) / (total || 1)).toFixed(1).padStart(5)} ${String(x.calls).padStart(7)} ${((1000 * x.totalMs) / x.calls).toFixed(1).padStart(9)}  ${x.op}  ${x.shapes}`,
    );
  lines.push(`${total.toFixed(2).padStart(10)} total in kernels`);
  return lines.join('\n');
}

if (typeof process !== 'undefined' && process.env.EDGETRAIN_PROFILE === '1') {
  startProfile();
  process.on('exit', () => process.stderr.write(`edgetrain kernel profile:\n${formatProfile(stopProfile())}\n`));
}

// Per-op overhead of a small op called from TypeScript (microseconds per call, median of runs).
// node bench/overhead.mjs
import * as et from '../dist/index.js';
import { median } from './common.mjs';

const a = et.ones([4]);
const b = et.ones([4]);
const N = 20000;
function per(fn) {
  const runs = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn();
    runs.push(Number(process.hrtime.bigint() - t0) / 1e3 / N);
  }
  return median(runs);
}
const rows = [
  ['add(a, b) + dispose, [4] f32', () => et.add(a, b).dispose()],
  ['mul(a, 2) + dispose (scalar)', () => et.mul(a, 2).dispose()],
  ['relu(a) + dispose', () => et.relu(a).dispose()],
  ['a.transpose() view + dispose', () => a.reshape([2, 2]).transpose().dispose()],
];
console.log('small-op overhead from TypeScript (target < 5 us)');
for (const [name, fn] of rows) console.log(`${name.padEnd(34)} ${per(fn).toFixed(2).padStart(7)} us`);

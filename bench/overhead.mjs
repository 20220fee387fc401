// Per-op overhead of a small op called from TypeScript (microseconds per call, median of runs).
// node bench/overhead.mjs
import * as et from '../dist/index.js';
import { median, runTorch } from './common.mjs';

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
  ['add(a, b) + dispose, [4] f32', () => et.add(a, b).dispose(), 'add'],
  ['mul(a, 2) + dispose (scalar)', () => et.mul(a, 2).dispose(), 'mulScalar'],
  ['relu(a) + dispose', () => et.relu(a).dispose(), 'relu'],
  ['reshape + transpose views + dispose', () => a.reshape([2, 2]).transpose().dispose(), 'view'],
];
const torch = runTorch('bench/peers/torch_overhead.py', []);
console.log('small-op overhead (target < 5 us): edgetrain from TypeScript vs PyTorch from Python');
for (const [name, fn, key] of rows) {
  const ours = per(fn);
  const t = torch.lines?.find((l) => l.name === key)?.us;
  console.log(`${name.padEnd(36)} ${ours.toFixed(2).padStart(7)} us   PyTorch ${t ? t.toFixed(2).padStart(6) + ' us   ratio ' + (t / ours).toFixed(2) + 'x' : 'n/a'}`);
}
if (torch.error) console.log(`(no PyTorch figures: ${torch.error})`);

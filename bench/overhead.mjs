// Per-op overhead of a small op called from TypeScript (microseconds per call, median of runs),
// against PyTorch from Python at its best (same run, interleaved). node bench/overhead.mjs [rounds=3]
import * as et from '../dist/index.js';
import { median, printMachine } from './common.mjs';
import { printTorchConfigs, versusTorch } from './peers/torch-config.mjs';

const rounds = parseInt(process.argv[2] ?? '3', 10);
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
printMachine(et);
const res = await versusTorch({
  rounds,
  ours: () => rows.map(([, fn]) => per(fn)),
  script: 'bench/peers/torch_overhead.py',
  args: [],
  pick: (lines) => rows.map(([, , key]) => lines.find((l) => l.name === key).us),
  lower: true,
});
printTorchConfigs(res, (us) => `${us.toFixed(2)} us`);
console.log(`small-op overhead (target < 5 us), medians of ${rounds} interleaved rounds: edgetrain from TypeScript vs PyTorch from Python (ratio > 1: edgetrain faster)`);
rows.forEach(([name], i) => {
  const ours = res.ours[i];
  const t = res.peer?.[i];
  console.log(`${name.padEnd(36)} ${ours.toFixed(2).padStart(7)} us   PyTorch ${t ? `${t.toFixed(2).padStart(6)} us   ratio ${(t / ours).toFixed(2)}x` : 'n/a'}`);
});

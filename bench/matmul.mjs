// f32 matmul GFLOP/s, edgetrain vs PyTorch at its best (same run, interleaved), on square and LLM
// shapes. node bench/matmul.mjs [threads] [rounds=3]
import * as et from '../dist/index.js';
import { median, printMachine } from './common.mjs';
import { printTorchConfigs, versusTorch } from './peers/torch-config.mjs';

const threads = parseInt(process.argv[2] ?? String(et.getThreads()), 10);
const rounds = parseInt(process.argv[3] ?? '3', 10);
et.setThreads(threads);
const shapes = [
  [256, 256, 256, 0, 0],
  [512, 512, 512, 0, 0],
  [1024, 1024, 1024, 0, 0],
  [2048, 2048, 2048, 0, 0],
  [512, 2048, 2048, 0, 0],
  [512, 2048, 2048, 0, 1],
  [512, 2048, 2048, 1, 0],
  [512, 2048, 5632, 0, 0],
  [512, 2048, 5632, 0, 1],
  [512, 5632, 2048, 0, 1],
];

function ours([M, K, N, ta, tb]) {
  const a = ta ? et.randn([K, M], { seed: 1 }).transpose() : et.randn([M, K], { seed: 1 });
  const b = tb ? et.randn([N, K], { seed: 2 }).transpose() : et.randn([K, N], { seed: 2 });
  const run = () => et.matmul(a, b).dispose();
  run();
  run();
  const reps = Math.max(3, Math.min(30, Math.floor(2e10 / (2 * M * N * K))));
  const t = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    run();
    t.push(performance.now() - t0);
  }
  a.dispose();
  b.dispose();
  return (2 * M * N * K) / (median(t) / 1e3) / 1e9;
}

const peak = printMachine(et, threads);
console.log(`f32 matmul, edgetrain on ${threads} threads; medians of ${rounds} interleaved rounds`);
const res = await versusTorch({ rounds, ours: () => shapes.map(ours), script: 'bench/peers/torch_matmul.py', args: [JSON.stringify(shapes)], pick: (lines) => lines.map((l) => l.gflops) });
printTorchConfigs(res, (g) => g.toFixed(0));
console.log('shape (M K N, T = transposed operand)   edgetrain GFLOP/s   %peak   PyTorch GFLOP/s   ratio   PyTorch best');
shapes.forEach((s, i) => {
  const g = res.ours[i];
  const tg = res.peer?.[i];
  const name = `${s[0]}x${s[1]}${s[3] ? 'T' : ''} @ ${s[1]}x${s[2]}${s[4] ? 'T' : ''}`;
  console.log(
    `${name.padEnd(40)} ${g.toFixed(1).padStart(10)} ${((100 * g) / peak.gflops).toFixed(0).padStart(9)}% ${tg ? `${tg.toFixed(1).padStart(12)} ${(g / tg).toFixed(2).padStart(9)}x   ${res.winner[i]}` : '         n/a'}`,
  );
});

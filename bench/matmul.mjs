// f32 matmul GFLOP/s, edgetrain vs PyTorch at its best (same run, interleaved), on square and LLM
// shapes. node bench/matmul.mjs [threads] [rounds=3] [bf16]
// With "bf16", ours also runs with b cast to bfloat16 (a frozen bf16 weight; PyTorch not timed).
// CPU work is queued: each timed run waits for it (et.synchronize) before the clock stops.
import * as et from '../dist/index.js';
import { median, printMachine } from './common.mjs';
import { printTorchConfigs, versusTorch } from './peers/torch-config.mjs';

const threads = parseInt(process.argv[2] ?? String(et.getThreads()), 10);
const rounds = parseInt(process.argv[3] ?? '3', 10);
const withBf16 = process.argv[4] === 'bf16';
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

async function ours([M, K, N, ta, tb], dtype = 'float32') {
  const a = ta ? et.randn([K, M], { seed: 1 }).transpose() : et.randn([M, K], { seed: 1 });
  const b32 = et.randn(tb ? [N, K] : [K, N], { seed: 2 });
  const bs = dtype === 'float32' ? b32 : et.cast(b32, dtype);
  const b = tb ? bs.transpose() : bs;
  await et.synchronize('cpu');
  const run = async () => {
    const y = et.matmul(a, b);
    await et.synchronize('cpu');
    y.dispose();
  };
  await run();
  await run();
  const reps = Math.max(3, Math.min(30, Math.floor(2e10 / (2 * M * N * K))));
  const t = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run();
    t.push(performance.now() - t0);
  }
  a.dispose();
  b32.dispose();
  if (bs !== b32) bs.dispose();
  return (2 * M * N * K) / (median(t) / 1e3) / 1e9;
}

async function oursAll() {
  const out = [];
  for (const s of shapes) out.push(await ours(s));
  if (withBf16) for (const s of shapes) out.push(await ours(s, 'bfloat16'));
  return out;
}

const peak = printMachine(et, threads);
console.log(`f32 matmul, edgetrain on ${threads} threads; medians of ${rounds} interleaved rounds`);
const res = await versusTorch({ rounds, ours: oursAll, script: 'bench/peers/torch_matmul.py', args: [JSON.stringify(shapes)], pick: (lines) => lines.map((l) => l.gflops) });
printTorchConfigs(res, (g) => g.toFixed(0));
console.log(`shape (M K N, T = transposed operand)   edgetrain GFLOP/s   %peak   PyTorch GFLOP/s   ratio   PyTorch best${withBf16 ? '   edgetrain, bf16 b   bf16 / f32' : ''}`);
shapes.forEach((s, i) => {
  const bf = withBf16 ? res.ours[shapes.length + i] : null;
  const g = res.ours[i];
  const tg = res.peer?.[i];
  const name = `${s[0]}x${s[1]}${s[3] ? 'T' : ''} @ ${s[1]}x${s[2]}${s[4] ? 'T' : ''}`;
  console.log(
    `${name.padEnd(40)} ${g.toFixed(1).padStart(10)} ${((100 * g) / peak.gflops).toFixed(0).padStart(9)}% ${tg ? `${tg.toFixed(1).padStart(12)} ${(g / tg).toFixed(2).padStart(9)}x   ${res.winner[i]}` : '         n/a'}${bf ? `   ${bf.toFixed(1).padStart(10)} ${(bf / g).toFixed(2).padStart(9)}x` : ''}`,
  );
});

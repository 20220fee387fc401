// Where the anchor LoRA step's time goes (bench/lora-anchor.mjs's task): per-op kernel time from
// the profiler (startProfile), grouped by op and by op + shapes, as shares of the step's wall time;
// the rest of the wall time is JavaScript, autograd bookkeeping and allocation.
// node bench/anchor-profile.mjs [steps=4] [threads]
import * as et from '../dist/index.js';
import { ANCHOR, ANCHOR_TOKENS, printMachine, timeLoRASteps } from './common.mjs';

const C = ANCHOR;
const T = ANCHOR_TOKENS;
const steps = parseInt(process.argv[2] ?? '4', 10);
const threads = parseInt(process.argv[3] ?? String(et.getThreads()), 10);
et.setThreads(threads);
printMachine(et, threads);
et.manualSeed(0);
const model = new et.models.LlamaModel({ ...C, maxPositionEmbeddings: 1024 });
const params = et.nn.loraParameters(et.nn.applyLoRA(model, { rank: 8, alpha: 16, seed: 1 }));

timeLoRASteps(et, model, params, T, 1); // warm-up (3 steps)
const plain = timeLoRASteps(et, model, params, T, steps);
et.startProfile();
const t0 = performance.now();
const prof = timeLoRASteps(et, model, params, T, steps);
const wall = (performance.now() - t0) / (steps + 2);
const rows = et.stopProfile();
const perStep = (ms) => ms / (steps + 2);
const kernel = rows.reduce((s, r) => s + r.totalMs, 0);
console.log(`step: ${plain.ms.toFixed(1)} ms unprofiled (${(T / plain.ms * 1000).toFixed(0)} tok/s), ${prof.ms.toFixed(1)} ms profiled`);
console.log(`kernels ${perStep(kernel).toFixed(1)} ms of ${wall.toFixed(1)} ms per profiled step; outside kernels ${(wall - perStep(kernel)).toFixed(1)} ms`);
const byOp = new Map();
for (const r of rows) {
  const o = byOp.get(r.op) ?? { calls: 0, ms: 0 };
  o.calls += r.calls;
  o.ms += r.totalMs;
  byOp.set(r.op, o);
}
console.log('\nby op                      calls/step   ms/step   share');
for (const [op, o] of [...byOp].sort((a, b) => b[1].ms - a[1].ms))
  console.log(`  ${op.padEnd(24)} ${String(o.calls / (steps + 2)).padStart(9)} ${perStep(o.ms).toFixed(2).padStart(9)} ${(100 * perStep(o.ms) / wall).toFixed(1).padStart(6)}%`);
console.log('\nslowest op + shapes (top 25)');
for (const r of rows.slice(0, 25))
  console.log(`  ${perStep(r.totalMs).toFixed(2).padStart(8)} ms  ${String(r.calls / (steps + 2)).padStart(5)}x  ${r.op} ${r.shapes}`);

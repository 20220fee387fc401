// A LoRA-shaped train step: two frozen DxD linears with rank-R adapters on T tokens, forward +
// backward + AdamW, edgetrain vs PyTorch at its best (same run, interleaved). Median ms per step.
// node bench/lora-step.mjs [D=1024] [R=8] [T=256] [threads] [rounds=3]
import * as et from '../dist/index.js';
import { median, printMachine } from './common.mjs';
import { printTorchConfigs, versusTorch } from './peers/torch-config.mjs';

const D = parseInt(process.argv[2] ?? '1024', 10);
const R = parseInt(process.argv[3] ?? '8', 10);
const T = parseInt(process.argv[4] ?? '256', 10);
const threads = parseInt(process.argv[5] ?? String(et.getThreads()), 10);
const rounds = parseInt(process.argv[6] ?? '3', 10);
const STEPS = 20;
et.setThreads(threads);

class LoraLinear {
  constructor(seed) {
    this.weight = et.keep(et.randn([D, D], { seed, std: 1 / Math.sqrt(D) })); // frozen
    this.a = et.keep(et.randn([R, D], { seed: seed + 1, std: 1 / Math.sqrt(D), requiresGrad: true }));
    this.b = et.keep(et.zeros([D, R], { requiresGrad: true }));
    this.scale = 16 / R;
  }
  forward(x) {
    const base = et.matmul(x, this.weight.transpose());
    const low = et.matmul(et.matmul(x, this.a.transpose()), this.b.transpose());
    return et.add(base, et.mul(low, this.scale));
  }
}

const l1 = new LoraLinear(1);
const l2 = new LoraLinear(3);
const params = [l1.a, l1.b, l2.a, l2.b];
const opt = new et.optim.AdamW(params, { lr: 1e-3 });
const x = et.randn([T, D], { seed: 5 });
const target = et.randn([T, D], { seed: 6 });
let loss = 0;
const step = () =>
  et.tidy(() => {
    opt.zeroGrad();
    const d = et.sub(l2.forward(et.silu(l1.forward(x))), target);
    const l = et.mean(et.mul(d, d));
    l.backward();
    opt.step();
    loss = l.item();
  });
function ours() {
  const times = [];
  for (let i = 0; i < STEPS + 3; i++) {
    const t0 = performance.now();
    step();
    if (i >= 3) times.push(performance.now() - t0);
  }
  return [median(times)];
}
printMachine(et, threads);
const res = await versusTorch({ rounds, ours, script: 'bench/peers/torch_lora_step.py', args: [D, R, T, STEPS], pick: (lines) => [lines[0].ms], lower: true });
printTorchConfigs(res, (ms) => `${ms.toFixed(2)} ms`);
const tps = (ms) => Math.round(T / (ms / 1000));
console.log(`LoRA step: 2 frozen ${D}x${D} linears + rank-${R} adapters, ${T} tokens, fwd+bwd+AdamW, ${threads} threads; medians of ${rounds} interleaved rounds`);
console.log(`edgetrain ${res.ours[0].toFixed(2)} ms/step (${tps(res.ours[0])} tok/s), memory peak ${(et.memory().cpu.peakBytes / 1e6).toFixed(1)} MB, loss ${loss.toFixed(4)}`);
if (!res.error) {
  const t = res.peer[0];
  console.log(`PyTorch   ${t.toFixed(2)} ms/step (${tps(t)} tok/s), best: ${res.winner[0]}`);
  console.log(`speed ratio edgetrain/PyTorch: ${(t / res.ours[0]).toFixed(2)}x (>1 is faster)`);
}

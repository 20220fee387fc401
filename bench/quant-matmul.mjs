// Quantized-weight matmul throughput (GFLOP/s-equivalent, 2·M·N·K / time) per block format vs our
// float32 matmul with the same weight, at LLM shapes: the forward y = x·Wᵀ and the input gradient
// dx = dy·W of training (M = 512 tokens), and single-token decode (M = 1) at 7B-model sizes. The
// forward twice: `fwd` exact (float, as training runs it) and `inf` under inference, where x is
// rounded to 8 bits for the integer GEMM / dot products where the type and CPU tier have them.
// node bench/quant-matmul.mjs [threads]
import * as et from '../dist/index.js';
import { median, printMachine } from './common.mjs';

const threads = parseInt(process.argv[2] ?? String(et.getThreads()), 10);
et.setThreads(threads);
const TYPES = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K', 'NF4', 'NF4_DQ'];
// [M, K, N]: W is [N, K]
const SHAPES = [
  [512, 2048, 2048],
  [512, 2048, 5632],
  [512, 5632, 2048],
  // decode at a 7B model's sizes: float32 weights of 64 and 172 MiB are read from memory, not cache
  [1, 4096, 4096],
  [1, 4096, 11008],
];

// fn returns the product; its values are read back, so the time includes the queued kernel (the
// CPU stream runs ops asynchronously: timing the call alone would time the enqueue)
function gflops(M, N, K, fn) {
  const run = () => {
    const y = fn();
    y.dataSync();
    y.dispose();
  };
  run();
  const reps = Math.max(3, Math.min(20, Math.floor(4e9 / (2 * M * N * K + 1e7))));
  const t = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    run();
    t.push(performance.now() - t0);
  }
  return (2 * M * N * K) / (median(t) / 1e3) / 1e9;
}

printMachine(et, threads);
console.log(`matmul with a quantized weight W [N, K], ${threads} threads; GFLOP/s-equivalent (median), and the ratio to float32 W`);
const head = ['shape (M K N)', 'pass', 'f32', ...TYPES];
console.log(head.map((h, i) => (i < 2 ? h.padEnd(i ? 5 : 18) : h.padStart(13))).join(' '));
for (const [M, K, N] of SHAPES) {
  const W = et.randn([N, K], { seed: 1, std: 0.02 });
  const x = et.randn([M, K], { seed: 2 });
  const dy = et.randn([M, N], { seed: 3 });
  const Wt = W.transpose();
  const rows = { fwd: [], inf: [], bwd: [] };
  const f32 = { fwd: gflops(M, N, K, () => et.matmul(x, Wt)), bwd: gflops(M, N, K, () => et.matmul(dy, W)) };
  f32.inf = f32.fwd;
  for (const type of TYPES) {
    const q = new et.quant.QuantizedWeight(type, [N, K], et.quant.quantizeTensor(type, W));
    rows.fwd.push(gflops(M, N, K, () => et.noGrad(() => et.quant.matmulQ(x, q, { exact: true }))));
    rows.inf.push(gflops(M, N, K, () => et.noGrad(() => et.quant.matmulQ(x, q))));
    rows.bwd.push(gflops(M, N, K, () => et.quant.matmulQInputGrad(dy, q)));
    q.dispose();
  }
  for (const pass of ['fwd', 'inf', 'bwd']) {
    if (M === 1 && pass === 'bwd') continue;
    const cells = rows[pass].map((g) => `${g.toFixed(1).padStart(6)} ${(g / f32[pass]).toFixed(2)}x`);
    console.log(`${`${M} ${K} ${N}`.padEnd(18)} ${pass.padEnd(5)} ${f32[pass].toFixed(1).padStart(13)} ${cells.map((c) => c.padStart(13)).join(' ')}`);
  }
  for (const t of [W, x, dy]) t.dispose();
}
console.log('(fwd: x·Wᵀ exact; inf: x·Wᵀ under inference, 8-bit x; bwd: the input gradient dy·W of the frozen weight; ratios > 1 beat float32)');

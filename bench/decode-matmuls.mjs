// The matmuls of one decode step of bench/generate.mjs's 100m model alone (12 layers x q, k, v, o,
// gate, up, down at d768 / FFN 2048 / 4 KV heads, then the 32000-row head), x one row under
// inference (8-bit activations, quant_dot.h), random weights: ms per token and the weight bytes
// read per second. The rest of a generation step (norms, rope, attention, JS) is what
// generate.mjs adds on top. Several copies of the weights are cycled so that each step reads
// them from memory rather than the last step's cache.
// node bench/decode-matmuls.mjs [formats=Q8_0,Q4_K/Q6_K (layer type/head type)] [threads] [copies=4]
import * as et from '../dist/index.js';
import { median, printMachine } from './common.mjs';

const formats = (process.argv[2] ?? 'Q8_0,Q4_K/Q6_K').split(',');
const threads = parseInt(process.argv[3] ?? String(et.getThreads()), 10);
const copies = parseInt(process.argv[4] ?? '4', 10);
et.setThreads(threads);
printMachine(et, threads);
const x = { 768: et.randn([1, 768], { seed: 99 }), 2048: et.randn([1, 2048], { seed: 98 }) };
for (const f of formats) {
  const [type, head = type] = f.split('/');
  const shapes = [];
  for (let l = 0; l < 12; l++) shapes.push([768, 768], [256, 768], [256, 768], [768, 768], [2048, 768], [2048, 768], [768, 2048]);
  const sets = [];
  for (let c = 0; c < copies; c++)
    sets.push(
      [...shapes, [32000, 768]].map(([N, K], i) => {
        const t = i === shapes.length ? head : type;
        const W = et.randn([N, K], { seed: 1000 * c + i, std: 0.02 });
        const q = new et.quant.QuantizedWeight(t, [N, K], et.quant.quantizeTensor(t, W));
        W.dispose();
        return q;
      }),
    );
  const bytes = sets[0].reduce((s, q) => s + q.byteLength, 0);
  const step = (ws) => {
    const ys = ws.map((w) => et.noGrad(() => et.quant.matmulQ(x[w.shape[1]], w)));
    ys[ys.length - 1].dataSync();
    for (const y of ys) y.dispose();
  };
  for (const ws of sets) step(ws);
  const t = [];
  for (let r = 0; r < 8 * copies; r++) {
    const t0 = performance.now();
    step(sets[r % copies]);
    t.push(performance.now() - t0);
  }
  const ms = median(t);
  console.log(`${type}${head !== type ? `, head ${head}` : ''}: ${ms.toFixed(2)} ms per token, ${(bytes / ms / 1e6).toFixed(1)} GB/s of weights (${(bytes / 1e6).toFixed(1)} MB; min ${Math.min(...t).toFixed(2)} ms)`);
  for (const ws of sets) for (const q of ws) q.dispose();
}

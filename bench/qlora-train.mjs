// QLoRA: LoRA fine-tuning tokens/s and memory of one ~125M-parameter Llama (d768, 12 layers, GQA
// 12/4, FFN 2048, vocab 32k, untied head; rank-8 adapters on all 7 projections, AdamW, one
// 256-token sequence per step, activation checkpointing on) whose decoder projections are float32,
// or quantized at load to Q8_0, Q4_0, Q4_K, NF4, NF4_DQ. Embeddings, norms and the head stay
// float32. Each base runs in its own process so its peak RSS is its own; the bases are run in
// turn, `rounds` times, and the medians printed. node bench/qlora-train.mjs [steps=4] [threads] [rounds=3]
import { fileURLToPath } from 'node:url';
import * as et from '../dist/index.js';
import { interleaved, printMachine, runNode, timeLoRASteps } from './common.mjs';

const C = { hiddenSize: 768, numLayers: 12, numHeads: 12, numKvHeads: 4, intermediateSize: 2048, vocabSize: 32000 };
const T = 256;

if (process.argv[2] === '--one') {
  const [, , , type, stepsArg, threadsArg] = process.argv;
  const steps = Number(stepsArg);
  et.setThreads(Number(threadsArg));
  et.manualSeed(0);
  // weights are made one matrix at a time and each projection quantized as soon as it exists, as
  // loading with { quantize } does, so peak memory never holds a float32 copy of the decoder
  const model = new et.models.LlamaModel({ ...C, maxPositionEmbeddings: 1024 }, { checkpointing: true, init: false });
  let qBytes = 0;
  let qParams = 0;
  let seed = 10;
  const mods = new Map(model.namedModules());
  for (const [path, m] of mods) {
    if (m instanceof et.nn.RMSNorm) et.copyInto(m.weight, et.ones(m.weight.shape));
    if (!(m instanceof et.nn.Linear || m instanceof et.nn.Embedding)) continue;
    const w = et.randn(m.weight.shape, { std: 0.02, seed: seed++ });
    if (type === 'f32' || !(m instanceof et.nn.Linear) || path === 'lm_head') {
      et.copyInto(m.weight, w);
      w.dispose();
      continue;
    }
    const q = new et.quant.QuantizedWeight(type, m.weight.shape, et.quant.quantizeTensor(type, w));
    w.dispose();
    const dot = path.lastIndexOf('.');
    mods.get(path.slice(0, dot)).replaceModule(path.slice(dot + 1), new et.nn.QLinear(q, m.bias));
    m.weight.dispose();
    et.emptyCache();
    qBytes += q.byteLength;
    qParams += m.inFeatures * m.outFeatures;
  }
  // the float32 matrices made above are gone (a file load maps them instead): return their memory
  et.emptyCache();
  const ad = et.nn.applyLoRA(model, { rank: 8, alpha: 16, seed: 1 });
  const params = et.nn.loraParameters(ad);
  const { ms, loss } = timeLoRASteps(et, model, params, T, steps);
  const m = et.memory().cpu;
  console.log(JSON.stringify({ ms, loss, peakBytes: m.peakBytes, liveBytes: m.liveBytes, maxRssMiB: process.resourceUsage().maxRSS / 1024, params: model.numParameters(), qBytes, qParams }));
  process.exit(0);
}

const steps = parseInt(process.argv[2] ?? '4', 10);
const threads = parseInt(process.argv[3] ?? String(et.getThreads()), 10);
const rounds = parseInt(process.argv[4] ?? '3', 10);
const self = fileURLToPath(import.meta.url);
printMachine(et, threads);
console.log(`QLoRA step, 125M Llama, seq ${T}, rank 8 on 7 projections, AdamW, checkpointing; ${threads} threads; median of ${steps} steps after 2 warm-up, medians of ${rounds} interleaved rounds`);
console.log('base    |  tok/s  vs f32  vs Q8_0 | quantized projections: bytes/param | peak RSS   live tensors | loss');
const TYPES = ['f32', 'Q8_0', 'Q4_0', 'Q4_K', 'NF4', 'NF4_DQ'];
const runs = TYPES.map((type) => () => {
  const o = runNode(self, ['--one', type, steps, threads]);
  return [T / (o.ms / 1000), o.maxRssMiB, o.liveBytes, o.loss, o.qParams ? o.qBytes / o.qParams : 0];
});
const res = Object.fromEntries((await interleaved(rounds, runs)).map((r, i) => [TYPES[i], r]));
for (const type of TYPES) {
  const [tps, rss, live, loss, bpp] = res[type];
  const f = tps / res.f32[0];
  const q8 = tps / res.Q8_0[0];
  console.log(
    `${type.padEnd(7)} | ${tps.toFixed(0).padStart(6)} ${f.toFixed(2).padStart(6)}x ${q8.toFixed(2).padStart(6)}x | ${(bpp ? bpp.toFixed(3) : '4 (f32)').padStart(34)} | ${rss.toFixed(0).padStart(5)} MiB ${(live / 2 ** 20).toFixed(0).padStart(6)} MiB | ${loss.toFixed(3)}`,
  );
}
console.log('(targets: 4-bit tok/s >= 1.0x Q8_0 and >= 0.8x f32; 4-bit projections <= 0.6 bytes/param. Live tensors: weights, adapters and optimizer state after a step.)');

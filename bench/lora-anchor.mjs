// The anchor LoRA task: a 30.5M-parameter Llama (d512, 8 layers, 8 heads, FFN 1408, vocab 4096,
// untied head), rank-8 adapters (alpha 16) on q,k,v,o,gate,up,down, one 256-token sequence per
// step, AdamW, no activation checkpointing. tok/s against the same model and adapters in PyTorch
// at its best (bench/peers/torch_lora_llama.py), interleaved, and the physical limit: 4 x params x
// tokens flops per step (forward and input gradient; the frozen weights get no weight gradient)
// at the FMA peak. node bench/lora-anchor.mjs [steps=8] [rounds=5] [threads]
import * as et from '../dist/index.js';
import { ANCHOR, ANCHOR_TOKENS, printMachine, timeLoRASteps } from './common.mjs';
import { printTorchConfigs, versusTorch } from './peers/torch-config.mjs';

const C = ANCHOR;
const T = ANCHOR_TOKENS;
const steps = parseInt(process.argv[2] ?? '8', 10);
const rounds = parseInt(process.argv[3] ?? '5', 10);
const threads = parseInt(process.argv[4] ?? String(et.getThreads()), 10);
et.setThreads(threads);
const peak = printMachine(et, threads);

et.manualSeed(0);
const model = new et.models.LlamaModel({ ...C, maxPositionEmbeddings: 1024 });
const params = et.nn.loraParameters(et.nn.applyLoRA(model, { rank: 8, alpha: 16, seed: 1 }));
const n = model.numParameters();
const trainable = params.reduce((s, p) => s + p.numel, 0);
console.log(`anchor LoRA task: ${(n / 1e6).toFixed(2)}M parameters (${(trainable / 1e6).toFixed(2)}M trainable), ${T} tokens per step, AdamW, no checkpointing`);
console.log(`edgetrain on ${threads} threads; median of ${steps} steps after 2 warm-up, medians of ${rounds} interleaved rounds`);

const res = await versusTorch({
  rounds,
  ours: () => [T / (timeLoRASteps(et, model, params, T, steps).ms / 1000)],
  script: 'bench/peers/torch_lora_llama.py',
  args: [T, 0, steps, C.hiddenSize, C.numLayers, C.numHeads, C.numKvHeads, C.intermediateSize, C.vocabSize, 8],
  pick: ([l]) => [T / (l.ms / 1000)],
});
printTorchConfigs(res, (v) => `${v.toFixed(0)} tok/s`);
const limit = (peak.gflops * 1e9) / (4 * n);
const pct = (v) => `${((100 * v) / limit).toFixed(0)}% of the limit`;
console.log(`physical limit: ${limit.toFixed(0)} tok/s (4 x ${(n / 1e6).toFixed(2)}M x ${T} = ${((4 * n * T) / 1e9).toFixed(1)} GFLOP per step at ${peak.gflops.toFixed(0)} GFLOP/s)`);
console.log(`edgetrain ${res.ours[0].toFixed(0)} tok/s (${pct(res.ours[0])})`);
if (res.peer) {
  console.log(`PyTorch   ${res.peer[0].toFixed(0)} tok/s (${pct(res.peer[0])}), best: ${res.winner[0]}; ${res.blas[0]}`);
  console.log(`ratio edgetrain / PyTorch: ${(res.ours[0] / res.peer[0]).toFixed(2)}x (>1 is faster)`);
}

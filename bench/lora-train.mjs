// LoRA fine-tuning of a ~125M-parameter Llama (d768, 12 layers, GQA 12/4, FFN 2048, vocab 32k,
// untied head; rank-8 adapters on q,k,v,o,gate,up,down; AdamW on the adapters), one sequence
// per step at 256 and 512 tokens, with and without per-block activation checkpointing:
// edgetrain vs PyTorch at its best (bench/peers/torch_lora_llama.py, same shapes), interleaved.
// Each run is a process of its own so peak memory is its own.
// node bench/lora-train.mjs [steps=4] [threads] [rounds=3]
import { fileURLToPath } from 'node:url';
import * as et from '../dist/index.js';
import { printMachine, runNode, timeLoRASteps } from './common.mjs';
import { printTorchConfigs, versusTorch } from './peers/torch-config.mjs';

const C = { hiddenSize: 768, numLayers: 12, numHeads: 12, numKvHeads: 4, intermediateSize: 2048, vocabSize: 32000 };

if (process.argv[2] === '--one') {
  const [, , , T, ck, steps, threads] = process.argv.map(Number);
  et.setThreads(threads);
  et.manualSeed(0);
  const model = new et.models.LlamaModel({ ...C, maxPositionEmbeddings: 1024 }, { checkpointing: ck === 1 });
  const ad = et.nn.applyLoRA(model, { rank: 8, alpha: 16, seed: 1 });
  const params = et.nn.loraParameters(ad);
  const { ms, loss } = timeLoRASteps(et, model, params, T, steps);
  const m = et.memory().cpu;
  console.log(JSON.stringify({ ms, loss, peakBytes: m.peakBytes, maxRssMiB: process.resourceUsage().maxRSS / 1024, params: model.numParameters(), trainable: params.reduce((s, p) => s + p.numel, 0) }));
  process.exit(0);
}

const steps = parseInt(process.argv[2] ?? '4', 10);
const threads = parseInt(process.argv[3] ?? String(et.getThreads()), 10);
const rounds = parseInt(process.argv[4] ?? '3', 10);
const self = fileURLToPath(import.meta.url);
printMachine(et, threads);
console.log(`LoRA fine-tuning step, 125M Llama, rank 8 on 7 projections, AdamW; edgetrain on ${threads} threads; median of ${steps} steps after 2 warm-up, medians of ${rounds} interleaved rounds`);
const rows = [];
for (const T of [256, 512])
  for (const ck of [0, 1]) {
    const ours = () => {
      const o = runNode(self, ['--one', T, ck, steps, threads]);
      return [T / (o.ms / 1000), o.maxRssMiB];
    };
    const res = await versusTorch({ rounds, ours, script: 'bench/peers/torch_lora_llama.py', args: [T, ck, steps], pick: ([l]) => [T / (l.ms / 1000), l.maxRssMiB], lower: [false, true] });
    console.log(`\n${T} tokens, checkpointing ${ck ? 'on' : 'off'}: edgetrain ${res.ours[0].toFixed(0)} tok/s ${res.ours[1].toFixed(0)} MiB`);
    printTorchConfigs(res, (v, f) => `${v.toFixed(0)} ${f ? 'MiB' : 'tok/s'}`);
    rows.push([T, ck, res]);
  }
console.log('\nseq  ckpt | edgetrain tok/s  peak RSS | PyTorch tok/s  peak RSS | speed ratio  memory ratio | PyTorch best');
for (const [T, ck, { ours, peer, winner }] of rows) {
  let line = `${String(T).padEnd(4)} ${ck ? 'on ' : 'off'}  | ${ours[0].toFixed(0).padStart(8)} tok/s ${ours[1].toFixed(0).padStart(6)} MiB`;
  if (peer) line += ` | ${peer[0].toFixed(0).padStart(8)} tok/s ${peer[1].toFixed(0).padStart(6)} MiB | ${(ours[0] / peer[0]).toFixed(2)}x        ${(ours[1] / peer[1]).toFixed(2)}x        | ${winner[0]}`;
  console.log(line);
}
console.log('(speed ratio > 1: edgetrain faster; memory ratio < 1: edgetrain uses less. Peak RSS is the whole process, weights included; the PyTorch figures are those of its fastest and its leanest configuration.)');

// LoRA fine-tuning of a ~125M-parameter Llama (d768, 12 layers, GQA 12/4, FFN 2048, vocab 32k,
// untied head; rank-8 adapters on q,k,v,o,gate,up,down; AdamW on the adapters), one sequence
// per step at 256 and 512 tokens, with and without per-block activation checkpointing:
// edgetrain vs PyTorch (bench/peers/torch_lora_llama.py, same shapes and threads). Each
// configuration runs in its own process so peak memory is its own.
// node bench/lora-train.mjs [steps=4] [threads]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as et from '../dist/index.js';
import { runTorch, timeLoRASteps } from './common.mjs';

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
const self = fileURLToPath(import.meta.url);
console.log(`LoRA fine-tuning step, 125M Llama, rank 8 on 7 projections, AdamW; ${threads} threads; median of ${steps} steps after 2 warm-up`);
console.log('seq  ckpt | edgetrain tok/s  peak RSS | PyTorch tok/s  peak RSS | speed ratio  memory ratio');
for (const T of [256, 512])
  for (const ck of [0, 1]) {
    const ours = JSON.parse(execFileSync(process.execPath, [self, '--one', String(T), String(ck), String(steps), String(threads)], { encoding: 'utf8' }).trim().split('\n').pop());
    const torch = runTorch('bench/peers/torch_lora_llama.py', [threads, T, ck, steps]);
    const ot = T / (ours.ms / 1000);
    let line = `${String(T).padEnd(4)} ${ck ? 'on ' : 'off'}  | ${ot.toFixed(0).padStart(8)} tok/s ${ours.maxRssMiB.toFixed(0).padStart(6)} MiB`;
    if (torch.error) line += ` | PyTorch n/a (${torch.error})`;
    else {
      const t = torch.lines[0];
      const tt = T / (t.ms / 1000);
      line += ` | ${tt.toFixed(0).padStart(8)} tok/s ${t.maxRssMiB.toFixed(0).padStart(6)} MiB | ${(ot / tt).toFixed(2)}x        ${(ours.maxRssMiB / t.maxRssMiB).toFixed(2)}x`;
    }
    console.log(line);
  }
console.log('(speed ratio > 1: edgetrain faster; memory ratio < 1: edgetrain uses less. Peak RSS is the whole process, weights included.)');

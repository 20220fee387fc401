// The anchor LoRA task (bench/lora-anchor.mjs) on frozen bases of different storage: float32,
// bfloat16 (loadModel dtype 'bfloat16': bf16 dot products where the CPU has AVX512_BF16) and
// 4-bit blocks (Q4_0, Q4_K: QLoRA), each loaded from the same GGUF file written once, tok/s in
// interleaved rounds and the ratio to the float32 base (bf16 with exact and with bf16 products). Targets (issue CPU speed): bf16 >= 1.6x,
// 4-bit >= 1.3x the float32 base.  node bench/base-dtypes.mjs [steps=6] [rounds=3] [threads]
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as et from '../dist/index.js';
import { ANCHOR, ANCHOR_TOKENS, interleaved, printMachine, timeLoRASteps } from './common.mjs';

const C = ANCHOR;
const T = ANCHOR_TOKENS;
const steps = parseInt(process.argv[2] ?? '6', 10);
const rounds = parseInt(process.argv[3] ?? '3', 10);
const threads = parseInt(process.argv[4] ?? String(et.getThreads()), 10);
et.setThreads(threads);
printMachine(et, threads);

const dir = join(import.meta.dirname, 'out', 'models', 'anchor');
const file = join(dir, 'anchor-f32.gguf');
if (!existsSync(file)) {
  mkdirSync(dir, { recursive: true });
  et.manualSeed(0);
  const m = new et.models.LlamaModel({ ...C, maxPositionEmbeddings: 1024 });
  et.models.saveGGUFModel(file, m.stateDict(), m.config, { name: 'anchor' });
  m.dispose();
}

// the file has no tokenizer (none is needed here): drop loadModel's warning about it
process.removeAllListeners('warning');
// bfloat16 twice: exact products (matmul precision 'highest', the default) and bf16 x bf16
// products ('high': activations rounded to bf16, PyTorch's bf16 matmul)
const bases = [
  ['float32', { dtype: 'float32' }],
  ['bfloat16', { dtype: 'bfloat16' }],
  ['bf16 high', { dtype: 'bfloat16' }, 'high'],
  ['Q4_0', { quantize: 'q4_0' }],
  ['Q4_K', { quantize: 'q4_k' }],
];
const loaded = [];
for (const [name, opts, precision] of bases) {
  const { model } = await et.loadModel(file, opts);
  const params = et.nn.loraParameters(et.nn.applyLoRA(model, { rank: 8, alpha: 16, seed: 1 }));
  loaded.push({ name, model, params, precision: precision ?? 'highest' });
}
console.log(`anchor LoRA task, ${T} tokens per step, median of ${steps} steps after 2 warm-up, medians of ${rounds} interleaved rounds, ${threads} threads`);
const res = await interleaved(
  rounds,
  loaded.map(({ model, params, precision }) => () => {
    const prev = et.setMatmulPrecision(precision);
    const r = timeLoRASteps(et, model, params, T, steps);
    et.setMatmulPrecision(prev);
    return [T / (r.ms / 1000), r.loss];
  }),
);
const f32 = res[0][0];
for (let i = 0; i < loaded.length; i++)
  console.log(`  ${loaded[i].name.padEnd(9)} base: ${res[i][0].toFixed(0).padStart(5)} tok/s  ${(res[i][0] / f32).toFixed(2)}x the float32 base  (last loss ${res[i][1].toFixed(4)})`);

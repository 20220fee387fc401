#!/usr/bin/env node
// Writes tiny random Llama/Qwen/Gemma 3-shaped models with a real vocabulary (from ../shared/vocab) as
// GGUF (f32, f16) and as an HF folder (config.json + model.safetensors).
// Usage (after `npx tsup`): node scripts/make-tiny-model.mjs OUT_DIR [llama|qwen2|qwen3|gemma3 ...]
// Environment: EDGETRAIN_SHARED (default <repo>/../shared).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as et from '../dist/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.EDGETRAIN_SHARED ?? join(root, '..', 'shared');
const [out, ...archs] = process.argv.slice(2);
if (!out) {
  console.error('usage: node scripts/make-tiny-model.mjs OUT_DIR [llama|qwen2|qwen3|gemma3 ...]');
  process.exit(2);
}
const VOCAB = { llama: 'llama-spm', qwen2: 'qwen2', qwen3: 'llama-bpe', gemma3: 'llama-spm' };
for (const [i, arch] of (archs.length ? archs : ['llama', 'qwen2', 'qwen3']).entries()) {
  if (!(arch in VOCAB)) throw new Error(`unknown architecture ${arch} (${Object.keys(VOCAB).join(', ')})`);
  const files = et.models.makeTinyModel(join(out, arch), {
    architecture: arch,
    vocabFile: join(shared, 'vocab', `ggml-vocab-${VOCAB[arch]}.gguf`),
    seed: i + 1,
    tieWordEmbeddings: arch === 'qwen2' || arch === 'gemma3',
    headDim: arch === 'qwen3' ? 32 : undefined,
    // gemma3: five local layers (window 8) and one global
    numLayers: arch === 'gemma3' ? 6 : undefined,
  });
  console.log(arch, JSON.stringify({ ggufF32: files.ggufF32, ggufF16: files.ggufF16, hfDir: files.hfDir }));
}

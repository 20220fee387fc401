// Our GGUF LoRA adapters in llama.cpp (node-llama-cpp, a dev dependency): base GGUF + adapter
// there gives the next-token log-probabilities of base + adapter here, and so does the merged
// model we write. Tolerance as in llamacpp.test.ts: 1e-3 of our logit range.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { applyLoRA, LoRALinear } from '../lib/nn/lora.js';
import { loadModel, makeTinyModel, mergeLoRA, saveGGUFAdapter, saveGGUFModel, type TinyModelOptions } from '../lib/models/index.js';
import { compareLogProbs, createContext, getLlama, importNlc, nextLogProbs } from './helpers/llamacpp.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = process.env.EDGETRAIN_SHARED ?? join(ROOT, '..', 'shared');
const VOCAB = (n: string) => join(SHARED, 'vocab', `ggml-vocab-${n}.gguf`);
const REL_TOL = 1e-3;
const PROMPTS = ['The quick brown fox jumps over the lazy dog.', 'Hello world! 1234'];

const { nlc, error } = await importNlc();
const dir = mkdtempSync(join(tmpdir(), 'et-llamacpp-lora-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('node-llama-cpp imports (a dev dependency)', () => {
  expect(nlc, `node-llama-cpp did not import: ${error}`).not.toBeNull();
});

const MODELS: [string, TinyModelOptions, string[]][] = [
  // llama: Q/K rows of B permuted in the file
  ['llama', { architecture: 'llama', vocabFile: VOCAB('llama-spm'), seed: 31 }, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head']],
  ['qwen2', { architecture: 'qwen2', vocabFile: VOCAB('qwen2'), seed: 32 }, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']],
  ['gemma3', { architecture: 'gemma3', vocabFile: VOCAB('llama-spm'), seed: 33, numLayers: 6, headDim: 24, ropeTheta: 1e6, tieWordEmbeddings: true }, ['q_proj', 'v_proj', 'down_proj']],
];

describe.skipIf(!nlc)('LoRA adapters in llama.cpp', () => {
  test.each(MODELS)('%s: base + GGUF adapter, and the merged model, match ours', { timeout: 120_000 }, async (name, opts, targets) => {
    const files = makeTinyModel(join(dir, name), { ...opts, formats: ['gguf-f32'] });
    const { model, tokenizer } = await loadModel(files.ggufF32!);
    const ad = applyLoRA(model, { rank: 4, alpha: 8, seed: 5, targets });
    let k = 0;
    et.noGrad(() => {
      for (const a of ad.values()) if (a instanceof LoRALinear) et.copyInto(a.lora_B.weight, et.randn(a.lora_B.weight.shape, { std: 0.2, seed: 900 + k++ }));
    });
    const adapter = join(dir, `${name}-lora.gguf`);
    saveGGUFAdapter(adapter, model);
    const V = model.config.vocabSize;
    const idsOf = (p: string) => (tokenizer!.addBos ? [tokenizer!.bos!, ...tokenizer!.encode(p)] : tokenizer!.encode(p));
    const ours = PROMPTS.map((p) =>
      et.noGrad(() => et.tidy(() => Float32Array.from(model.forward(et.tensor(Int32Array.from(idsOf(p)), [1, idsOf(p).length]), { lastOnly: true }).dataSync()))),
    );

    const ll = await getLlama(nlc);
    const base = await ll.loadModel({ modelPath: files.ggufF32! });
    const report: string[] = [];
    try {
      const withLora = await createContext(base, adapter);
      const plain = await createContext(base);
      for (const [i, p] of PROMPTS.entries()) {
        const { maxDiff, range } = compareLogProbs(ours[i]!, await nextLogProbs(withLora, idsOf(p), V));
        report.push(`adapter ${(maxDiff / range).toExponential(2)}`);
        expect(maxDiff, `${name}: base + adapter vs llama.cpp --lora on ${JSON.stringify(p)}`).toBeLessThan(REL_TOL * range);
        // the adapter matters: without it llama.cpp is far from ours
        const off = compareLogProbs(ours[i]!, await nextLogProbs(plain, idsOf(p), V));
        expect(off.maxDiff).toBeGreaterThan(20 * REL_TOL * off.range);
      }
      await withLora.dispose();
      await plain.dispose();
    } finally {
      await base.dispose();
    }

    // merged: W + s B A written as a plain GGUF model
    mergeLoRA(model);
    const merged = join(dir, `${name}-merged.gguf`);
    saveGGUFModel(merged, model.stateDict(), model.config, { metadata: et.models.tokenizerMetadata(et.readGGUFHeader(files.ggufF32!)) });
    const mm = await ll.loadModel({ modelPath: merged });
    try {
      const ctx = await createContext(mm);
      for (const [i, p] of PROMPTS.entries()) {
        const { maxDiff, range } = compareLogProbs(ours[i]!, await nextLogProbs(ctx, idsOf(p), V));
        report.push(`merged ${(maxDiff / range).toExponential(2)}`);
        expect(maxDiff, `${name}: merged model in llama.cpp vs base + adapter here`).toBeLessThan(REL_TOL * range);
      }
      await ctx.dispose();
    } finally {
      await mm.dispose();
    }
    console.log(`${name}: max |dlogp| / range: ${report.join(', ')}`);
    model.dispose();
  });
});

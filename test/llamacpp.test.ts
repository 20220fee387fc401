// Agreement with llama.cpp (through node-llama-cpp) on the same GGUF files: a file written by
// llama.cpp's tools (../shared/quant/tiny-llama-f16.gguf) and tiny Llama / Qwen2 / Qwen3 models
// written by edgetrain (f32 and f16). For each: tokenization of three prompts, next-token
// log-probabilities (node-llama-cpp exposes probabilities, not raw logits: we compare
// log-softmax, which is the logits up to a per-row constant) and a 32-token greedy continuation.
//
// node-llama-cpp (pinned 3.21.1) is a dev dependency: a missing or unloadable copy fails the suite.
// EDGETRAIN_NODE_LLAMA_CPP may point at another copy's dist/index.js. llama.cpp runs on one
// thread: on a 2-core machine its default thread count spins against vitest's workers and makes
// each token ~300x slower, with the same results.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { generate, loadModel, makeTinyModel, type LoadedModel, type TinyModelOptions } from '../lib/models/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = process.env.EDGETRAIN_SHARED ?? join(ROOT, '..', 'shared');
const VOCAB = (n: string) => join(SHARED, 'vocab', `ggml-vocab-${n}.gguf`);

/**
 * Tolerance on next-token log-probabilities, as a fraction of our logit range (max - min).
 * llama.cpp keeps the KV cache in f16 and rounds activations to f16 before F16-weight matmuls:
 * together ~1.2e-4..2.9e-4 of the range on f32 files and up to ~5.7e-4 on f16 ones. Its flash
 * attention (on by default) also accumulates in f16 and doubles that, so it is turned off here.
 */
const REL_TOL = 1e-3;

const LOG_FLT_MIN = Math.log(1.1754944e-38);

const spec = process.env.EDGETRAIN_NODE_LLAMA_CPP ?? 'node-llama-cpp';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let nlc: any = null;
let importError = '';
try {
  nlc = await import(existsSync(spec) ? pathToFileURL(spec).href : spec);
} catch (e) {
  importError = (e as Error).message;
}

const PROMPTS = ['The quick brown fox jumps over the lazy dog.', 'Hello world! 1234 numbers, and émojis 🙂 too', '  leading spaces\nand a second line\tand a tab'];

let dir = '';
const files: [string, string][] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'et-llamacpp-'));
  files.push(['tiny-llama-f16.gguf (llama.cpp)', join(SHARED, 'quant', 'tiny-llama-f16.gguf')]);
  // Two shapes per architecture: grouped-query vs multi-head attention, tied vs untied output,
  // head dims 16..48, rope bases 1e4..1e6, Llama 3.1 rope scaling, and each of the SPM / BPE
  // vocabularies.
  const models: [string, TinyModelOptions][] = [
    ['llama a', { architecture: 'llama', vocabFile: VOCAB('llama-spm'), seed: 11 }],
    ['llama b', { architecture: 'llama', vocabFile: VOCAB('llama-bpe'), seed: 21, hiddenSize: 96, numHeads: 6, numKvHeads: 6, numLayers: 3, intermediateSize: 160, tieWordEmbeddings: true, ropeTheta: 500000 }],
    ['llama c', { architecture: 'llama', vocabFile: VOCAB('phi-3'), seed: 31, hiddenSize: 64, numHeads: 4, numKvHeads: 1, numLayers: 1, intermediateSize: 96 }],
    // Llama 3.1 rope scaling, which GGUF carries as a rope_freqs.weight tensor
    ['llama d', { architecture: 'llama', vocabFile: VOCAB('llama-bpe'), seed: 41, hiddenSize: 64, numHeads: 4, numKvHeads: 2, ropeTheta: 500000, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 } }],
    ['qwen2 a', { architecture: 'qwen2', vocabFile: VOCAB('qwen2'), seed: 12, tieWordEmbeddings: true }],
    ['qwen2 b', { architecture: 'qwen2', vocabFile: VOCAB('qwen2'), seed: 22, hiddenSize: 96, numHeads: 2, numKvHeads: 1, numLayers: 3, intermediateSize: 192, ropeTheta: 1000000 }],
    ['qwen3 a', { architecture: 'qwen3', vocabFile: VOCAB('llama-bpe'), seed: 13, headDim: 32 }],
    ['qwen3 b', { architecture: 'qwen3', vocabFile: VOCAB('qwen2'), seed: 23, hiddenSize: 96, numHeads: 4, numKvHeads: 4, headDim: 48, numLayers: 2, tieWordEmbeddings: true, ropeTheta: 1000000 }],
    // Gemma 3: GeGLU, (1 + w) norms around attention and MLP, scaled embeddings, five local
    // (window 8, rope base 1e4) then one global (1e6) layer
    ['gemma3 a', { architecture: 'gemma3', vocabFile: VOCAB('llama-spm'), seed: 14, numLayers: 6, headDim: 24, ropeTheta: 1e6, slidingWindow: 8, tieWordEmbeddings: true }],
    ['gemma3 b', { architecture: 'gemma3', vocabFile: VOCAB('gpt-2'), seed: 24, hiddenSize: 96, numHeads: 4, numKvHeads: 1, numLayers: 7, slidingWindow: 5, tieWordEmbeddings: true, ropeTheta: 1e6 }],
  ];
  for (const [name, opts] of models) {
    const f = makeTinyModel(join(dir, name.replace(' ', '-')), { ...opts, formats: ['gguf-f32', 'gguf-f16'] });
    files.push([`${name} f32 (edgetrain)`, f.ggufF32!]);
    files.push([`${name} f16 (edgetrain)`, f.ggufF16!]);
  }
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
let llama: any = null;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function getLlama(): Promise<any> {
  llama ??= await nlc.getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  return llama;
}

function logSoftmax(x: Float32Array | Float64Array): Float64Array {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  let s = 0;
  for (const v of x) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  return Float64Array.from(x, (v) => v - lse);
}

const report: string[] = [];

test('node-llama-cpp 3.21.1 imports (a dev dependency)', () => {
  expect(nlc, `node-llama-cpp did not import from ${spec}: ${importError}`).not.toBeNull();
});

describe.skipIf(!nlc)('llama.cpp (node-llama-cpp) agreement', () => {
  afterAll(() => {
    if (report.length) console.log(`llama.cpp comparison (tolerance ${REL_TOL} x logit range on log-probs):\n${report.join('\n')}`);
  });

  test.each(Array.from({ length: 21 }, (_, i) => i))('file %i: tokenization, next-token log-probs, 32-token greedy continuation', { timeout: 300_000 }, async (i) => {
    const [label, path] = files[i]!;
    expect(existsSync(path), `${path} is missing`).toBe(true);
    const ll = await getLlama();
    const lm = await ll.loadModel({ modelPath: path });
    const ctx = await lm.createContext({ contextSize: 256, batchSize: 256, sequences: 1, threads: 1, flashAttention: false });
    const seq = ctx.getSequence();
    const ours: LoadedModel = await loadModel(path);
    const tok = ours.tokenizer!;
    const V = ours.config.vocabSize;
    let worst = 0;
    let worstRel = 0;
    const ties: string[] = [];
    try {
      for (const prompt of PROMPTS) {
        const theirs = Array.from(lm.tokenize(prompt, false) as number[]);
        const mine = tok.encode(prompt);
        expect(mine, `${label}: tokens of ${JSON.stringify(prompt)}`).toEqual(theirs);
        const bos = lm.tokens.bos as number | null;
        const ids = tok.addBos && bos !== null ? [bos, ...mine] : mine;

        // next-token distribution after the prompt
        await seq.clearHistory();
        const items = ids.map((t, k) => (k === ids.length - 1 ? [t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] : t));
        const res = await seq.controlledEvaluate(items);
        const probs = res[ids.length - 1]!.next.probabilities as Map<number, number>;
        expect(probs.size, `${label}: probabilities over the whole vocabulary`).toBe(V);
        const theirLp = new Float64Array(V);
        for (const [t, p] of probs) theirLp[t] = Math.log(p);
        const logits = et.noGrad(() =>
          et.tidy(() => Float32Array.from(ours.model.forward(et.tensor(Int32Array.from(ids), [1, ids.length]), { lastOnly: true }).dataSync())),
        );
        const myLp = logSoftmax(logits);
        let lo = Infinity;
        let hi = -Infinity;
        for (const v of logits) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        let d = 0;
        // llama.cpp's probabilities are float32: below FLT_MIN they are denormal (a few bits) or 0,
        // so their log says nothing; those tokens (log p < -87) are left out.
        for (let k = 0; k < V; k++) if (theirLp[k]! >= LOG_FLT_MIN) d = Math.max(d, Math.abs(myLp[k]! - theirLp[k]!));
        worst = Math.max(worst, d);
        worstRel = Math.max(worstRel, d / (hi - lo));
        expect(d, `${label}: max |log p ours - log p llama.cpp| (range ${(hi - lo).toFixed(3)})`).toBeLessThan(REL_TOL * (hi - lo));

        // 32-token greedy continuation
        await seq.clearHistory();
        const theirGen: number[] = [];
        for await (const t of seq.evaluate(ids, { temperature: 0, yieldEogToken: true })) {
          theirGen.push(t as number);
          if (theirGen.length === 32) break;
        }
        const myGen: number[] = [];
        for await (const t of generate(ours.model, ids, { maxTokens: 32, temperature: 0, stopTokens: [] })) myGen.push(t);
        expect(theirGen).toHaveLength(32);
        const s = myGen.findIndex((t, k) => t !== theirGen[k]);
        if (s >= 0) {
          // a divergence is only accepted at a near-tie: our logits for our pick and llama.cpp's
          // pick (same prefix) within the tolerance; the continuations differ from there on
          const row = et.noGrad(() =>
            et.tidy(() => {
              const pre = [...ids, ...myGen.slice(0, s)];
              return Float32Array.from(ours.model.forward(et.tensor(Int32Array.from(pre), [1, pre.length]), { lastOnly: true }).dataSync());
            }),
          );
          let lo = Infinity;
          let hi = -Infinity;
          for (const v of row) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
          }
          const gap = row[myGen[s]!]! - row[theirGen[s]!]!;
          ties.push(`${JSON.stringify(prompt)} step ${s}: ours ${myGen[s]} vs llama.cpp ${theirGen[s]}, logit gap ${gap.toExponential(2)} = ${(gap / (hi - lo)).toExponential(2)} x range`);
          expect(gap, `${label}: greedy continuation of ${JSON.stringify(prompt)} diverges at step ${s} (ours ${myGen.join(',')} vs ${theirGen.join(',')}) and it is no near-tie`).toBeLessThan(REL_TOL * (hi - lo));
        }
      }
      report.push(
        `  ${label}: max |dlogp| ${worst.toExponential(2)} = ${worstRel.toExponential(2)} x range; tokens identical; 32-token greedy ${ties.length ? `identical except near-ties: ${ties.join('; ')}` : 'identical'}`,
      );
    } finally {
      ours.model.dispose();
      await ctx.dispose();
      await lm.dispose();
    }
  });
});

// Prompt processing and generation tokens/s, edgetrain vs llama.cpp (node-llama-cpp, same file,
// same run), on a tiny and a ~100M-parameter random Llama written as f32 and f16 GGUF, and the
// f16 file quantized by `edgetrain quantize` to Q8_0 and Q4_K_M (kept quantized by both).
// llama.cpp runs with 1 and 2 threads, interleaved with ours, and per figure the faster counts.
// node bench/generate.mjs [tiny|100m|all=all] [threads] [rounds=3] [formats=all, e.g. f16,q8_0,q4_k_m]
import { execFileSync } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as et from '../dist/index.js';
import { interleaved, median, printMachine } from './common.mjs';

const which = process.argv[2] ?? 'all';
const threads = parseInt(process.argv[3] ?? String(et.getThreads()), 10);
const rounds = parseInt(process.argv[4] ?? '3', 10);
const formats = process.argv[5] && process.argv[5] !== 'all' ? new Set(process.argv[5].split(',')) : null;
et.setThreads(threads);
const SHARED = process.env.EDGETRAIN_SHARED ?? join(import.meta.dirname, '..', '..', 'shared');
const OUT = join(import.meta.dirname, 'out', 'models');
const PROMPT = 128; // prompt tokens
const GEN = 64; // generated tokens
const REPS = 3; // per round

const sizes = {
  // hidden 256, 4 layers: 3M parameters besides the 2 x 32k x 256 embeddings (20M in all)
  tiny: { hiddenSize: 256, intermediateSize: 688, numLayers: 4, numHeads: 4, numKvHeads: 4 },
  // Llama-shaped, 12 layers of d768 (GQA 12/4) + 2 x 32k x 768 embeddings: 125M parameters
  '100m': { hiddenSize: 768, intermediateSize: 2048, numLayers: 12, numHeads: 12, numKvHeads: 4 },
};

function files(name) {
  const dir = join(OUT, name);
  const f32 = join(dir, 'llama-f32.gguf');
  const f16 = join(dir, 'llama-f16.gguf');
  if (!existsSync(f32) || !existsSync(f16)) {
    mkdirSync(dir, { recursive: true });
    et.models.makeTinyModel(dir, { architecture: 'llama', vocabFile: join(SHARED, 'vocab', 'ggml-vocab-llama-spm.gguf'), seed: 7, contextLength: 1024, ...sizes[name], formats: ['gguf-f32', 'gguf-f16'] });
  }
  const out = { f32, f16 };
  for (const q of ['q8_0', 'q4_k_m']) {
    out[q] = join(dir, `llama-${q}.gguf`);
    if (!existsSync(out[q])) execFileSync(process.execPath, [join(import.meta.dirname, '..', 'dist', 'cli.js'), 'quantize', f16, out[q], '--type', q], { stdio: 'ignore' });
  }
  return out;
}

const promptIds = (V) => Array.from({ length: PROMPT }, (_, i) => 1 + ((i * 7919) % (V - 1)));

async function ours(path) {
  const t0 = performance.now();
  const { model, config } = await et.loadModel(path);
  const loadMs = performance.now() - t0;
  model.eval();
  const ids = promptIds(config.vocabSize);
  const pp = [];
  const tg = [];
  for (let r = 0; r < REPS; r++) {
    let t = performance.now();
    let first = 0;
    let n = 0;
    for await (const _ of et.models.generate(model, ids, { maxTokens: GEN, temperature: 0, stopTokens: [] })) {
      n++;
      if (n === 1) {
        first = performance.now();
        pp.push(first - t);
      }
    }
    tg.push((performance.now() - first) / (n - 1));
  }
  model.dispose();
  return [loadMs, PROMPT / (median(pp) / 1000), 1000 / median(tg)];
}

let llama = null;
async function llamaCpp(nlc, path, nThreads) {
  llama ??= await nlc.getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const t0 = performance.now();
  const lm = await llama.loadModel({ modelPath: path });
  const loadMs = performance.now() - t0;
  const ctx = await lm.createContext({ contextSize: 512, batchSize: 512, sequences: 1, threads: nThreads });
  const seq = ctx.getSequence();
  const ids = promptIds(32000);
  const pp = [];
  const tg = [];
  for (let r = 0; r < REPS; r++) {
    await seq.clearHistory();
    const t = performance.now();
    let first = 0;
    let n = 0;
    for await (const _ of seq.evaluate(ids, { temperature: 0, yieldEogToken: true })) {
      n++;
      if (n === 1) {
        first = performance.now();
        pp.push(first - t);
      }
      if (n === GEN) break;
    }
    tg.push((performance.now() - first) / (n - 1));
  }
  await ctx.dispose();
  await lm.dispose();
  return [loadMs, PROMPT / (median(pp) / 1000), 1000 / median(tg)];
}

let nlc = null;
try {
  nlc = await import('node-llama-cpp');
} catch (e) {
  console.log(`node-llama-cpp: n/a (${e.message.split('\n')[0]}); install the dev dependencies`);
}

printMachine(et, threads);
console.log(`generation: ${PROMPT}-token prompt, then ${GEN} greedy tokens; medians of ${rounds} interleaved rounds of ${REPS}; edgetrain on ${threads} threads`);
console.log('(prompt processing includes sampling the first token; generation excludes the prompt)');
const THREADS = [1, 2];
const show = ([loadMs, pp, tg]) => `load ${loadMs.toFixed(0)} ms, prompt ${pp.toFixed(0)} tok/s, generation ${tg.toFixed(1)} tok/s`;
for (const name of which === 'all' ? Object.keys(sizes) : [which]) {
  for (const [dt, path] of Object.entries(files(name))) {
    if (formats && !formats.has(dt)) continue;
    const [o, ...l] = await interleaved(rounds, [() => ours(path), ...(nlc ? THREADS.map((t) => () => llamaCpp(nlc, path, t)) : [])]);
    console.log(`\n${name} ${dt} (${path})`);
    console.log(`  edgetrain        ${show(o)}`);
    if (!nlc) continue;
    THREADS.forEach((t, i) => console.log(`  llama.cpp ${t} thr  ${show(l[i])}`));
    const best = (f) => l.reduce((b, x, i) => (x[f] > l[b][f] ? i : b), 0);
    const [pp, tg] = [best(1), best(2)];
    console.log(`  ratio edgetrain / llama.cpp's best: prompt ${(o[1] / l[pp][1]).toFixed(2)}x (${THREADS[pp]} thr), generation ${(o[2] / l[tg][2]).toFixed(2)}x (${THREADS[tg]} thr) (>1 is faster)`);
  }
}

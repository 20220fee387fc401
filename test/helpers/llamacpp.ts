// llama.cpp through node-llama-cpp (a dev dependency; EDGETRAIN_NODE_LLAMA_CPP may name another
// copy's dist/index.js): import, one shared CPU instance, and next-token log-probabilities.
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** Where `import('node-llama-cpp')` comes from. */
export const nlcSpec = process.env.EDGETRAIN_NODE_LLAMA_CPP ?? 'node-llama-cpp';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Nlc = any;

/** node-llama-cpp's module, or the import error's message. */
export async function importNlc(): Promise<{ nlc: Nlc | null; error: string }> {
  try {
    return { nlc: await import(existsSync(nlcSpec) ? pathToFileURL(nlcSpec).href : nlcSpec), error: '' };
  } catch (e) {
    return { nlc: null, error: (e as Error).message };
  }
}

let llama: Nlc = null;
export async function getLlama(nlc: Nlc): Promise<Nlc> {
  llama ??= await nlc.getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  return llama;
}

/**
 * A context on one thread (its default thread count spins against vitest's workers on a 2-core
 * machine) with flash attention off (its f16 accumulation doubles the difference to float32).
 */
export async function createContext(model: Nlc, lora?: string): Promise<Nlc> {
  return model.createContext({ contextSize: 256, batchSize: 256, sequences: 1, threads: 1, flashAttention: false, ...(lora ? { lora } : {}) });
}

/** llama.cpp's next-token log-probabilities after `ids` (float32 probabilities: below FLT_MIN -> -Infinity). */
const sequences = new WeakMap<object, Nlc>();
export async function nextLogProbs(ctx: Nlc, ids: number[], vocabSize: number): Promise<Float64Array> {
  let seq = sequences.get(ctx);
  if (!seq) sequences.set(ctx, (seq = ctx.getSequence()));
  await seq.clearHistory();
  {
    const items = ids.map((t, k) => (k === ids.length - 1 ? [t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] : t));
    const res = await seq.controlledEvaluate(items);
    const probs = res[ids.length - 1]!.next.probabilities as Map<number, number>;
    const lp = new Float64Array(vocabSize).fill(-Infinity);
    for (const [t, p] of probs) lp[t] = Math.log(p);
    return lp;
  }
}

export function logSoftmax(x: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]!);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i]! - m);
  const lse = m + Math.log(s);
  return Float64Array.from(x as ArrayLike<number>, (v) => v - lse);
}

/** llama.cpp's log-probabilities below FLT_MIN are denormal or 0: left out of comparisons. */
export const LOG_FLT_MIN = Math.log(1.1754944e-38);

/** max |ours - theirs| over tokens llama.cpp resolves, and our logit range. */
export function compareLogProbs(ourLogits: ArrayLike<number>, theirs: Float64Array): { maxDiff: number; range: number } {
  const mine = logSoftmax(ourLogits);
  let d = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < theirs.length; k++) {
    lo = Math.min(lo, ourLogits[k]!);
    hi = Math.max(hi, ourLogits[k]!);
    if (theirs[k]! >= LOG_FLT_MIN) d = Math.max(d, Math.abs(mine[k]! - theirs[k]!));
  }
  return { maxDiff: d, range: hi - lo };
}

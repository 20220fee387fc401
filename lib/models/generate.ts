// Token-by-token generation with a KV cache: prefill the prompt, then one forward per token,
// sampling on the host (temperature, top-k, top-p, min-p, repetition penalty) with a seeded PRNG.
import { noGrad } from '../autograd/engine.js';
import { IndexError, ValueError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import { seededRandom } from '../random.js';
import { tidy } from '../scope.js';
import type { LlamaModel } from './llama.js';

export interface SamplingOptions {
  /** Softmax temperature; 0 picks the most likely token (greedy). Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (0 = off, the default). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = off, the default). */
  topP?: number;
  /** Drop tokens less likely than minP times the most likely one (0 = off, the default). */
  minP?: number;
  /**
   * HF-style repetition penalty over every token of the context (prompt and generated so far):
   * a positive logit is divided by it, a negative one multiplied. 1 = off (the default).
   */
  repetitionPenalty?: number;
}

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate. */
  maxTokens: number;
  /** Seed of the sampling PRNG (a random one when omitted). Same seed, same tokens. */
  seed?: number;
  /** Token ids that end generation (not yielded). Default: the config's eos ids. */
  stopTokens?: number[];
  /** Strings that end generation once the decoded continuation contains one (needs `decode`). */
  stop?: string[];
  /** Token ids -> text, used for `stop`. */
  decode?: (ids: number[]) => string;
  /** Stops generation between tokens. */
  signal?: AbortSignal;
}

/** Why and how generation ended: the generator's return value. */
export interface GenerateResult {
  /** Generated ids (a stop token excluded). */
  tokens: number[];
  reason: 'length' | 'stopToken' | 'stopString' | 'aborted';
  /** The stop token or stop string that ended it. */
  stoppedBy?: number | string;
}

export { seededRandom };

function checkSampling(o: SamplingOptions): void {
  const t = o.temperature ?? 1;
  if (!Number.isFinite(t) || t < 0) throw new ValueError(`generate: temperature must be a finite number >= 0, got ${t}`);
  const k = o.topK ?? 0;
  if (!Number.isInteger(k) || k < 0) throw new ValueError(`generate: topK must be a non-negative integer, got ${k}`);
  const p = o.topP ?? 1;
  if (!(p > 0 && p <= 1)) throw new ValueError(`generate: topP must be in (0, 1], got ${p}`);
  const m = o.minP ?? 0;
  if (!(m >= 0 && m <= 1)) throw new ValueError(`generate: minP must be in [0, 1], got ${m}`);
  const r = o.repetitionPenalty ?? 1;
  if (!Number.isFinite(r) || r <= 0) throw new ValueError(`generate: repetitionPenalty must be a positive number, got ${r}`);
}

/**
 * Picks the next token from one row of logits. Order (as HF's processors): repetition penalty,
 * then greedy argmax when temperature is 0, else temperature, top-k, top-p, min-p, and a draw
 * with `rng`. `history` is the context the penalty applies to.
 */
export function sampleToken(logits: Float32Array, history: readonly number[], opts: SamplingOptions, rng: () => number): number {
  const V = logits.length;
  const l = Float64Array.from(logits);
  const pen = opts.repetitionPenalty ?? 1;
  if (pen !== 1) {
    const seen = new Set(history);
    for (const id of seen) if (id >= 0 && id < V) l[id] = l[id]! > 0 ? l[id]! / pen : l[id]! * pen;
  }
  const temp = opts.temperature ?? 1;
  if (temp === 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (l[i]! > l[best]!) best = i;
    return best;
  }
  let mx = -Infinity;
  for (let i = 0; i < V; i++) mx = Math.max(mx, l[i]!);
  const p = new Float64Array(V); // unnormalised: the filters compare and sum them
  for (let i = 0; i < V; i++) p[i] = Math.exp((l[i]! - mx) / temp);
  // candidates in descending probability (ties: lower id first)
  let order = Array.from({ length: V }, (_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
  const k = opts.topK ?? 0;
  if (k > 0 && k < order.length) order = order.slice(0, k);
  const topP = opts.topP ?? 1;
  if (topP < 1) {
    const tot = order.reduce((s, i) => s + p[i]!, 0);
    let cum = 0;
    let n = 0;
    while (n < order.length) {
      cum += p[order[n]!]!;
      n++;
      if (cum >= topP * tot) break;
    }
    order = order.slice(0, n);
  }
  const minP = opts.minP ?? 0;
  if (minP > 0) {
    const cut = minP * p[order[0]!]!;
    order = order.filter((i) => p[i]! >= cut);
  }
  const tot = order.reduce((s, i) => s + p[i]!, 0);
  let r = rng() * tot;
  for (const i of order) {
    r -= p[i]!;
    if (r < 0) return i;
  }
  return order[order.length - 1]!;
}

/**
 * Generates up to `maxTokens` token ids after `promptIds`, yielding each as soon as it is chosen.
 * The prompt is run once through a KV cache (prefill), then one forward per token, under noGrad
 * and tidy. Ends at a stop token (not yielded), when the decoded continuation contains a stop
 * string (the token completing it is yielded; the caller trims the text), at maxTokens, or when
 * `signal` aborts; the generator's return value says which.
 */
export async function* generate(model: LlamaModel, promptIds: readonly number[], opts: GenerateOptions): AsyncGenerator<number, GenerateResult, void> {
  const c = model.config;
  const maxTokens = opts.maxTokens;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new ValueError(`generate: maxTokens must be a non-negative integer, got ${maxTokens}`);
  if (promptIds.length === 0) throw new ValueError('generate: the prompt has no tokens');
  for (const id of promptIds)
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new IndexError(`generate: prompt token ${id} is outside the vocabulary [0, ${c.vocabSize})`);
  checkSampling(opts);
  if (opts.stop?.length && !opts.decode) throw new ValueError('generate: stop strings need a decode callback');
  const stopTokens = new Set(opts.stopTokens ?? c.eosTokenIds);
  const rng = seededRandom(opts.seed ?? Math.floor(Math.random() * 2 ** 32));
  const tokens: number[] = [];
  const history = [...promptIds];
  if (maxTokens === 0) return { tokens, reason: 'length' };

  const cache = model.createCache({ maxLength: promptIds.length + maxTokens, batchSize: 1 });
  // one forward through the cache; resolves to the last position's logits on the host. The
  // forward is queued, then awaited, so the event loop runs while the device computes.
  const step = async (ids: readonly number[]): Promise<Float32Array> => {
    const logits = noGrad(() =>
      tidy(() => {
        const x = tensor(Int32Array.from(ids), [1, ids.length], { device: model.device });
        return model.forward(x, { cache, lastOnly: true });
      }),
    );
    try {
      return (await logits.data()) as Float32Array;
    } finally {
      logits.dispose();
    }
  };
  try {
    let row = await step(promptIds);
    for (;;) {
      if (opts.signal?.aborted) return { tokens, reason: 'aborted' };
      const next = sampleToken(row, history, opts, rng);
      if (stopTokens.has(next)) return { tokens, reason: 'stopToken', stoppedBy: next };
      tokens.push(next);
      history.push(next);
      yield next;
      if (opts.stop?.length) {
        const text = opts.decode!(tokens);
        const hit = opts.stop.find((s) => s.length > 0 && text.includes(s));
        if (hit !== undefined) return { tokens, reason: 'stopString', stoppedBy: hit };
      }
      if (tokens.length >= maxTokens) return { tokens, reason: 'length' };
      if (opts.signal?.aborted) return { tokens, reason: 'aborted' };
      row = await step([next]);
    }
  } finally {
    cache.dispose();
  }
}

// The Llama-family decoder against an independent PyTorch forward (scripts/gen-llama-fixture.py):
// logits of tiny random Llama / Llama 3 (tied, rope scaling) / Qwen2 (qkv bias) / Qwen3 (q/k norm) / Gemma 3
// models with HF tensor names, KV-cache decoding, generation and the training path.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { configFromHF, generate, LlamaModel, loadHFModel, ropeInvFreq, sampleToken, seededRandom, type GenerateResult } from '../lib/models/index.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const VARIANTS = ['llama', 'llama3-tied', 'mistral', 'qwen2', 'qwen3', 'gemma3'] as const;

interface Fixture {
  config: Record<string, unknown>;
  ids: number[][];
  logits: number[][][];
  greedyPrompt: number[];
  greedy: number[];
  /** Mean cross-entropy of ids[:, 1:] given ids[:, :-1], its gradient norm per parameter, full gradients of the small ones. */
  loss: number;
  gradNorms: Record<string, number>;
  grads: Record<string, number[]>;
}

const fixture = (v: string): Fixture => JSON.parse(readFileSync(join(FIX, `llama-${v}.json`), 'utf8')) as Fixture;

function loadModel(v: string, opts?: { checkpointing?: boolean }): { model: LlamaModel; fx: Fixture } {
  const fx = fixture(v);
  const model = new LlamaModel(configFromHF(fx.config), opts);
  const { tensors } = et.loadSafetensors(join(FIX, `llama-${v}.safetensors`));
  try {
    model.loadStateDict(tensors); // strict: the HF names must match exactly
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  return { model, fx };
}

const ids2d = (rows: number[][]) => et.tensor(Int32Array.from(rows.flat()), [rows.length, rows[0]!.length]);
const flat = (x: number[][][]) => x.flat(2);
const range = (a: ArrayLike<number>) => {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    lo = Math.min(lo, a[i]!);
    hi = Math.max(hi, a[i]!);
  }
  return hi - lo;
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const argmax = (a: ArrayLike<number>) => {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[b]!) b = i;
  return b;
};
async function collect(it: AsyncGenerator<number, GenerateResult, void>): Promise<{ ids: number[]; result: GenerateResult }> {
  const ids: number[] = [];
  for (;;) {
    const r = await it.next();
    if (r.done) return { ids, result: r.value };
    ids.push(r.value);
  }
}
const live = () => et.memory().cpu!.liveTensors;

describe('configFromHF', () => {
  test('reads each family', () => {
    const l = configFromHF(fixture('llama').config);
    expect(l).toMatchObject({ architecture: 'llama', vocabSize: 64, hiddenSize: 32, numHeads: 4, numKvHeads: 2, headDim: 8, attentionBias: false, qkNorm: false, tieWordEmbeddings: false, ropeScaling: null, eosTokenIds: [2] });
    const l3 = configFromHF(fixture('llama3-tied').config);
    expect(l3.tieWordEmbeddings).toBe(true);
    expect(l3.ropeScaling).toEqual({ type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 16 });
    expect(l3.eosTokenIds).toEqual([2, 3]);
    expect(configFromHF(fixture('qwen2').config)).toMatchObject({ architecture: 'qwen2', attentionBias: true, qkNorm: false });
    expect(configFromHF(fixture('qwen3').config)).toMatchObject({ architecture: 'qwen3', attentionBias: false, qkNorm: true, headDim: 16, tieWordEmbeddings: true });
    expect(configFromHF(fixture('mistral').config)).toMatchObject({ architecture: 'mistral', slidingWindow: 4, headDim: 8 });
    expect(configFromHF({ ...fixture('llama').config, sliding_window: 4 }).slidingWindow).toBe(null);
  });

  test('rejects what it cannot run', () => {
    expect(() => configFromHF({ model_type: 'gpt2' })).toThrow(et.FormatError);
    expect(() => configFromHF({ ...fixture('qwen2').config, use_sliding_window: true })).toThrow(/use_sliding_window/);
    expect(() => configFromHF({ ...fixture('llama').config, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/yarn/);
    expect(() => configFromHF({ ...fixture('llama').config, num_key_value_heads: 3 })).toThrow(/multiple/);
    const { vocab_size: _, ...noVocab } = fixture('llama').config;
    expect(() => configFromHF(noVocab)).toThrow(/vocab_size/);
  });

  test('llama3 rope scaling keeps short wavelengths, divides long ones, interpolates between', () => {
    const c = configFromHF(fixture('llama3-tied').config);
    const plain = ropeInvFreq({ ...c, ropeScaling: null });
    const scaled = ropeInvFreq(c);
    // headDim 8, theta 5e5, original context 16: wavelengths 6.3 (medium), 167, 4.4e3, 1.2e5 (long)
    expect(scaled[0]!).toBeLessThan(plain[0]!);
    expect(scaled[0]!).toBeGreaterThan(plain[0]! / 8);
    for (let i = 1; i < 4; i++) expect(scaled[i]!).toBeCloseTo(plain[i]! / 8, 12);
  });
});

describe.each(VARIANTS)('%s', (v) => {
  test('HF names: the state dict has exactly the checkpoint keys', () => {
    const { model } = loadModel(v);
    const { tensors } = et.loadSafetensors(join(FIX, `llama-${v}.safetensors`));
    expect([...model.stateDict().keys()].sort()).toEqual([...tensors.keys()].sort());
    for (const t of tensors.values()) t.dispose();
    if (model.config.tieWordEmbeddings) expect(model.lm_head.weight).toBe(model.model.embed_tokens.weight);
    model.dispose();
  });

  test('full forward matches the PyTorch reference', () => {
    const { model, fx } = loadModel(v);
    const want = flat(fx.logits);
    const got = et.noGrad(() =>
      et.tidy(() => {
        const y = model.forward(ids2d(fx.ids));
        expect(y.shape).toEqual([2, 9, 64]);
        return Array.from(y.dataSync());
      }),
    );
    // float32 against a float64 reference: within 1e-4 of the logit range
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4 * range(want));
    model.dispose();
  });

  test('KV cache: prefill 5 then one token at a time equals the full forward', () => {
    const { model, fx } = loadModel(v);
    const want = flat(fx.logits);
    const V = 64;
    const T = 9;
    const before = live();
    et.noGrad(() => {
      const cache = model.createCache({ batchSize: 2, maxLength: 16 });
      const rows: Float32Array[] = [];
      et.tidy(() => {
        rows.push(model.forward(ids2d(fx.ids.map((r) => r.slice(0, 5))), { cache }).dataSync() as Float32Array);
        expect(cache.length).toBe(5);
        for (let t = 5; t < T; t++) rows.push(model.forward(ids2d(fx.ids.map((r) => [r[t]!])), { cache }).dataSync() as Float32Array);
      });
      expect(cache.length).toBe(T);
      // reassemble [B, T, V] from the chunks ([B, 5, V], then [B, 1, V] each)
      const got = new Float32Array(2 * T * V);
      for (let b = 0; b < 2; b++) {
        got.set(rows[0]!.subarray(b * 5 * V, (b + 1) * 5 * V), b * T * V);
        for (let t = 5; t < T; t++) got.set(rows[t - 4]!.subarray(b * V, (b + 1) * V), (b * T + t) * V);
      }
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-4 * range(want));
      // lastOnly on the prefill gives the last row alone; startPos rolls back and overwrites
      cache.reset();
      et.tidy(() => {
        const last = model.forward(ids2d(fx.ids), { cache, lastOnly: true });
        expect(last.shape).toEqual([2, 1, V]);
        const l = last.dataSync();
        for (let b = 0; b < 2; b++) expect(maxAbsDiff(l.subarray(b * V, (b + 1) * V), want.slice((b * T + T - 1) * V, (b * T + T) * V))).toBeLessThan(1e-4 * range(want));
        const again = model.forward(ids2d(fx.ids.map((r) => [r[T - 1]!])), { cache, startPos: T - 1 }).dataSync();
        expect(maxAbsDiff(again, l)).toBeLessThan(1e-5 * range(want));
      });
      cache.dispose();
    });
    expect(live()).toBe(before);
    model.dispose();
  });

  test('greedy generation matches the reference and argmax of full forwards, step by step', async () => {
    const { model, fx } = loadModel(v);
    const before = live();
    const { ids, result } = await collect(generate(model, fx.greedyPrompt, { maxTokens: 8, temperature: 0, stopTokens: [] }));
    expect(result.reason).toBe('length');
    expect(ids).toEqual(fx.greedy);
    expect(live()).toBe(before);
    // and our own full forward, re-run on the growing sequence
    const seq = [...fx.greedyPrompt];
    for (let s = 0; s < 8; s++) {
      const next = et.noGrad(() => et.tidy(() => argmax(model.forward(ids2d([seq]), { lastOnly: true }).dataSync())));
      expect(next, `step ${s}`).toBe(ids[s]);
      seq.push(next);
    }
    model.dispose();
  });

  test('sampling with a seed is reproducible', async () => {
    const { model, fx } = loadModel(v);
    const opts = { maxTokens: 12, temperature: 1.3, topK: 20, topP: 0.95, minP: 0.01, repetitionPenalty: 1.1, stopTokens: [] };
    const a = await collect(generate(model, fx.greedyPrompt, { ...opts, seed: 42 }));
    const b = await collect(generate(model, fx.greedyPrompt, { ...opts, seed: 42 }));
    const others = await Promise.all([1, 2, 3].map((s) => collect(generate(model, fx.greedyPrompt, { ...opts, seed: s }))));
    expect(a.ids).toHaveLength(12);
    expect(b.ids).toEqual(a.ids);
    expect(others.some((o) => o.ids.join() !== a.ids.join())).toBe(true);
    // top-k 1 is greedy whatever the temperature
    const k1 = await collect(generate(model, fx.greedyPrompt, { maxTokens: 8, temperature: 2, topK: 1, seed: 5, stopTokens: [] }));
    expect(k1.ids).toEqual(fx.greedy);
    model.dispose();
  });

  test('loss and gradients match PyTorch autograd; checkpointing gives the same gradients', () => {
    const fx = fixture(v);
    const grads = (checkpointing: boolean): Map<string, Float32Array> => {
      const { model } = loadModel(v, { checkpointing });
      const out = new Map<string, Float32Array>();
      et.tidy(() => {
        const ids = fx.ids.map((r) => r.slice(0, 8));
        const targets = et.tensor(Int32Array.from(fx.ids.flatMap((r) => r.slice(1, 9))), [2, 8]);
        const loss = et.crossEntropy(model.forward(ids2d(ids)), targets);
        expect(Math.abs(loss.item() - fx.loss)).toBeLessThan(1e-5 * fx.loss);
        loss.backward();
      });
      for (const [n, p] of model.namedParameters()) {
        expect(p.grad, `${n} has a gradient`).toBeTruthy();
        const g = p.grad!.dataSync() as Float32Array;
        expect(g.every(Number.isFinite), `${n} finite`).toBe(true);
        out.set(n, g);
      }
      model.dispose();
      return out;
    };
    const before = live();
    const plain = grads(false);
    expect([...plain.keys()].sort()).toEqual(Object.keys(fx.gradNorms).sort());
    for (const [n, g] of plain) {
      const norm = Math.hypot(...g);
      expect(Math.abs(norm - fx.gradNorms[n]!), `${n}: |grad| ${norm} vs ${fx.gradNorms[n]}`).toBeLessThan(1e-4 * fx.gradNorms[n]! + 1e-7);
    }
    for (const [n, want] of Object.entries(fx.grads)) expect(maxAbsDiff(plain.get(n)!, want), n).toBeLessThan(1e-4 * (Math.max(...want.map(Math.abs)) + 1e-6));
    const ck = grads(true);
    expect([...ck.keys()]).toEqual([...plain.keys()]);
    for (const [n, g] of plain) expect(maxAbsDiff(ck.get(n)!, g), n).toBeLessThan(1e-6 * (1 + range(g)));
    expect(live()).toBe(before);
  });
});

describe('loadHFModel', () => {
  test('reads config.json and model.safetensors from a folder, skipping rotary_emb.inv_freq', () => {
    const dir = mkdtempSync(join(tmpdir(), 'et-llama-'));
    try {
      const fx = fixture('qwen2');
      writeFileSync(join(dir, 'config.json'), JSON.stringify(fx.config));
      const { tensors } = et.loadSafetensors(join(FIX, 'llama-qwen2.safetensors'));
      const extra = et.ones([4]);
      tensors.set('model.layers.0.self_attn.rotary_emb.inv_freq', extra);
      et.saveSafetensors(join(dir, 'model.safetensors'), tensors);
      for (const t of tensors.values()) t.dispose();
      const model = loadHFModel(dir);
      expect(model.config.architecture).toBe('qwen2');
      const got = et.noGrad(() => et.tidy(() => Array.from(model.forward(ids2d(fx.ids)).dataSync())));
      const want = flat(fx.logits);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-4 * range(want));
      // the KV cache is inference-only: with grad on and trainable weights it refuses
      const cache = model.createCache({ maxLength: 4 });
      expect(() => model.forward(ids2d([[1, 2]]), { cache })).toThrow(/noGrad/);
      expect(() => et.noGrad(() => model.forward(ids2d([[1, 2, 3, 4, 5]]), { cache }))).toThrow(/maxLength/);
      cache.dispose();
      model.dispose();
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...fx.config, model_type: 'gemma' }));
      expect(() => loadHFModel(dir)).toThrow(/model_type/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('mistral: the sliding window changes the logits (the fixture exercises it)', () => {
  const fx = fixture('mistral');
  const model = new LlamaModel({ ...configFromHF(fx.config), slidingWindow: null });
  const { tensors } = et.loadSafetensors(join(FIX, 'llama-mistral.safetensors'));
  model.loadStateDict(tensors);
  for (const t of tensors.values()) t.dispose();
  const got = et.noGrad(() => et.tidy(() => Array.from(model.forward(ids2d(fx.ids)).dataSync())));
  expect(maxAbsDiff(got, flat(fx.logits))).toBeGreaterThan(1e-2);
  model.dispose();
});

describe('rope paths', () => {
  // the rope kernel runs unscaled and linear-scaled models; llama3 scaling uses cos/sin tables
  const logitsWith = (ropeScaling: unknown): Float32Array => {
    const fx = fixture('llama');
    const model = new LlamaModel(configFromHF({ ...fx.config, rope_scaling: ropeScaling }));
    const { tensors } = et.loadSafetensors(join(FIX, 'llama-llama.safetensors'));
    model.loadStateDict(tensors);
    for (const t of tensors.values()) t.dispose();
    const y = et.noGrad(() => et.tidy(() => model.forward(ids2d(fx.ids)).dataSync() as Float32Array));
    model.dispose();
    return y;
  };

  test('the cos/sin path equals the kernel: llama3 with factor 1 is unscaled, and with every wavelength long it is linear', () => {
    const plain = logitsWith(null);
    const l3one = logitsWith({ rope_type: 'llama3', factor: 1, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 });
    expect(maxAbsDiff(l3one, plain)).toBeLessThan(1e-5 * range(plain));
    const linear = logitsWith({ type: 'linear', factor: 4 });
    // original context 1: every wavelength (>= 2 pi) exceeds low_freq_wavelen, so all divide by factor
    const l3lin = logitsWith({ rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 2, original_max_position_embeddings: 1 });
    expect(maxAbsDiff(l3lin, linear)).toBeLessThan(1e-5 * range(linear));
    expect(maxAbsDiff(linear, plain)).toBeGreaterThan(1e-3);
  });
});

describe('generation', () => {
  test('stop tokens, stop strings, abort and maxTokens end it', async () => {
    const { model, fx } = loadModel('llama');
    const g = fx.greedy; // [27, 50, 50, 43, ...]
    const byToken = await collect(generate(model, fx.greedyPrompt, { maxTokens: 8, temperature: 0, stopTokens: [g[3]!] }));
    expect(byToken.ids).toEqual(g.slice(0, g.indexOf(g[3]!)));
    expect(byToken.result).toMatchObject({ reason: 'stopToken', stoppedBy: g[3] });
    const decode = (ids: number[]) => ids.map((i) => `<${i}>`).join('');
    const byString = await collect(generate(model, fx.greedyPrompt, { maxTokens: 8, temperature: 0, stopTokens: [], decode, stop: [`<${g[3]}>`] }));
    expect(byString.ids).toEqual(g.slice(0, g.indexOf(g[3]!) + 1));
    expect(byString.result).toMatchObject({ reason: 'stopString', stoppedBy: `<${g[3]}>` });
    const ac = new AbortController();
    const it = generate(model, fx.greedyPrompt, { maxTokens: 8, temperature: 0, stopTokens: [], signal: ac.signal });
    expect((await it.next()).value).toBe(g[0]);
    ac.abort();
    expect(await it.next()).toEqual({ done: true, value: { tokens: [g[0]], reason: 'aborted' } });
    // the config's eos ids are the default stop tokens
    const withEos = new LlamaModel({ ...model.config, eosTokenIds: [g[1]!] });
    withEos.loadStateDict(model.stateDict());
    expect((await collect(generate(withEos, fx.greedyPrompt, { maxTokens: 8, temperature: 0 }))).ids).toEqual(g.slice(0, g.indexOf(g[1]!)));
    // breaking out of the loop early releases the cache
    const before = live();
    for await (const _ of generate(model, fx.greedyPrompt, { maxTokens: 8, temperature: 0 })) break;
    expect(live()).toBe(before);
    await expect(collect(generate(model, [], { maxTokens: 2 }))).rejects.toThrow(/no tokens/);
    await expect(collect(generate(model, [64], { maxTokens: 2 }))).rejects.toThrow(et.IndexError);
    await expect(collect(generate(model, [1], { maxTokens: 2, stop: ['x'] }))).rejects.toThrow(/decode/);
    withEos.dispose();
    model.dispose();
  });

  test('sampleToken filters', () => {
    const logits = Float32Array.from([2, 1, 0, -1, 3]);
    const rng = seededRandom(1);
    // greedy, and repetition penalty demoting the favourite
    expect(sampleToken(logits, [], { temperature: 0 }, rng)).toBe(4);
    expect(sampleToken(logits, [4], { temperature: 0, repetitionPenalty: 2 }, rng)).toBe(0);
    const draw = (o: Parameters<typeof sampleToken>[2]) => {
      const r = seededRandom(3);
      const seen = new Set<number>();
      for (let i = 0; i < 400; i++) seen.add(sampleToken(logits, [], o, r));
      return [...seen].sort();
    };
    expect(draw({})).toEqual([0, 1, 2, 3, 4]);
    expect(draw({ topK: 2 })).toEqual([0, 4]);
    // probabilities at T=1: .64 .24 .09 .03 .01 (sorted) -> topP .8 keeps two
    expect(draw({ topP: 0.8 })).toEqual([0, 4]);
    expect(draw({ minP: 0.3 })).toEqual([0, 4]);
    expect(draw({ minP: 0.1 })).toEqual([0, 1, 4]);
  });
});

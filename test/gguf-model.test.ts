// Models from GGUF files: config from metadata, GGUF -> HF names, llama.cpp's Q/K permutation
// undone (GGUF and safetensors of the same tiny model give identical logits), a llama.cpp-written
// file, the embedded tokenizer, and bad files as typed errors.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { configFromGGUF, generate, loadHFModel, loadModel, makeTinyModel, permuteQK, saveHFModel, type TinyModelFiles } from '../lib/models/index.js';
import { NO_TOKENIZER_WARNING } from '../lib/models/load.js';
import { runGenerate } from '../lib/cli/generate.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = process.env.EDGETRAIN_SHARED ?? join(ROOT, '..', 'shared');
const F16 = join(SHARED, 'quant', 'tiny-llama-f16.gguf');
const VOCAB = (n: string) => join(SHARED, 'vocab', `ggml-vocab-${n}.gguf`);

let dir: string;
const made: Record<string, TinyModelFiles> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'et-gguf-model-'));
  made.llama = makeTinyModel(join(dir, 'llama'), { architecture: 'llama', vocabFile: VOCAB('llama-spm'), seed: 1 });
  made.qwen2 = makeTinyModel(join(dir, 'qwen2'), { architecture: 'qwen2', vocabFile: VOCAB('qwen2'), seed: 2, tieWordEmbeddings: true });
  made.qwen3 = makeTinyModel(join(dir, 'qwen3'), { architecture: 'qwen3', vocabFile: VOCAB('llama-bpe'), seed: 3, headDim: 32 });
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const logitsOf = (model: et.models.LlamaModel, ids: number[]) =>
  et.noGrad(() => et.tidy(() => Float32Array.from(model.forward(et.tensor(Int32Array.from(ids), [1, ids.length])).dataSync())));

const maxAbsDiff = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('tiny models: GGUF and safetensors of the same weights', () => {
  test.each(['llama', 'qwen2', 'qwen3'])('%s: f32 GGUF, f16 GGUF and HF folder give identical logits', async (arch) => {
    const f = made[arch]!;
    const hf = await loadModel(f.hfDir!);
    const g32 = await loadModel(f.ggufF32!);
    const g16 = await loadModel(f.ggufF16!);
    expect(hf.tokenizer).toBeUndefined();
    expect(g32.tokenizer).toBeDefined();
    expect(g32.config).toEqual(hf.config.architecture === g32.config.architecture ? { ...hf.config, bosTokenId: g32.config.bosTokenId, eosTokenIds: g32.config.eosTokenIds } : hf.config);
    const ids = g32.tokenizer!.encode('The quick brown fox jumps over the lazy dog.', { addSpecial: true });
    expect(ids.length).toBeGreaterThan(5);
    const a = logitsOf(hf.model, ids);
    const b = logitsOf(g32.model, ids);
    const c = logitsOf(g16.model, ids);
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(maxAbsDiff(a, c)).toBe(0);
    for (const m of [hf, g32, g16]) m.model.dispose();
  });

  test('Llama 3.1 rope scaling: rope_freqs.weight in GGUF equals rope_scaling in config.json', async () => {
    const rs = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 };
    const f = makeTinyModel(join(dir, 'llama31'), { architecture: 'llama', vocabFile: VOCAB('llama-bpe'), seed: 5, ropeTheta: 500000, ropeScaling: rs, formats: ['gguf-f32', 'hf'] });
    const g = await loadModel(f.ggufF32!);
    const h = await loadModel(f.hfDir!);
    expect(g.config.ropeScaling?.type).toBe('factors');
    expect(h.config.ropeScaling).toEqual(rs);
    const ids = Array.from({ length: 40 }, (_, i) => 100 + 37 * i);
    const a = logitsOf(g.model, ids);
    const b = logitsOf(h.model, ids);
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-4); // factors pass through float32
    // and the scaling matters at these positions: the same weights without it differ
    const plain = new et.models.LlamaModel({ ...h.config, ropeScaling: null });
    plain.loadStateDict(h.model.stateDict());
    expect(maxAbsDiff(logitsOf(plain, ids), b)).toBeGreaterThan(1e-2);
    expect(() => configFromGGUF(et.readGGUFHeader(f.ggufF32!).metadata, et.readGGUFHeader(f.ggufF32!).tensors)).toThrow(/rope_freqs\.weight.*opts\.ropeFreqs/);
    for (const m of [g.model, h.model, plain]) m.dispose();
  });

  test('gemma3: HF folder, f32 and f16 GGUF agree; the KV cache gives the full forward\'s logits', async () => {
    const f = makeTinyModel(join(dir, 'gemma3'), { architecture: 'gemma3', vocabFile: VOCAB('llama-spm'), seed: 6, numLayers: 6, headDim: 24, ropeTheta: 1e6, slidingWindow: 8, tieWordEmbeddings: true });
    const h = await loadModel(f.hfDir!);
    const g32 = await loadModel(f.ggufF32!);
    const g16 = await loadModel(f.ggufF16!);
    expect(g32.config.architecture).toBe('gemma3');
    expect(g32.config.slidingLayers).toEqual([true, true, true, true, true, false]);
    expect({ ...g32.config, bosTokenId: null, eosTokenIds: [], attentionScale: null }).toEqual({ ...h.config, bosTokenId: null, eosTokenIds: [], attentionScale: null });
    expect(h.config.attentionScale).toBeCloseTo(1 / Math.sqrt(24), 12); // query_pre_attn_scalar = head dim
    const ids = Array.from({ length: 21 }, (_, i) => 50 + 131 * i); // longer than the window
    const a = logitsOf(h.model, ids);
    // GGUF norms are stored as 1 + w: taking 1 back off in float32 may move the last bit
    expect(maxAbsDiff(a, logitsOf(g32.model, ids))).toBeLessThan(1e-4);
    expect(maxAbsDiff(a, logitsOf(g16.model, ids))).toBeLessThan(1e-4);
    // incremental decoding through the cache (windowed local layers) gives the same last rows
    const V = h.config.vocabSize;
    const cache = h.model.createCache({ maxLength: 32 });
    et.noGrad(() => {
      et.tidy(() => h.model.forward(et.tensor(Int32Array.from(ids.slice(0, 10)), [1, 10]), { cache }));
      for (let t = 10; t < ids.length; t++) {
        const row = et.tidy(() => Float32Array.from(h.model.forward(et.tensor(Int32Array.from([ids[t]!]), [1, 1]), { cache }).dataSync()));
        expect(maxAbsDiff(row, a.subarray(t * V, (t + 1) * V))).toBeLessThan(1e-4);
      }
    });
    cache.dispose();
    for (const m of [h, g32, g16]) m.model.dispose();
  });

  test('permuteQK: inverse undoes the llama.cpp permutation, which is not the identity', () => {
    et.tidy(() => {
      const w = et.tensor(Float32Array.from({ length: 4 * 8 * 3 }, (_, i) => i), [32, 3]);
      const p = permuteQK(w, 4);
      expect(Array.from(p.dataSync())).not.toEqual(Array.from(w.dataSync()));
      // head 0, rows: HF [0..7] -> GGUF [0,4,1,5,2,6,3,7]
      const rows = Array.from(p.dataSync()).filter((_, i) => i % 3 === 0).map((v) => v / 3);
      expect(rows.slice(0, 8)).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
      expect(Array.from(permuteQK(p, 4, true).dataSync())).toEqual(Array.from(w.dataSync()));
    });
  });
});

describe('weights used in place on cpu', () => {
  const paramBytes = (m: et.models.LlamaModel) => [...m.stateDict().values()].reduce((s, t) => s + t.numel * (t.dtype === 'float16' ? 2 : 4), 0);

  test('an f16 GGUF keeps its f16 matrices (norms widened); dtype float32 widens all, same logits', async () => {
    const g16 = await loadModel(made.qwen2!.ggufF16!);
    const sd = g16.model.stateDict();
    expect(sd.get('model.layers.0.self_attn.q_proj.weight')!.dtype).toBe('float16');
    expect(sd.get('model.layers.0.mlp.down_proj.weight')!.dtype).toBe('float16');
    expect(sd.get('model.embed_tokens.weight')!.dtype).toBe('float16');
    expect(sd.get('model.layers.0.input_layernorm.weight')!.dtype).toBe('float32');
    expect(sd.get('model.layers.0.self_attn.q_proj.bias')!.dtype).toBe('float32');
    const w32 = await loadModel(made.qwen2!.ggufF16!, { dtype: 'float32' });
    for (const t of w32.model.stateDict().values()) expect(t.dtype).toBe('float32');
    const ids = [1, 2, 3, 500, 1000];
    expect(maxAbsDiff(logitsOf(g16.model, ids), logitsOf(w32.model, ids))).toBe(0);
    g16.model.dispose();
    w32.model.dispose();
  });

  test('a bf16 safetensors folder keeps its bf16 matrices (norms widened); same logits as their float32 values', () => {
    // the f32 tiny model with its matrices rounded to bf16, saved as a bf16 checkpoint
    const src = loadHFModel(made.qwen2!.hfDir!, { dtype: 'float32' });
    const sd = new Map<string, et.Tensor>();
    for (const [k, t] of src.stateDict()) sd.set(k, t.ndim === 2 ? et.cast(t, 'bfloat16') : t);
    const bdir = join(dir, 'qwen2-bf16');
    saveHFModel(bdir, sd, made.qwen2!.config);
    for (const t of sd.values()) if (t.dtype === 'bfloat16') t.dispose();
    src.dispose();
    const b16 = loadHFModel(bdir);
    const bsd = b16.stateDict();
    expect(bsd.get('model.layers.0.self_attn.q_proj.weight')!.dtype).toBe('bfloat16');
    expect(bsd.get('model.layers.0.mlp.down_proj.weight')!.dtype).toBe('bfloat16');
    expect(bsd.get('model.embed_tokens.weight')!.dtype).toBe('bfloat16');
    expect(bsd.get('model.layers.0.input_layernorm.weight')!.dtype).toBe('float32');
    const w32 = loadHFModel(bdir, { dtype: 'float32' });
    for (const t of w32.stateDict().values()) expect(t.dtype).toBe('float32');
    const ids = [1, 2, 3, 500, 1000];
    // bf16 widening is exact and the kernels keep their order of operations: identical logits
    expect(maxAbsDiff(logitsOf(b16, ids), logitsOf(w32, ids))).toBe(0);
    b16.dispose();
    w32.dispose();
  });

  test('an f32 GGUF is mapped, not copied: live cpu bytes grow by far less than the weights', async () => {
    const before = et.memory().cpu!.liveBytes;
    const m = await loadModel(made.qwen3!.ggufF32!);
    const grew = et.memory().cpu!.liveBytes - before;
    const total = paramBytes(m.model);
    expect(grew).toBeLessThan(0.05 * total);
    m.model.dispose();
    const before2 = et.memory().cpu!.liveBytes;
    const c = await loadModel(made.qwen3!.ggufF32!, { dtype: 'float32' });
    expect(et.memory().cpu!.liveBytes - before2).toBeGreaterThanOrEqual(total);
    c.model.dispose();
  });

  test('writing into a mapped weight leaves the file unchanged (copy-on-write)', async () => {
    const file = made.llama!.ggufF32!;
    const hash = () => createHash('sha256').update(readFileSync(file)).digest('hex');
    const h0 = hash();
    const m = await loadModel(file);
    const w = m.model.stateDict().get('model.layers.0.mlp.up_proj.weight')!;
    et.noGrad(() => m.model.loadStateDict({ 'model.layers.0.mlp.up_proj.weight': et.zeros(w.shape) }, { strict: false }));
    expect(et.sum(et.abs(w)).item()).toBe(0);
    m.model.dispose();
    expect(hash()).toBe(h0);
    const again = await loadModel(file);
    expect(et.sum(et.abs(again.model.stateDict().get('model.layers.0.mlp.up_proj.weight')!)).item()).toBeGreaterThan(0);
    again.model.dispose();
  });
});

describe('a GGUF written by llama.cpp', () => {
  test('tiny-llama-f16.gguf loads, tokenizes and generates', async () => {
    expect(existsSync(F16), `${F16} is missing (set EDGETRAIN_SHARED)`).toBe(true);
    const { model, tokenizer, config } = await loadModel(F16);
    expect(config).toMatchObject({ architecture: 'llama', hiddenSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 768, vocabSize: 4096, tieWordEmbeddings: false, ropeTheta: 10000 });
    const ids = tokenizer!.encode('Hello world, this is a test.', { addSpecial: true });
    expect(ids[0]).toBe(1); // BOS of the Llama 2 vocabulary
    expect(tokenizer!.decode(ids.slice(1))).toBe('Hello world, this is a test.');
    const logits = logitsOf(model, ids);
    expect(logits.length).toBe(ids.length * 4096);
    expect(logits.every(Number.isFinite)).toBe(true);
    const out: number[] = [];
    for await (const t of generate(model, ids, { maxTokens: 8, temperature: 0, stopTokens: [] })) out.push(t);
    expect(out).toHaveLength(8);
    model.dispose();
  });

  test("quantized files load with { quantized: 'dequantize' } as float32 weights (llama.cpp agreement: test/llamacpp-quant.test.ts)", async () => {
    const m = await loadModel(join(SHARED, 'quant', 'tiny-llama-Q4_K_M.gguf'), { quantized: 'dequantize' });
    expect(m.model.stateDict().get('model.layers.0.mlp.up_proj.weight')!.dtype).toBe('float32');
    expect(m.model.stateDict().get('model.layers.0.input_layernorm.weight')!.dtype).toBe('float32');
    const l = logitsOf(m.model, [1, 450, 1000]);
    expect(l.every((v) => Number.isFinite(v))).toBe(true);
    m.model.dispose();
  });
});

describe('bad files', () => {
  const rewrite = (src: string, dst: string, edit: (meta: Map<string, et.GGUFWritable>, tensors: { name: string; tensor: et.Tensor }[]) => void) => {
    const h = et.readGGUFHeader(src);
    const { tensors } = et.loadGGUF(src);
    const meta = new Map<string, et.GGUFWritable>();
    for (const [k, v] of h.metadata) meta.set(k, et.gguf.typed(h.metadataTypes.get(k)!, v));
    const list = [...tensors].map(([name, tensor]) => ({ name, tensor }));
    edit(meta, list);
    et.writeGGUF(dst, { metadata: meta, tensors: list });
    for (const t of tensors.values()) t.dispose();
    return dst;
  };

  test('unknown architecture', async () => {
    const p = rewrite(made.llama!.ggufF32!, join(dir, 'arch.gguf'), (m) => {
      m.set('general.architecture', et.gguf.str('mamba'));
    });
    await expect(loadModel(p)).rejects.toThrow(et.FormatError);
    await expect(loadModel(p)).rejects.toThrow(/unsupported architecture 'mamba'/);
  });

  test('vocabulary / embedding size mismatch', async () => {
    const p = rewrite(made.llama!.ggufF32!, join(dir, 'vocab.gguf'), (m) => {
      for (const k of ['tokens', 'scores', 'token_type']) {
        const key = `tokenizer.ggml.${k}`;
        const v = (m.get(key) as et.GGUFTyped).value as ArrayLike<unknown>;
        m.set(key, et.gguf.arr((m.get(key) as et.GGUFTyped).elem!, Array.from(v).slice(0, 1000)));
      }
    });
    await expect(loadModel(p)).rejects.toThrow(et.FormatError);
    await expect(loadModel(p)).rejects.toThrow(/vocabulary size 1000 .* token_embd.weight rows 32000/);
  });

  test('missing tensor', async () => {
    const p = rewrite(made.llama!.ggufF32!, join(dir, 'missing.gguf'), (_m, list) => {
      list.splice(list.findIndex((t) => t.name === 'blk.1.ffn_up.weight'), 1);
    });
    await expect(loadModel(p)).rejects.toThrow(et.FormatError);
    await expect(loadModel(p)).rejects.toThrow(/missing tensor 'blk\.1\.ffn_up\.weight'/);
  });

  test('no vocabulary: loadModel warns (EDGETRAIN_NO_TOKENIZER) and loads; generate refuses it before loading weights', async () => {
    const p = rewrite(made.llama!.ggufF32!, join(dir, 'novocab.gguf'), (m) => {
      for (const k of [...m.keys()]) if (k.startsWith('tokenizer.')) m.delete(k);
    });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const { model, tokenizer, config } = await loadModel(p);
      await new Promise((r) => setImmediate(r)); // warnings are delivered on a later tick
      expect(tokenizer).toBeUndefined();
      expect(config.vocabSize).toBe(32000); // from token_embd.weight
      model.dispose();
      // (other tests' HF folders without tokenizer.json warn too, maybe delivered now)
      const about = (file: string) => warnings.filter((w) => (w as Error & { code?: string }).code === NO_TOKENIZER_WARNING && w.message.includes(file));
      const ours = about(p);
      expect(ours).toHaveLength(1);
      expect(ours[0]!.name).toBe('EdgeTrainWarning');
      expect(ours[0]!.message).toMatch(/novocab\.gguf has no tokenizer \(the GGUF file holds no tokenizer\.ggml\.tokens metadata\)/);
      expect(ours[0]!.message).toMatch(/loadTokenizer/);

      // a file with its vocabulary: no warning
      const withVocab = await loadModel(made.llama!.ggufF32!);
      await new Promise((r) => setImmediate(r));
      expect(withVocab.tokenizer).toBeDefined();
      withVocab.model.dispose();
      expect(about(made.llama!.ggufF32!)).toHaveLength(0);

      // an HF folder without tokenizer.json says so the same way
      const hf = await loadModel(made.llama!.hfDir!);
      await new Promise((r) => setImmediate(r));
      hf.model.dispose();
      expect(about(made.llama!.hfDir!).map((w) => w.message)).toContainEqual(expect.stringMatching(/has no tokenizer \(the folder holds no tokenizer\.json\)/));

      // where a tokenizer is needed, an error naming what is missing, and no model is built
      const live = et.memory().cpu?.liveTensors;
      await expect(loadModel(p, { requireTokenizer: 'generate' })).rejects.toThrow(et.ValueError);
      await expect(runGenerate({ model: p, prompt: 'Hi', maxTokens: 2, temperature: 0 }, () => {})).rejects.toThrow(
        /^generate: .*novocab\.gguf has no tokenizer \(the GGUF file holds no tokenizer\.ggml\.tokens metadata\)/,
      );
      expect(et.memory().cpu?.liveTensors).toBe(live);
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('configFromGGUF without metadata keys names the key', () => {
    expect(() => configFromGGUF(new Map([['general.architecture', 'llama']]))).toThrow(/llama\.embedding_length/);
    expect(() => configFromGGUF(new Map())).toThrow(/general\.architecture/);
  });
});

// LoRA adapters out and in: PEFT folder and GGUF LoRA file round trips (same logits), the names
// and config PEFT writes, merging (W + s B A) against base + adapter, saving a model as GGUF,
// and bad adapter files as typed errors.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { applyLoRA, LoRALinear, type LoRAModule } from '../lib/nn/lora.js';
import { findAdapters, loadAdapter, loadModel, makeTinyModel, mergeLoRA, saveGGUFAdapter, saveGGUFModel, savePEFTAdapter, type TinyModelFiles } from '../lib/models/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = process.env.EDGETRAIN_SHARED ?? join(ROOT, '..', 'shared');
const VOCAB = (n: string) => join(SHARED, 'vocab', `ggml-vocab-${n}.gguf`);
const IDS = [1, 450, 4996, 17354, 1701, 29916, 432, 17204, 975, 278, 17366];

let dir = '';
let files: TinyModelFiles;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'et-adapter-'));
  files = makeTinyModel(join(dir, 'llama'), { architecture: 'llama', vocabFile: VOCAB('llama-spm'), seed: 3, formats: ['gguf-f32'] });
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const logitsOf = (m: et.models.LlamaModel, ids = IDS) =>
  et.noGrad(() => et.tidy(() => Float32Array.from(m.forward(et.tensor(Int32Array.from(ids), [1, ids.length])).dataSync())));
const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/** Non-zero B (and A) so the adapter changes the function. */
function randomise(ad: Map<string, LoRAModule>, seed: number): void {
  let k = 0;
  et.noGrad(() => {
    for (const a of ad.values())
      if (a instanceof LoRALinear) et.copyInto(a.lora_B.weight, et.randn(a.lora_B.weight.shape, { std: 0.2, seed: seed + k++ }));
      else et.copyInto(a.lora_embedding_A, et.randn(a.lora_embedding_A.shape, { std: 0.2, seed: seed + k++ }));
  });
}

async function adapted(opts: Parameters<typeof applyLoRA>[1]) {
  const { model } = await loadModel(files.ggufF32!);
  const ad = applyLoRA(model, opts);
  randomise(ad, 77);
  return model;
}

describe('PEFT adapters', () => {
  test('round trip: names and config as PEFT writes them, same logits after loading', async () => {
    const m = await adapted({ rank: 4, alpha: 8, seed: 1, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head', 'embed_tokens'], layers: [1] });
    const want = logitsOf(m);
    const out = join(dir, 'peft');
    savePEFTAdapter(out, m, { baseModel: 'tiny-llama' });
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, use_rslora: false, layers_to_transform: [1], bias: 'none', base_model_name_or_path: 'tiny-llama' });
    expect(cfg.target_modules).toEqual(['embed_tokens', 'q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head']);
    const names = et.readSafetensorsHeader(join(out, 'adapter_model.safetensors')).entries.map((e) => e.name);
    expect(names).toContain('base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight');
    expect(names).toContain('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight');
    expect(names).toContain('base_model.model.lm_head.lora_A.weight');
    expect(names).toContain('base_model.model.model.embed_tokens.lora_embedding_A');
    expect(names.some((n) => n.includes('layers.0.'))).toBe(false);
    const { model: fresh } = await loadModel(files.ggufF32!);
    const ad = loadAdapter(fresh, out);
    expect(ad.size).toBe(7 + 2);
    expect(maxAbsDiff(logitsOf(fresh), want)).toBe(0);
    expect(fresh.parameters({ trainableOnly: true }).length).toBe(2 * ad.size); // ready to continue training
    m.dispose();
    fresh.dispose();
  });

  test('rsLoRA and dropout survive the round trip', async () => {
    const m = await adapted({ rank: 4, alpha: 4, rsLoRA: true, dropout: 0.1, seed: 2 });
    const out = join(dir, 'peft-rs');
    savePEFTAdapter(out, m);
    const { model: fresh } = await loadModel(files.ggufF32!);
    const ad = loadAdapter(fresh, out);
    const q = ad.get('model.layers.0.self_attn.q_proj') as LoRALinear;
    expect(q.rsLoRA).toBe(true);
    expect(q.scale).toBe(2);
    expect(q.dropoutP).toBeCloseTo(0.1);
    m.eval();
    fresh.eval();
    expect(maxAbsDiff(logitsOf(fresh), logitsOf(m))).toBe(0);
    m.dispose();
    fresh.dispose();
  });
});

describe('GGUF LoRA adapters', () => {
  test('round trip through the GGUF form (Q/K rows of B permuted and back)', async () => {
    const m = await adapted({ rank: 3, alpha: 6, seed: 4, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head'] });
    const want = logitsOf(m);
    const out = join(dir, 'adapter.gguf');
    saveGGUFAdapter(out, m);
    const h = et.readGGUFHeader(out);
    expect(h.metadata.get('general.type')).toBe('adapter');
    expect(h.metadata.get('adapter.type')).toBe('lora');
    expect(h.metadata.get('adapter.lora.alpha')).toBe(6);
    const t = h.tensors.find((x) => x.name === 'blk.0.attn_q.weight.lora_a')!;
    expect(t.shape).toEqual([3, 64]); // [r, in]
    expect(h.tensors.find((x) => x.name === 'output.weight.lora_b')!.shape).toEqual([32000, 3]);
    const { model: fresh } = await loadModel(files.ggufF32!);
    loadAdapter(fresh, out);
    expect(maxAbsDiff(logitsOf(fresh), want)).toBe(0);
    m.dispose();
    fresh.dispose();
  });

  test('embedding adapters have no GGUF form; mismatched files are typed errors', async () => {
    const m = await adapted({ rank: 2, seed: 5, targets: ['embed_tokens'] });
    expect(() => saveGGUFAdapter(join(dir, 'x.gguf'), m)).toThrow(/embedding adapters have no GGUF LoRA form/);
    m.dispose();
    const q = makeTinyModel(join(dir, 'qwen2'), { architecture: 'qwen2', vocabFile: VOCAB('qwen2'), seed: 6, formats: ['gguf-f32'] });
    const { model: qm } = await loadModel(q.ggufF32!);
    applyLoRA(qm, { rank: 2, seed: 1 });
    const qa = join(dir, 'qwen2-adapter.gguf');
    saveGGUFAdapter(qa, qm);
    const { model: lm } = await loadModel(files.ggufF32!);
    expect(() => loadAdapter(lm, qa)).toThrow(/adapter for 'qwen2', the model is 'llama'/);
    expect(() => loadAdapter(lm, files.ggufF32!)).toThrow(/is not a GGUF LoRA adapter/);
    // a PEFT folder whose shapes do not fit
    const bad = join(dir, 'peft-bad');
    const big = await loadModel(files.ggufF32!);
    applyLoRA(big.model, { rank: 2, seed: 1, targets: ['q_proj'] });
    savePEFTAdapter(bad, big.model);
    const cfg = JSON.parse(readFileSync(join(bad, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(bad, 'adapter_config.json'), JSON.stringify({ ...cfg, r: 3 }));
    expect(() => loadAdapter(lm, bad)).toThrow(/q_proj lora_A is \[2,64\] but the model needs \[3,64\]/);
    for (const x of [qm, lm, big.model]) x.dispose();
  });
});

describe('merge', () => {
  test('W + s B A gives base + adapter; the merged model saves as GGUF and reloads the same', async () => {
    const m = await adapted({ rank: 4, alpha: 8, seed: 8, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head', 'embed_tokens'] });
    const want = logitsOf(m);
    mergeLoRA(m);
    expect(findAdapters(m).size).toBe(0);
    const got = logitsOf(m);
    let range = 0;
    for (const v of want) range = Math.max(range, Math.abs(v));
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5 * range);
    const out = join(dir, 'merged.gguf');
    saveGGUFModel(out, m.stateDict(), m.config, { metadata: et.models.tokenizerMetadata(et.readGGUFHeader(files.ggufF32!)) });
    const back = await loadModel(out);
    expect(back.tokenizer!.encode('Hello world')).toEqual((await loadModel(files.ggufF32!)).tokenizer!.encode('Hello world'));
    expect(maxAbsDiff(logitsOf(back.model), got)).toBe(0);
    m.dispose();
    back.model.dispose();
    expect(existsSync(out)).toBe(true);
  });

  test('an adapter on a tied weight is refused at merge', async () => {
    const q = makeTinyModel(join(dir, 'qwen2t'), { architecture: 'qwen2', vocabFile: VOCAB('qwen2'), seed: 9, tieWordEmbeddings: true, formats: ['gguf-f32'] });
    const { model } = await loadModel(q.ggufF32!);
    applyLoRA(model, { rank: 2, seed: 1, targets: ['lm_head'] });
    expect(() => mergeLoRA(model)).toThrow(/shared \(tied embeddings\)/);
    model.dispose();
  });
});

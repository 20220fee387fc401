// QLoRA: a GGUF base kept in its block format (QLinear layers over the native quantized matmul)
// computes the same function as the same file dequantized to float32, holds a fraction of the
// memory, and trains LoRA adapters with the same gradients.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { QLinear } from '../lib/nn/qlinear.js';
import { applyLoRA, LoRALinear, loraParameters } from '../lib/nn/lora.js';

const shared = process.env.EDGETRAIN_SHARED ?? resolve(new URL('..', import.meta.url).pathname, '../shared');
const file = (q: string) => join(shared, 'quant', `tiny-llama-${q}.gguf`);
const dir = mkdtempSync(join(tmpdir(), 'et-qlora-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const IDS = [1, 450, 4996 % 4096, 17354 % 4096, 1701, 29916 % 4096, 432, 3000];

// the float path: a quantized model's logits against its dequantized twin's
const logits = (m: et.models.LlamaModel) => et.quant.exactQuantMatmul(() => et.noGrad(() => et.tidy(() => Float32Array.from(m.forward(et.tensor(Int32Array.from(IDS), [1, IDS.length])).dataSync()))));
const maxRel = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  let d = 0;
  for (let i = 0; i < a.length; i++) (s = Math.max(s, Math.abs(b[i]!))), (d = Math.max(d, Math.abs(a[i]! - b[i]!)));
  return d / s;
};

describe.each(['Q4_0', 'Q4_K_M', 'Q8_0'])('%s base', (q) => {
  test('kept quantized (the default on cpu): QLinear layers, the same logits as dequantized, a fraction of the bytes', async () => {
    const before = et.memory().cpu!.liveBytes;
    const k = await et.loadModel(file(q));
    const keptBytes = et.memory().cpu!.liveBytes - before;
    const d = await et.loadModel(file(q), { quantized: 'dequantize' });
    const mods = [...k.model.namedModules()].filter(([, m]) => m instanceof QLinear);
    expect(mods.length).toBe(2 * 7 + 1); // every projection and the untied head
    expect(maxRel(logits(k.model), logits(d.model))).toBeLessThan(1e-5);
    // bytes per weight of the quantized layers: Q4_0 18/32, Q8_0 34/32; Q4_K_M mixes Q4_K (144/256) and Q6_K (210/256)
    // (llama-quantize stores the output head as Q6_K and, in Q4_K_M, some projections too)
    for (const [name, m] of mods) {
      const w = (m as QLinear).qweight;
      const [bs, bb] = et.quant.BLOCK[w.type]!;
      expect(w.byteLength / (w.shape[0] * w.shape[1]), name).toBe(bb / bs);
      if (q !== 'Q4_K_M' && name !== 'lm_head') expect(w.type).toBe(q);
    }
    // the whole model, embeddings (float32) included, against the dequantized one
    expect(keptBytes).toBeLessThan(0.5 * d.model.numParameters() * 4);
    k.model.dispose();
    d.model.dispose();
  });

  test('LoRA gradients through the quantized base equal those through the dequantized one', async () => {
    const grads = async (opts: et.models.LoadModelOptions) => {
      const { model } = await et.loadModel(file(q), opts);
      const ad = applyLoRA(model, { rank: 4, alpha: 8, seed: 3 });
      et.noGrad(() => {
        let i = 0;
        for (const a of ad.values()) et.copyInto((a as LoRALinear).lora_B.weight, et.randn((a as LoRALinear).lora_B.weight.shape, { std: 0.05, seed: 100 + i++ }));
      });
      et.tidy(() => {
        const x = et.tensor(Int32Array.from(IDS.slice(0, -1)), [1, IDS.length - 1]);
        const y = et.tensor(Int32Array.from(IDS.slice(1)), [IDS.length - 1]);
        et.crossEntropy(et.reshape(model.forward(x), [IDS.length - 1, model.config.vocabSize]), y).backward();
      });
      const g = loraParameters(ad).map((p) => Float32Array.from(p.grad!.dataSync()));
      model.dispose();
      return g;
    };
    const a = await grads({ quantized: 'keep' });
    const b = await grads({ quantized: 'dequantize' });
    expect(a.length).toBe(b.length);
    for (let i = 0; i < a.length; i++) expect(maxRel(a[i]!, b[i]!), `adapter tensor ${i}`).toBeLessThan(1e-4);
  });
});

test('QLoRA fine-tune on a 4-bit base: the loss falls, and the adapter exports', { timeout: 120_000 }, async () => {
  const text = join(dir, 'text.txt');
  writeFileSync(text, 'The whale swam past the ship at dawn, and the crew watched it go. '.repeat(30));
  const loaded = await et.loadModel(file('Q4_K_M'), { quantized: 'keep' });
  const run = et.finetune({ model: loaded, data: text, out: join(dir, 'out'), seqLen: 32, batchSize: 2, epochs: 3, lr: 5e-3, checkpointEvery: 0 });
  const r = await run.result;
  expect(r.losses.at(-1)!).toBeLessThan(0.6 * r.losses[0]!);
  expect([...r.model.namedModules()].some(([, m]) => m instanceof LoRALinear && m.qweight !== undefined)).toBe(true);
  expect(r.ggufAdapter).toBeDefined();
  r.model.dispose();
});

test('mergeLoRA on a quantized base: W = dequantize(blocks) + s B A, the same function', async () => {
  const { model } = await et.loadModel(file('Q4_0'), { quantized: 'keep' });
  const ad = applyLoRA(model, { rank: 4, alpha: 8, seed: 9 });
  et.noGrad(() => {
    let i = 0;
    for (const a of ad.values()) et.copyInto((a as LoRALinear).lora_B.weight, et.randn((a as LoRALinear).lora_B.weight.shape, { std: 0.05, seed: 300 + i++ }));
  });
  const before = logits(model);
  et.models.mergeLoRA(model);
  expect([...model.namedModules()].filter(([, m]) => m instanceof LoRALinear)).toHaveLength(0);
  expect(model.stateDict().get('model.layers.0.self_attn.q_proj.weight')!.dtype).toBe('float32');
  expect(maxRel(logits(model), before)).toBeLessThan(1e-5);
  model.dispose();
});

describe('quantize-on-load', () => {
  test("an HF folder quantized at load to q4_k_m gets llama-quantize's types and blocks per layer; the head stays dense", async () => {
    const src = await et.loadModel(file('f16'), { dtype: 'float32' });
    const hf = join(dir, 'hf');
    et.models.saveHFModel(hf, src.model.stateDict(), et.models.hfConfigJSON(src.config));
    src.model.dispose();
    const before = et.memory().cpu!.liveBytes;
    const { model } = await et.loadModel(hf, { quantize: 'q4_k_m' });
    const ref = et.readGGUFHeader(file('Q4_K_M'));
    const qs = [...model.namedModules()].filter(([, m]) => m instanceof QLinear) as [string, QLinear][];
    expect(qs.length).toBe(2 * 7);
    expect(model.stateDict().get('lm_head.weight')).toBeDefined();
    let compared = 0;
    for (const [path, m] of qs) {
      const g = et.models.hfToGGUFName(`${path}.weight`, 'llama')!;
      const theirs = ref.tensors.find((t) => t.name === g)!;
      expect(m.qweight.type, path).toBe(theirs.typeName);
      // q/k rows are permuted in GGUF; the other projections are the same rows in the same order
      if (/attn_[qk]\./.test(g)) continue;
      expect(Buffer.from(m.qweight.data.dataSync() as Uint8Array).equals(et.readGGUFTensorBytes(ref, theirs)), path).toBe(true);
      compared++;
    }
    expect(compared).toBe(2 * 5);
    // quantized decoder + float32 embeddings, head and norms
    const c = model.config;
    const dense = 2 * c.vocabSize * c.hiddenSize * 4;
    expect(et.memory().cpu!.liveBytes - before).toBeLessThan(dense + 0.7 * (model.numParameters() - 2 * c.vocabSize * c.hiddenSize));
    model.dispose();
  });

  // these random heavy-tailed weights make 4-bit logits move a lot: the measure is llama-quantize's
  // own Q4_0 file, whose logits move by 0.44 of their range (measured: q8_0 .021, q4_k .24,
  // nf4 .41, nf4_dq .38)
  test.each(['nf4', 'nf4_dq', 'q4_k', 'q8_0'])('%s: logits as near the float model as a llama-quantize file of as many bits', async (type) => {
    const f = await et.loadModel(file('f16'));
    const q = await et.loadModel(file('f16'), { quantize: type });
    const types = new Set([...q.model.namedModules()].filter(([, m]) => m instanceof QLinear).map(([, m]) => (m as QLinear).qweight.type));
    expect([...types]).toEqual([type.toUpperCase()]);
    const ref = await et.loadModel(file(type === 'q8_0' ? 'Q8_0' : 'Q4_0'));
    const lf = logits(f.model);
    const rel = maxRel(logits(q.model), lf);
    expect(rel).toBeLessThan(1.1 * maxRel(logits(ref.model), lf));
    expect(rel).toBeGreaterThan(0);
    for (const m of [f, q, ref]) m.model.dispose();
  });

  test('an unknown type is a clear error', async () => {
    await expect(et.loadModel(file('f16'), { quantize: 'q3_x' })).rejects.toThrow(/type must be one of .*nf4.*got q3_x/);
  });
});

test('QLoRA overfits a sentence on an NF4 base (adapters only, the base stays 4-bit)', { timeout: 120_000 }, async () => {
  // the shipped moby-4m (a trained model: the random tiny-llama is too ill-conditioned to memorise
  // quickly, quantized or not); its down_proj rows (688) split into no block size, so they stay dense
  const { model, tokenizer } = await et.loadModel(resolve(new URL('..', import.meta.url).pathname, 'models/moby-4m.gguf'), { quantize: 'nf4' });
  const ad = applyLoRA(model, { rank: 8, alpha: 16, seed: 1 });
  const opt = new et.optim.AdamW(loraParameters(ad), { lr: 5e-3 });
  const seq = tokenizer!.encode('The whale rose from the grey sea, and Ahab raised his harpoon at once.', { addSpecial: true });
  const x = et.tensor(Int32Array.from(seq.slice(0, -1)), [1, seq.length - 1]);
  const y = et.tensor(Int32Array.from(seq.slice(1)), [seq.length - 1]);
  model.train();
  const losses: number[] = [];
  for (let step = 0; step < 40; step++) {
    losses.push(
      et.tidy(() => {
        const loss = et.crossEntropy(et.reshape(model.forward(x), [seq.length - 1, model.config.vocabSize]), y);
        loss.backward();
        return loss.item();
      }),
    );
    opt.step();
    opt.zeroGrad();
  }
  expect(losses[0]!).toBeGreaterThan(2);
  expect(losses.at(-1)!).toBeLessThan(0.05);
  model.eval();
  const pred = et.noGrad(() => et.tidy(() => Array.from(et.argmax(model.forward(x), -1).dataSync())));
  expect(pred).toEqual(seq.slice(1));
  // the base is still NF4 blocks under the adapters: every projection but down_proj
  const L = model.config.numLayers;
  expect([...model.namedModules()].filter(([, m]) => m instanceof LoRALinear && m.qweight?.type === 'NF4').length).toBe(6 * L);
  x.dispose();
  y.dispose();
  model.dispose();
});

test('adapter gradients through a 4-bit (NF4) base against central differences', () => {
  return (async () => {
    const { model } = await et.loadModel(file('f16'), { quantize: 'nf4' });
    const ad = applyLoRA(model, { rank: 2, alpha: 4, seed: 5, targets: ['v_proj', 'down_proj'] });
    et.noGrad(() => {
      let i = 0;
      for (const a of ad.values()) et.copyInto((a as LoRALinear).lora_B.weight, et.randn((a as LoRALinear).lora_B.weight.shape, { std: 0.05, seed: 400 + i++ }));
    });
    const x = et.tensor(Int32Array.from(IDS.slice(0, 5)), [1, 5]);
    const y = et.tensor(Int32Array.from(IDS.slice(1, 6)), [5]);
    const loss = () => et.tidy(() => et.crossEntropy(et.reshape(model.forward(x), [5, model.config.vocabSize]), y));
    et.tidy(() => loss().backward());
    let checked = 0;
    for (const [name, p] of [...ad.values()].flatMap((a) => [['A', (a as LoRALinear).lora_A.weight], ['B', (a as LoRALinear).lora_B.weight]] as const)) {
      const g = p.grad!.dataSync();
      const v = Float32Array.from(p.dataSync());
      for (const i of [0, 7, v.length - 1]) {
        const at = (d: number) => {
          const w = Float32Array.from(v);
          w[i] = v[i]! + d;
          et.noGrad(() => et.copyInto(p, et.tensor(w, p.shape)));
          return et.quant.exactQuantMatmul(() => et.noGrad(() => loss().item()));
        };
        const h = 1e-2;
        const fd = (at(h) - at(-h)) / (2 * h);
        et.noGrad(() => et.copyInto(p, et.tensor(v, p.shape)));
        expect(Math.abs(fd - g[i]!), `lora_${name}[${i}]: fd ${fd} vs ${g[i]}`).toBeLessThan(2e-2 * Math.max(1e-2, Math.abs(fd)) + 2e-4);
        checked++;
      }
    }
    expect(checked).toBe(2 * 2 * 2 * 3);
    x.dispose();
    y.dispose();
    model.dispose();
  })();
});

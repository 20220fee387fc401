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

const logits = (m: et.models.LlamaModel) => et.noGrad(() => et.tidy(() => Float32Array.from(m.forward(et.tensor(Int32Array.from(IDS), [1, IDS.length])).dataSync())));
const maxRel = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  let d = 0;
  for (let i = 0; i < a.length; i++) (s = Math.max(s, Math.abs(b[i]!))), (d = Math.max(d, Math.abs(a[i]! - b[i]!)));
  return d / s;
};

describe.each(['Q4_0', 'Q4_K_M', 'Q8_0'])('%s base', (q) => {
  test('kept quantized: QLinear layers, the same logits as dequantized, a fraction of the bytes', async () => {
    const before = et.memory().cpu!.liveBytes;
    const k = await et.loadModel(file(q), { quantized: 'keep' });
    const keptBytes = et.memory().cpu!.liveBytes - before;
    const d = await et.loadModel(file(q));
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
    const b = await grads({});
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

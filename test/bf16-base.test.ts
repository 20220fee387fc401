// A bfloat16 frozen base (loadModel(path, { dtype: 'bfloat16' })): every weight matrix but the
// embedding table is bf16 on every device, norms stay float32; logits are those of the float32
// model within bf16 rounding; LoRA training on it follows the float32 base's losses within 1e-2
// and its adapters stay float32. Uses the shipped models/moby-4m.gguf (a trained model).
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { applyLoRA, loraParameters } from '../lib/nn/lora.js';
import { testDevices } from './helpers/devices.js';

const MOBY = resolve(new URL('..', import.meta.url).pathname, 'models/moby-4m.gguf');
const TEXT = 'The whale rose from the grey sea, and Ahab raised his harpoon at once.';

async function losses(dtype: 'float32' | 'bfloat16', device: string, steps: number): Promise<{ losses: number[]; logits: Float32Array }> {
  const { model, tokenizer } = await et.loadModel(MOBY, { dtype, device });
  try {
    if (dtype === 'bfloat16') {
      for (const [name, t] of model.stateDict()) {
        const matrix = t.ndim === 2 && !name.endsWith('embed_tokens.weight');
        expect(t.dtype, name).toBe(matrix ? 'bfloat16' : 'float32');
        expect(t.device, name).toBe(device);
      }
    }
    const seq = tokenizer!.encode(TEXT, { addSpecial: true });
    const T = seq.length - 1;
    const x = et.keep(et.tensor(Int32Array.from(seq.slice(0, -1)), [1, T], { device }));
    const y = et.keep(et.tensor(Int32Array.from(seq.slice(1)), [T], { device }));
    const logits = et.noGrad(() => et.tidy(() => Float32Array.from(model.forward(x).dataSync())));
    const params = loraParameters(applyLoRA(model, { rank: 8, alpha: 16, seed: 1 }));
    for (const p of params) expect(p.dtype).toBe('float32');
    const opt = new et.optim.AdamW(params, { lr: 2e-3 });
    const out: number[] = [];
    for (let s = 0; s < steps; s++) {
      out.push(
        et.tidy(() => {
          const loss = et.crossEntropy(et.reshape(model.forward(x), [T, model.config.vocabSize]), y);
          loss.backward();
          return loss.item();
        }),
      );
      opt.step();
      opt.zeroGrad();
    }
    for (const p of params) expect(p.grad === null || p.grad.dtype === 'float32').toBe(true);
    opt.dispose();
    x.dispose();
    y.dispose();
    return { losses: out, logits };
  } finally {
    model.dispose();
  }
}

describe.each(testDevices)('bf16 base on %s', (device) => {
  test('bf16 matrices, float32 norms and embeddings; logits and a LoRA run follow the float32 base', { timeout: 300_000 }, async () => {
    const f = await losses('float32', device, 10);
    const b = await losses('bfloat16', device, 10);
    let err = 0;
    let mag = 0;
    for (let i = 0; i < f.logits.length; i++) {
      err = Math.max(err, Math.abs(b.logits[i]! - f.logits[i]!));
      mag = Math.max(mag, Math.abs(f.logits[i]!));
    }
    // bf16 keeps 8 bits of mantissa: weights move by up to 2^-9 of their size
    expect(err / mag).toBeLessThan(3e-2);
    expect(err).toBeGreaterThan(0); // the weights really are rounded
    for (let s = 0; s < f.losses.length; s++) expect(Math.abs(b.losses[s]! - f.losses[s]!) / f.losses[s]!, `step ${s}`).toBeLessThan(1e-2);
    expect(b.losses.at(-1)!).toBeLessThan(b.losses[0]! * 0.9);
  });
});

test('an unknown dtype is a ValueError naming the choices', async () => {
  await expect(et.loadModel(MOBY, { dtype: 'int8' as 'float32' })).rejects.toThrow(/dtype must be 'auto', 'float32' or 'bfloat16', got 'int8'/);
});

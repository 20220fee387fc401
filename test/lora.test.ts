// LoRA adapters: gradients against central differences and against the full fine-tune gradient
// restricted to the adapter directions, the frozen base (no weight gradient computed), selection
// by module name and layer, initialisation and scaling.
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { LlamaModel } from '../lib/models/llama.js';
import { applyLoRA, LoRAEmbedding, LoRALinear, loraParameters } from '../lib/nn/lora.js';

const CFG = { vocabSize: 40, hiddenSize: 16, intermediateSize: 24, numLayers: 2, numHeads: 4, numKvHeads: 2, maxPositionEmbeddings: 32 };
const IDS = [[3, 17, 5, 9, 33, 1, 20], [8, 2, 39, 11, 4, 26, 15]];

function tinyModel(seed: number): LlamaModel {
  et.manualSeed(seed);
  const m = new LlamaModel(CFG);
  // norms away from 1 so every path matters
  et.noGrad(() => {
    for (const [n, t] of m.stateDict()) if (n.endsWith('norm.weight')) et.copyInto(t, et.rand(t.shape, { low: 0.5, high: 1.5, seed: seed + n.length }));
  });
  return m;
}

/** Mean next-token cross-entropy of IDS. */
function lossOf(m: LlamaModel): et.Tensor {
  const x = et.tensor(Int32Array.from(IDS.flatMap((r) => r.slice(0, -1))), [2, 6]);
  const y = et.tensor(Int32Array.from(IDS.flatMap((r) => r.slice(1))), [12]);
  const logits = m.forward(x);
  return et.crossEntropy(et.reshape(logits, [12, CFG.vocabSize]), y);
}

/** Sets every B (and embedding A) to seeded random values, so all adapter gradients are non-zero. */
function randomiseAdapters(adapters: Map<string, LoRALinear | LoRAEmbedding>, seed: number): void {
  let k = 0;
  et.noGrad(() => {
    for (const a of adapters.values()) {
      const ts = a instanceof LoRALinear ? [a.lora_B.weight] : [a.lora_embedding_A];
      for (const t of ts) et.copyInto(t, et.randn(t.shape, { std: 0.3, seed: seed + k++ }));
    }
  });
}

describe('LoRA', () => {
  test('starts as the base model (B = 0) and leaves only A, B trainable', () => {
    et.tidy(() => {
      const m = tinyModel(1);
      const before = Float32Array.from(et.noGrad(() => lossOf(m)).dataSync());
      const ad = applyLoRA(m, { rank: 4, alpha: 8, seed: 5, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head', 'embed_tokens'] });
      expect(ad.size).toBe(2 * 7 + 2);
      expect(Float32Array.from(et.noGrad(() => lossOf(m)).dataSync())).toEqual(before);
      const trainable = m.parameters({ trainableOnly: true });
      expect(new Set(trainable)).toEqual(new Set(loraParameters(ad)));
      const names = [...m.stateDict().keys()];
      expect(names).toContain('model.layers.1.self_attn.q_proj.weight'); // base names unchanged
      expect(names).toContain('model.layers.1.self_attn.q_proj.lora_A.weight');
      expect(names).toContain('model.layers.1.mlp.down_proj.lora_B.weight');
      expect(names).toContain('model.embed_tokens.lora_embedding_A');
      m.dispose();
    });
  });

  test('gradients of A and B match central differences (all projections, head and embeddings)', () => {
    et.tidy(() => {
      const m = tinyModel(2);
      const ad = applyLoRA(m, { rank: 2, alpha: 3, seed: 7, targets: ['q_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj', 'lm_head', 'embed_tokens'] });
      randomiseAdapters(ad, 100);
      const params = loraParameters(ad);
      lossOf(m).backward();
      const grads = params.map((p) => Float32Array.from(p.grad!.dataSync()));
      const f = () => et.noGrad(() => et.tidy(() => lossOf(m).item()));
      let checked = 0;
      params.forEach((p, pi) => {
        const n = p.numel;
        for (const i of [0, Math.floor(n / 2), n - 1]) {
          const v = Float32Array.from(p.dataSync());
          const eps = 1e-2;
          const orig = v[i]!;
          v[i] = orig + eps;
          et.noGrad(() => et.copyInto(p, et.tensor(v, p.shape)));
          const up = f();
          v[i] = orig - eps;
          et.noGrad(() => et.copyInto(p, et.tensor(v, p.shape)));
          const down = f();
          v[i] = orig;
          et.noGrad(() => et.copyInto(p, et.tensor(v, p.shape)));
          const fd = (up - down) / (2 * eps);
          const g = grads[pi]![i]!;
          expect(Math.abs(fd - g), `param ${pi} [${p.shape}] element ${i}: fd ${fd} vs autograd ${g}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
          checked++;
        }
      });
      expect(checked).toBe(params.length * 3);
      m.dispose();
    });
  });

  test('equal the full fine-tune gradient restricted to the adapter directions', () => {
    et.tidy(() => {
      const m = tinyModel(3);
      const ad = applyLoRA(m, { rank: 3, alpha: 6, seed: 11 });
      randomiseAdapters(ad, 200);
      lossOf(m).backward();
      // the same function as a full model whose weights are W + s B A
      const full = tinyModel(3);
      et.noGrad(() => {
        for (const [path, a] of ad) {
          const l = a as LoRALinear;
          const w = full.stateDict().get(`${path}.weight`)!;
          et.copyInto(w, et.add(l.weight!, et.mul(et.matmul(l.lora_B.weight, l.lora_A.weight), l.scale)));
        }
      });
      expect(et.noGrad(() => lossOf(full).item())).toBeCloseTo(et.noGrad(() => lossOf(m).item()), 5);
      lossOf(full).backward();
      for (const [path, a] of ad) {
        const l = a as LoRALinear;
        const dW = full.stateDict().get(`${path}.weight`)!.grad!;
        // W' = W + s B A: dL/dB = s dW A^T, dL/dA = s B^T dW
        const wantB = et.mul(et.matmul(dW, l.lora_A.weight.transpose()), l.scale).dataSync();
        const wantA = et.mul(et.matmul(l.lora_B.weight.transpose(), dW), l.scale).dataSync();
        const gotB = l.lora_B.weight.grad!.dataSync();
        const gotA = l.lora_A.weight.grad!.dataSync();
        for (const [got, want] of [[gotB, wantB], [gotA, wantA]] as const) {
          let scale = 1e-6;
          for (const x of want) scale = Math.max(scale, Math.abs(x));
          for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), path).toBeLessThan(1e-4 * scale);
        }
      }
      m.dispose();
      full.dispose();
    });
  });

  test('the frozen base never gets a weight gradient: no matmul computes one', () => {
    et.tidy(() => {
      const base = new et.nn.Linear(32, 24, { seed: 1 });
      const l = new LoRALinear(base, { rank: 4, seed: 2 });
      const x = et.randn([5, 32], { seed: 3, requiresGrad: true });
      et.startProfile();
      et.sum(l.forward(x)).backward();
      const calls = et.stopProfile().filter((r) => r.op === 'matmul').reduce((s, r) => s + r.calls, 0);
      // forward: base, A, B; backward: dx through base, d(xA) through B, dB, dA, dx through A.
      // A weight gradient for the base would be a 9th.
      expect(calls).toBe(8);
      expect(l.weight!.grad).toBeNull();
      expect(l.bias!.grad).toBeNull();
      expect(l.lora_A.weight.grad).not.toBeNull();
      expect(x.grad).not.toBeNull();
    });
  });

  test('selection by module name and layer; scaling; initialisation', () => {
    et.tidy(() => {
      const m = new LlamaModel({ ...CFG, numLayers: 4 });
      const ad = applyLoRA(m, { rank: 8, alpha: 16, targets: ['q_proj', 'v_proj'], layers: { first: 1, last: 2 } });
      expect([...ad.keys()]).toEqual([
        'model.layers.1.self_attn.q_proj',
        'model.layers.1.self_attn.v_proj',
        'model.layers.2.self_attn.q_proj',
        'model.layers.2.self_attn.v_proj',
      ]);
      const q = ad.get('model.layers.1.self_attn.q_proj') as LoRALinear;
      expect(q.scale).toBe(2);
      // kaiming-uniform A within +-1/sqrt(in), B zero
      const a = q.lora_A.weight.dataSync();
      const bound = 1 / Math.sqrt(CFG.hiddenSize);
      expect(Math.max(...Array.from(a, Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...Array.from(a, Math.abs))).toBeGreaterThan(bound / 2);
      expect(Array.from(q.lora_B.weight.dataSync()).every((v) => v === 0)).toBe(true);
      expect(() => applyLoRA(m, { rank: 2, targets: ['q_proj'], layers: [1] })).toThrow(/already has a LoRA adapter/);
      expect(() => applyLoRA(m, { rank: 2, targets: ['nope'] })).toThrow(/no module named 'nope'/);
      expect(() => applyLoRA(m, { rank: 0 })).toThrow(/rank must be a positive integer/);
      expect(() => applyLoRA(m, { rank: 2, targets: ['norm'] })).toThrow(/RMSNorm; LoRA wraps Linear, QLinear and Embedding/);
      const rs = new LoRALinear(new et.nn.Linear(16, 16), { rank: 4, alpha: 8, rsLoRA: true, init: 'gaussian', seed: 3 });
      expect(rs.scale).toBe(4);
      const g = rs.lora_A.weight.dataSync();
      const std = Math.sqrt(Array.from(g).reduce((s, v) => s + v * v, 0) / g.length);
      expect(std).toBeGreaterThan(0.15); // N(0, 1/r) = N(0, 0.25)
      expect(std).toBeLessThan(0.35);
      // same seed, same adapter
      const again = new LoRALinear(new et.nn.Linear(16, 16), { rank: 4, alpha: 8, rsLoRA: true, init: 'gaussian', seed: 3 });
      expect(Array.from(again.lora_A.weight.dataSync())).toEqual(Array.from(g));
      m.dispose();
    });
  });

  test('an adapter on a float16 base weight trains (input gradient through f16 matmul)', () => {
    et.tidy(() => {
      const base = new et.nn.Linear(24, 12, { seed: 4, bias: false });
      const b16 = new et.nn.Linear(24, 12, { bias: false, init: false });
      b16.loadStateDict({ weight: et.noGrad(() => et.cast(base.weight, 'float16')) }, { assign: true });
      const l = new LoRALinear(b16, { rank: 2, seed: 5 });
      const x = et.randn([3, 24], { seed: 6 });
      const target = et.randn([3, 12], { seed: 7 });
      const opt = new et.optim.AdamW([l.lora_A.weight, l.lora_B.weight], { lr: 0.05 });
      let first = 0;
      let last = 0;
      for (let i = 0; i < 60; i++)
        et.tidy(() => {
          opt.zeroGrad();
          const d = et.sub(l.forward(x), target);
          const loss = et.mean(et.mul(d, d));
          loss.backward();
          opt.step();
          if (i === 0) first = loss.item();
          last = loss.item();
        });
      expect(last).toBeLessThan(0.8 * first);
      expect(l.weight!.dtype).toBe('float16');
      expect(l.weight!.grad).toBeNull();
    });
  });
});

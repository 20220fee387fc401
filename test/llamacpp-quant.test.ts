// Quantized GGUF files made by llama.cpp's own quantizer (../shared/quant): our logits on every
// device (linear layers kept quantized, as loadModel does; their blocks dequantize bit-exactly as
// llama.cpp's) against llama.cpp's on the same file. llama.cpp's quantized
// matmuls round the activations to 8 bits (Q8_0 blocks of 32, or Q8_K blocks of 256 for the
// K-quants), which moves its logits by 1e-2 to 4e-2 of their range on these heavy-tailed weights
// (measured: Q8_0 1.7e-2, Q4_0 1.1e-2, Q4_1 1.7e-2, Q5_0 1.1e-2, Q5_1 1.0e-2, Q4_K_M 3.9e-2,
// Q5_K_M 2.4e-2, Q6_K 1.7e-2). The same forward on f32/f16 files agrees to 3e-4 (llamacpp.test.ts)
// and the dequantized weights are bit-exact (quant-dequant.test.ts): the tolerance is 5e-2.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { runQuantize } from '../lib/cli/quantize.js';
import { QLinear } from '../lib/nn/qlinear.js';
import { testDevices } from './helpers/devices.js';
import { compareLogProbs, createContext, getLlama, importNlc, nextLogProbs } from './helpers/llamacpp.js';

const shared = process.env.EDGETRAIN_SHARED ?? resolve(new URL('..', import.meta.url).pathname, '../shared');
const REL_TOL = 5e-2;
const { nlc, error } = await importNlc();

test('node-llama-cpp imports (a dev dependency)', () => {
  expect(nlc, error).not.toBeNull();
});

describe.skipIf(!nlc)('quantized files: edgetrain vs llama.cpp', () => {
  const report: string[] = [];
  test.each(['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K_M', 'Q5_K_M', 'Q6_K'])('tiny-llama-%s.gguf', { timeout: 240_000 }, async (q) => {
    const path = join(shared, 'quant', `tiny-llama-${q}.gguf`);
    // every device: the blocks stay quantized on each (QLinear), the logits agree with llama.cpp's
    // as cpu's do, and with cpu's closely (same blocks, f32 accumulation in another order)
    const models = await Promise.all(testDevices.map((device) => et.loadModel(path, { device })));
    const lm = await (await getLlama(nlc)).loadModel({ modelPath: path });
    try {
      const ctx = await createContext(lm);
      let worst = 0;
      for (const p of ['The quick brown fox jumps over the lazy dog.', 'Once upon a time, in a land far away']) {
        const ids = models[0]!.tokenizer!.encode(p, { addSpecial: true });
        const want = await nextLogProbs(ctx, ids, models[0]!.model.config.vocabSize);
        let cpu: Float32Array | undefined;
        for (const [i, { model }] of models.entries()) {
          const device = testDevices[i]!;
          expect([...model.namedModules()].some(([, m]) => m instanceof QLinear), `${q} on ${device}: quantized layers`).toBe(true);
          const x = et.tensor(Int32Array.from(ids), [1, ids.length], { device });
          const forward = () => et.noGrad(() => et.tidy(() => Float32Array.from(model.forward(x, { lastOnly: true }).dataSync())));
          // inference as run (8-bit activations where the device has the integer path), against llama.cpp
          const ours = forward();
          // the float path on every device, against cpu's
          const exact = et.quant.exactQuantMatmul(forward);
          x.dispose();
          const { maxDiff, range } = compareLogProbs(ours, want);
          worst = Math.max(worst, maxDiff / range);
          expect(maxDiff, `${q} on ${device}: ${JSON.stringify(p)}`).toBeLessThan(REL_TOL * range);
          if (!cpu) cpu = exact;
          else for (let j = 0; j < exact.length; j++) expect(Math.abs(exact[j]! - cpu[j]!), `${q}: ${device} logit ${j} against cpu`).toBeLessThan(1e-4 * range + 1e-5);
        }
      }
      report.push(`${q}: ${worst.toExponential(2)}`);
      await ctx.dispose();
    } finally {
      await lm.dispose();
      for (const { model } of models) model.dispose();
    }
  });
  test('report', () => {
    console.log(`max |dlogp| / logit range vs llama.cpp: ${report.join(', ')}`);
    expect(report.length).toBe(8);
  });
});

describe.skipIf(!nlc)('edgetrain quantize: files llama.cpp loads', () => {
  test.each(['q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q4_k_m', 'q5_k_m', 'q6_k'])(
    "tiny-llama-f16.gguf -> %s: every tensor has llama-quantize's type and bytes; llama.cpp reads it and agrees with us on it",
    { timeout: 60_000 },
    async (type) => {
      const dir = mkdtempSync(join(tmpdir(), 'et-quantize-'));
      try {
        const out = join(dir, `${type}.gguf`);
        const r = runQuantize(join(shared, 'quant', 'tiny-llama-f16.gguf'), out, type);
        expect(r.quantized).toBe(2 + 2 * 7); // token_embd, output, 7 matrices per layer
        expect(r.bytesOut).toBeLessThan(r.bytesIn * (type === 'q8_0' ? 0.6 : 0.45));
        const theirHeader = et.readGGUFHeader(join(shared, 'quant', `tiny-llama-${type.toUpperCase()}.gguf`));
        const myHeader = et.readGGUFHeader(out);
        expect(myHeader.metadata.get('general.file_type')).toBe(theirHeader.metadata.get('general.file_type'));
        for (const theirs of theirHeader.tensors) {
          const mine = myHeader.tensors.find((t) => t.name === theirs.name)!;
          expect(mine.typeName, theirs.name).toBe(theirs.typeName);
          expect(Buffer.from(et.readGGUFTensorBytes(myHeader, mine)).equals(et.readGGUFTensorBytes(theirHeader, theirs)), theirs.name).toBe(true);
        }
        const { model, tokenizer } = await et.loadModel(out);
        const lm = await (await getLlama(nlc)).loadModel({ modelPath: out });
        try {
          const ctx = await createContext(lm);
          const ids = tokenizer!.encode('The quick brown fox jumps over the lazy dog.', { addSpecial: true });
          const ours = et.noGrad(() => et.tidy(() => Float32Array.from(model.forward(et.tensor(Int32Array.from(ids), [1, ids.length]), { lastOnly: true }).dataSync())));
          const { maxDiff, range } = compareLogProbs(ours, await nextLogProbs(ctx, ids, model.config.vocabSize));
          expect(maxDiff).toBeLessThan(REL_TOL * range);
          await ctx.dispose();
        } finally {
          await lm.dispose();
          model.dispose();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

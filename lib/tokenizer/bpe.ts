// Byte-level BPE as llama.cpp does it for `tokenizer.ggml.model = "gpt2"`: the text is split into
// words by the pre-tokenizer regex of `tokenizer.ggml.pre`, each word's UTF-8 bytes are mapped to
// printable characters (GPT-2's byte encoder), and then the adjacent pair with the lowest merge
// rank is merged, repeatedly (ties: the leftmost pair first).
import { ValueError } from '../errors.js';
import { Heap } from './heap.js';

/** GPT-2's byte -> character table and its inverse. */
export const BYTE_TO_CHAR: string[] = [];
export const CHAR_TO_BYTE = new Map<string, number>();
{
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    const ch = String.fromCodePoint(printable ? b : 256 + n++);
    BYTE_TO_CHAR[b] = ch;
    CHAR_TO_BYTE.set(ch, b);
  }
}

// `\s` of the reference patterns is Unicode White_Space (JS's own \s differs in U+0085 / U+FEFF).
const S = '\\p{White_Space}';
const NS = '\\P{White_Space}';
const CONTRACTIONS_CI = "'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]";

const GPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${S}\\p{L}\\p{N}]+|${S}+(?!${NS})|${S}+`;
const LLAMA3 = `${CONTRACTIONS_CI}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^${S}\\p{L}\\p{N}]+[\\r\\n]*|${S}*[\\r\\n]+|${S}+(?!${NS})|${S}+`;

interface PreTokenizerSpec {
  /** Applied in turn: each splits every piece the previous ones made (unmatched stretches stay pieces). */
  regexes: string[];
  /** A word that is itself a vocabulary entry is not merged (HF `ignore_merges`). */
  ignoreMerges?: boolean;
  /** llama.cpp adds BOS by default for these. */
  addBos?: boolean;
}

/** Pre-tokenizers by llama.cpp pre-type name. */
const PRE_TOKENIZERS: Record<string, PreTokenizerSpec> = {
  'gpt-2': { regexes: [GPT2] },
  llama3: { regexes: [LLAMA3], ignoreMerges: true, addBos: true },
  // the Llama 3 regex without ignore_merges
  dbrx: { regexes: [LLAMA3] },
  qwen2: {
    regexes: [`${CONTRACTIONS_CI}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^${S}\\p{L}\\p{N}]+[\\r\\n]*|${S}*[\\r\\n]+|${S}+(?!${NS})|${S}+`],
  },
  // single digits first, then GPT-2's regex (StarCoder, SmolLM, Command-R, ...)
  starcoder: { regexes: ['\\p{N}', GPT2] },
  falcon: { regexes: ['[\\p{P}\\$\\+<=>\\^~\\|`]+', GPT2, '[0-9][0-9][0-9]'] },
  // llama.cpp's choice when tokenizer.ggml.pre is missing
  default: { regexes: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'] },
};
/** tokenizer.ggml.pre -> pre-tokenizer. */
const PRE_ALIASES: Record<string, string> = {
  default: 'default',
  'gpt-2': 'gpt-2', 'phi-2': 'gpt-2', 'jina-es': 'gpt-2', 'jina-de': 'gpt-2', gigachat: 'gpt-2', 'jina-v2-es': 'gpt-2',
  'jina-v2-de': 'gpt-2', 'a.x-4.0': 'gpt-2', mellum: 'gpt-2', 'jina-v1-en': 'gpt-2', 'jina-v2-code': 'gpt-2', 'roberta-bpe': 'gpt-2',
  mpt: 'gpt-2', olmo: 'gpt-2', jais: 'gpt-2', trillion: 'gpt-2', 'granite-docling': 'gpt-2', exaone4: 'gpt-2',
  llama3: 'llama3', 'llama-v3': 'llama3', 'llama-bpe': 'llama3', falcon3: 'llama3', 'falcon-h1': 'llama3', pixtral: 'llama3',
  'midm-2.0': 'llama3', lfm2: 'llama3',
  dbrx: 'dbrx', 'smaug-bpe': 'dbrx', glm4: 'dbrx', 'chatglm-bpe': 'dbrx',
  qwen2: 'qwen2', 'deepseek-r1-qwen': 'qwen2', kormo: 'qwen2', megrez: 'qwen2', stablelm2: 'qwen2',
  starcoder: 'starcoder', refact: 'starcoder', 'command-r': 'starcoder', smollm: 'starcoder', codeshell: 'starcoder',
  exaone: 'starcoder', 'minerva-7b': 'starcoder',
  falcon: 'falcon',
};

export interface PreTokenizer {
  name: string;
  regexes: RegExp[];
  ignoreMerges: boolean;
  addBos: boolean;
}

/** The pre-tokenizer for a tokenizer.ggml.pre value (missing: llama.cpp's 'default'); throws for one this library lacks. */
export function resolvePre(pre: string | undefined): PreTokenizer {
  const name = PRE_ALIASES[pre || 'default'];
  if (name === undefined) {
    throw new ValueError(
      `tokenizer: pre-tokenizer '${pre}' (tokenizer.ggml.pre) is not supported; supported: ${Object.keys(PRE_ALIASES).join(', ')}`,
    );
  }
  const spec = PRE_TOKENIZERS[name]!;
  return {
    name,
    regexes: spec.regexes.map((r) => new RegExp(r, 'gu')),
    ignoreMerges: spec.ignoreMerges ?? false,
    addBos: spec.addBos ?? false,
  };
}

interface Bigram {
  left: number;
  right: number;
  rank: number;
  text: string;
}
const bigramLess = (x: Bigram, y: Bigram) => x.rank < y.rank || (x.rank === y.rank && x.left < y.left);
const enc = new TextEncoder();

export interface BpeTables {
  tokenToId: Map<string, number>;
  /** "left right" -> rank */
  ranks: Map<string, number>;
  regexes: RegExp[];
  ignoreMerges: boolean;
  cache: Map<string, number[]>;
}

const CACHE_MAX = 1 << 16;

function splitBy(text: string, regex: RegExp, words: string[]): void {
  let last = 0;
  regex.lastIndex = 0;
  for (const m of text.matchAll(regex)) {
    if (m[0].length === 0) continue;
    if (m.index! > last) words.push(text.slice(last, m.index)); // an unmatched stretch stays a piece
    words.push(m[0]);
    last = m.index! + m[0].length;
  }
  if (last < text.length) words.push(text.slice(last));
}

/** Splits `text` into pre-tokenizer words (every character of `text` lands in exactly one word). */
export function preTokenize(text: string, regexes: RegExp[]): string[] {
  let words = [text];
  for (const r of regexes) {
    const next: string[] = [];
    for (const w of words) splitBy(w, r, next);
    words = next;
  }
  return words;
}

export function byteEncode(word: string): string {
  let s = '';
  for (const b of enc.encode(word)) s += BYTE_TO_CHAR[b];
  return s;
}

function bpeWord(word: string, t: BpeTables, out: number[]): void {
  if (t.ignoreMerges) {
    const id = t.tokenToId.get(word);
    if (id !== undefined) {
      out.push(id);
      return;
    }
  }
  // symbols: one per code point of the byte-encoded word (all BMP characters)
  const m = word.length;
  const sym: string[] = new Array(m);
  for (let i = 0; i < m; i++) sym[i] = word[i]!;
  const prev = new Int32Array(m);
  const next = new Int32Array(m);
  for (let i = 0; i < m; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < m ? i + 1 : -1;
  }
  const heap = new Heap<Bigram>(bigramLess);
  const tryAdd = (l: number, r: number) => {
    if (l < 0 || r < 0) return;
    const rank = t.ranks.get(sym[l] + ' ' + sym[r]);
    if (rank === undefined) return;
    heap.push({ left: l, right: r, rank, text: sym[l]! + sym[r]! });
  };
  for (let i = 1; i < m; i++) tryAdd(i - 1, i);
  for (let b = heap.pop(); b !== undefined; b = heap.pop()) {
    const l = b.left;
    const r = b.right;
    if (sym[l]!.length === 0 || sym[r]!.length === 0 || sym[l]! + sym[r]! !== b.text) continue; // outdated
    sym[l] = b.text;
    sym[r] = '';
    next[l] = next[r]!;
    if (next[r]! >= 0) prev[next[r]!] = l;
    tryAdd(prev[l]!, l);
    tryAdd(l, next[l]!);
  }
  for (let i = 0; i !== -1; i = next[i]!) {
    const s = sym[i]!;
    const id = t.tokenToId.get(s);
    if (id !== undefined) {
      out.push(id);
      continue;
    }
    // not a vocabulary entry: emit whatever single characters are (bytes without a token are lost, as in llama.cpp)
    for (const ch of s) {
      const cid = t.tokenToId.get(ch);
      if (cid !== undefined) out.push(cid);
    }
  }
}

export function bpeEncode(text: string, t: BpeTables, out: number[]): void {
  for (const w of preTokenize(text, t.regexes)) {
    const hit = t.cache.get(w);
    if (hit) {
      for (const id of hit) out.push(id);
      continue;
    }
    const ids: number[] = [];
    bpeWord(byteEncode(w), t, ids);
    if (t.cache.size >= CACHE_MAX) t.cache.clear();
    t.cache.set(w, ids);
    for (const id of ids) out.push(id);
  }
}

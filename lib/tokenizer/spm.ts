// SentencePiece-style tokenization as llama.cpp does it for `tokenizer.ggml.model = "llama"`:
// the text (spaces already escaped to U+2581) is split into characters, then the adjacent pair
// whose concatenation is the highest-scoring vocabulary entry is merged, repeatedly (ties: the
// leftmost pair first). Pieces that are not vocabulary entries fall back to <0xXX> byte tokens.
import { Heap } from './heap.js';

export interface SpmTables {
  tokenToId: Map<string, number>;
  scores: Float32Array | undefined;
  /** id for each byte value (the <0xXX> token, else the one-character token, else unk; -1 if none). */
  byteIds: Int32Array;
  /**
   * True when no vocabulary entry has U+2581 right after another character: then no merge can
   * cross the start of a word (a U+2581 after a non-U+2581), words are tokenized independently,
   * with the same result, and repeated words come from `cache`.
   */
  splitWords: boolean;
  cache: Map<string, number[]>;
}

const CACHE_MAX = 1 << 16;

/** Whether a vocabulary allows SpmTables.splitWords. */
export function canSplitWords(tokens: string[]): boolean {
  return !tokens.some((t) => /[^\u2581]\u2581/u.test(t));
}

/** Tokenizes whitespace-escaped text (spaces already U+2581), appending ids to `out`. */
export function spmEncode(text: string, t: SpmTables, out: number[]): void {
  if (!t.splitWords) return spmEncodeWord(text, t, out);
  let from = 0;
  const flush = (end: number) => {
    const w = text.slice(from, end);
    const hit = t.cache.get(w);
    if (hit) {
      for (const id of hit) out.push(id);
    } else {
      const ids: number[] = [];
      spmEncodeWord(w, t, ids);
      if (t.cache.size >= CACHE_MAX) t.cache.clear();
      t.cache.set(w, ids);
      for (const id of ids) out.push(id);
    }
    from = end;
  };
  for (let i = 1; i < text.length; i++) {
    if (text.charCodeAt(i) === 0x2581 && text.charCodeAt(i - 1) !== 0x2581) flush(i);
  }
  if (from < text.length) flush(text.length);
}

interface Bigram {
  left: number;
  right: number;
  score: number;
  size: number;
}

const bigramLess = (x: Bigram, y: Bigram) => x.score > y.score || (x.score === y.score && x.left < y.left);
const enc = new TextEncoder();

function spmEncodeWord(text: string, t: SpmTables, out: number[]): void {
  if (text.length === 0) return;
  // symbols: one per code point, as [start, length) in UTF-16 units of `text`
  const start: number[] = [];
  const len: number[] = [];
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    const n = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
    start.push(i);
    len.push(n);
    i += n;
  }
  const m = start.length;
  const prev = new Int32Array(m);
  const next = new Int32Array(m);
  for (let i = 0; i < m; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < m ? i + 1 : -1;
  }
  const heap = new Heap<Bigram>(bigramLess);
  const tryAdd = (l: number, r: number) => {
    if (l < 0 || r < 0) return;
    const s = text.substr(start[l]!, len[l]! + len[r]!);
    const id = t.tokenToId.get(s);
    if (id === undefined) return;
    heap.push({ left: l, right: r, score: t.scores ? t.scores[id]! : 0, size: s.length });
  };
  for (let i = 1; i < m; i++) tryAdd(i - 1, i);
  for (let b = heap.pop(); b !== undefined; b = heap.pop()) {
    const l = b.left;
    const r = b.right;
    if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== b.size) continue; // outdated
    len[l] = len[l]! + len[r]!;
    len[r] = 0;
    next[l] = next[r]!;
    if (next[r]! >= 0) prev[next[r]!] = l;
    tryAdd(prev[l]!, l);
    tryAdd(l, next[l]!);
  }
  for (let i = 0; i !== -1; i = next[i]!) {
    const s = text.substr(start[i]!, len[i]!);
    const id = t.tokenToId.get(s);
    if (id !== undefined) {
      out.push(id);
      continue;
    }
    for (const byte of enc.encode(s)) {
      const bid = t.byteIds[byte]!;
      if (bid >= 0) out.push(bid);
    }
  }
}

// A small SentencePiece-style vocabulary learned from text by byte-pair merges, written as GGUF
// tokenizer.ggml.* metadata (model "llama"): <unk>, <s>, </s>, the 256 byte-fallback tokens,
// the characters seen often enough, then merged pieces scored by merge order, so that llama.cpp's
// and edgetrain's SPM tokenizers (highest-scoring adjacent merge first) reproduce the merges.
import { gguf, type GGUFWritable } from '../formats/gguf.js';
import { ValueError } from '../errors.js';

const SPACE = '\u2581';

export interface TrainSpmOptions {
  /** Total vocabulary size (default 1024). */
  vocabSize?: number;
  /** Characters seen fewer times than this fall back to bytes (default 10). */
  minCharCount?: number;
  /** A Jinja chat template to store as tokenizer.chat_template. */
  chatTemplate?: string;
}

/** Token types as GGUF stores them (llama.cpp's llama_token_type). */
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const BYTE = 6;

/**
 * Learns the vocabulary from `text`; returns the GGUF tokenizer metadata and the pieces in id
 * order. Words are the SPM pieces between spaces (each with its leading ▁); merges never cross
 * them, as SentencePiece's do not.
 */
export function trainSpmVocab(text: string, opts?: TrainSpmOptions): { metadata: Map<string, GGUFWritable>; tokens: string[] } {
  const size = opts?.vocabSize ?? 1024;
  const minCount = opts?.minCharCount ?? 10;
  if (!Number.isInteger(size) || size < 300) throw new ValueError(`trainSpmVocab: vocabSize must be an integer >= 300, got ${size}`);
  const norm = SPACE + text.replace(/ /g, SPACE);
  const charCount = new Map<string, number>();
  for (const ch of norm) if (ch !== '\n' && ch !== '\r') charCount.set(ch, (charCount.get(ch) ?? 0) + 1);
  const chars = [...charCount].filter(([, n]) => n >= minCount).sort((a, b) => b[1] - a[1]).map(([c]) => c);
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [UNKNOWN, CONTROL, CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(BYTE);
  }
  const known = new Set(chars);
  for (const c of chars) {
    tokens.push(c);
    types.push(NORMAL);
  }
  // words: runs starting at ▁ (newlines split too; they are bytes)
  const wordCount = new Map<string, number>();
  for (const w of norm.split(/(?=\u2581)|[\r\n]+/)) if (w) wordCount.set(w, (wordCount.get(w) ?? 0) + 1);
  const words = [...wordCount].map(([w, n]) => ({ syms: [...w].filter((c) => known.has(c)), n }));
  const merges: string[] = [];
  while (tokens.length + merges.length < size) {
    const pairs = new Map<string, number>();
    for (const { syms, n } of words)
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = `${syms[i]}\u0000${syms[i + 1]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + n);
      }
    let best = '';
    let bestN = 1;
    for (const [k, n] of pairs) if (n > bestN || (n === bestN && best !== '' && k < best)) [best, bestN] = [k, n];
    if (!best) break;
    const [a, b] = best.split('\u0000') as [string, string];
    const ab = a + b;
    merges.push(ab);
    for (const w of words) {
      const s = w.syms;
      const out: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(ab);
          i++;
        } else out.push(s[i]!);
      }
      w.syms = out;
    }
  }
  const scores = tokens.map(() => 0);
  // characters below every merge; merges by order (earlier = higher), as SentencePiece scores pieces
  for (let i = 259; i < tokens.length; i++) scores[i] = -1e6;
  merges.forEach((m, i) => {
    tokens.push(m);
    types.push(NORMAL);
    scores.push(-i);
  });
  const meta = new Map<string, GGUFWritable>();
  meta.set('tokenizer.ggml.model', gguf.str('llama'));
  meta.set('tokenizer.ggml.pre', gguf.str('default'));
  meta.set('tokenizer.ggml.tokens', gguf.typed('array<string>', tokens));
  meta.set('tokenizer.ggml.scores', gguf.typed('array<float32>', Float32Array.from(scores)));
  meta.set('tokenizer.ggml.token_type', gguf.typed('array<int32>', Int32Array.from(types)));
  meta.set('tokenizer.ggml.bos_token_id', gguf.u32(1));
  meta.set('tokenizer.ggml.eos_token_id', gguf.u32(2));
  meta.set('tokenizer.ggml.unknown_token_id', gguf.u32(0));
  meta.set('tokenizer.ggml.add_bos_token', gguf.typed('bool', true));
  meta.set('tokenizer.ggml.add_eos_token', gguf.typed('bool', false));
  if (opts?.chatTemplate) meta.set('tokenizer.chat_template', gguf.str(opts.chatTemplate));
  return { metadata: meta, tokens };
}

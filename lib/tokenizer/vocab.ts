// A tokenizer vocabulary as GGUF stores it (the `tokenizer.ggml.*` keys), independent of how the
// file was read: vocabFromGGUFMetadata() takes the metadata map of any GGUF reader.
import { FormatError } from '../errors.js';

/** GGUF token types (tokenizer.ggml.token_type). */
export const TokenType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

export interface Vocab {
  /** 'llama' (SentencePiece-style) or 'gpt2' (byte-level BPE). */
  model: string;
  /** Pre-tokenizer name (tokenizer.ggml.pre): 'llama-bpe', 'qwen2', 'gpt-2', 'default', ... */
  pre?: string;
  tokens: string[];
  scores?: Float32Array;
  tokenTypes?: Int32Array;
  merges?: string[];
  bosId?: number;
  eosId?: number;
  unkId?: number;
  padId?: number;
  addBos?: boolean;
  addEos?: boolean;
  addSpacePrefix?: boolean;
  chatTemplate?: string;
  /** general.name: llama.cpp keys a few per-model token attributes on it (Phi-3's right-stripping specials). */
  name?: string;
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

function bool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  return undefined;
}

function toInt32Array(v: unknown): Int32Array | undefined {
  if (v === undefined) return undefined;
  if (v instanceof Int32Array) return v;
  if (ArrayBuffer.isView(v) || Array.isArray(v)) return Int32Array.from(v as ArrayLike<number>, (x) => Number(x));
  return undefined;
}

function toFloat32Array(v: unknown): Float32Array | undefined {
  if (v === undefined) return undefined;
  if (v instanceof Float32Array) return v;
  if (ArrayBuffer.isView(v) || Array.isArray(v)) return Float32Array.from(v as ArrayLike<number>, (x) => Number(x));
  return undefined;
}

/** Builds a Vocab from GGUF metadata (a Map of key -> value as a GGUF reader returns it). */
export function vocabFromGGUFMetadata(md: Map<string, unknown>): Vocab {
  const model = md.get('tokenizer.ggml.model');
  if (typeof model !== 'string') throw new FormatError('gguf: tokenizer.ggml.model is missing (no vocabulary in this file)');
  const tokens = md.get('tokenizer.ggml.tokens');
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== 'string')) {
    throw new FormatError('gguf: tokenizer.ggml.tokens is missing or not an array of strings');
  }
  const n = tokens.length;
  const scores = toFloat32Array(md.get('tokenizer.ggml.scores'));
  const tokenTypes = toInt32Array(md.get('tokenizer.ggml.token_type'));
  if (scores && scores.length !== n) throw new FormatError(`gguf: tokenizer.ggml.scores has ${scores.length} entries for ${n} tokens`);
  if (tokenTypes && tokenTypes.length !== n) throw new FormatError(`gguf: tokenizer.ggml.token_type has ${tokenTypes.length} entries for ${n} tokens`);
  const merges = md.get('tokenizer.ggml.merges');
  if (merges !== undefined && (!Array.isArray(merges) || merges.some((m) => typeof m !== 'string'))) {
    throw new FormatError('gguf: tokenizer.ggml.merges is not an array of strings');
  }
  const pre = md.get('tokenizer.ggml.pre');
  const tmpl = md.get('tokenizer.chat_template');
  const v: Vocab = {
    model,
    pre: typeof pre === 'string' ? pre : undefined,
    tokens: tokens as string[],
    scores,
    tokenTypes,
    merges: merges as string[] | undefined,
    bosId: num(md.get('tokenizer.ggml.bos_token_id')),
    eosId: num(md.get('tokenizer.ggml.eos_token_id')),
    unkId: num(md.get('tokenizer.ggml.unknown_token_id')),
    padId: num(md.get('tokenizer.ggml.padding_token_id')),
    addBos: bool(md.get('tokenizer.ggml.add_bos_token')),
    addEos: bool(md.get('tokenizer.ggml.add_eos_token')),
    addSpacePrefix: bool(md.get('tokenizer.ggml.add_space_prefix')),
    chatTemplate: typeof tmpl === 'string' ? tmpl : undefined,
    name: typeof md.get('general.name') === 'string' ? (md.get('general.name') as string) : undefined,
  };
  for (const [k, id] of [['bos', v.bosId], ['eos', v.eosId], ['unknown', v.unkId], ['padding', v.padId]] as const) {
    if (id !== undefined && (id < 0 || id >= n)) throw new FormatError(`gguf: tokenizer.ggml.${k}_token_id ${id} is outside the vocabulary (${n} tokens)`);
  }
  return v;
}

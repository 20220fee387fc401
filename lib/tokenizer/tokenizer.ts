// Tokenizers for GGUF-embedded vocabularies, matching llama.cpp's ids: SentencePiece-style
// (`tokenizer.ggml.model = "llama"`: Llama 2, TinyLlama, Phi-3) and byte-level BPE
// (`"gpt2"`: GPT-2, Llama 3.x, Qwen2/2.5/3).
import type { TextTokenizer } from './hf.js';
import { ValueError } from '../errors.js';
import { type BpeTables, CHAR_TO_BYTE, bpeEncode, resolvePre } from './bpe.js';
import { type SpmTables, canSplitWords, spmEncode } from './spm.js';
import { Attr, tokenAttrs } from './attrs.js';
import { TokenType, type Vocab, vocabFromGGUFMetadata } from './vocab.js';

export interface EncodeOptions {
  /** Add BOS/EOS as the vocabulary's add_bos/add_eos flags say (default false). */
  addSpecial?: boolean;
  /**
   * Recognise control tokens (`<|im_start|>`, `<s>`, ...) written in the text (default false).
   * User-defined tokens are always recognised, as llama.cpp and HF tokenizers do.
   */
  parseSpecial?: boolean;
  /**
   * SentencePiece vocabularies: whether text at the very start gets the space prefix, as fresh
   * text does (default true). False for a piece that continues earlier text mid-sentence, so
   * encoding a text in pieces gives the ids of encoding it whole.
   */
  prefixSpace?: boolean;
}

export interface DecodeOptions {
  /** Leave out control and unknown tokens (BOS, EOS, <|im_end|>...); default false. */
  skipSpecial?: boolean;
  /**
   * llama.cpp's clean-up of tokenization spaces (" ." -> ".", " 's" -> "'s", ...), which it applies
   * to byte-level BPE vocabularies except Qwen2's and a few others. Default false: decode(encode(x))
   * then gives x back exactly.
   */
  cleanSpaces?: boolean;
}

type Fragment = string | number; // raw text or a token id

/** Byte-level BPE pre-tokenizers for which llama.cpp does not clean up spaces when decoding. */
const NO_CLEAN_SPACES = new Set([
  'deepseek-llm', 'deepseek-coder', 'deepseek-v3', 'command-r', 'qwen2', 'deepseek-r1-qwen', 'kormo', 'qwen35',
  'poro-chat', 'viking', 'tekken', 'smollm', 'chameleon', 'gpt-4o', 'llama4', 'superbpe', 'trillion',
  'granite-docling', 'bailingmoe', 'bailingmoe2', 'llada-moe', 'seed-coder', 'hunyuan', 'hunyuan-dense',
  'kimi-k2', 'grok-2', 'afmoe', 'minimax-m2',
]);

const utf8 = new TextEncoder();

export class Tokenizer implements TextTokenizer {
  readonly vocab: Vocab;
  readonly kind: 'spm' | 'bpe';
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly unk: number | undefined;
  readonly pad: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  /** The pre-tokenizer in use (byte-level BPE only): 'gpt-2', 'llama3', 'qwen2', 'starcoder', ... */
  readonly preTokenizer: string | undefined;

  private readonly tokenToId = new Map<string, number>();
  private readonly types: Int32Array;
  /** llama.cpp-style attribute bits per token (see attrs.ts). */
  private readonly attrs: Int32Array;
  /** Token ids that end generation (EOS, <|eot_id|>, <|im_end|>, ...). */
  readonly eog: ReadonlySet<number>;
  /** Whether llama.cpp cleans up tokenization spaces when decoding with this vocabulary. */
  readonly cleanSpacesDefault: boolean;
  /** Control / user-defined / unknown tokens, longest text first (matched before tokenization). */
  private readonly specials: number[];
  private readonly spm?: SpmTables;
  private readonly bpe?: BpeTables;
  /** Decoded bytes of each token (special tokens as their text), built lazily. */
  private pieces: (Uint8Array | undefined)[];

  constructor(vocab: Vocab) {
    this.vocab = vocab;
    const n = vocab.tokens.length;
    if (n === 0) throw new ValueError('tokenizer: the vocabulary is empty');
    // a later duplicate wins, and an empty entry is known as [EMPTY_<id>], as in llama.cpp
    vocab.tokens.forEach((t, i) => this.tokenToId.set(t === '' ? `[EMPTY_${i}]` : t, i));
    this.types = vocab.tokenTypes ?? new Int32Array(n).fill(TokenType.NORMAL);
    this.pieces = new Array(n);
    const inRange = (id: number | undefined) => (id !== undefined && id >= 0 && id < n ? id : undefined);
    if (vocab.model === 'llama') {
      this.kind = 'spm';
      this.bos = inRange(vocab.bosId ?? 1);
      this.eos = inRange(vocab.eosId ?? 2);
      this.unk = inRange(vocab.unkId ?? 0);
      this.addBos = vocab.addBos ?? true;
      this.addEos = vocab.addEos ?? false;
      this.addSpacePrefix = vocab.addSpacePrefix ?? true;
      const byteIds = new Int32Array(256).fill(-1);
      for (let b = 0; b < 256; b++) {
        const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
        byteIds[b] = this.tokenToId.get(hex) ?? this.tokenToId.get(String.fromCharCode(b)) ?? this.unk ?? -1;
      }
      this.spm = { tokenToId: this.tokenToId, scores: vocab.scores, byteIds, splitWords: canSplitWords(vocab.tokens), cache: new Map() };
    } else if (vocab.model === 'gpt2') {
      this.kind = 'bpe';
      if (!vocab.merges) throw new ValueError('tokenizer: a byte-level BPE vocabulary (gpt2) needs tokenizer.ggml.merges');
      const pre = resolvePre(vocab.pre);
      this.preTokenizer = pre.name;
      this.bos = inRange(vocab.bosId);
      this.eos = inRange(vocab.eosId);
      this.unk = inRange(vocab.unkId);
      this.addBos = vocab.addBos ?? pre.addBos;
      this.addEos = vocab.addEos ?? false;
      this.addSpacePrefix = vocab.addSpacePrefix ?? false;
      const ranks = new Map<string, number>();
      vocab.merges.forEach((m, i) => {
        if (!ranks.has(m)) ranks.set(m, i);
      });
      this.bpe = { tokenToId: this.tokenToId, ranks, regexes: pre.regexes, ignoreMerges: pre.ignoreMerges, cache: new Map() };
    } else {
      throw new ValueError(`tokenizer: unsupported tokenizer model '${vocab.model}' (supported: 'llama', 'gpt2')`);
    }
    this.pad = inRange(vocab.padId);
    const ta = tokenAttrs(vocab, this.tokenToId, this.eos);
    this.attrs = ta.attrs;
    this.eog = ta.eog;
    this.cleanSpacesDefault = this.kind === 'bpe' && !NO_CLEAN_SPACES.has(vocab.pre ?? '');
    this.specials = [];
    for (let i = 0; i < n; i++) {
      if (this.attrs[i]! & (Attr.CONTROL | Attr.USER_DEFINED | Attr.UNKNOWN) && vocab.tokens[i]!.length > 0) this.specials.push(i);
    }
    // longest first (in UTF-8 bytes, as llama.cpp sorts them)
    const bytes = new Map(this.specials.map((id) => [id, utf8.encode(vocab.tokens[id]!).length]));
    this.specials.sort((a, b) => bytes.get(b)! - bytes.get(a)! || a - b);
  }

  /** A tokenizer for the vocabulary stored in GGUF metadata (a key -> value Map). */
  static fromGGUFMetadata(metadata: Map<string, unknown>): Tokenizer {
    return new Tokenizer(vocabFromGGUFMetadata(metadata));
  }

  get vocabSize(): number {
    return this.vocab.tokens.length;
  }

  /** The GGUF token type of `id` (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte). */
  tokenType(id: number): number {
    this.checkId(id);
    return this.types[id]!;
  }

  /** Whether `id` is a control or unknown token (what decode's skipSpecial leaves out). */
  isSpecial(id: number): boolean {
    this.checkId(id);
    return (this.attrs[id]! & (Attr.CONTROL | Attr.UNKNOWN)) !== 0;
  }

  /** Whether `id` ends generation (EOS, <|eot_id|>, <|im_end|>, <|end|>, ...). */
  isEog(id: number): boolean {
    return this.eog.has(id);
  }

  /** The id of the vocabulary entry spelled exactly `text` (GGUF spelling), if any. */
  tokenId(text: string): number | undefined {
    return this.tokenToId.get(text);
  }

  /** The raw vocabulary entry of `id`, as stored in the GGUF file. */
  tokenText(id: number): string {
    this.checkId(id);
    return this.vocab.tokens[id]!;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const addSpecial = opts.addSpecial ?? false;
    const out: number[] = [];
    if (addSpecial && this.addBos && this.bos !== undefined) out.push(this.bos);
    const frags = this.partition(text, opts.parseSpecial ?? false);
    if (this.spm) {
      let prevSpecial = opts.prefixSpace ?? true; // fresh text gets the space prefix, as does text after a special token
      for (const f of frags) {
        if (typeof f === 'number') {
          out.push(f);
          prevSpecial = true;
          continue;
        }
        const s = (this.addSpacePrefix && prevSpecial ? ' ' : '') + f;
        spmEncode(s.replaceAll(' ', '\u2581'), this.spm, out);
        prevSpecial = false;
      }
    } else {
      for (const f of frags) {
        if (typeof f === 'number') out.push(f);
        else bpeEncode(f, this.bpe!, out);
      }
    }
    if (addSpecial && this.addEos && this.eos !== undefined) out.push(this.eos);
    return out;
  }

  /** The bytes token `id` stands for (special tokens: their text, or nothing with skipSpecial). */
  tokenBytes(id: number, opts: DecodeOptions = {}): Uint8Array {
    if (opts.skipSpecial && this.isSpecial(id)) return new Uint8Array(0);
    this.checkId(id);
    let p = this.pieces[id];
    if (!p) {
      p = this.computePiece(id);
      this.pieces[id] = p;
    }
    return p;
  }

  /** The text of one token (an incomplete UTF-8 sequence shows as U+FFFD; use decode for sequences). */
  tokenToPiece(id: number, opts: DecodeOptions = {}): string {
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.tokenBytes(id, opts));
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const d = this.decoder(opts);
    let text = '';
    for (let i = 0; i < ids.length; i++) text += d.push(ids[i]!);
    text += d.flush();
    return opts.cleanSpaces ? cleanSpaces(text) : text;
  }

  /**
   * A decoder for ids that arrive one at a time (generation): push(id) returns the text that is
   * complete so far (a character split over several byte tokens comes out once its last byte is
   * in), flush() whatever is left. Joined, the pieces equal decode() of all ids (without cleanSpaces).
   */
  decoder(opts: DecodeOptions = {}): TokenStreamDecoder {
    return new TokenStreamDecoder(this, opts);
  }

  /** @internal piece bytes for the stream decoder, and whether the token is control/unknown. */
  pieceFor(id: number, opts: DecodeOptions): { bytes: Uint8Array; special: boolean } {
    const bytes = this.tokenBytes(id, opts);
    return { bytes, special: (this.attrs[id]! & (Attr.CONTROL | Attr.UNKNOWN)) !== 0 };
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocab.tokens.length) {
      throw new ValueError(`tokenizer: token id ${id} is outside the vocabulary (${this.vocab.tokens.length} tokens)`);
    }
  }

  private computePiece(id: number): Uint8Array {
    const text = this.vocab.tokens[id]!;
    const a = this.attrs[id]!;
    if (a & (Attr.CONTROL | Attr.UNKNOWN | Attr.USER_DEFINED)) return utf8.encode(text);
    if (a & Attr.BYTE) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
      return m ? Uint8Array.of(parseInt(m[1]!, 16)) : utf8.encode(text);
    }
    if (!(a & Attr.NORMAL)) return new Uint8Array(0); // unused / undefined tokens render as nothing, as in llama.cpp
    if (this.kind === 'spm') return utf8.encode(text.replaceAll('\u2581', ' '));
    // byte-level BPE: each character stands for one byte
    const bytes: number[] = [];
    for (const ch of text) {
      const b = CHAR_TO_BYTE.get(ch);
      if (b !== undefined) bytes.push(b);
      else for (const x of utf8.encode(ch)) bytes.push(x);
    }
    return Uint8Array.from(bytes);
  }

  /** Splits text at special tokens (longest first), as llama.cpp does before tokenizing. */
  private partition(text: string, parseSpecial: boolean): Fragment[] {
    let frags: Fragment[] = text.length > 0 ? [text] : [];
    for (const id of this.specials) {
      const a = this.attrs[id]!;
      if (!parseSpecial && a & (Attr.CONTROL | Attr.UNKNOWN)) continue;
      const s = this.vocab.tokens[id]!;
      let changed = false;
      const next: Fragment[] = [];
      for (const f of frags) {
        if (typeof f === 'number' || f.length < s.length) {
          next.push(f);
          continue;
        }
        let at = f.indexOf(s);
        if (at < 0) {
          next.push(f);
          continue;
        }
        changed = true;
        let from = 0;
        while (at >= 0) {
          let end = at;
          if (a & Attr.LSTRIP) while (end > from && isSpace(f.charCodeAt(end - 1))) end--;
          if (end > from) next.push(f.slice(from, end));
          next.push(id);
          from = at + s.length;
          if (a & Attr.RSTRIP) while (from < f.length && isSpace(f.charCodeAt(from))) from++;
          at = f.indexOf(s, from);
        }
        if (from < f.length) next.push(f.slice(from));
      }
      if (changed) frags = next;
    }
    return frags;
  }
}

/** See Tokenizer.decoder(). */
export class TokenStreamDecoder {
  private readonly td = new TextDecoder('utf-8', { ignoreBOM: true });
  // SentencePiece: the space prefix that encode adds is removed from the first text piece
  private stripSpace: boolean;
  constructor(
    private readonly tok: Tokenizer,
    private readonly opts: DecodeOptions,
  ) {
    this.stripSpace = tok.kind === 'spm' && tok.addSpacePrefix;
  }

  push(id: number): string {
    let { bytes, special } = this.tok.pieceFor(id, this.opts);
    if (!special && this.stripSpace) {
      if (bytes.length > 0 && bytes[0] === 0x20) bytes = bytes.subarray(1);
      this.stripSpace = false;
    }
    return bytes.length > 0 ? this.td.decode(bytes, { stream: true }) : '';
  }

  flush(): string {
    return this.td.decode();
  }
}

/** C isspace(): space, \t, \n, \v, \f, \r. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** llama.cpp's clean-up of tokenization spaces after decoding (byte-level BPE vocabularies). */
export function cleanSpaces(text: string): string {
  return text
    .replace(/ ([?!.,])/g, '$1') // " ?", " !", " .", " ,"
    .replace(/ ' /g, "'") // a lone apostrophe between spaces
    .replace(/ '(s|m|re|ve)/g, "'$1"); // contractions
}

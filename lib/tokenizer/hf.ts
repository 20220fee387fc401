// Hugging Face tokenizers (tokenizer.json + tokenizer_config.json) through @huggingface/tokenizers,
// behind the same surface as the GGUF Tokenizer (encode / decode / isSpecial / bos / eos ...).
import { Tokenizer as HFLibTokenizer } from '@huggingface/tokenizers';
import { FormatError, ValueError } from '../errors.js';
import { EOG_TEXTS } from './attrs.js';

/** Options of TextTokenizer.encode (a subset of the GGUF Tokenizer's EncodeOptions). */
export interface TextEncodeOptions {
  /** Add BOS/EOS (or whatever the tokenizer's post-processor adds); default false. */
  addSpecial?: boolean;
  /** Recognise special tokens written in the text (default false); non-special added tokens always are. */
  parseSpecial?: boolean;
}

/** Options of TextTokenizer.decode. */
export interface TextDecodeOptions {
  /** Leave out special tokens (BOS, EOS, <|im_end|>, ...); default false. */
  skipSpecial?: boolean;
  /** Clean up tokenization spaces (" ." -> ".", ...); default false. */
  cleanSpaces?: boolean;
}

/**
 * What models and training need of a tokenizer; both the GGUF Tokenizer and HFTokenizer have it.
 */
export interface TextTokenizer {
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  encode(text: string, opts?: TextEncodeOptions): number[];
  decode(ids: ArrayLike<number>, opts?: TextDecodeOptions): string;
  isSpecial(id: number): boolean;
  isEog(id: number): boolean;
  tokenId(text: string): number | undefined;
  tokenToPiece(id: number, opts?: TextDecodeOptions): string;
  /** A decoder for ids arriving one at a time: push(id) returns the new text (whole characters only). */
  decoder(opts?: TextDecodeOptions): { push(id: number): string; flush(): string };
}

interface AddedTokenJSON {
  id: number;
  content: string;
  special?: boolean;
  [k: string]: unknown;
}

/** tokenizer_config.json's token fields: a string, or an AddedToken object ({content: ...}), or null. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

export class HFTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly unk: number | undefined;
  readonly pad: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** The chat template of tokenizer_config.json (the default one where several are named). */
  readonly chatTemplate: string | undefined;
  /** Token ids that end generation (EOS and the usual end-of-turn texts present). */
  readonly eog: ReadonlySet<number>;

  private readonly json: Record<string, unknown>;
  private readonly config: Record<string, unknown>;
  /** All added tokens are matched in the text (HF's own behaviour: parseSpecial). */
  private readonly hf: HFLibTokenizer;
  /** Only non-special added tokens are matched (transformers' split_special_tokens); built when first needed. */
  private hfPlain: HFLibTokenizer | undefined;
  private readonly specialIds = new Set<number>();
  /** What addSpecial puts before and after the text: from tokenizer_config.json's add_bos_token/add_eos_token, else what the post-processor adds. */
  private readonly prefix: number[];
  private readonly suffix: number[];

  /**
   * @param tokenizerJson the parsed tokenizer.json
   * @param config the parsed tokenizer_config.json (optional)
   */
  constructor(tokenizerJson: unknown, config: unknown = {}) {
    if (!tokenizerJson || typeof tokenizerJson !== 'object' || Array.isArray(tokenizerJson)) {
      throw new FormatError('tokenizer.json: not a JSON object');
    }
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      throw new FormatError('tokenizer_config.json: not a JSON object');
    }
    const json = { ...(tokenizerJson as Record<string, unknown>) };
    const model = json.model as Record<string, unknown> | undefined;
    if (!model || typeof model !== 'object') throw new FormatError('tokenizer.json: "model" is missing');
    if (model.type !== undefined && !['BPE', 'WordPiece', 'Unigram'].includes(model.type as string)) {
      throw new FormatError(`tokenizer.json: model type ${JSON.stringify(model.type)} is not supported (BPE, WordPiece, Unigram)`);
    }
    const added = json.added_tokens ?? [];
    if (!Array.isArray(added) || added.some((t) => !t || typeof t !== 'object' || typeof t.content !== 'string' || !Number.isInteger(t.id) || t.id < 0)) {
      throw new FormatError('tokenizer.json: "added_tokens" is not an array of {id, content} objects');
    }
    json.added_tokens = added;
    for (const k of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) if (json[k] === undefined) json[k] = null;
    this.json = json;
    this.config = config as Record<string, unknown>;
    try {
      this.hf = new HFLibTokenizer(json, this.config);
    } catch (e) {
      throw new FormatError(`tokenizer.json: ${(e as Error).message}`);
    }
    let size = 0;
    for (const id of this.hf.get_vocab(true).values()) size = Math.max(size, id + 1);
    for (const t of added as AddedTokenJSON[]) {
      size = Math.max(size, t.id + 1);
      if (t.special) this.specialIds.add(t.id);
    }
    if (size === 0) throw new FormatError('tokenizer.json: the vocabulary is empty');
    this.vocabSize = size;
    const idOf = (v: unknown) => {
      const s = tokenContent(v);
      return s === undefined ? undefined : this.hf.token_to_id(s);
    };
    const cfg = this.config;
    this.bos = idOf(cfg.bos_token);
    this.eos = idOf(cfg.eos_token);
    this.unk = idOf(cfg.unk_token) ?? idOf(model.unk_token);
    this.pad = idOf(cfg.pad_token);
    for (const id of [this.bos, this.eos, this.unk, this.pad]) if (id !== undefined) this.specialIds.add(id);
    if (typeof cfg.add_bos_token === 'boolean' || typeof cfg.add_eos_token === 'boolean') {
      // transformers' Llama/Gemma tokenizers rebuild the post-processor from these flags
      this.addBos = cfg.add_bos_token === true && this.bos !== undefined;
      this.addEos = cfg.add_eos_token === true && this.eos !== undefined;
      this.prefix = this.addBos ? [this.bos!] : [];
      this.suffix = this.addEos ? [this.eos!] : [];
    } else {
      // what the post-processor adds around a text
      let plain: number[];
      let full: number[];
      try {
        plain = this.hf.encode('a', { add_special_tokens: false }).ids;
        full = this.hf.encode('a', { add_special_tokens: true }).ids;
      } catch (e) {
        throw new FormatError(`tokenizer.json: ${(e as Error).message}`);
      }
      const at = indexOfRun(full, plain);
      this.prefix = at >= 0 ? full.slice(0, at) : [];
      this.suffix = at >= 0 ? full.slice(at + plain.length) : [];
      if ([...this.prefix, ...this.suffix].some((id) => id === undefined)) {
        throw new FormatError('tokenizer.json: the post-processor adds a token that is not in the vocabulary');
      }
      this.addBos = this.bos !== undefined && this.prefix.includes(this.bos);
      this.addEos = this.eos !== undefined && this.suffix.includes(this.eos);
    }
    const tmpl = cfg.chat_template;
    if (typeof tmpl === 'string') this.chatTemplate = tmpl;
    else if (Array.isArray(tmpl)) {
      const named = tmpl as { name?: string; template?: string }[];
      this.chatTemplate = (named.find((t) => t.name === 'default') ?? named[0])?.template;
    } else if (tmpl && typeof tmpl === 'object') {
      const named = tmpl as Record<string, string>;
      this.chatTemplate = named.default ?? Object.values(named)[0];
    }
    const eog = new Set<number>();
    if (this.eos !== undefined) eog.add(this.eos);
    for (const t of EOG_TEXTS) {
      const id = this.hf.token_to_id(t);
      if (id !== undefined && this.specialIds.has(id)) eog.add(id);
    }
    this.eog = eog;
  }

  /** From the text of tokenizer.json (and of tokenizer_config.json); `names` label errors. */
  static fromJSONText(tokenizerJson: string, configJson?: string, names = { tokenizer: 'tokenizer.json', config: 'tokenizer_config.json' }): HFTokenizer {
    const parse = (text: string, name: string) => {
      try {
        return JSON.parse(text) as unknown;
      } catch (e) {
        throw new FormatError(`${name}: invalid JSON (${(e as Error).message})`);
      }
    };
    const tj = parse(tokenizerJson, names.tokenizer);
    const cj = configJson === undefined ? {} : parse(configJson, names.config);
    try {
      return new HFTokenizer(tj, cj);
    } catch (e) {
      if (e instanceof FormatError) {
        throw new FormatError(e.message.replace(/^tokenizer\.json:/, `${names.tokenizer}:`).replace(/^tokenizer_config\.json:/, `${names.config}:`));
      }
      throw e;
    }
  }

  /** The underlying @huggingface/tokenizers object. */
  get inner(): HFLibTokenizer {
    return this.hf;
  }

  encode(text: string, opts: TextEncodeOptions = {}): number[] {
    const tok = opts.parseSpecial ? this.hf : this.plain();
    const ids = text.length > 0 ? tok.encode(text, { add_special_tokens: false }).ids : [];
    return opts.addSpecial ? [...this.prefix, ...ids, ...this.suffix] : ids;
  }

  decode(ids: ArrayLike<number>, opts: TextDecodeOptions = {}): string {
    const list: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      this.checkId(id);
      if (opts.skipSpecial && this.specialIds.has(id)) continue;
      list.push(id);
    }
    if (list.length === 0) return '';
    return this.hf.decode(list, { skip_special_tokens: false, clean_up_tokenization_spaces: opts.cleanSpaces ?? false });
  }

  /**
   * A decoder for ids that arrive one at a time (generation): push(id) returns the text that id
   * adds, holding back a trailing incomplete character (U+FFFD while its bytes are still coming);
   * flush() returns what is held. The text is the decode of the ids so far, so decoder-level
   * rules (SentencePiece's leading space, byte fallback) apply as in decode().
   */
  decoder(opts: TextDecodeOptions = {}): { push(id: number): string; flush(): string } {
    const ids: number[] = [];
    let emitted = 0; // characters of the decoded text already returned
    let text = '';
    return {
      push: (id: number) => {
        ids.push(id);
        text = this.decode(ids, opts);
        let end = text.length;
        while (end > emitted && text.charCodeAt(end - 1) === 0xfffd) end--;
        const out = text.slice(emitted, end);
        emitted = end;
        return out;
      },
      flush: () => {
        const out = text.slice(emitted);
        emitted = text.length;
        return out;
      },
    };
  }

  /** The text of one token (an incomplete UTF-8 sequence shows as U+FFFD). */
  tokenToPiece(id: number, opts: TextDecodeOptions = {}): string {
    return this.decode([id], opts);
  }

  /** Whether `id` is a special added token (or BOS/EOS/UNK/PAD): what skipSpecial leaves out. */
  isSpecial(id: number): boolean {
    this.checkId(id);
    return this.specialIds.has(id);
  }

  isEog(id: number): boolean {
    return this.eog.has(id);
  }

  /** The id of the vocabulary entry or added token spelled exactly `text` (tokenizer.json spelling). */
  tokenId(text: string): number | undefined {
    return this.hf.token_to_id(text);
  }

  /** The raw vocabulary entry of `id` (tokenizer.json spelling, e.g. "Ġthe"). */
  tokenText(id: number): string {
    this.checkId(id);
    return this.hf.id_to_token(id) ?? '';
  }

  private plain(): HFLibTokenizer {
    if (!this.hfPlain) {
      const added = this.json.added_tokens as AddedTokenJSON[];
      // special added tokens are not matched in the text (decode uses this.hf, which knows them)
      this.hfPlain = added.some((t) => t.special)
        ? new HFLibTokenizer({ ...this.json, added_tokens: added.filter((t) => !t.special) }, this.config)
        : this.hf;
    }
    return this.hfPlain;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new ValueError(`tokenizer: token id ${id} is outside the vocabulary (${this.vocabSize} tokens)`);
    }
  }
}

function indexOfRun(hay: number[], needle: number[]): number {
  for (let i = 0; i + needle.length <= hay.length; i++) {
    let ok = true;
    for (let j = 0; j < needle.length && ok; j++) ok = hay[i + j] === needle[j];
    if (ok) return i;
  }
  return -1;
}

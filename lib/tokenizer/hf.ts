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
    if (!model || typeof model !== 'object' || Array.isArray(model)) throw new FormatError('tokenizer.json: "model" is missing');
    json.model = checkModel(model);
    json.added_tokens = checkAddedTokens(json.added_tokens ?? []);
    for (const k of ['normalizer', 'pre_tokenizer', 'decoder']) checkPatterns(json[k], k);
    const added = json.added_tokens as AddedTokenJSON[];
    for (const k of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) if (json[k] === undefined) json[k] = null;
    this.json = json;
    this.config = config as Record<string, unknown>;
    try {
      this.hf = new HFLibTokenizer(json, this.config);
    } catch (e) {
      throw new FormatError(`tokenizer.json: ${(e as Error).message}`);
    }
    // from the checked model, not the library's get_vocab(), which walks every id up to the largest
    const m = json.model as { vocab: unknown };
    let size = 0;
    if (Array.isArray(m.vocab)) size = m.vocab.length;
    else for (const id of Object.values(m.vocab as Record<string, number>)) size = Math.max(size, id + 1);
    for (const t of added as AddedTokenJSON[]) {
      size = Math.max(size, t.id + 1);
      if (t.special) this.specialIds.add(t.id);
    }
    if (size === 0) throw new FormatError('tokenizer.json: the vocabulary is empty');
    this.vocabSize = size;
    // BPE's unknown token stands in for text the vocabulary lacks: without an id it encodes as undefined
    if (typeof model.unk_token === 'string' && this.hf.token_to_id(model.unk_token) === undefined)
      throw new FormatError(`tokenizer.json: model.unk_token ${shown(model.unk_token)} is not in the vocabulary`);
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
      if ([...this.prefix, ...this.suffix].some((id) => !Number.isInteger(id) || id < 0 || id >= size)) {
        throw new FormatError('tokenizer.json: the post-processor adds a token that is not in the vocabulary');
      }
      this.addBos = this.bos !== undefined && this.prefix.includes(this.bos);
      this.addEos = this.eos !== undefined && this.suffix.includes(this.eos);
    }
    // a pre-tokenizer, normalizer or decoder the library cannot run fails here rather than at first use
    // (parseSpecial: the tokenizer built already; the one without special tokens is built when first needed)
    this.decode(this.encode('Hello world 1\n', { parseSpecial: true }));
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
    let ids: number[] = [];
    if (text.length > 0) {
      try {
        ids = tok.encode(text, { add_special_tokens: false }).ids;
      } catch (e) {
        // the library fails only on what the file configures (a pre-tokenizer, a normalizer)
        throw new FormatError(`tokenizer.json: encoding failed: ${(e as Error).message}`);
      }
      // what the load-time checks cannot see (a character no entry covers, with no unknown token)
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        if (!Number.isInteger(id) || id! < 0 || id! >= this.vocabSize)
          throw new FormatError(`tokenizer.json: encoding gave no valid id (${String(id)}) at token ${i}: the vocabulary covers the text only through an unknown token the model does not define`);
      }
    }
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
    try {
      return this.hf.decode(list, { skip_special_tokens: false, clean_up_tokenization_spaces: opts.cleanSpaces ?? false });
    } catch (e) {
      // the library fails only on what the file configures (a decoder)
      throw new FormatError(`tokenizer.json: decoding failed: ${(e as Error).message}`);
    }
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
      try {
        this.hfPlain = added.some((t) => t.special)
          ? new HFLibTokenizer({ ...this.json, added_tokens: added.filter((t) => !t.special) }, this.config)
          : this.hf;
      } catch (e) {
        throw new FormatError(`tokenizer.json: ${(e as Error).message}`);
      }
    }
    return this.hfPlain;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new ValueError(`tokenizer: token id ${id} is outside the vocabulary (${this.vocabSize} tokens)`);
    }
  }
}

/** Ids are int32 in the model and in GGUF files. */
const MAX_ID = 2 ** 31;
const kind = (v: unknown) => (v === undefined ? 'nothing' : v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);
const shown = (v: unknown) => (typeof v === 'number' || typeof v === 'boolean' || v === null ? String(v) : typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v) : kind(v));
function checkId(v: unknown, where: string, limit = MAX_ID, what = 'an integer id'): number {
  if (typeof v !== 'number') throw new FormatError(`tokenizer.json: ${where} must be ${what} in [0, ${limit === MAX_ID ? '2^31' : limit}), got ${kind(v)}`);
  if (!Number.isInteger(v) || v < 0 || v >= limit) throw new FormatError(`tokenizer.json: ${where} must be ${what} in [0, ${limit === MAX_ID ? '2^31' : limit}), got ${v}`);
  return v;
}
const nullableString = (v: unknown, where: string) => {
  if (v !== undefined && v !== null && typeof v !== 'string') throw new FormatError(`tokenizer.json: ${where} must be a string or null, got ${kind(v)}`);
};

/**
 * tokenizer.json's "model", checked so that every id encode can give is an integer in range
 * (the library would return undefined ids for a bad entry); returns it with its type made
 * explicit. BPE: vocab {token: id}, merges all "a b" or all ["a", "b"], unk_token in the vocab.
 * Unigram: vocab [[piece, score], ...] and unk_id. Other models (WordPiece, WordLevel) are not
 * decoder-LLM tokenizers and are refused.
 */
function checkModel(model: Record<string, unknown>): Record<string, unknown> {
  let type = model.type;
  if (type === undefined || type === null) {
    // the library's own inference for files without a type
    if (Array.isArray(model.vocab)) type = 'Unigram';
    else if (model.vocab && typeof model.vocab === 'object' && 'merges' in model) type = 'BPE';
    else throw new FormatError('tokenizer.json: model.type is missing and the model is neither BPE (vocab and merges) nor Unigram (a vocab list)');
  }
  if (type !== 'BPE' && type !== 'Unigram') throw new FormatError(`tokenizer.json: model.type ${shown(type)} is not supported (BPE, Unigram)`);
  const vocab = model.vocab;
  if (type === 'Unigram') {
    if (!Array.isArray(vocab)) throw new FormatError(`tokenizer.json: model.vocab (Unigram) must be a list of [piece, score], got ${kind(vocab)}`);
    if (vocab.length === 0) throw new FormatError('tokenizer.json: the vocabulary is empty');
    if (vocab.length > MAX_ID) throw new FormatError(`tokenizer.json: model.vocab has ${vocab.length} entries, more than 2^31`);
    for (let i = 0; i < vocab.length; i++) {
      const e = vocab[i] as unknown;
      if (!Array.isArray(e) || e.length !== 2) throw new FormatError(`tokenizer.json: model.vocab[${i}] must be [piece, score], got ${Array.isArray(e) ? `${e.length} items` : kind(e)}`);
      if (typeof e[0] !== 'string') throw new FormatError(`tokenizer.json: model.vocab[${i}][0] (Unigram piece) must be a string, got ${kind(e[0])}`);
      if (typeof e[1] !== 'number' || !Number.isFinite(e[1])) throw new FormatError(`tokenizer.json: model.vocab[${i}][1] (Unigram score) must be a number, got ${typeof e[1] === 'number' ? e[1] : kind(e[1])}`);
    }
    checkId(model.unk_id, 'model.unk_id (the Unigram unknown token)', vocab.length, 'an index of model.vocab');
    return { ...model, type };
  }
  if (!vocab || typeof vocab !== 'object' || Array.isArray(vocab)) throw new FormatError(`tokenizer.json: model.vocab (BPE) must be an object {token: id}, got ${kind(vocab)}`);
  let n = 0;
  for (const [k, v] of Object.entries(vocab)) {
    checkId(v, `model.vocab[${JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}...` : k)}]`);
    n++;
  }
  if (n === 0) throw new FormatError('tokenizer.json: the vocabulary is empty');
  const merges = model.merges;
  if (!Array.isArray(merges)) throw new FormatError(`tokenizer.json: model.merges (BPE) must be a list, got ${kind(merges)}`);
  // the library reads every merge in the form of the first one
  const pairs = merges.length > 0 && Array.isArray(merges[0]);
  for (let i = 0; i < merges.length; i++) {
    const m = merges[i] as unknown;
    const parts = pairs ? m : typeof m === 'string' ? m.split(' ') : undefined;
    const form = pairs ? '["a", "b"] (as merges[0] is)' : '"a b" (as merges[0] is)';
    if (!Array.isArray(parts) || parts.length !== 2 || parts.some((x) => typeof x !== 'string' || x.length === 0))
      throw new FormatError(`tokenizer.json: model.merges[${i}] must be 2 tokens, ${form}, got ${Array.isArray(m) ? `[${m.map(shown).join(', ')}]` : shown(m)}`);
  }
  nullableString(model.unk_token, 'model.unk_token');
  for (const k of ['continuing_subword_prefix', 'end_of_word_suffix']) nullableString(model[k], `model.${k}`);
  return { ...model, type };
}

/**
 * Every "pattern" of the normalizer, pre-tokenizer and decoder trees is {"String": s} or
 * {"Regex": r} (the library warns about any other and goes on without it).
 */
function checkPatterns(v: unknown, where: string): void {
  if (Array.isArray(v)) return v.forEach((x, i) => checkPatterns(x, `${where}[${i}]`));
  if (!v || typeof v !== 'object') return;
  const o = v as Record<string, unknown>;
  if ((o.type === 'Replace' || o.type === 'Split') && !('pattern' in o)) throw new FormatError(`tokenizer.json: ${where} (${o.type}) has no "pattern"`);
  for (const [k, x] of Object.entries(o)) {
    if (k === 'pattern') {
      const p = x as Record<string, unknown> | null;
      const ok = p !== null && typeof p === 'object' && !Array.isArray(p) && (typeof p.String === 'string' || typeof p.Regex === 'string');
      if (!ok) throw new FormatError(`tokenizer.json: ${where}.pattern must be {"String": text} or {"Regex": pattern}, got ${Array.isArray(x) ? 'an array' : kind(x)}`);
    } else checkPatterns(x, `${where}.${k}`);
  }
}

/** tokenizer.json's "added_tokens": {id, content, special?} objects with ids in [0, 2^31). */
function checkAddedTokens(added: unknown): AddedTokenJSON[] {
  if (!Array.isArray(added)) throw new FormatError(`tokenizer.json: "added_tokens" must be a list of {id, content} objects, got ${kind(added)}`);
  added.forEach((t: unknown, i) => {
    if (!t || typeof t !== 'object' || Array.isArray(t)) throw new FormatError(`tokenizer.json: added_tokens[${i}] must be an {id, content} object, got ${kind(t)}`);
    const o = t as Record<string, unknown>;
    checkId(o.id, `added_tokens[${i}].id`);
    if (typeof o.content !== 'string' || o.content.length === 0) throw new FormatError(`tokenizer.json: added_tokens[${i}].content must be a non-empty string, got ${typeof o.content === 'string' ? 'an empty one' : kind(o.content)}`);
    for (const k of ['special', 'single_word', 'lstrip', 'rstrip', 'normalized']) {
      if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new FormatError(`tokenizer.json: added_tokens[${i}].${k} must be true or false, got ${kind(o[k])}`);
    }
  });
  return added as AddedTokenJSON[];
}

function indexOfRun(hay: number[], needle: number[]): number {
  for (let i = 0; i + needle.length <= hay.length; i++) {
    let ok = true;
    for (let j = 0; j < needle.length && ok; j++) ok = hay[i + j] === needle[j];
    if (ok) return i;
  }
  return -1;
}

// Fine-tuning datasets read from files: plain text, JSONL {"text"}, JSONL {"prompt",
// "completion"} and JSONL chat {"messages"}, turned into token samples with target masks. Every
// unusable line is an error naming the file and line, or, with skipBadLines, left out and listed.
import { type FileHandle, open } from 'node:fs/promises';
import { extname } from 'node:path';
import { EdgeTrainError, ValueError } from '../errors.js';
import { type ChatMessage, ChatTemplate } from '../tokenizer/chat.js';
import { type BadLine, DataError, type JsonlRecord, Utf8Validator, invalidUtf8At, parseJsonlLine } from './jsonl.js';
import { PIECE, pieceEnd, pieces } from './pieces.js';
import { type ChatSampleOptions, type DataTokenizer, type Sample, chatSample, completionSample, countTargets } from './sample.js';
import { TokenWindows } from './windows.js';

export { type BadLine, DataError, type JsonlRecord, parseJsonl, parseJsonlLine, invalidUtf8At } from './jsonl.js';
export { pieceEnd } from './pieces.js';
export { type ChatSampleOptions, type DataTokenizer, type Sample, chatSample, chunkSample, completionSample, countTargets, textSample } from './sample.js';
export { IGNORE_INDEX, type PackOptions, type Row, packSamples, toInputsLabels } from './pack.js';
export { type Batch, type BatchOptions, type DataPosition, type IterateBatchesOptions, batchAt, collate, epochBatches, epochOrder, iterateBatches, splitValidation } from './batch.js';

/**
 * 'text': documents to learn whole (a plain text file is one document; in JSONL, each line's
 * "text"), split into windows when longer than the context. 'completion': {"prompt",
 * "completion"} lines, loss on the completion. 'chat': {"messages": [{"role", "content"}...]}
 * lines, loss on the assistant turns.
 */
export type DatasetFormat = 'text' | 'completion' | 'chat';

export interface LoadDatasetOptions {
  tokenizer: DataTokenizer;
  /** Tokens the model reads per row; a sample holds at most seqLen + 1 tokens (inputs plus the shifted last label). */
  seqLen: number;
  /**
   * Default: `.jsonl` / `.json` files are JSON Lines whose format the keys of the first valid
   * line tell ("messages", then "prompt"/"completion", then "text"); other files are plain
   * text. 'completion' and 'chat' read any file as JSON Lines; 'text' reads a `.jsonl`/`.json`
   * file's "text" fields and any other file whole.
   */
  format?: DatasetFormat;
  /** The chat template (source or compiled); default: the one the tokenizer carries (tokenizer_config.json or GGUF). */
  chatTemplate?: ChatTemplate | string;
  /** bos_token / eos_token / extra variables for the template; default: the tokenizer's BOS and EOS texts. */
  chatOptions?: { bosToken?: string; eosToken?: string; extra?: Record<string, unknown> };
  /** Chat: train on the assistant turns only (default true), else on every token. */
  assistantOnly?: boolean;
  /** The token after each completion (default: the tokenizer's EOS). */
  eosId?: number;
  /**
   * Leave out unusable JSON Lines lines (invalid JSON or UTF-8, a wrong shape, too long) and list
   * them in `skipped` instead of throwing (default false). Invalid UTF-8 in a plain-text file is
   * always an error: the document would lose text mid-sentence.
   */
  skipBadLines?: boolean;
}

export interface Dataset {
  file: string;
  format: DatasetFormat;
  /**
   * In file order; a text document longer than seqLen + 1 gives several consecutive windows.
   * Text windows are views of shared storage (a window's first id is the previous one's last,
   * and their masks are one array): read them, do not write them.
   */
  samples: Sample[];
  /** Lines left out with skipBadLines (empty otherwise). */
  skipped: BadLine[];
  /** Tokens over all samples, and how many of them are targets. */
  tokens: number;
  targets: number;
}

/**
 * Reads a dataset file; see LoadDatasetOptions for the formats. The file is streamed: read in
 * chunks, plain text tokenized in pieces of about a MiB (see pieceEnd), JSON Lines one line at a
 * time, so neither the whole text nor a whole line list is held; the event loop gets a turn
 * after each piece. Invalid UTF-8 is a DataError naming the byte offset (in JSON Lines, the
 * line's; skipBadLines leaves such a line out).
 */
export async function loadDataset(path: string, opts: LoadDatasetOptions): Promise<Dataset> {
  const b = new Builder(path, opts);
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new ValueError(`loadDataset: cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    if (b.jsonl) await streamJsonl(fh, b);
    else await streamText(fh, b);
  } finally {
    await fh.close();
  }
  return b.finish();
}

/** Bytes read from the file per call. */
const READ_CHUNK = 1 << 20;

const tick = () => new Promise<void>((r) => setImmediate(r));

/** The file's bytes in chunks of READ_CHUNK; each is valid only until the next is read (one buffer is reused). */
async function* chunks(fh: FileHandle, path: string): AsyncGenerator<Uint8Array> {
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  for (;;) {
    let n: number;
    try {
      ({ bytesRead: n } = await fh.read(buf, 0, READ_CHUNK, null));
    } catch (e) {
      throw new ValueError(`loadDataset: cannot read ${path}: ${(e as Error).message}`);
    }
    if (n === 0) return;
    yield buf.subarray(0, n);
  }
}

/** How many \n bytes `bytes[from, to)` holds. */
function countNewlines(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let k = 0;
  for (let i = bytes.indexOf(10, from); i >= 0 && i < to; i = bytes.indexOf(10, i + 1)) k++;
  return k;
}

async function streamText(fh: FileHandle, b: Builder): Promise<void> {
  const v = new Utf8Validator();
  const dec = new TextDecoder('utf-8', { fatal: true });
  const doc = b.textDoc(0);
  let offset = 0; // bytes before the chunk
  let newlines = 0; // \n bytes before the chunk
  let text = ''; // decoded, not yet tokenized
  let any = false; // a character that is not white space seen
  const badAt = (at: number, chunk: Uint8Array): never => {
    const line = 1 + newlines + (at > offset ? countNewlines(chunk, 0, at - offset) : 0);
    throw new DataError(b.file, line, `invalid UTF-8 at byte ${at}`);
  };
  for await (const chunk of chunks(fh, b.file)) {
    const at = v.push(chunk);
    if (at >= 0) badAt(at, chunk);
    const s = dec.decode(chunk, { stream: true });
    offset += chunk.length;
    newlines += countNewlines(chunk);
    if (!any && /\S/.test(s)) any = true;
    text += s;
    while (text.length > PIECE + 1) {
      const end = pieceEnd(text, PIECE);
      doc.encode(text.slice(0, end));
      text = text.slice(end);
      await tick();
    }
  }
  if (v.end() >= 0) badAt(v.end(), new Uint8Array(0));
  text += dec.decode();
  if (!any) throw new DataError(b.file, 0, 'the file holds no text');
  if (text.length > 0) doc.encode(text);
  b.endTextDoc(doc);
}

async function streamJsonl(fh: FileHandle, b: Builder): Promise<void> {
  const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let line = 0;
  let offset = 0; // file offset of the line being read
  let parts: Uint8Array[] = []; // its bytes so far, from earlier chunks
  let sinceTick = 0;
  const take = function* (bytes: Uint8Array): Generator<void> {
    line++;
    const at = offset;
    offset += bytes.length + 1;
    sinceTick += bytes.length + 1;
    let s: string;
    try {
      s = dec.decode(bytes);
    } catch {
      const k = invalidUtf8At(bytes);
      b.bad(line, `invalid UTF-8 at byte ${k} of the line (byte ${at + k} of the file)`);
      return;
    }
    yield* b.jsonlLine(line, s);
  };
  const run = async (g: Generator<void>) => {
    for (const _ of g) {
      sinceTick = 0;
      await tick();
    }
    if (sinceTick >= PIECE) {
      sinceTick = 0;
      await tick();
    }
  };
  for await (const chunk of chunks(fh, b.file)) {
    let from = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, from)) {
      const piece = chunk.subarray(from, nl);
      from = nl + 1;
      if (parts.length === 0) await run(take(piece));
      else {
        parts.push(piece);
        const whole = Buffer.concat(parts);
        parts = [];
        await run(take(whole));
      }
    }
    // the rest belongs to a line that goes on in the next chunk (a copy: the read buffer is reused;
    // Buffer's slice() would be a view)
    if (from < chunk.length) parts.push(Uint8Array.prototype.slice.call(chunk, from));
  }
  if (parts.length > 0) await run(take(Buffer.concat(parts)));
}

/** A text document being tokenized piece by piece (see Builder.textDoc). */
interface TextDoc {
  encode(piece: string): void;
}

/** Samples and skipped lines of one dataset file as its lines or text pieces come in. */
class Builder {
  readonly jsonl: boolean;
  readonly samples: Sample[] = [];
  readonly skipped: BadLine[] = [];
  private tokens = 0;
  private targets = 0;
  private format: DatasetFormat | undefined;
  private detectedAt = 0;
  private records = 0; // lines that held JSON
  private template: ChatTemplate | undefined;
  private readonly chatOpts: ChatSampleOptions;
  private windows: TokenWindows | undefined;
  private line = 0; // of the text document being tokenized

  constructor(
    readonly file: string,
    private readonly opts: LoadDatasetOptions,
  ) {
    const { tokenizer: tok, seqLen } = opts;
    if (!Number.isInteger(seqLen) || seqLen < 1) throw new ValueError(`loadDataset: seqLen must be a positive integer, got ${seqLen}`);
    if (opts.format !== undefined && !['text', 'completion', 'chat'].includes(opts.format))
      throw new ValueError(`loadDataset: format must be 'text', 'completion' or 'chat', got ${JSON.stringify(opts.format)}`);
    const ext = extname(file).toLowerCase();
    this.jsonl = opts.format === 'completion' || opts.format === 'chat' || ext === '.jsonl' || ext === '.json';
    this.format = this.jsonl ? opts.format : 'text';
    this.chatOpts = {
      bosToken: opts.chatOptions?.bosToken ?? (tok.bos !== undefined ? tok.tokenToPiece(tok.bos) : undefined),
      eosToken: opts.chatOptions?.eosToken ?? (tok.eos !== undefined ? tok.tokenToPiece(tok.eos) : undefined),
      extra: opts.chatOptions?.extra,
      assistantOnly: opts.assistantOnly ?? true,
    };
    if (this.jsonl && this.format !== undefined) this.setup(this.format);
  }

  /** What a format needs beyond the data: checked once it is known, thrown as is. */
  private setup(fmt: DatasetFormat): void {
    if (fmt === 'completion' && (this.opts.eosId ?? this.opts.tokenizer.eos) === undefined)
      throw new ValueError('loadDataset: the tokenizer has no EOS token to end completions with; pass eosId');
    if (fmt === 'chat') this.template = chatTemplateOf(this.opts);
  }

  bad(line: number, reason: string): void {
    if (!this.opts.skipBadLines) throw new DataError(this.file, line, reason);
    this.skipped.push({ line, reason });
  }

  private add(s: Sample, targets: number): void {
    this.samples.push(s);
    this.tokens += s.ids.length;
    this.targets += targets;
  }

  /**
   * Starts a text document (BOS when the tokenizer's addBos is set); encode() its pieces in
   * order, then endTextDoc. Its windows are samples as textSample + chunkSample make them.
   */
  textDoc(line: number): TextDoc {
    const tok = this.opts.tokenizer;
    this.windows ??= new TokenWindows(this.opts.seqLen, (ids, mask) => this.add({ ids, mask, line: this.line }, ids.length - 1));
    const w = this.windows;
    this.line = line;
    w.begin();
    if (tok.addBos && tok.bos !== undefined) w.push([tok.bos]);
    let first = true;
    return {
      encode: (piece: string) => {
        // later pieces continue the text: no second SentencePiece space prefix
        w.push(tok.encode(piece, first ? { addSpecial: false } : { addSpecial: false, prefixSpace: false }));
        first = false;
      },
    };
  }

  /** Ends the document textDoc started (EOS when the tokenizer has one). */
  endTextDoc(_doc: TextDoc): void {
    const tok = this.opts.tokenizer;
    if (tok.eos !== undefined) this.windows!.push([tok.eos]);
    if (this.windows!.end() < 2) throw new ValueError('textSample: the text gives fewer than 2 tokens, nothing to train on');
  }

  /** A line of JSON Lines text (1-based `line`); yields between the pieces of a long "text". */
  *jsonlLine(line: number, s: string): Generator<void> {
    const r = parseJsonlLine(s, line === 1, this.records === 0);
    if (r === undefined) return;
    if ('reason' in r) return this.bad(line, r.reason);
    this.records++;
    yield* this.record({ line, value: r.value });
  }

  private *record(r: JsonlRecord): Generator<void> {
    if (this.format === undefined) {
      const f = detect(r.value);
      if (f === undefined) return this.bad(r.line, `cannot tell the dataset format: expected an object with ${KEYS}, got ${typeName(r.value)}${keysOf(r.value)}`);
      this.format = f;
      this.detectedAt = r.line;
      this.setup(f);
    }
    const fmt = this.format;
    const mark = [this.samples.length, this.tokens, this.targets] as const;
    try {
      const v = r.value;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadRecord(`expected a JSON object, got ${typeName(v)}`);
      const rec = v as Record<string, unknown>;
      if (fmt === 'text') {
        const t = field(rec, 'text');
        if (t.trim() === '') throw new BadRecord('"text" is empty');
        const doc = this.textDoc(r.line);
        let first = true;
        for (const p of pieces(t)) {
          if (!first) yield;
          first = false;
          doc.encode(p);
        }
        this.endTextDoc(doc);
        return;
      }
      const tok = this.opts.tokenizer;
      let s: Sample;
      if (fmt === 'completion') {
        const prompt = field(rec, 'prompt');
        s = completionSample(tok, prompt, field(rec, 'completion'), r.line, this.opts.eosId ?? tok.eos);
      } else {
        s = chatSample(this.template!, tok, messagesOf(rec), this.chatOpts, r.line);
      }
      const { seqLen } = this.opts;
      if (s.ids.length > seqLen + 1)
        throw new BadRecord(
          `the sample is ${s.ids.length} tokens, longer than seqLen + 1 = ${seqLen + 1} (${fmt} samples are not split: raise seqLen, shorten it, or pass skipBadLines)`,
        );
      this.add(s, countTargets(s));
    } catch (e) {
      // BadRecord: the line's shape; EdgeTrainError: what the sample builders and the chat template say of it
      if (!(e instanceof BadRecord || e instanceof EdgeTrainError)) throw e;
      [this.samples.length, this.tokens, this.targets] = mark;
      const hint = e instanceof BadRecord && this.detectedAt > 0 && this.detectedAt !== r.line ? ` (${fmt} data, as line ${this.detectedAt} showed)` : '';
      this.bad(r.line, e.message + hint);
    }
  }

  finish(): Dataset {
    const { skipped, samples } = this;
    skipped.sort((a, b) => a.line - b.line);
    if (this.jsonl && samples.length === 0) {
      const why = skipped.length > 0 ? `every line was unusable (${skipped.length} skipped; first: line ${skipped[0]!.line}: ${skipped[0]!.reason})` : 'the file holds no records';
      throw new DataError(this.file, 0, `no samples: ${why}`);
    }
    return { file: this.file, format: this.format!, samples, skipped, tokens: this.tokens, targets: this.targets };
  }
}


const KEYS = '"messages", "prompt" and "completion", or "text"';

function detect(v: unknown): DatasetFormat | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  if ('messages' in v) return 'chat';
  if ('prompt' in v || 'completion' in v) return 'completion';
  if ('text' in v) return 'text';
  return undefined;
}

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/** Thrown inside this module for a record that does not have the format's shape. */
class BadRecord extends Error {}

function field(rec: Record<string, unknown>, key: string): string {
  if (!(key in rec)) throw new BadRecord(`missing "${key}"`);
  const v = rec[key];
  if (typeof v !== 'string') throw new BadRecord(`"${key}" must be a string, got ${typeName(v)}`);
  return v;
}

function messagesOf(rec: Record<string, unknown>): ChatMessage[] {
  if (!('messages' in rec)) throw new BadRecord('missing "messages"');
  const ms = rec.messages;
  if (!Array.isArray(ms) || ms.length === 0) throw new BadRecord(`"messages" must be a non-empty array, got ${Array.isArray(ms) ? 'an empty array' : typeName(ms)}`);
  return ms.map((m: unknown, i) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new BadRecord(`messages[${i}] must be an object {"role", "content"}, got ${typeName(m)}`);
    const o = m as Record<string, unknown>;
    for (const k of ['role', 'content']) {
      if (!(k in o)) throw new BadRecord(`messages[${i}] has no "${k}"`);
      if (typeof o[k] !== 'string') throw new BadRecord(`messages[${i}].${k} must be a string, got ${typeName(o[k])}`);
    }
    return { ...o, role: o.role as string, content: o.content as string };
  });
}

function chatTemplateOf(opts: LoadDatasetOptions): ChatTemplate {
  const t = opts.chatTemplate ?? carriedTemplate(opts.tokenizer);
  if (t === undefined) throw new ValueError('loadDataset: chat data needs a chat template: pass chatTemplate, or a tokenizer that carries one');
  return typeof t === 'string' ? new ChatTemplate(t) : t;
}

/** HFTokenizer.chatTemplate, or the GGUF Tokenizer's vocab.chatTemplate. */
function carriedTemplate(tok: DataTokenizer): string | undefined {
  const t = tok as { chatTemplate?: unknown; vocab?: { chatTemplate?: unknown } };
  const s = t.chatTemplate ?? t.vocab?.chatTemplate;
  return typeof s === 'string' ? s : undefined;
}

/** loadDataset of text already read (tokenized in the same pieces); `file` names it in errors. */
export function parseDataset(text: string, file: string, opts: LoadDatasetOptions): Dataset {
  const b = new Builder(file, opts);
  if (!b.jsonl) {
    const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    if (body.trim() === '') throw new DataError(file, 0, 'the file holds no text');
    const doc = b.textDoc(0);
    for (const p of pieces(body)) doc.encode(p);
    b.endTextDoc(doc);
    return b.finish();
  }
  let from = 0;
  for (let line = 1; from <= text.length; line++) {
    let to = text.indexOf('\n', from);
    if (to < 0) to = text.length;
    for (const _ of b.jsonlLine(line, text.slice(from, to)));
    from = to + 1;
  }
  return b.finish();
}

function keysOf(v: unknown): string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return '';
  const ks = Object.keys(v);
  return ks.length > 0 ? ` with keys ${ks.map((k) => JSON.stringify(k)).join(', ')}` : ' with no keys';
}

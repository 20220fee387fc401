// Fine-tuning datasets read from files: plain text, JSONL {"text"}, JSONL {"prompt",
// "completion"} and JSONL chat {"messages"}, turned into token samples with target masks. Every
// unusable line is an error naming the file and line, or, with skipBadLines, left out and listed.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { EdgeTrainError, ValueError } from '../errors.js';
import { type ChatMessage, ChatTemplate } from '../tokenizer/chat.js';
import { type BadLine, DataError, type JsonlRecord, parseJsonl } from './jsonl.js';
import { type DataTokenizer, type Sample, chatSample, chunkSample, completionSample, countTargets, textSample } from './sample.js';

export { type BadLine, DataError, type JsonlRecord, parseJsonl } from './jsonl.js';
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
  /** Leave out unusable lines and list them in `skipped` instead of throwing (default false). */
  skipBadLines?: boolean;
}

export interface Dataset {
  file: string;
  format: DatasetFormat;
  /** In file order; a text document longer than seqLen + 1 gives several consecutive windows. */
  samples: Sample[];
  /** Lines left out with skipBadLines (empty otherwise). */
  skipped: BadLine[];
  /** Tokens over all samples, and how many of them are targets. */
  tokens: number;
  targets: number;
}

/** Reads a dataset file; see LoadDatasetOptions for the formats. */
export async function loadDataset(path: string, opts: LoadDatasetOptions): Promise<Dataset> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ValueError(`loadDataset: cannot read ${path}: ${(e as Error).message}`);
  }
  return parseDataset(text, path, opts);
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

/** loadDataset of text already read; `file` names it in errors. */
export function parseDataset(text: string, file: string, opts: LoadDatasetOptions): Dataset {
  const { tokenizer: tok, seqLen } = opts;
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new ValueError(`loadDataset: seqLen must be a positive integer, got ${seqLen}`);
  if (opts.format !== undefined && !['text', 'completion', 'chat'].includes(opts.format))
    throw new ValueError(`loadDataset: format must be 'text', 'completion' or 'chat', got ${JSON.stringify(opts.format)}`);
  const ext = extname(file).toLowerCase();
  const jsonl = opts.format === 'completion' || opts.format === 'chat' || ext === '.jsonl' || ext === '.json';
  const samples: Sample[] = [];
  const skipped: BadLine[] = [];
  const done = (format: DatasetFormat): Dataset => {
    let tokens = 0;
    let targets = 0;
    for (const s of samples) {
      tokens += s.ids.length;
      targets += countTargets(s);
    }
    return { file, format, samples, skipped, tokens, targets };
  };

  if (!jsonl) {
    const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    if (body.trim() === '') throw new DataError(file, 0, 'the file holds no text');
    samples.push(...chunkSample(textSample(tok, body, 0), seqLen));
    return done('text');
  }

  const onBad = opts.skipBadLines ? (b: BadLine) => skipped.push(b) : undefined;
  const records = parseJsonl(text, file, onBad);
  let format = opts.format;
  let detectedAt = 0;
  let template: ChatTemplate | undefined;
  const chatOpts = {
    bosToken: opts.chatOptions?.bosToken ?? (tok.bos !== undefined ? tok.tokenToPiece(tok.bos) : undefined),
    eosToken: opts.chatOptions?.eosToken ?? (tok.eos !== undefined ? tok.tokenToPiece(tok.eos) : undefined),
    extra: opts.chatOptions?.extra,
    assistantOnly: opts.assistantOnly ?? true,
  };
  // what a format needs beyond the data: checked once it is known, thrown as is
  const setup = (fmt: DatasetFormat) => {
    if (fmt === 'completion' && (opts.eosId ?? tok.eos) === undefined)
      throw new ValueError('loadDataset: the tokenizer has no EOS token to end completions with; pass eosId');
    if (fmt === 'chat') template = chatTemplateOf(opts);
  };
  if (format !== undefined) setup(format);
  const bad = (line: number, reason: string) => {
    if (!onBad) throw new DataError(file, line, reason);
    onBad({ line, reason });
  };

  const toSamples = (r: JsonlRecord, fmt: DatasetFormat): Sample[] => {
    const v = r.value;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadRecord(`expected a JSON object, got ${typeName(v)}`);
    const rec = v as Record<string, unknown>;
    if (fmt === 'text') {
      const t = field(rec, 'text');
      if (t.trim() === '') throw new BadRecord('"text" is empty');
      return chunkSample(textSample(tok, t, r.line), seqLen);
    }
    let s: Sample;
    if (fmt === 'completion') {
      const prompt = field(rec, 'prompt');
      s = completionSample(tok, prompt, field(rec, 'completion'), r.line, opts.eosId ?? tok.eos);
    } else {
      const messages = messagesOf(rec);
      s = chatSample(template!, tok, messages, chatOpts, r.line);
    }
    if (s.ids.length > seqLen + 1)
      throw new BadRecord(
        `the sample is ${s.ids.length} tokens, longer than seqLen + 1 = ${seqLen + 1} (${fmt} samples are not split: raise seqLen, shorten it, or pass skipBadLines)`,
      );
    return [s];
  };

  for (const r of records) {
    if (format === undefined) {
      format = detect(r.value);
      if (format === undefined) {
        bad(r.line, `cannot tell the dataset format: expected an object with ${KEYS}, got ${typeName(r.value)}${keysOf(r.value)}`);
        continue;
      }
      detectedAt = r.line;
      setup(format);
    }
    try {
      samples.push(...toSamples(r, format));
    } catch (e) {
      // BadRecord: the line's shape; EdgeTrainError: what the sample builders and the chat template say of it
      if (!(e instanceof BadRecord || e instanceof EdgeTrainError)) throw e;
      const hint = e instanceof BadRecord && detectedAt > 0 && detectedAt !== r.line ? ` (${format} data, as line ${detectedAt} showed)` : '';
      bad(r.line, e.message + hint);
    }
  }
  skipped.sort((a, b) => a.line - b.line);
  if (samples.length === 0) {
    const why = skipped.length > 0 ? `every line was unusable (${skipped.length} skipped; first: line ${skipped[0]!.line}: ${skipped[0]!.reason})` : 'the file holds no records';
    throw new DataError(file, 0, `no samples: ${why}`);
  }
  return done(format!);
}

function keysOf(v: unknown): string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return '';
  const ks = Object.keys(v);
  return ks.length > 0 ? ` with keys ${ks.map((k) => JSON.stringify(k)).join(', ')}` : ' with no keys';
}

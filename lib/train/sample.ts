// Token samples for causal-LM fine-tuning, and the masks that say which tokens are trained on.
import { ValueError } from '../errors.js';
import { type ChatMessage, type ChatTemplate, type ChatTemplateOptions, renderChatWithSpans } from '../tokenizer/chat.js';

/**
 * One training example as tokens.
 *
 * Convention (causal LM): the model reads ids[0..n-2] and at position t predicts ids[t+1];
 * that prediction counts in the loss iff mask[t+1] is 1. So mask[t] = 1 means "token t is a
 * target". mask[0] is always 0: a sample's first token has nothing before it in the sample, and
 * packed samples never learn to predict across their boundary.
 */
export interface Sample {
  ids: Int32Array;
  /** Same length as ids: 1 where the token is a target. */
  mask: Uint8Array;
  /** 1-based line of the dataset file it came from; 0 for a plain text file (the whole file). */
  line: number;
}

/**
 * What building samples needs of a tokenizer (the GGUF Tokenizer and HFTokenizer both have it).
 * `prefixSpace: false` is passed where text continues earlier text (SentencePiece vocabularies).
 */
export interface DataTokenizer {
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly addBos: boolean;
  encode(text: string, opts?: { addSpecial?: boolean; parseSpecial?: boolean; prefixSpace?: boolean }): number[];
  isSpecial(id: number): boolean;
  tokenToPiece(id: number): string;
}

/** Appends `src` to `dst` one by one: a spread into push() overflows the stack past ~100k ids. */
function pushAll(dst: number[], src: ArrayLike<number>): void {
  for (let i = 0; i < src.length; i++) dst.push(src[i]!);
}

function make(ids: readonly number[], mask: Uint8Array, line: number): Sample {
  mask[0] = 0;
  return { ids: Int32Array.from(ids), mask, line };
}

/**
 * A text document: BOS (when the tokenizer's addBos is set), the text, EOS (when the tokenizer
 * has one); every token but the first is a target. Not split here: see chunkSample.
 */
export function textSample(tok: DataTokenizer, text: string, line = 0): Sample {
  const ids: number[] = [];
  if (tok.addBos && tok.bos !== undefined) ids.push(tok.bos);
  pushAll(ids, tok.encode(text, { addSpecial: false }));
  if (tok.eos !== undefined) ids.push(tok.eos);
  if (ids.length < 2) throw new ValueError('textSample: the text gives fewer than 2 tokens, nothing to train on');
  return make(ids, new Uint8Array(ids.length).fill(1), line);
}

/**
 * A prompt/completion pair: BOS (when addBos), the prompt, the completion, then `eos`; the
 * completion and the EOS are targets, the prompt is not. Prompt and completion are tokenized
 * apart, so the prompt's tokens are those the model sees at inference and the targets are the
 * tokens it must produce after them.
 */
export function completionSample(tok: DataTokenizer, prompt: string, completion: string, line = 0, eos = tok.eos): Sample {
  if (eos === undefined) throw new ValueError('completionSample: the tokenizer has no EOS token; pass eosId');
  const ids: number[] = [];
  if (tok.addBos && tok.bos !== undefined) ids.push(tok.bos);
  pushAll(ids, tok.encode(prompt, { addSpecial: false }));
  const start = ids.length;
  pushAll(ids, tok.encode(completion, { addSpecial: false, prefixSpace: start === 0 }));
  ids.push(eos);
  const mask = new Uint8Array(ids.length);
  mask.fill(1, start);
  return make(ids, mask, line);
}

export interface ChatSampleOptions extends Omit<ChatTemplateOptions, 'addGenerationPrompt'> {
  /** Train on the assistant turns only (default true), else on every token. */
  assistantOnly?: boolean;
}

/**
 * A conversation rendered with the model's chat template (which places BOS itself where the
 * model expects it, as transformers' apply_chat_template does). The targets are the tokens
 * renderChatWithSpans puts in assistant spans: each reply and the turn close the template
 * writes after it; with assistantOnly false, every token.
 */
export function chatSample(template: ChatTemplate, tok: DataTokenizer, messages: readonly ChatMessage[], opts: ChatSampleOptions = {}, line = 0): Sample {
  const { assistantOnly = true, ...render } = opts;
  const r = renderChatWithSpans(template, tok, messages, render);
  if (assistantOnly && !r.assistantMask.includes(1)) throw new ValueError('chatSample: no assistant message to train on (assistantOnly)');
  const mask = assistantOnly ? Uint8Array.from(r.assistantMask) : new Uint8Array(r.ids.length).fill(1);
  return make(r.ids, mask, line);
}

/**
 * Splits a sample longer than seqLen + 1 tokens into windows of seqLen + 1 that start seqLen
 * apart: each window's first token is the last of the one before, taken as context only, so
 * every target of the sample is a target in exactly one window. Shorter samples come back as is.
 */
export function chunkSample(s: Sample, seqLen: number): Sample[] {
  const n = s.ids.length;
  if (n <= seqLen + 1) return [s];
  const out: Sample[] = [];
  for (let start = 0; start + 1 < n; start += seqLen) {
    const end = Math.min(start + seqLen + 1, n);
    const mask = s.mask.slice(start, end);
    mask[0] = 0;
    out.push({ ids: s.ids.slice(start, end), mask, line: s.line });
  }
  return out;
}

/** Number of target tokens in a sample (or row). */
export function countTargets(s: { mask: Uint8Array }): number {
  let k = 0;
  for (let i = 0; i < s.mask.length; i++) k += s.mask[i]!;
  return k;
}

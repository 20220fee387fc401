// Chat templates (Jinja, as tokenizer configs and GGUF files ship them) rendered with
// @huggingface/jinja, and the token spans of each message, which training uses for
// assistant-only loss. Spans come from rendering growing prefixes of the conversation, never
// from searching the text for role markers.
import { Template } from '@huggingface/jinja';
import { FormatError, ValueError } from '../errors.js';
import type { Tokenizer } from './tokenizer.js';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplateOptions {
  bosToken?: string;
  eosToken?: string;
  /** End with the header of an assistant turn, for generation. */
  addGenerationPrompt?: boolean;
  /** Other variables the template reads (tools, enable_thinking, ...). */
  extra?: Record<string, unknown>;
}

/** A compiled chat template. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(readonly source: string) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new FormatError(`chat template: cannot parse: ${(e as Error).message}`);
    }
  }

  /** The conversation as the model sees it. */
  render(messages: readonly ChatMessage[], opts?: ChatTemplateOptions): string {
    try {
      return this.template.render({
        ...opts?.extra,
        messages: messages.map((m) => ({ ...m })),
        bos_token: opts?.bosToken ?? '',
        eos_token: opts?.eosToken ?? '',
        add_generation_prompt: opts?.addGenerationPrompt ?? false,
      });
    } catch (e) {
      throw new ValueError(`chat template: rendering failed: ${(e as Error).message}`);
    }
  }
}

/** One message's place in a rendered conversation. */
export interface MessageSpan {
  role: string;
  index: number;
  /**
   * The message's content as rendered; for assistant messages also what the template closes the
   * turn with (end-of-turn token, newline, a final eos), which the model must learn to produce.
   */
  charStart: number;
  charEnd: number;
  tokenStart: number;
  tokenEnd: number;
}

export interface RenderedChat {
  text: string;
  ids: number[];
  spans: MessageSpan[];
  /** 1 for tokens inside an assistant span (the tokens to train on), else 0. */
  assistantMask: Uint8Array;
}

const commonPrefix = (a: string, b: string): number => {
  let i = 0;
  while (i < a.length && i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
};
const commonSuffix = (a: string, b: string, limit: number): number => {
  let i = 0;
  while (i < limit && a.charCodeAt(a.length - 1 - i) === b.charCodeAt(b.length - 1 - i)) i++;
  return i;
};

// Where message i's content lands in render(messages): render it again with the content wrapped
// in two marker characters and diff the two texts. Structural, so it holds for templates that
// rewrite other turns (Qwen3 drops earlier thinking) or trim and split contents.
function contentRange(t: ChatTemplate, messages: readonly ChatMessage[], i: number, text: string, opts?: ChatTemplateOptions): [number, number] {
  const at = (content: string): [number, number] | null => {
    const alt = messages.map((m, k) => (k === i ? { ...m, content: `\u0001${content}\u0002` } : m));
    const other = t.render(alt, opts);
    const start = commonPrefix(text, other);
    const end = text.length - commonSuffix(text, other, Math.min(text.length, other.length) - start);
    return other.length !== text.length + 2 || end < start ? null : [start, end];
  };
  const content = messages[i]!.content;
  let r = at(content);
  // templates that trim contents (Llama 3's `| trim`) render the trimmed text: when that gives
  // the same conversation, the span is the trimmed content's
  const trimmed = content.trim();
  if (!r && trimmed !== content && t.render(messages.map((m, k) => (k === i ? { ...m, content: trimmed } : m)), opts) === text) r = at(trimmed);
  if (!r) throw new ValueError(`renderChatWithSpans: the template does not render the content of message ${i} (${messages[i]!.role}) verbatim`);
  return r;
}

/**
 * Renders `messages` and tokenizes them piece by piece so every span boundary is a token
 * boundary. Each message's content is located by diffing renders (never by searching the text
 * for role markers); an assistant span then runs on through the text the template puts after the
 * reply when that reply is the last message (its turn close), as a model must produce it.
 */
export function renderChatWithSpans(
  template: ChatTemplate,
  tokenizer: Pick<Tokenizer, 'encode' | 'isSpecial'>,
  messages: readonly ChatMessage[],
  opts?: Omit<ChatTemplateOptions, 'addGenerationPrompt'>,
): RenderedChat {
  if (messages.length === 0) throw new ValueError('renderChatWithSpans: no messages');
  const text = template.render(messages, opts);
  const cuts = new Set<number>([0, text.length]);
  const enc = (t: string, prefixSpace: boolean) => tokenizer.encode(t, { addSpecial: false, parseSpecial: true, prefixSpace });
  const ranges = messages.map((_, i) => contentRange(template, messages, i, text, opts));
  const chars = messages.map((m, i) => {
    const [start, contentEnd] = ranges[i]!;
    let end = contentEnd;
    if (m.role === 'assistant') {
      // The turn close is what the template renders after the reply when the conversation ends
      // with it, as far as the full text agrees with that, in whole tokens: the tokens the gap
      // up to the next message shares with the close, cut where the gap splits into exactly them.
      const upTo = messages.slice(0, i + 1);
      const partial = template.render(upTo, opts);
      const [, pEnd] = contentRange(template, upTo, i, partial, opts);
      const gap = text.slice(contentEnd, i + 1 < messages.length ? ranges[i + 1]![0] : text.length);
      const G = enc(gap, false);
      const P = enc(partial.slice(pEnd), false);
      let k = 0;
      while (k < G.length && k < P.length && G[k] === P[k]) k++;
      let cut = k === G.length ? gap.length : -1;
      for (let L = 0; cut < 0 && L <= gap.length; L++) {
        const head = enc(gap.slice(0, L), false);
        if (head.length === k && head.every((id, j) => id === G[j])) {
          const tail = enc(gap.slice(L), k > 0 && tokenizer.isSpecial(G[k - 1]!));
          if (tail.length === G.length - k && tail.every((id, j) => id === G[k + j])) cut = L;
        }
      }
      end += Math.max(cut, 0);
    }
    cuts.add(start);
    cuts.add(end);
    return { start, end };
  });
  const bounds = [...cuts].sort((a, b) => a - b);
  const tokenAt = new Map<number, number>([[0, 0]]);
  const ids: number[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    // a piece continues the text before it: SentencePiece's space prefix only after a special token
    const last = ids[ids.length - 1];
    const prefixSpace = k === 0 || (last !== undefined && tokenizer.isSpecial(last));
    const piece = tokenizer.encode(text.slice(bounds[k], bounds[k + 1]), { addSpecial: false, parseSpecial: true, prefixSpace });
    for (const id of piece) ids.push(id); // not push(...piece): a long message would overflow the stack
    tokenAt.set(bounds[k + 1]!, ids.length);
  }
  const assistantMask = new Uint8Array(ids.length);
  const spans = messages.map((m, i) => {
    const c = chars[i]!;
    const span: MessageSpan = {
      role: m.role,
      index: i,
      charStart: c.start,
      charEnd: c.end,
      tokenStart: tokenAt.get(c.start)!,
      tokenEnd: tokenAt.get(c.end)!,
    };
    if (m.role === 'assistant') assistantMask.fill(1, span.tokenStart, span.tokenEnd);
    return span;
  });
  return { text, ids, spans, assistantMask };
}

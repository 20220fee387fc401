// Token attributes as llama.cpp derives them: the GGUF token type, then fix-ups by token text
// (end-of-generation and fill-in-the-middle tokens that a converter left as normal/user-defined
// become control tokens) and by model (Phi-3's special tokens swallow the whitespace after them).
import { TokenType, type Vocab } from './vocab.js';

export const Attr = {
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
} as const;

function fromType(t: number): number {
  switch (t) {
    case TokenType.NORMAL: return Attr.NORMAL;
    case TokenType.UNKNOWN: return Attr.UNKNOWN;
    case TokenType.CONTROL: return Attr.CONTROL;
    case TokenType.USER_DEFINED: return Attr.USER_DEFINED;
    case TokenType.UNUSED: return Attr.UNUSED;
    case TokenType.BYTE: return Attr.BYTE;
    default: return 0;
  }
}

/** Texts that end generation (llama.cpp marks them as control tokens whatever the file says). */
export const EOG_TEXTS = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>',
  '<|endoftext|>', '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>',
  '<end_of_utterance>', '<eos>', '<turn|>', '<|tool_response>', '<\uff5cend\u2581of\u2581sentence\uff5c>', '[e~[',
];
/** Fill-in-the-middle token texts (also forced to control). */
const FIM_TEXTS = [
  '<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<\uff5cfim\u2581begin\uff5c>', '<PRE>', '\u2581<PRE>', '<|code_prefix|>', '<|prefix|>',
  '<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<\uff5cfim\u2581hole\uff5c>', '<SUF>', '\u2581<SUF>', '<|code_suffix|>', '<|suffix|>',
  '<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<\uff5cfim\u2581end\uff5c>', '<MID>', '\u2581<MID>', '<|code_middle|>', '<|middle|>',
  '<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]',
  '<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>', '<|file_sep|>',
];
/** gpt-oss: always rendered. */
const ALWAYS_USER = ['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>'];

export interface TokenAttrs {
  attrs: Int32Array;
  /** ids that end generation: EOS and the EOG_TEXTS present in the vocabulary */
  eog: Set<number>;
}

export function tokenAttrs(v: Vocab, tokenToId: Map<string, number>, eos: number | undefined): TokenAttrs {
  const n = v.tokens.length;
  const attrs = new Int32Array(n);
  for (let i = 0; i < n; i++) attrs[i] = v.tokenTypes ? fromType(v.tokenTypes[i]!) : Attr.NORMAL;
  const eog = new Set<number>();
  for (const text of [...EOG_TEXTS, ...FIM_TEXTS]) {
    const id = tokenToId.get(text);
    if (id === undefined) continue;
    attrs[id] = attrs[id]! | Attr.CONTROL;
    if (EOG_TEXTS.includes(text) || text === '<|fim_pad|>' || text === '<|fim_repo|>' || text === '<|file_sep|>') eog.add(id);
  }
  for (const text of ALWAYS_USER) {
    const id = tokenToId.get(text);
    if (id !== undefined) attrs[id] = Attr.USER_DEFINED;
  }
  if (eos !== undefined) eog.add(eos);
  // gpt-oss / solar-open: <|end|> ends a message, not the generation
  const has = (t: string) => tokenToId.has(t);
  if (has('<|end|>') && ((has('<|return|>') && has('<|call|>')) || (has('<|calls|>') && has('<|flush|>')))) {
    const id = tokenToId.get('<|end|>')!;
    if (id !== eos) eog.delete(id);
    attrs[id] = Attr.USER_DEFINED;
  }
  // gemma4 / paddleocr: </s> is an ordinary token there
  if (has('<|tool_response>') && has('</s>')) {
    const id = tokenToId.get('</s>')!;
    if (id !== eos) eog.delete(id);
    attrs[id] = Attr.NORMAL;
  }
  const name = (v.name ?? '').toLowerCase();
  if (/jina-v2-(de|es|code)/.test(v.pre ?? '') && has('<mask>')) {
    const id = tokenToId.get('<mask>')!;
    attrs[id] = attrs[id]! | Attr.LSTRIP;
  } else if (name.includes('phi-3') || name.includes('phi3')) {
    for (let i = 0; i < n; i++) if (attrs[i]! & (Attr.CONTROL | Attr.USER_DEFINED | Attr.UNKNOWN)) attrs[i] = attrs[i]! | Attr.RSTRIP;
    const set = (t: string, on: boolean) => {
      const id = tokenToId.get(t);
      if (id !== undefined) attrs[id] = on ? attrs[id]! | Attr.RSTRIP : attrs[id]! & ~Attr.RSTRIP;
    };
    set('</s>', true);
    for (const t of ['<unk>', '<s>', '<|endoftext|>']) set(t, false);
  }
  return { attrs, eog };
}

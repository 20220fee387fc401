// Hugging Face tokenizer.json / tokenizer_config.json contents built from the real GGUF
// vocabularies in ../shared/vocab, shaped like those models' own files (no model hub here).
import type { Tokenizer } from '../../lib/tokenizer/index.js';
import { ggufTokenizer } from './vocab.js';

// The pre-tokenizer regexes of the real tokenizer.json files (Oniguruma syntax, as HF writes them)
const REGEX: Record<string, string> = {
  'gpt-2': "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
  'llama-bpe': "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

const gguf = ggufTokenizer;

/** tokenizer.json (+ tokenizer_config.json) contents for a GGUF vocabulary, in Hugging Face's format. */
export function hfFiles(name: string, opts: { configFlags?: boolean } = {}): { json: Record<string, unknown>; config: Record<string, unknown> } {
  const g = gguf(name);
  const n = g.vocabSize;
  const spm = g.kind === 'spm';
  const vocab: Record<string, number> = Object.create(null);
  const added: Record<string, unknown>[] = [];
  for (let id = 0; id < n; id++) {
    const text = g.tokenText(id);
    const type = g.tokenType(id);
    const special = g.isSpecial(id);
    const isAdded = special || type === 2 || type === 3 || type === 4;
    if (isAdded && text !== '') {
      added.push({ id, content: text, single_word: false, lstrip: false, rstrip: name === 'phi-3', normalized: false, special });
    }
    if ((!isAdded || spm) && !(text in vocab)) vocab[text] = id;
  }
  let json: Record<string, unknown>;
  if (!spm) {
    json = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: REGEX[name]! }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      },
      post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: name === 'llama-bpe',
        vocab,
        merges: g.vocab.merges!,
      },
    };
  } else {
    json = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      // Llama 2's tokenizer.json (legacy=false style): "▁" before the text, spaces as "▁"
      normalizer: {
        type: 'Sequence',
        normalizers: [
          { type: 'Prepend', prepend: '\u2581' },
          { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
        ],
      },
      pre_tokenizer: null,
      post_processor: null,
      decoder: {
        type: 'Sequence',
        decoders: [
          { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
          { type: 'ByteFallback' },
          { type: 'Fuse' },
          { type: 'Strip', content: ' ', start: 1, stop: 0 },
        ],
      },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: g.unk !== undefined ? g.tokenText(g.unk) : null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: true,
        ignore_merges: false,
        vocab,
        merges: spmMerges(g),
      },
    };
  }
  const tokText = (id: number | undefined) => (id === undefined ? null : g.tokenText(id));
  const config: Record<string, unknown> = { bos_token: tokText(g.bos), eos_token: tokText(g.eos), clean_up_tokenization_spaces: false };
  if (name === 'llama-bpe' && !opts.configFlags) {
    // Llama 3 adds <|begin_of_text|> through the post-processor, not tokenizer_config.json flags
    json.post_processor = {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } },
        },
      ],
    };
  } else {
    config.add_bos_token = g.addBos;
    config.add_eos_token = g.addEos;
  }
  return { json, config };
}

/**
 * Merges for a SentencePiece vocabulary as transformers' SentencePieceExtractor makes them: every
 * split of a piece into two pieces of the vocabulary, ordered by the piece's score (highest first).
 */
function spmMerges(g: Tokenizer): [string, string][] {
  const n = g.vocabSize;
  const ids = new Map<string, number>();
  for (let id = 0; id < n; id++) if (g.tokenType(id) === 1 && !ids.has(g.tokenText(id))) ids.set(g.tokenText(id), id);
  const scores = g.vocab.scores!;
  const order = [...ids.values()].sort((a, b) => scores[b]! - scores[a]! || a - b);
  const merges: [string, string][] = [];
  for (const id of order) {
    const chars = Array.from(g.tokenText(id));
    const local: [string, string, number, number][] = [];
    for (let i = 1; i < chars.length; i++) {
      const l = chars.slice(0, i).join('');
      const r = chars.slice(i).join('');
      const li = ids.get(l);
      const ri = ids.get(r);
      if (li !== undefined && ri !== undefined) local.push([l, r, li, ri]);
    }
    local.sort((a, b) => a[2] - b[2] || a[3] - b[3]);
    for (const m of local) merges.push([m[0], m[1]]);
  }
  return merges;
}

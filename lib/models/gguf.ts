// Llama-family models from GGUF files: hyper-parameters from `<arch>.*` metadata, GGUF tensor
// names mapped to HF names, and llama.cpp's Q/K permutation (llama architecture) undone.
import { DTypeError, FormatError } from '../errors.js';
import type { GGUFHeader, GGUFTensorInfo, GGUFValue } from '../formats/gguf.js';
import { reshape, transpose } from '../ops/shape.js';
import { sub } from '../ops/binary.js';
import { cast, contiguous } from '../ops/copy.js';
import { tidy, keep } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { BLOCK } from '../quant-types.js';
import { type LlamaConfig, type RopeScaling, llamaConfig } from './config.js';

export const GGUF_ARCHITECTURES = ['llama', 'qwen2', 'qwen3', 'gemma3'] as const;

type Meta = Map<string, GGUFValue> | Map<string, unknown>;

/** Tensor names and shapes (from a GGUF header) that configFromGGUF checks against. */
export type GGUFTensorShapes = Pick<GGUFTensorInfo, 'name' | 'shape'>[];

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined);

/** The shortest decimal that rounds to the same float32 (1e-5 stored as float32 reads back as 1e-5). */
function shortF32(v: number): number {
  if (Math.fround(v) !== v) return v;
  for (let p = 1; p <= 9; p++) {
    const d = parseFloat(v.toPrecision(p));
    if (Math.fround(d) === v) return d;
  }
  return v;
}

/**
 * The LlamaConfig of a GGUF model's metadata (general.architecture llama, qwen2 or qwen3).
 * Vocabulary size is the length of tokenizer.ggml.tokens (else token_embd's rows). With `tensors`
 * (the header's tensor infos) the embedding rows are checked against the vocabulary and tied
 * embeddings are detected (no `output.weight`); without them the head is taken as untied.
 */
export function configFromGGUF(metadata: Meta, tensors?: GGUFTensorShapes, opts?: { ropeFreqs?: ArrayLike<number> }): LlamaConfig {
  const m = metadata as Map<string, unknown>;
  const arch = m.get('general.architecture');
  if (typeof arch !== 'string') throw new FormatError(`configFromGGUF: metadata has no string 'general.architecture'`);
  if (!(GGUF_ARCHITECTURES as readonly string[]).includes(arch))
    throw new FormatError(`configFromGGUF: unsupported architecture '${arch}' (supported: ${GGUF_ARCHITECTURES.join(', ')})`);
  const need = (k: string): number => {
    const v = num(m.get(`${arch}.${k}`));
    if (v === undefined) throw new FormatError(`configFromGGUF: metadata has no numeric '${arch}.${k}'`);
    return v;
  };
  const opt = (k: string): number | undefined => num(m.get(`${arch}.${k}`));
  const byName = new Map((tensors ?? []).map((t) => [t.name, t]));
  const embd = byName.get('token_embd.weight');
  if (tensors && !embd) throw new FormatError(`configFromGGUF: the file has no tensor 'token_embd.weight'`);
  const hidden = need('embedding_length');
  const toks = m.get('tokenizer.ggml.tokens');
  let vocabSize: number;
  if (Array.isArray(toks)) {
    vocabSize = toks.length;
    if (embd && embd.shape[0] !== vocabSize)
      throw new FormatError(
        `configFromGGUF: vocabulary size ${vocabSize} (tokenizer.ggml.tokens) does not match token_embd.weight rows ${embd.shape[0]} (shape [${embd.shape.join(', ')}])`,
      );
  } else if (embd) vocabSize = embd.shape[0]!;
  else {
    const v = opt('vocab_size');
    if (v === undefined) throw new FormatError(`configFromGGUF: no tokenizer.ggml.tokens, '${arch}.vocab_size' or token_embd.weight to size the vocabulary`);
    vocabSize = v;
  }
  const numHeads = need('attention.head_count');
  const keyLength = opt('attention.key_length');
  const ropeDim = opt('rope.dimension_count');
  const headDim = keyLength ?? (hidden % numHeads === 0 ? hidden / numHeads : undefined);
  if (ropeDim !== undefined && headDim !== undefined && ropeDim !== headDim)
    throw new FormatError(`configFromGGUF: partial rotary embeddings (${arch}.rope.dimension_count ${ropeDim} < head dim ${headDim}) are not supported`);
  const vLength = opt('attention.value_length');
  if (vLength !== undefined && headDim !== undefined && vLength !== headDim)
    throw new FormatError(`configFromGGUF: ${arch}.attention.value_length ${vLength} differs from key_length ${headDim}; not supported`);

  let ropeScaling: RopeScaling | null = null;
  const st = m.get(`${arch}.rope.scaling.type`);
  const factor = opt('rope.scaling.factor');
  if (st === 'linear' && factor !== undefined && factor !== 1) ropeScaling = { type: 'linear', factor };
  else if (st !== undefined && st !== 'none' && st !== 'linear')
    throw new FormatError(`configFromGGUF: ${arch}.rope.scaling.type '${String(st)}' is not supported (supported: none, linear; llama3 through rope_freqs)`);
  else if (st === undefined && factor !== undefined && factor !== 1) ropeScaling = { type: 'linear', factor };
  // Llama 3.1-style scaling is baked into a 'rope_freqs.weight' tensor by the converter.
  if (byName.has('rope_freqs.weight')) {
    const rf = opts?.ropeFreqs;
    if (!rf) throw new FormatError(`configFromGGUF: the file has per-frequency rope factors ('rope_freqs.weight'); pass their values as opts.ropeFreqs (loadModel does)`);
    if (ropeScaling) throw new FormatError(`configFromGGUF: both ${arch}.rope.scaling (${ropeScaling.type}) and 'rope_freqs.weight' are given; not supported`);
    ropeScaling = { type: 'factors', factors: Array.from(rf) };
  }

  const u = (k: string): number | null => {
    const v = num(m.get(`tokenizer.ggml.${k}`));
    return v === undefined ? null : v;
  };
  const eos = u('eos_token_id');
  const eot = u('eot_token_id');
  const eosTokenIds = [...new Set([eos, eot].filter((x): x is number => x !== null))];
  const headCountKv = opt('attention.head_count_kv');
  return llamaConfig({
    architecture: arch as LlamaConfig['architecture'],
    vocabSize,
    hiddenSize: hidden,
    intermediateSize: need('feed_forward_length'),
    numLayers: need('block_count'),
    numHeads,
    numKvHeads: headCountKv,
    headDim: keyLength,
    rmsNormEps: shortF32(opt('attention.layer_norm_rms_epsilon') ?? 1e-5),
    ropeTheta: shortF32(opt('rope.freq_base') ?? 10000),
    ropeScaling,
    tieWordEmbeddings: tensors ? !byName.has('output.weight') : false,
    attentionBias: arch === 'qwen2',
    qkNorm: arch === 'qwen3' || arch === 'gemma3',
    maxPositionEmbeddings: opt('context_length') ?? 2048,
    bosTokenId: u('bos_token_id'),
    eosTokenIds,
    ...(arch === 'gemma3' ? gemma3FromGGUF(m, need('block_count'), hidden, numHeads) : {}),
  });
}

/**
 * Gemma 3 conventions as llama.cpp applies them: local (sliding-window) layers with a pattern of
 * 6 (five local, one global) unless the file lists it, rope base 10000 on local layers unless
 * `rope.freq_base_swa` says otherwise, and scores scaled by 1/sqrt(head dim), except the 62-layer
 * (27B) model's 1/sqrt(hidden / heads).
 */
function gemma3FromGGUF(m: Map<string, unknown>, numLayers: number, hidden: number, numHeads: number): Partial<LlamaConfig> {
  const window = num(m.get('gemma3.attention.sliding_window'));
  const pat = m.get('gemma3.attention.sliding_window_pattern');
  let sliding: boolean[] | null = null;
  if (window !== undefined) {
    if (Array.isArray(pat)) {
      if (pat.length !== numLayers) throw new FormatError(`configFromGGUF: gemma3.attention.sliding_window_pattern lists ${pat.length} layers, the model has ${numLayers}`);
      sliding = pat.map((v) => Boolean(v));
    } else {
      const p = num(pat) ?? 6;
      sliding = Array.from({ length: numLayers }, (_, i) => (i + 1) % p !== 0);
    }
  }
  return {
    hiddenAct: 'gelu_tanh',
    normWeightOffset: true,
    sandwichNorms: true,
    embedScale: true,
    slidingWindow: window ?? null,
    slidingLayers: sliding,
    ropeLocalTheta: shortF32(num(m.get('gemma3.rope.freq_base_swa')) ?? 10000),
    attentionScale: numLayers === 62 ? 1 / Math.sqrt(hidden / numHeads) : null,
  };
}

const LAYER: Record<string, string> = {
  'attn_norm.weight': 'input_layernorm.weight',
  'attn_q.weight': 'self_attn.q_proj.weight',
  'attn_k.weight': 'self_attn.k_proj.weight',
  'attn_v.weight': 'self_attn.v_proj.weight',
  'attn_output.weight': 'self_attn.o_proj.weight',
  'attn_q.bias': 'self_attn.q_proj.bias',
  'attn_k.bias': 'self_attn.k_proj.bias',
  'attn_v.bias': 'self_attn.v_proj.bias',
  'attn_q_norm.weight': 'self_attn.q_norm.weight',
  'attn_k_norm.weight': 'self_attn.k_norm.weight',
  'ffn_norm.weight': 'post_attention_layernorm.weight',
  'ffn_gate.weight': 'mlp.gate_proj.weight',
  'ffn_up.weight': 'mlp.up_proj.weight',
  'ffn_down.weight': 'mlp.down_proj.weight',
};
const LAYER_INV = new Map(Object.entries(LAYER).map(([g, h]) => [h, g]));
const TOP: Record<string, string> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output.weight': 'lm_head.weight',
};
const TOP_INV = new Map(Object.entries(TOP).map(([g, h]) => [h, g]));

// Gemma 3 names its extra norms apart, and its 'ffn_norm' is the pre-feedforward norm (Llama's
// post_attention_layernorm is the MLP's input norm; Gemma 3's norms the attention output).
const GEMMA3_LAYER: Record<string, string> = {
  ...LAYER,
  'post_attention_norm.weight': 'post_attention_layernorm.weight',
  'ffn_norm.weight': 'pre_feedforward_layernorm.weight',
  'post_ffw_norm.weight': 'post_feedforward_layernorm.weight',
};
const GEMMA3_LAYER_INV = new Map(Object.entries(GEMMA3_LAYER).map(([g, h]) => [h, g]));

/** The HF name of a GGUF tensor name, or undefined for names the decoder has no use for. */
export function ggufToHFName(name: string, arch = 'llama'): string | undefined {
  if (name in TOP) return TOP[name];
  const mm = /^blk\.(\d+)\.(.+)$/.exec(name);
  if (!mm) return undefined;
  const rest = (arch === 'gemma3' ? GEMMA3_LAYER : LAYER)[mm[2]!];
  return rest === undefined ? undefined : `model.layers.${mm[1]}.${rest}`;
}

/** The GGUF name of an HF tensor name (inverse of ggufToHFName), or undefined. */
export function hfToGGUFName(name: string, arch = 'llama'): string | undefined {
  const top = TOP_INV.get(name);
  if (top) return top;
  const mm = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  if (!mm) return undefined;
  const rest = (arch === 'gemma3' ? GEMMA3_LAYER_INV : LAYER_INV).get(mm[2]!);
  return rest === undefined ? undefined : `blk.${mm[1]}.${rest}`;
}

/**
 * llama.cpp's convert_hf_to_gguf permutation of Llama Q/K projection rows (HF rotate_half
 * layout -> interleaved pairs): w [nHead * D, ...] viewed as [nHead, 2, D/2, ...], axes 1 and 2
 * swapped. `inverse` undoes it (GGUF -> HF). Works on weights [out, in] and biases [out]. A copy.
 */
export function permuteQK(w: Tensor, nHead: number, inverse = false): Tensor {
  const [out, ...rest] = w.shape as number[];
  if (out! % (2 * nHead) !== 0) throw new FormatError(`permuteQK: ${out} rows do not split into ${nHead} heads of an even size`);
  const half = out! / nHead / 2;
  return tidy(() => {
    const from = inverse ? [nHead, half, 2, ...rest] : [nHead, 2, half, ...rest];
    return contiguous(reshape(transpose(reshape(w, from), 1, 2), w.shape as number[]));
  });
}

/** Which GGUF-named tensors of `header` need the Q/K permutation undone (llama architecture). */
function isPermuted(arch: string, ggufName: string): 'q' | 'k' | null {
  if (arch !== 'llama') return null;
  if (/^blk\.\d+\.attn_q\.(weight|bias)$/.test(ggufName)) return 'q';
  if (/^blk\.\d+\.attn_k\.(weight|bias)$/.test(ggufName)) return 'k';
  return null;
}

const DENSE = new Set(['F32', 'F16', 'BF16']);

/** Throws FormatError/DTypeError for a GGUF file the decoder cannot take as it is. */
export function checkGGUFTensors(header: Pick<GGUFHeader, 'path' | 'tensors'>, config: LlamaConfig): void {
  for (const t of header.tensors) {
    if (ggufToHFName(t.name, config.architecture) === undefined) continue;
    if (!DENSE.has(t.typeName) && !(t.typeName in BLOCK))
      throw new DTypeError(
        `GGUF ${header.path}: tensor '${t.name}' is ${t.typeName}, which the model loader does not read (${[...DENSE, ...Object.keys(BLOCK)].join(', ')})`,
      );
  }
  const names = new Set(header.tensors.map((t) => t.name));
  const required = ['token_embd.weight', 'output_norm.weight'];
  if (!config.tieWordEmbeddings) required.push('output.weight');
  for (let i = 0; i < config.numLayers; i++) {
    const L = ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'];
    if (config.attentionBias) L.push('attn_q.bias', 'attn_k.bias', 'attn_v.bias');
    if (config.qkNorm) L.push('attn_q_norm', 'attn_k_norm');
    if (config.sandwichNorms) L.push('post_attention_norm', 'post_ffw_norm');
    for (const n of L) required.push(`blk.${i}.${n.includes('.') ? n : `${n}.weight`}`);
  }
  for (const n of required) if (!names.has(n)) throw new FormatError(`GGUF ${header.path}: missing tensor '${n}' (architecture needs it for ${config.numLayers} layers)`);
}

/**
 * GGUF tensors (by GGUF name) -> an HF-named state dict. Tensors the decoder does not use are
 * skipped. For the llama architecture Q/K rows are un-permuted, and Gemma's norm weights (which
 * the converter stores as 1 + w) are taken back to HF's w: copies, the originals disposed. All
 * other tensors are passed through (still mapped in place).
 */
export function ggufStateDict(tensors: Map<string, Tensor>, config: LlamaConfig): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [g, t] of tensors) {
    const h = ggufToHFName(g, config.architecture);
    if (h === undefined) continue;
    if (config.normWeightOffset && g.endsWith('norm.weight')) {
      const w = keep(tidy(() => sub(t.dtype === 'float32' ? t : cast(t, 'float32'), 1)));
      t.dispose();
      out.set(h, w);
      continue;
    }
    const which = isPermuted(config.architecture, g);
    if (which) {
      const n = which === 'q' ? config.numHeads : config.numKvHeads;
      const p = keep(permuteQK(t, n, true));
      t.dispose();
      out.set(h, p);
    } else out.set(h, t);
  }
  return out;
}

// Hyper-parameters of the Llama-family decoder (Llama 2/3.x, TinyLlama, SmolLM, Mistral, Qwen2/2.5,
// Qwen3, Gemma 3), read from a Hugging Face config.json, and the rotary frequencies they imply.
import { FormatError, ValueError } from '../errors.js';

/** Llama 3.1-style rope scaling: per-frequency interpolation between long and short wavelengths. */
export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** Linear position interpolation: every angle divided by `factor`. */
export interface LinearRopeScaling {
  type: 'linear';
  factor: number;
}

/**
 * Per-frequency divisors, as GGUF files store Llama 3.1+ scaling (the converter bakes the llama3
 * rule into a 'rope_freqs.weight' tensor): inv_freq[i] = base^(-2i/D) / factors[i].
 */
export interface FactorsRopeScaling {
  type: 'factors';
  /** headDim / 2 positive numbers. */
  factors: number[];
}

export type RopeScaling = Llama3RopeScaling | LinearRopeScaling | FactorsRopeScaling;

/** The decoder's shape and conventions. Sizes are positive integers. */
export interface LlamaConfig {
  /** Which family the config came from (names only; behaviour follows the flags below). */
  architecture: 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'gemma3';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  /** Key/value heads (grouped-query attention); numHeads must be a multiple. */
  numKvHeads: number;
  /** Per-head dim; hiddenSize / numHeads unless given (Qwen3 sets it independently). */
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** lm_head shares model.embed_tokens.weight. */
  tieWordEmbeddings: boolean;
  /** q/k/v projections have a bias (Qwen2); o_proj never does. */
  attentionBias: boolean;
  /** Per-head RMSNorm on q and k before rope (Qwen3). */
  qkNorm: boolean;
  /** Sliding-window attention (Mistral): query i sees keys j with i - window < j <= i. null: full causal. */
  slidingWindow: number | null;
  /**
   * Which layers use the sliding window (Gemma 3: five local layers, then one global). null: all
   * of them (when slidingWindow is set).
   */
  slidingLayers: boolean[] | null;
  /** Rope base of the sliding-window layers (Gemma 3: 10000, unscaled); null: ropeTheta. */
  ropeLocalTheta: number | null;
  /** MLP activation: down(act(gate) * up). 'silu' (SwiGLU) or 'gelu_tanh' (Gemma's GeGLU). */
  hiddenAct: 'silu' | 'gelu_tanh';
  /** Gemma: every RMSNorm scales by (1 + weight), its weight stored as the offset from 1. */
  normWeightOffset: boolean;
  /** Gemma 3: extra norms on the attention output and around the MLP (post_attention, pre/post_feedforward). */
  sandwichNorms: boolean;
  /** Gemma: embeddings are multiplied by sqrt(hiddenSize). */
  embedScale: boolean;
  /** Attention score scale; null: 1 / sqrt(headDim). Gemma 3: query_pre_attn_scalar^-0.5. */
  attentionScale: number | null;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  /** End-of-sequence ids (config.json may list several). */
  eosTokenIds: number[];
}

/** Fields of LlamaConfig that have defaults. */
type Defaulted =
  | 'slidingWindow'
  | 'slidingLayers'
  | 'ropeLocalTheta'
  | 'hiddenAct'
  | 'normWeightOffset'
  | 'sandwichNorms'
  | 'embedScale'
  | 'attentionScale'
  | 'architecture' | 'headDim' | 'rmsNormEps' | 'ropeTheta' | 'ropeScaling' | 'tieWordEmbeddings' | 'attentionBias' | 'qkNorm' | 'maxPositionEmbeddings' | 'bosTokenId' | 'eosTokenIds' | 'numKvHeads';

export type LlamaConfigInit = Omit<LlamaConfig, Defaulted> & Partial<Pick<LlamaConfig, Defaulted>>;

function posInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ValueError(`LlamaConfig: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

function posNum(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ValueError(`LlamaConfig: ${name} must be a positive number, got ${String(v)}`);
  return v;
}

/** Fills defaults and checks a config (sizes, head counts, rope scaling). */
export function llamaConfig(init: LlamaConfigInit): LlamaConfig {
  const c: LlamaConfig = {
    architecture: init.architecture ?? 'llama',
    vocabSize: posInt('vocabSize', init.vocabSize),
    hiddenSize: posInt('hiddenSize', init.hiddenSize),
    intermediateSize: posInt('intermediateSize', init.intermediateSize),
    numLayers: posInt('numLayers', init.numLayers),
    numHeads: posInt('numHeads', init.numHeads),
    numKvHeads: 0,
    headDim: 0,
    rmsNormEps: init.rmsNormEps ?? 1e-6,
    ropeTheta: init.ropeTheta ?? 10000,
    ropeScaling: init.ropeScaling ?? null,
    tieWordEmbeddings: init.tieWordEmbeddings ?? false,
    attentionBias: init.attentionBias ?? false,
    qkNorm: init.qkNorm ?? false,
    slidingWindow: init.slidingWindow ?? null,
    slidingLayers: init.slidingLayers ?? null,
    ropeLocalTheta: init.ropeLocalTheta ?? null,
    hiddenAct: init.hiddenAct ?? 'silu',
    normWeightOffset: init.normWeightOffset ?? false,
    sandwichNorms: init.sandwichNorms ?? false,
    embedScale: init.embedScale ?? false,
    attentionScale: init.attentionScale ?? null,
    maxPositionEmbeddings: init.maxPositionEmbeddings ?? 2048,
    bosTokenId: init.bosTokenId ?? null,
    eosTokenIds: init.eosTokenIds ?? [],
  };
  c.numKvHeads = posInt('numKvHeads', init.numKvHeads ?? c.numHeads);
  if (c.numHeads % c.numKvHeads !== 0)
    throw new ValueError(`LlamaConfig: numHeads (${c.numHeads}) must be a multiple of numKvHeads (${c.numKvHeads})`);
  if (init.headDim === undefined && c.hiddenSize % c.numHeads !== 0)
    throw new ValueError(`LlamaConfig: hiddenSize (${c.hiddenSize}) is not a multiple of numHeads (${c.numHeads}); give headDim`);
  c.headDim = posInt('headDim', init.headDim ?? c.hiddenSize / c.numHeads);
  if (c.headDim % 2 !== 0) throw new ValueError(`LlamaConfig: headDim must be even for rope, got ${c.headDim}`);
  if (typeof c.rmsNormEps !== 'number' || !Number.isFinite(c.rmsNormEps) || c.rmsNormEps < 0)
    throw new ValueError(`LlamaConfig: rmsNormEps must be a finite number >= 0, got ${String(c.rmsNormEps)}`);
  posNum('ropeTheta', c.ropeTheta);
  posInt('maxPositionEmbeddings', c.maxPositionEmbeddings);
  if (c.slidingWindow !== null) posInt('slidingWindow', c.slidingWindow);
  if (c.slidingLayers !== null) {
    if (!Array.isArray(c.slidingLayers) || c.slidingLayers.length !== c.numLayers)
      throw new ValueError(`LlamaConfig: slidingLayers must list ${c.numLayers} booleans (one per layer), got ${Array.isArray(c.slidingLayers) ? c.slidingLayers.length : typeof c.slidingLayers}`);
    if (c.slidingWindow === null) throw new ValueError('LlamaConfig: slidingLayers needs slidingWindow');
  }
  if (c.ropeLocalTheta !== null) posNum('ropeLocalTheta', c.ropeLocalTheta);
  if (c.attentionScale !== null) posNum('attentionScale', c.attentionScale);
  if (c.hiddenAct !== 'silu' && c.hiddenAct !== 'gelu_tanh') throw new ValueError(`LlamaConfig: hiddenAct must be 'silu' or 'gelu_tanh', got ${String(c.hiddenAct)}`);
  const rs = c.ropeScaling;
  if (rs?.type === 'factors') {
    if (!Array.isArray(rs.factors) || rs.factors.length !== c.headDim / 2)
      throw new ValueError(`LlamaConfig: rope factors must be headDim / 2 = ${c.headDim / 2} numbers, got ${Array.isArray(rs.factors) ? rs.factors.length : typeof rs.factors}`);
    rs.factors.forEach((f, i) => posNum(`ropeScaling.factors[${i}]`, f));
  } else if (rs) {
    posNum('ropeScaling.factor', rs.factor);
    if (rs.type === 'llama3') {
      posNum('ropeScaling.lowFreqFactor', rs.lowFreqFactor);
      posNum('ropeScaling.highFreqFactor', rs.highFreqFactor);
      posNum('ropeScaling.originalMaxPositionEmbeddings', rs.originalMaxPositionEmbeddings);
      if (rs.highFreqFactor <= rs.lowFreqFactor)
        throw new ValueError(`LlamaConfig: llama3 rope scaling needs highFreqFactor > lowFreqFactor, got ${rs.highFreqFactor} <= ${rs.lowFreqFactor}`);
    } else if (rs.type !== 'linear') throw new ValueError(`LlamaConfig: unsupported rope scaling type '${String((rs as { type: unknown }).type)}'`);
  }
  for (const id of c.eosTokenIds) if (!Number.isInteger(id) || id < 0) throw new ValueError(`LlamaConfig: eos token id ${id} is not a non-negative integer`);
  return c;
}

const SUPPORTED = ['llama', 'mistral', 'qwen2', 'qwen3', 'gemma3_text'] as const;

/**
 * The config of an HF `config.json` (parsed) for model_type llama, mistral, qwen2 or qwen3.
 * Rope scaling of type 'linear' and 'llama3' is supported ('default' means none); others
 * (yarn, dynamic, longrope) throw. Mistral's sliding_window is applied; Qwen2's use_sliding_window
 * (off in released Qwen2/2.5 models, and per-layer there) throws when on.
 */
export function configFromHF(json: Record<string, unknown>): LlamaConfig {
  const type = json.model_type;
  if (type === 'gemma3')
    throw new FormatError(`configFromHF: model_type "gemma3" is the multimodal Gemma 3 (vision tower and language_model.* weights); only the text model (model_type "gemma3_text", Gemma3ForCausalLM) is supported`);
  if (typeof type !== 'string' || !(SUPPORTED as readonly string[]).includes(type))
    throw new FormatError(`configFromHF: unsupported model_type ${JSON.stringify(type)} (supported: ${SUPPORTED.join(', ')})`);
  const gemma = type === 'gemma3_text';
  const arch = (gemma ? 'gemma3' : type) as LlamaConfig['architecture'];
  const need = (k: string): unknown => {
    if (json[k] === undefined || json[k] === null) throw new FormatError(`configFromHF: config.json (model_type ${type}) has no '${k}'`);
    return json[k];
  };
  if (json.mlp_bias === true) throw new FormatError(`configFromHF: mlp_bias = true is not supported`);
  if (json.use_sliding_window === true) throw new FormatError(`configFromHF: use_sliding_window = true (${type}) is not supported`);
  const sw = (arch === 'mistral' || gemma) && typeof json.sliding_window === 'number' ? json.sliding_window : null;
  const g = gemma ? gemmaFields(json, need('num_hidden_layers') as number, sw) : {};
  let ropeScaling: RopeScaling | null = null;
  const rsj = json.rope_scaling as Record<string, unknown> | null | undefined;
  if (rsj && typeof rsj === 'object') {
    const kind = (rsj.rope_type ?? rsj.type) as unknown;
    const num = (k: string): number => {
      const v = rsj[k];
      if (typeof v !== 'number') throw new FormatError(`configFromHF: rope_scaling (${String(kind)}) has no numeric '${k}'`);
      return v;
    };
    if (kind === 'llama3')
      ropeScaling = {
        type: 'llama3',
        factor: num('factor'),
        lowFreqFactor: num('low_freq_factor'),
        highFreqFactor: num('high_freq_factor'),
        originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
      };
    else if (kind === 'linear') ropeScaling = { type: 'linear', factor: num('factor') };
    else if (kind !== 'default') throw new FormatError(`configFromHF: rope_scaling type ${JSON.stringify(kind)} is not supported (supported: linear, llama3)`);
  }
  const eos = json.eos_token_id;
  const eosTokenIds = Array.isArray(eos) ? (eos as number[]) : typeof eos === 'number' ? [eos] : [];
  const opt = <T>(k: string, d: T): T => (json[k] === undefined || json[k] === null ? d : (json[k] as T));
  return llamaConfig({
    architecture: arch,
    vocabSize: need('vocab_size') as number,
    hiddenSize: need('hidden_size') as number,
    intermediateSize: need('intermediate_size') as number,
    numLayers: need('num_hidden_layers') as number,
    numHeads: need('num_attention_heads') as number,
    numKvHeads: opt<number | undefined>('num_key_value_heads', undefined),
    headDim: opt<number | undefined>('head_dim', undefined),
    rmsNormEps: opt('rms_norm_eps', 1e-6),
    ropeTheta: opt('rope_theta', 10000),
    ropeScaling,
    // LlamaConfig, MistralConfig, Qwen2Config and Qwen3Config default it to false, Gemma3TextConfig to true
    tieWordEmbeddings: opt('tie_word_embeddings', gemma),
    attentionBias: arch === 'qwen2' ? true : opt('attention_bias', false),
    qkNorm: arch === 'qwen3' || gemma,
    slidingWindow: sw,
    ...g,
    maxPositionEmbeddings: opt('max_position_embeddings', 2048),
    bosTokenId: typeof json.bos_token_id === 'number' ? json.bos_token_id : null,
    eosTokenIds,
  });
}

/** Gemma 3 (Gemma3TextConfig) fields beyond the Llama ones. */
function gemmaFields(json: Record<string, unknown>, numLayers: number, sw: number | null): Partial<LlamaConfig> {
  for (const k of ['final_logit_softcapping', 'attn_logit_softcapping'])
    if (json[k] !== undefined && json[k] !== null) throw new FormatError(`configFromHF: gemma3_text with ${k} = ${String(json[k])} is not supported`);
  const act = json.hidden_activation ?? json.hidden_act ?? 'gelu_pytorch_tanh';
  if (act !== 'gelu_pytorch_tanh') throw new FormatError(`configFromHF: gemma3_text hidden_activation ${JSON.stringify(act)} is not supported (gelu_pytorch_tanh)`);
  let sliding: boolean[] | null = null;
  if (Array.isArray(json.layer_types)) {
    sliding = (json.layer_types as unknown[]).map((t, i) => {
      if (t !== 'sliding_attention' && t !== 'full_attention') throw new FormatError(`configFromHF: layer_types[${i}] = ${JSON.stringify(t)} (expected sliding_attention or full_attention)`);
      return t === 'sliding_attention';
    });
  } else if (sw !== null) {
    const pattern = typeof json.sliding_window_pattern === 'number' ? json.sliding_window_pattern : 6;
    sliding = Array.from({ length: numLayers }, (_, i) => (i + 1) % pattern !== 0);
  }
  const qpas = json.query_pre_attn_scalar;
  return {
    hiddenAct: 'gelu_tanh',
    normWeightOffset: true,
    sandwichNorms: true,
    embedScale: true,
    slidingLayers: sw === null ? null : sliding,
    ropeLocalTheta: typeof json.rope_local_base_freq === 'number' ? json.rope_local_base_freq : 10000,
    attentionScale: typeof qpas === 'number' ? 1 / Math.sqrt(qpas) : null,
  };
}

/**
 * Inverse rotary frequencies for pair i of a head: theta^(-2i / headDim), adjusted by the rope
 * scaling (linear divides all by factor; llama3 divides the long wavelengths by factor, keeps
 * the short ones and interpolates between). Float64, length headDim / 2.
 */
export function ropeInvFreq(c: Pick<LlamaConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float64Array {
  const D = c.headDim;
  const inv = new Float64Array(D / 2);
  for (let i = 0; i < D / 2; i++) inv[i] = 1 / Math.pow(c.ropeTheta, (2 * i) / D);
  const rs = c.ropeScaling;
  if (!rs) return inv;
  if (rs.type === 'linear') return inv.map((f) => f / rs.factor);
  if (rs.type === 'factors') return inv.map((f, i) => f / rs.factors[i]!);
  const lowWl = rs.originalMaxPositionEmbeddings / rs.lowFreqFactor;
  const highWl = rs.originalMaxPositionEmbeddings / rs.highFreqFactor;
  return inv.map((f) => {
    const wl = (2 * Math.PI) / f;
    if (wl < highWl) return f;
    if (wl > lowWl) return f / rs.factor;
    const s = (rs.originalMaxPositionEmbeddings / wl - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor);
    return (1 - s) * (f / rs.factor) + s * f;
  });
}

/**
 * The Hugging Face config.json of `c` (inverse of configFromHF). Per-frequency rope factors
 * (from a GGUF rope_freqs tensor) have no config.json form and throw.
 */
export function hfConfigJSON(c: LlamaConfig): Record<string, unknown> {
  const gemma = c.architecture === 'gemma3';
  const arch = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM', gemma3: 'Gemma3ForCausalLM' }[c.architecture];
  const rs = c.ropeScaling;
  if (rs?.type === 'factors') throw new ValueError('hfConfigJSON: per-frequency rope factors (GGUF rope_freqs) have no config.json form');
  const j: Record<string, unknown> = {
    architectures: [arch],
    model_type: gemma ? 'gemma3_text' : c.architecture,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: !rs
      ? null
      : rs.type === 'linear'
        ? { rope_type: 'linear', factor: rs.factor }
        : { rope_type: 'llama3', factor: rs.factor, low_freq_factor: rs.lowFreqFactor, high_freq_factor: rs.highFreqFactor, original_max_position_embeddings: rs.originalMaxPositionEmbeddings },
    tie_word_embeddings: c.tieWordEmbeddings,
    attention_bias: c.attentionBias,
    max_position_embeddings: c.maxPositionEmbeddings,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds,
    torch_dtype: 'float32',
  };
  if (c.architecture === 'mistral') j.sliding_window = c.slidingWindow;
  if (gemma)
    Object.assign(j, {
      hidden_activation: 'gelu_pytorch_tanh',
      query_pre_attn_scalar: c.attentionScale === null ? c.headDim : 1 / (c.attentionScale * c.attentionScale),
      sliding_window: c.slidingWindow,
      layer_types: c.slidingLayers?.map((s) => (s ? 'sliding_attention' : 'full_attention')) ?? null,
      rope_local_base_freq: c.ropeLocalTheta ?? c.ropeTheta,
      final_logit_softcapping: null,
      attn_logit_softcapping: null,
    });
  return j;
}

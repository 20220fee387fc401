// Tiny random Llama/Qwen-shaped models with a real vocabulary, written by edgetrain's own GGUF
// and safetensors writers, for tests (see scripts/make-tiny-model.mjs).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ValueError } from '../errors.js';
import { readGGUFHeader } from '../formats/gguf.js';
import { saveSafetensorsModel } from '../formats/safetensors-sharded.js';
import { cast } from '../ops/copy.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';
import { seededRandom } from './generate.js';
import { saveGGUFModel, tokenizerMetadata } from './save.js';
import type { Llama3RopeScaling } from './config.js';
import { LlamaModel } from './llama.js';

export interface TinyModelOptions {
  architecture?: 'llama' | 'qwen2' | 'qwen3' | 'gemma3';
  /** A GGUF file whose tokenizer.ggml.* metadata (and so vocabulary size) the model takes. */
  vocabFile: string;
  hiddenSize?: number;
  intermediateSize?: number;
  numLayers?: number;
  numHeads?: number;
  numKvHeads?: number;
  /** Per-head dim (default hiddenSize / numHeads). */
  headDim?: number;
  /** gemma3: the sliding window of its local layers (default 8), five local then one global. */
  slidingWindow?: number;
  tieWordEmbeddings?: boolean;
  ropeTheta?: number;
  /**
   * Llama 3.1-style rope scaling: config.json gets `rope_scaling` (llama3) and the GGUF files a
   * 'rope_freqs.weight' tensor of per-frequency factors, as llama.cpp's converter writes them.
   */
  ropeScaling?: Llama3RopeScaling;
  rmsNormEps?: number;
  contextLength?: number;
  seed?: number;
  /** Which files to write (default all). */
  formats?: ('gguf-f32' | 'gguf-f16' | 'hf')[];
}

export interface TinyModelFiles {
  /** GGUF with float32 tensors. */
  ggufF32?: string;
  /** GGUF with float16 tensors (norms stay float32, as llama.cpp writes them). */
  ggufF16?: string;
  /** HF folder: config.json + model.safetensors (float32). */
  hfDir?: string;
  /** The HF config.json written. */
  config: Record<string, unknown>;
}

/**
 * Writes a tiny random model into `dir`. Weights are drawn from a seeded normal and rounded to
 * float16, so the f32 and f16 GGUF files and the safetensors folder hold the same values.
 * Llama Q/K rows are permuted in the GGUF files exactly as llama.cpp's convert_hf_to_gguf does.
 */
export function makeTinyModel(dir: string, opts: TinyModelOptions): TinyModelFiles {
  const arch = opts.architecture ?? 'llama';
  const header = readGGUFHeader(opts.vocabFile);
  const tokens = header.metadata.get('tokenizer.ggml.tokens');
  if (!Array.isArray(tokens)) throw new ValueError(`makeTinyModel: ${opts.vocabFile} has no tokenizer.ggml.tokens`);
  const V = tokens.length;
  const C = opts.hiddenSize ?? 64;
  const H = opts.numHeads ?? 4;
  const KV = opts.numKvHeads ?? 2;
  const D = opts.headDim ?? C / H;
  const F = opts.intermediateSize ?? 128;
  const L = opts.numLayers ?? 2;
  const tied = opts.tieWordEmbeddings ?? false;
  const theta = opts.ropeTheta ?? 10000;
  const eps = opts.rmsNormEps ?? 1e-5;
  const ctx = opts.contextLength ?? 512;
  const num = (k: string) => {
    const v = header.metadata.get(`tokenizer.ggml.${k}`);
    return typeof v === 'number' ? v : undefined;
  };
  const gemma = arch === 'gemma3';
  const window = opts.slidingWindow ?? 8;
  const sliding = Array.from({ length: L }, (_, i) => (i + 1) % 6 !== 0);
  const config: Record<string, unknown> = {
    model_type: gemma ? 'gemma3_text' : arch,
    vocab_size: V,
    hidden_size: C,
    intermediate_size: F,
    num_hidden_layers: L,
    num_attention_heads: H,
    num_key_value_heads: KV,
    rms_norm_eps: eps,
    rope_theta: theta,
    tie_word_embeddings: tied,
    max_position_embeddings: ctx,
    bos_token_id: num('bos_token_id') ?? null,
    eos_token_id: num('eos_token_id') ?? null,
  };
  if (arch === 'qwen3' || gemma || D !== C / H) config.head_dim = D;
  if (gemma)
    Object.assign(config, {
      hidden_activation: 'gelu_pytorch_tanh',
      query_pre_attn_scalar: D,
      sliding_window: window,
      sliding_window_pattern: 6,
      layer_types: sliding.map((s) => (s ? 'sliding_attention' : 'full_attention')),
      rope_local_base_freq: 10000,
      final_logit_softcapping: null,
      attn_logit_softcapping: null,
    });
  const rs = opts.ropeScaling;
  if (rs)
    config.rope_scaling = {
      rope_type: 'llama3',
      factor: rs.factor,
      low_freq_factor: rs.lowFreqFactor,
      high_freq_factor: rs.highFreqFactor,
      original_max_position_embeddings: rs.originalMaxPositionEmbeddings,
    };
  const model = new LlamaModel(
    {
      architecture: arch,
      vocabSize: V,
      hiddenSize: C,
      intermediateSize: F,
      numLayers: L,
      numHeads: H,
      numKvHeads: KV,
      headDim: D,
      tieWordEmbeddings: tied,
      attentionBias: arch === 'qwen2',
      qkNorm: arch === 'qwen3' || gemma,
      ...(gemma ? { hiddenAct: 'gelu_tanh' as const, normWeightOffset: true, sandwichNorms: true, embedScale: true, slidingWindow: window, slidingLayers: sliding, ropeLocalTheta: 10000 } : {}),
      ropeTheta: theta,
      ropeScaling: rs ?? null,
      rmsNormEps: eps,
      maxPositionEmbeddings: ctx,
    },
    { device: 'cpu' },
  );
  const rng = seededRandom(opts.seed ?? 1);
  const gauss = () => {
    const u = Math.max(rng(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
  };
  // HF name -> float32 tensor holding f16-representable values
  const sd = new Map<string, Tensor>();
  const held: Tensor[] = [];
  try {
    for (const [name, p] of model.stateDict()) {
      const n = p.numel;
      const a = new Float32Array(n);
      // norm scales near 1 (Gemma's weights are the offset from 1)
      if (name.endsWith('norm.weight')) for (let i = 0; i < n; i++) a[i] = (gemma ? 0 : 1) + 0.1 * gauss();
      else if (name.endsWith('.bias')) for (let i = 0; i < n; i++) a[i] = 0.1 * gauss();
      else {
        // embeddings ~N(0,1) so the logits spread over a few units; projections ~1/sqrt(fan_in)
        const std = name.includes('embed_tokens') ? 1 : 1 / Math.sqrt(p.shape[1]!);
        for (let i = 0; i < n; i++) a[i] = std * gauss();
      }
      const f32 = tensor(a, p.shape as number[]);
      const h = cast(f32, 'float16');
      f32.dispose();
      const back = cast(h, 'float32');
      h.dispose();
      sd.set(name, back);
      held.push(back);
    }
    const files: TinyModelFiles = { config };
    mkdirSync(dir, { recursive: true });
    const formats = opts.formats ?? ['gguf-f32', 'gguf-f16', 'hf'];
    if (formats.includes('hf')) {
      const hfDir = join(dir, `${arch}-hf`);
      mkdirSync(hfDir, { recursive: true });
      writeFileSync(join(hfDir, 'config.json'), JSON.stringify(config, null, 2));
      saveSafetensorsModel(hfDir, sd);
      files.hfDir = hfDir;
    }
    const tokMeta = tokenizerMetadata(header);
    for (const f of ['gguf-f32', 'gguf-f16'] as const) {
      if (!formats.includes(f)) continue;
      const half = f === 'gguf-f16';
      const path = join(dir, `${arch}-${half ? 'f16' : 'f32'}.gguf`);
      saveGGUFModel(path, sd, model.config, { dtype: half ? 'float16' : 'float32', metadata: tokMeta, name: `edgetrain tiny ${arch}` });
      if (half) files.ggufF16 = path;
      else files.ggufF32 = path;
    }
    return files;
  } finally {
    for (const t of held) t.dispose();
    model.dispose();
  }
}

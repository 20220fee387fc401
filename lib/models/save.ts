// Writing a model as llama.cpp's converter would: HF-named weights -> GGUF names, Llama Q/K rows
// permuted, Gemma norms stored as 1 + w, rope scaling as metadata or a rope_freqs tensor, the
// tokenizer's tokenizer.ggml.* metadata carried over. Also the HF folder form (config.json +
// safetensors). Writes are atomic (see writeGGUF / saveSafetensorsModel).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ValueError } from '../errors.js';
import { writeFileAtomic } from '../formats/atomic.js';
import { gguf, writeGGUF, type GGUFHeader, type GGUFWritable } from '../formats/gguf.js';
import { saveSafetensorsModel } from '../formats/safetensors-sharded.js';
import { add } from '../ops/binary.js';
import { cast } from '../ops/copy.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';
import { type LlamaConfig, ropeInvFreq } from './config.js';
import { hfToGGUFName, permuteQK } from './gguf.js';

export interface SaveGGUFOptions {
  /** Matrices as float32 (default) or float16; 1-D tensors (norms, biases) stay float32, as llama.cpp writes them. */
  dtype?: 'float32' | 'float16';
  /** tokenizer.ggml.* (and any other) metadata to carry, e.g. from the base model's GGUF header. */
  metadata?: Map<string, GGUFWritable>;
  /** general.name. */
  name?: string;
}

/** A GGUF header's tokenizer.* metadata, typed as stored, to carry into a file written for the same vocabulary. */
export function tokenizerMetadata(header: Pick<GGUFHeader, 'metadata' | 'metadataTypes'>): Map<string, GGUFWritable> {
  const out = new Map<string, GGUFWritable>();
  for (const [k, v] of header.metadata) if (k.startsWith('tokenizer.')) out.set(k, gguf.typed(header.metadataTypes.get(k)!, v));
  return out;
}

/** GGUF metadata describing `c` (the keys llama.cpp reads for these architectures). */
export function ggufModelMetadata(c: LlamaConfig, opts?: { name?: string; half?: boolean }): Map<string, GGUFWritable> {
  const arch = c.architecture === 'mistral' ? 'llama' : c.architecture;
  const meta = new Map<string, GGUFWritable>();
  meta.set('general.architecture', gguf.str(arch));
  meta.set('general.name', gguf.str(opts?.name ?? `edgetrain ${arch}`));
  meta.set('general.file_type', gguf.u32(opts?.half ? 1 : 0));
  meta.set(`${arch}.block_count`, gguf.u32(c.numLayers));
  meta.set(`${arch}.context_length`, gguf.u32(c.maxPositionEmbeddings));
  meta.set(`${arch}.embedding_length`, gguf.u32(c.hiddenSize));
  meta.set(`${arch}.feed_forward_length`, gguf.u32(c.intermediateSize));
  meta.set(`${arch}.attention.head_count`, gguf.u32(c.numHeads));
  meta.set(`${arch}.attention.head_count_kv`, gguf.u32(c.numKvHeads));
  meta.set(`${arch}.rope.freq_base`, gguf.f32(c.ropeTheta));
  meta.set(`${arch}.attention.layer_norm_rms_epsilon`, gguf.f32(c.rmsNormEps));
  meta.set(`${arch}.rope.dimension_count`, gguf.u32(c.headDim));
  if (arch === 'qwen3' || arch === 'gemma3' || c.headDim !== c.hiddenSize / c.numHeads) {
    meta.set(`${arch}.attention.key_length`, gguf.u32(c.headDim));
    meta.set(`${arch}.attention.value_length`, gguf.u32(c.headDim));
  }
  if (c.slidingWindow !== null) meta.set(`${arch}.attention.sliding_window`, gguf.u32(c.slidingWindow));
  if (c.ropeScaling?.type === 'linear') {
    meta.set(`${arch}.rope.scaling.type`, gguf.str('linear'));
    meta.set(`${arch}.rope.scaling.factor`, gguf.f32(c.ropeScaling.factor));
  }
  return meta;
}

/**
 * The GGUF tensors of an HF-named state dict for config `c`: names mapped, Q/K permuted (llama),
 * Gemma norms + 1, matrices cast to `dtype`, and rope_freqs for llama3/factors scaling. Returns
 * the list to write and the temporaries to dispose after writing.
 */
export function ggufModelTensors(sd: Map<string, Tensor>, c: LlamaConfig, dtype: 'float32' | 'float16' = 'float32'): { tensors: { name: string; tensor: Tensor }[]; temps: Tensor[] } {
  const arch = c.architecture === 'mistral' ? 'llama' : c.architecture;
  const tensors: { name: string; tensor: Tensor }[] = [];
  const temps: Tensor[] = [];
  const tmp = (t: Tensor) => (temps.push(t), t);
  try {
    for (const [name, t] of sd) {
      if (c.tieWordEmbeddings && name === 'lm_head.weight') continue;
      const g = hfToGGUFName(name, arch);
      if (!g) throw new ValueError(`saveGGUFModel: no GGUF name for '${name}'`);
      let w = t;
      if (arch === 'llama' && /attn_[qk]\.(weight|bias)$/.test(g)) w = tmp(permuteQK(w, g.includes('attn_q') ? c.numHeads : c.numKvHeads));
      if (c.normWeightOffset && name.endsWith('norm.weight')) w = tmp(add(w.dtype === 'float32' ? w : tmp(cast(w, 'float32')), 1));
      const want = w.ndim >= 2 ? dtype : 'float32';
      if (w.dtype !== want) w = tmp(cast(w, want));
      tensors.push({ name: g, tensor: w });
    }
    const rs = c.ropeScaling;
    if (rs && rs.type !== 'linear') {
      // factor_i = unscaled / scaled inverse frequency (llama.cpp divides by it)
      const base = ropeInvFreq({ headDim: c.headDim, ropeTheta: c.ropeTheta, ropeScaling: null });
      const scaled = ropeInvFreq(c);
      tensors.push({ name: 'rope_freqs.weight', tensor: tmp(tensor(Float32Array.from(base, (b, i) => b / scaled[i]!), [c.headDim / 2])) });
    }
    return { tensors, temps };
  } catch (e) {
    for (const t of temps) t.dispose();
    throw e;
  }
}

/** Writes an HF-named state dict as a GGUF model file llama.cpp loads. */
export function saveGGUFModel(path: string, sd: Map<string, Tensor>, config: LlamaConfig, opts?: SaveGGUFOptions): void {
  const half = opts?.dtype === 'float16';
  const meta = ggufModelMetadata(config, { name: opts?.name, half });
  for (const [k, v] of opts?.metadata ?? []) if (!meta.has(k) || k.startsWith('tokenizer.')) meta.set(k, v);
  const { tensors, temps } = ggufModelTensors(sd, config, half ? 'float16' : 'float32');
  try {
    writeGGUF(path, { metadata: meta, tensors });
  } finally {
    for (const t of temps) t.dispose();
  }
}

/** Writes `dir/config.json` and the weights as `dir/model.safetensors` (or shards). */
export function saveHFModel(dir: string, sd: Map<string, Tensor>, configJson: Record<string, unknown>): void {
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'config.json'), new TextEncoder().encode(JSON.stringify(configJson, null, 2)));
  saveSafetensorsModel(dir, sd);
}

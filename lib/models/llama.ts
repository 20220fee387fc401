// The Llama-family decoder: one implementation configured for Llama 2/3.x, TinyLlama, SmolLM,
// Mistral, Qwen2/2.5 (qkv bias), Qwen3 (q/k RMSNorm) and Gemma 3 (GeGLU, (1 + w) norms around
// attention and MLP, scaled embeddings, local/global layers with their own rope bases). Modules and parameters carry Hugging
// Face's names (`model.layers.0.self_attn.q_proj.weight`, `lm_head.weight`), so an HF safetensors
// state dict loads with loadStateDict as it is.
import { checkpoint } from '../autograd/functional.js';
import { isGradEnabled } from '../autograd/engine.js';
import { EdgeTrainError, ShapeError, ValueError } from '../errors.js';
import { Module } from '../nn/module.js';
import { Linear } from '../nn/linear.js';
import { Embedding } from '../nn/embedding.js';
import { RMSNorm } from '../nn/norm.js';
import { ModuleList } from '../nn/container.js';
import { add, mul, neg } from '../ops/binary.js';
import { copyInto, to as toDevice } from '../ops/copy.js';
import { tensor, zeros } from '../ops/creation.js';
import { scaledDotProductAttention } from '../ops/attention.js';
import { rope } from '../ops/rope.js';
import { swiglu } from '../ops/swiglu.js';
import { gelu } from '../ops/unary.js';
import { cat, reshape, slice, transpose } from '../ops/shape.js';
import { keep, tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { type LlamaConfig, type LlamaConfigInit, llamaConfig, ropeInvFreq } from './config.js';

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

export interface KVCacheOptions {
  /** Longest sequence (prompt + generated) the cache holds; default the model's maxPositionEmbeddings. */
  maxLength?: number;
  /** Sequences decoded together (default 1). */
  batchSize?: number;
  /** Default: the device of the model's weights. */
  device?: string;
}

/**
 * Keys and values of every layer for the positions seen so far: per layer k and v of shape
 * [B, numKvHeads, maxLength, headDim], allocated once and written in place. `length` is the
 * number of filled positions; a forward with the cache writes positions startPos..startPos+T
 * and sets length to startPos + T. Inference only (the in-place writes are not differentiable).
 */
export class KVCache {
  readonly k: Tensor[] = [];
  readonly v: Tensor[] = [];
  readonly batchSize: number;
  readonly maxLength: number;
  /** Filled positions. Set it lower to roll back (later positions are overwritten). */
  length = 0;

  constructor(config: LlamaConfig, opts: KVCacheOptions & { device: string }) {
    this.batchSize = opts.batchSize ?? 1;
    this.maxLength = opts.maxLength ?? config.maxPositionEmbeddings;
    for (const [n, v] of [['batchSize', this.batchSize], ['maxLength', this.maxLength]] as const)
      if (!Number.isInteger(v) || v <= 0) throw new ValueError(`KVCache: ${n} must be a positive integer, got ${v}`);
    const shape = [this.batchSize, config.numKvHeads, this.maxLength, config.headDim];
    for (let i = 0; i < config.numLayers; i++) {
      this.k.push(keep(zeros(shape, { device: opts.device })));
      this.v.push(keep(zeros(shape, { device: opts.device })));
    }
  }

  /** Forgets every position (the memory stays allocated). */
  reset(): void {
    this.length = 0;
  }

  dispose(): void {
    for (const t of [...this.k, ...this.v]) t.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** How rotary embeddings are applied: by the rope kernel (uniform scaling) or by cos/sin tables. */
interface RopePlan {
  kernel: boolean;
  base: number;
  freqScale: number;
  invFreq: Float64Array;
}

function ropePlan(c: LlamaConfig, local = false): RopePlan {
  // Gemma 3's local layers: their own base, no scaling
  if (local && c.ropeLocalTheta !== null) c = { ...c, ropeTheta: c.ropeLocalTheta, ropeScaling: null };
  const rs = c.ropeScaling;
  return {
    // the kernel computes pos * freqScale * base^(-2i/D): it expresses none/linear scaling only
    kernel: !rs || rs.type === 'linear',
    base: c.ropeTheta,
    freqScale: rs?.type === 'linear' ? 1 / rs.factor : 1,
    invFreq: ropeInvFreq(c),
  };
}

/**
 * Positions of one forward, shared by every layer: the rope kernel's parameters or (per-frequency
 * scaling) cos/sin tables [T, D], and the sliding-window mask [T, S] (1 = may attend) when the
 * window cuts off keys. Host arrays, not tensors, so a checkpointed block recomputed during
 * backward can still use them.
 */
interface RopeCtx {
  start: number;
  plan: RopePlan;
  cos?: Float32Array;
  sin?: Float32Array;
  mask?: Uint8Array;
}

/** Positions start..start+T-1 against S keys (the last T of which are these tokens). */
function ropeContext(plan: RopePlan, start: number, T: number, S: number, D: number, window: number | null): RopeCtx {
  let mask: Uint8Array | undefined;
  if (window !== null && start + T - 1 >= window) {
    mask = new Uint8Array(T * S);
    const k0 = start + T - S; // position of key 0
    for (let t = 0; t < T; t++) {
      const p = start + t;
      for (let j = 0; j < S; j++) {
        const kp = k0 + j;
        mask[t * S + j] = kp <= p && kp > p - window ? 1 : 0;
      }
    }
  }
  if (plan.kernel) return { start, plan, mask };
  const half = D / 2;
  const cos = new Float32Array(T * D);
  const sin = new Float32Array(T * D);
  for (let t = 0; t < T; t++)
    for (let i = 0; i < half; i++) {
      const a = (start + t) * plan.invFreq[i]!;
      cos[t * D + i] = cos[t * D + i + half] = Math.cos(a);
      sin[t * D + i] = sin[t * D + i + half] = Math.sin(a);
    }
  return { start, plan, cos, sin, mask };
}

/** Rotary embedding (HF rotate_half layout: pairs (i, i + D/2)) of x [B, T, H, D]. */
function applyRope(x: Tensor, r: RopeCtx): Tensor {
  if (!r.cos) return rope(x, { base: r.plan.base, positions: r.start, mode: 'neox', freqScale: r.plan.freqScale });
  const [, T, , D] = x.shape as [number, number, number, number];
  const half = D / 2;
  return tidy(() => {
    const cos = tensor(r.cos!, [T, 1, D], { device: x.device });
    const sin = tensor(r.sin!, [T, 1, D], { device: x.device });
    const rot = cat([neg(slice(x, 3, half, D)), slice(x, 3, 0, half)], 3);
    return add(mul(x, cos), mul(rot, sin));
  });
}


/** Multi-head attention with grouped-query heads, rope, optional q/k RMSNorm and a KV cache. */
export class LlamaAttention extends Module {
  declare q_proj: Linear;
  declare k_proj: Linear;
  declare v_proj: Linear;
  declare o_proj: Linear;
  declare q_norm: RMSNorm | null;
  declare k_norm: RMSNorm | null;
  readonly config: LlamaConfig;

  constructor(c: LlamaConfig, opts?: BlockOptions) {
    super();
    this.config = c;
    const dev = opts?.device;
    const C = c.hiddenSize;
    this.registerModule('q_proj', new Linear(C, c.numHeads * c.headDim, { bias: c.attentionBias, device: dev, init: opts?.init }));
    this.registerModule('k_proj', new Linear(C, c.numKvHeads * c.headDim, { bias: c.attentionBias, device: dev, init: opts?.init }));
    this.registerModule('v_proj', new Linear(C, c.numKvHeads * c.headDim, { bias: c.attentionBias, device: dev, init: opts?.init }));
    this.registerModule('o_proj', new Linear(c.numHeads * c.headDim, C, { bias: false, device: dev, init: opts?.init }));
    this.registerModule('q_norm', c.qkNorm ? norm(c, c.headDim, dev) : null);
    this.registerModule('k_norm', c.qkNorm ? norm(c, c.headDim, dev) : null);
  }

  /** x [B, T, C] at positions start.. -> [B, T, C]; with `cache`, keys/values go to layer `layer` of it. */
  forward(x: Tensor, rp: RopeCtx, cache?: { cache: KVCache; layer: number }): Tensor {
    const c = this.config;
    const start = rp.start;
    const [B, T] = x.shape as [number, number, number];
    const D = c.headDim;
    return tidy(() => {
      let q = reshape(this.q_proj.forward(x), [B, T, c.numHeads, D]);
      let k = reshape(this.k_proj.forward(x), [B, T, c.numKvHeads, D]);
      const v = reshape(this.v_proj.forward(x), [B, T, c.numKvHeads, D]);
      if (this.q_norm) q = this.q_norm.forward(q);
      if (this.k_norm) k = this.k_norm.forward(k);
      q = applyRope(q, rp);
      k = applyRope(k, rp);
      const qh = transpose(q, 1, 2); // [B, H, T, D] views; sdpa takes strided q/k/v
      let kh = transpose(k, 1, 2);
      let vh = transpose(v, 1, 2);
      if (cache) {
        const { cache: kv, layer } = cache;
        const kc = kv.k[layer]!;
        const vc = kv.v[layer]!;
        copyInto(slice(kc, 2, start, start + T), kh);
        copyInto(slice(vc, 2, start, start + T), vh);
        kh = slice(kc, 2, 0, start + T);
        vh = slice(vc, 2, 0, start + T);
      }
      // causal is bottom-right aligned: query i (position start + i) sees keys 0..start + i
      const S = kh.shape[2]!;
      const mask = rp.mask ? tensor(rp.mask, [T, S], { device: x.device }) : undefined;
      const o = scaledDotProductAttention(qh, kh, vh, { causal: true, mask, scale: c.attentionScale ?? undefined });
      return this.o_proj.forward(reshape(transpose(o, 1, 2), [B, T, c.numHeads * D]));
    });
  }

  protected override extraRepr(): string {
    const c = this.config;
    return `heads=${c.numHeads}, kvHeads=${c.numKvHeads}, headDim=${c.headDim}${c.qkNorm ? ', qkNorm' : ''}`;
  }
}

/** The SwiGLU feed-forward block: down(silu(gate(x)) * up(x)). */
export class LlamaMLP extends Module {
  declare gate_proj: Linear;
  declare up_proj: Linear;
  declare down_proj: Linear;

  constructor(c: LlamaConfig, opts?: BlockOptions) {
    super();
    const dev = opts?.device;
    this.registerModule('gate_proj', new Linear(c.hiddenSize, c.intermediateSize, { bias: false, device: dev, init: opts?.init }));
    this.registerModule('up_proj', new Linear(c.hiddenSize, c.intermediateSize, { bias: false, device: dev, init: opts?.init }));
    this.registerModule('down_proj', new Linear(c.intermediateSize, c.hiddenSize, { bias: false, device: dev, init: opts?.init }));
    this.geglu = c.hiddenAct === 'gelu_tanh';
  }

  private readonly geglu: boolean;

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const g = this.gate_proj.forward(x);
      const u = this.up_proj.forward(x);
      return this.down_proj.forward(this.geglu ? mul(gelu(g, { approximate: 'tanh' }), u) : swiglu(g, u));
    });
  }
}

/**
 * One pre-norm block: x + attn(norm(x)), then h + mlp(norm(h)). With sandwich norms (Gemma 3) the
 * attention and MLP outputs are normed too: h = x + post_attention(attn(input(x))),
 * h + post_feedforward(mlp(pre_feedforward(h))). (In Llama naming post_attention_layernorm is
 * the MLP's input norm; in Gemma 3's it norms the attention output.)
 */
export class LlamaDecoderLayer extends Module {
  declare self_attn: LlamaAttention;
  declare mlp: LlamaMLP;
  declare input_layernorm: RMSNorm;
  declare post_attention_layernorm: RMSNorm;
  declare pre_feedforward_layernorm: RMSNorm | null;
  declare post_feedforward_layernorm: RMSNorm | null;

  constructor(c: LlamaConfig, opts?: BlockOptions) {
    super();
    const dev = opts?.device;
    this.registerModule('self_attn', new LlamaAttention(c, opts));
    this.registerModule('mlp', new LlamaMLP(c, opts));
    this.registerModule('input_layernorm', norm(c, c.hiddenSize, dev));
    this.registerModule('post_attention_layernorm', norm(c, c.hiddenSize, dev));
    this.registerModule('pre_feedforward_layernorm', c.sandwichNorms ? norm(c, c.hiddenSize, dev) : null);
    this.registerModule('post_feedforward_layernorm', c.sandwichNorms ? norm(c, c.hiddenSize, dev) : null);
  }

  forward(x: Tensor, rp: RopeCtx, cache?: { cache: KVCache; layer: number }): Tensor {
    return tidy(() => {
      const a = this.self_attn.forward(this.input_layernorm.forward(x), rp, cache);
      if (!this.pre_feedforward_layernorm) {
        const h = add(x, a);
        return add(h, this.mlp.forward(this.post_attention_layernorm.forward(h)));
      }
      const h = add(x, this.post_attention_layernorm.forward(a));
      return add(h, this.post_feedforward_layernorm!.forward(this.mlp.forward(this.pre_feedforward_layernorm.forward(h))));
    });
  }
}

/** An RMSNorm over `dim` with the config's eps and weight convention. */
function norm(c: LlamaConfig, dim: number, device?: string): RMSNorm {
  return new RMSNorm(dim, { eps: c.rmsNormEps, device, weightOffset: c.normWeightOffset });
}

/** HF's `model` submodule: embeddings, the blocks and the final norm. */
export class LlamaBackbone extends Module {
  declare embed_tokens: Embedding;
  declare layers: ModuleList<LlamaDecoderLayer>;
  declare norm: RMSNorm;

  constructor(c: LlamaConfig, opts?: BlockOptions) {
    super();
    this.registerModule('embed_tokens', new Embedding(c.vocabSize, c.hiddenSize, { device: opts?.device, init: opts?.init }));
    this.registerModule('layers', new ModuleList(Array.from({ length: c.numLayers }, () => new LlamaDecoderLayer(c, opts))));
    this.registerModule('norm', norm(c, c.hiddenSize, opts?.device));
  }

  forward(): never {
    throw new EdgeTrainError('LlamaBackbone: call LlamaModel.forward');
  }
}

export interface LlamaForwardOptions {
  /** Read and extend this KV cache (inference: run under noGrad). */
  cache?: KVCache;
  /** Position of the first token; default cache.length (0 without a cache). */
  startPos?: number;
  /** Logits of the last position only ([B, 1, vocab]); saves the head's work during prefill. */
  lastOnly?: boolean;
  /** Recompute each block's activations during backward instead of keeping them (default: the model's `checkpointing`). */
  checkpoint?: boolean;
}

/** What the blocks' constructors take. */
interface BlockOptions {
  device?: string;
  /** false: parameters are left uninitialised (weights about to be loaded). */
  init?: boolean;
}

export interface LlamaModelOptions {
  device?: string;
  /** false: leave the weights uninitialised, for a loader that fills or assigns every one. Default true. */
  init?: boolean;
  /** Activation checkpointing per block during training forwards (default false). */
  checkpointing?: boolean;
}

/**
 * A Llama-family causal language model (HF LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM):
 * `forward(ids int32 [B, T]) -> logits [B, T, vocab]`. Weights start random (load them with
 * loadStateDict / load); with `tieWordEmbeddings` lm_head.weight is model.embed_tokens.weight
 * (the state dict lists it once, under the embedding's name, and accepts either name).
 */
export class LlamaModel extends Module {
  declare model: LlamaBackbone;
  declare lm_head: Linear;
  readonly config: LlamaConfig;
  /** Activation checkpointing per block in training forwards. */
  checkpointing: boolean;
  private readonly rp: RopePlan;
  /** Rope of the sliding-window layers when it differs (Gemma 3). */
  private readonly rpLocal: RopePlan;

  constructor(config: LlamaConfig | LlamaConfigInit, opts?: LlamaModelOptions) {
    super();
    const c = llamaConfig(config);
    this.config = c;
    this.checkpointing = opts?.checkpointing ?? false;
    this.rp = ropePlan(c);
    this.rpLocal = ropePlan(c, true);
    this.registerModule('model', new LlamaBackbone(c, opts));
    const head = new Linear(c.hiddenSize, c.vocabSize, { bias: false, device: opts?.device, init: opts?.init !== false && !c.tieWordEmbeddings });
    if (c.tieWordEmbeddings) {
      head.weight.dispose();
      head.weight = this.model.embed_tokens.weight;
    }
    this.registerModule('lm_head', head);
  }

  /** Device of the weights. */
  get device(): string {
    return this.model.embed_tokens.weight.device;
  }

  /** A KV cache for this model (on its device unless told otherwise). */
  createCache(opts?: KVCacheOptions): KVCache {
    return new KVCache(this.config, { ...opts, device: opts?.device ?? this.device });
  }

  /** ids int32 [B, T] -> logits [B, T, vocab] (or [B, 1, vocab] with lastOnly). */
  forward(ids: Tensor, opts?: LlamaForwardOptions): Tensor {
    const c = this.config;
    ids.assertLive('LlamaModel.forward');
    if (ids.dtype !== 'int32' || ids.ndim !== 2)
      throw new ShapeError(`LlamaModel.forward: ids must be int32 [B, T], got ${ids.dtype} ${fmt(ids.shape)}`);
    const [B, T] = ids.shape as [number, number];
    if (T === 0) throw new ShapeError(`LlamaModel.forward: ids ${fmt(ids.shape)} has no tokens`);
    const cache = opts?.cache;
    const start = opts?.startPos ?? cache?.length ?? 0;
    if (!Number.isInteger(start) || start < 0) throw new ValueError(`LlamaModel.forward: startPos must be a non-negative integer, got ${start}`);
    if (cache) {
      if (cache.batchSize !== B) throw new ShapeError(`LlamaModel.forward: ids ${fmt(ids.shape)} has batch ${B} but the cache holds ${cache.batchSize}`);
      if (start > cache.length) throw new ValueError(`LlamaModel.forward: startPos ${start} is past the cache's ${cache.length} filled positions`);
      if (start + T > cache.maxLength)
        throw new ValueError(`LlamaModel.forward: positions ${start}..${start + T - 1} do not fit the cache (maxLength ${cache.maxLength})`);
      // cached keys/values are written in place, outside the graph: no gradient would reach q/k/v weights
      if (isGradEnabled() && this.parameters({ trainableOnly: true }).length > 0)
        throw new EdgeTrainError('LlamaModel.forward: the KV cache is for inference; run it under et.noGrad (or freeze the model)');
    }
    const ckpt = !cache && (opts?.checkpoint ?? this.checkpointing) && isGradEnabled();
    const S = cache ? start + T : T;
    // Per layer: full causal (global) or windowed (local); one context each, shared by the layers
    const sl = c.slidingLayers;
    const rpGlobal = ropeContext(this.rp, start, T, S, c.headDim, sl ? null : c.slidingWindow);
    const rpLocal = sl ? ropeContext(this.rpLocal, start, T, S, c.headDim, c.slidingWindow) : rpGlobal;
    const logits = tidy(() => {
      let x = this.model.embed_tokens.forward(ids.device === this.device ? ids : toDevice(ids, this.device));
      if (c.embedScale) {
        const e = x;
        x = mul(e, Math.fround(Math.sqrt(c.hiddenSize)));
        e.dispose();
      }
      let i = 0;
      for (const layer of this.model.layers) {
        const li = i++;
        const rp = sl?.[li] ? rpLocal : rpGlobal;
        const prev = x;
        if (ckpt) x = checkpoint((h: Tensor) => layer.forward(h, rp), x);
        else x = layer.forward(x, rp, cache ? { cache, layer: li } : undefined);
        prev.dispose();
      }
      if (opts?.lastOnly && T > 1) x = slice(x, 1, T - 1, T);
      return this.lm_head.forward(this.model.norm.forward(x));
    });
    if (cache) cache.length = start + T;
    return logits;
  }

  protected override extraRepr(): string {
    const c = this.config;
    return `${c.architecture}, layers=${c.numLayers}, hidden=${c.hiddenSize}, vocab=${c.vocabSize}${c.tieWordEmbeddings ? ', tied' : ''}`;
  }
}

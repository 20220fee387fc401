// LoRA (low-rank adapters): y = W x + b + s * B (A dropout(x)), with the base W, b frozen and
// only A [r, in] and B [out, r] trained. Parameter names follow PEFT's saved adapters
// (`<module>.lora_A.weight`, `<module>.lora_B.weight`), so the wrapped module keeps its own
// `weight`/`bias` names and a PEFT file maps onto it by prefixing `base_model.model.`.
import { ValueError } from '../errors.js';
import { add, mul } from '../ops/binary.js';
import { cast, contiguous } from '../ops/copy.js';
import { rand, randn, zeros } from '../ops/creation.js';
import { embedding } from '../ops/embedding.js';
import { dropout } from '../ops/dropout.js';
import { matmul } from '../ops/matmul.js';
import { loraLinear } from '../ops/lora-linear.js';
import { transpose } from '../ops/shape.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { Embedding } from './embedding.js';
import { Linear } from './linear.js';
import { QLinear } from './qlinear.js';
import { matmulQ } from '../ops/quant.js';
import type { QuantizedWeight } from '../quant/qweight.js';
import { Module } from './module.js';

export interface LoRAOptions {
  /** Rank r of the update B A. */
  rank: number;
  /** Scale numerator: the update is multiplied by alpha / r (alpha / sqrt(r) with rsLoRA). Default: rank (scale 1). */
  alpha?: number;
  /** Dropout on the adapter's input (training mode only). Default 0. */
  dropout?: number;
  /** rsLoRA scaling alpha / sqrt(r) instead of alpha / r. */
  rsLoRA?: boolean;
  /**
   * A's initialisation (B starts at zero either way, so the adapted model starts as the base):
   * 'kaiming' uniform(-1/sqrt(in), 1/sqrt(in)) as PEFT's default, or 'gaussian' N(0, 1/r).
   */
  init?: 'kaiming' | 'gaussian';
  /** Seed of A's initial values (the global stream when omitted). */
  seed?: number;
}

interface Resolved {
  rank: number;
  alpha: number;
  dropout: number;
  rsLoRA: boolean;
  init: 'kaiming' | 'gaussian';
}

export function resolveLoRAOptions(op: string, o: LoRAOptions): Resolved {
  const r = o.rank;
  if (!Number.isInteger(r) || r <= 0) throw new ValueError(`${op}: rank must be a positive integer, got ${r}`);
  const alpha = o.alpha ?? r;
  if (!Number.isFinite(alpha) || alpha <= 0) throw new ValueError(`${op}: alpha must be a positive number, got ${alpha}`);
  const p = o.dropout ?? 0;
  if (!(p >= 0 && p < 1)) throw new ValueError(`${op}: dropout must be in [0, 1), got ${p}`);
  const init = o.init ?? 'kaiming';
  if (init !== 'kaiming' && init !== 'gaussian') throw new ValueError(`${op}: init must be 'kaiming' or 'gaussian', got ${String(init)}`);
  return { rank: r, alpha, dropout: p, rsLoRA: o.rsLoRA ?? false, init };
}

/** alpha / r, or alpha / sqrt(r) with rsLoRA. */
export function loraScale(o: { rank: number; alpha: number; rsLoRA: boolean }): number {
  return o.rsLoRA ? o.alpha / Math.sqrt(o.rank) : o.alpha / o.rank;
}

/** A [r, in]: PEFT's kaiming_uniform(a = sqrt(5)), i.e. uniform(-1/sqrt(in), 1/sqrt(in)), or N(0, 1/r). */
function initA(rank: number, fanIn: number, o: Resolved, seed: number | undefined, device: string): Tensor {
  if (o.init === 'gaussian') return randn([rank, fanIn], { std: 1 / rank, seed, device });
  const bound = 1 / Math.sqrt(fanIn);
  return rand([rank, fanIn], { low: -bound, high: bound, seed, device });
}

/** A bias-free Linear holding `w` [out, in] as its (trainable) weight. */
function linearOf(w: Tensor): Linear {
  const l = new Linear(w.shape[1]!, w.shape[0]!, { bias: false, device: w.device, init: false });
  l.loadStateDict({ weight: w }, { assign: true });
  return l;
}

/**
 * A Linear with a LoRA adapter; `weight`/`bias` are the base layer's (frozen) tensors. The base
 * may be a QLinear (QLoRA): then `weight` is null and `qweight` holds the quantized blocks.
 */
export class LoRALinear extends Module {
  declare weight: Tensor | null;
  /** The quantized base weight (QLoRA), or undefined for a dense base. */
  readonly qweight?: QuantizedWeight;
  declare bias: Tensor | null;
  declare lora_A: Linear;
  declare lora_B: Linear;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly rank: number;
  readonly alpha: number;
  readonly rsLoRA: boolean;
  readonly dropoutP: number;
  /** The update's multiplier (alpha / r or alpha / sqrt(r)). */
  readonly scale: number;
  /** When false, forward is the base layer alone (the adapter is kept). */
  enabled = true;

  constructor(base: Linear | QLinear, opts: LoRAOptions) {
    super();
    const o = resolveLoRAOptions('LoRALinear', opts);
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.rank = o.rank;
    this.alpha = o.alpha;
    this.rsLoRA = o.rsLoRA;
    this.dropoutP = o.dropout;
    this.scale = loraScale(o);
    this.training = base.training;
    let dev: string;
    if (base instanceof QLinear) {
      this.qweight = base.qweight;
      dev = base.qweight.data.device;
      this.registerParameter('weight', null);
      this.registerBuffer('qdata', base.qweight.data, { persistent: false });
    } else {
      dev = base.weight.device;
      this.registerParameter('weight', base.weight);
      base.weight.requiresGrad = false;
    }
    this.registerParameter('bias', base.bias);
    if (base.bias) base.bias.requiresGrad = false;
    this.registerModule('lora_A', linearOf(initA(o.rank, this.inFeatures, o, opts.seed, dev)));
    this.registerModule('lora_B', linearOf(zeros([this.outFeatures, o.rank], { device: dev })));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      if (!this.enabled) {
        const y = this.qweight ? matmulQ(x, this.qweight) : matmul(x, transpose(this.weight!));
        return this.bias ? add(y, this.bias) : y;
      }
      const xin = this.training && this.dropoutP > 0 ? dropout(x, this.dropoutP) : x;
      if (this.weight?.requiresGrad) {
        // an unfrozen base (the fused node gives the base weight no gradient): the ops spelled out
        const low = matmul(matmul(xin, transpose(this.lora_A.weight)), transpose(this.lora_B.weight));
        const base = matmul(x, transpose(this.weight));
        const y = add(this.bias ? add(base, this.bias) : base, this.scale === 1 ? low : mul(low, this.scale));
        return y;
      }
      // one node: the low-rank product accumulates into the base output (lib/ops/lora-linear.ts)
      const y = loraLinear(x, { weight: this.weight, qweight: this.qweight }, xin, this.lora_A.weight, this.lora_B.weight, this.scale);
      return this.bias ? add(y, this.bias) : y;
    });
  }

  protected override extraRepr(): string {
    return `in=${this.inFeatures}, out=${this.outFeatures}, r=${this.rank}, alpha=${this.alpha}${this.rsLoRA ? ', rsLoRA' : ''}`;
  }
}

/**
 * An Embedding with a LoRA adapter, in PEFT's form: lora_embedding_A [r, num] starts at zero,
 * lora_embedding_B [dim, r] at N(0, 1); rows get s * B (A[:, id]).
 */
export class LoRAEmbedding extends Module {
  declare weight: Tensor;
  declare lora_embedding_A: Tensor;
  declare lora_embedding_B: Tensor;
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly rank: number;
  readonly alpha: number;
  readonly rsLoRA: boolean;
  readonly scale: number;
  enabled = true;

  constructor(base: Embedding, opts: LoRAOptions) {
    super();
    const o = resolveLoRAOptions('LoRAEmbedding', opts);
    if (o.dropout > 0) throw new ValueError('LoRAEmbedding: dropout is not supported on embedding adapters (PEFT has none either)');
    this.numEmbeddings = base.numEmbeddings;
    this.embeddingDim = base.embeddingDim;
    this.rank = o.rank;
    this.alpha = o.alpha;
    this.rsLoRA = o.rsLoRA;
    this.scale = loraScale(o);
    const dev = base.weight.device;
    this.registerParameter('weight', base.weight);
    base.weight.requiresGrad = false;
    this.registerParameter('lora_embedding_A', zeros([o.rank, this.numEmbeddings], { device: dev }));
    this.registerParameter('lora_embedding_B', randn([this.embeddingDim, o.rank], { seed: opts.seed, device: dev }));
  }

  forward(ids: Tensor): Tensor {
    return tidy(() => {
      let y = embedding(this.weight, ids);
      if (y.dtype !== 'float32') y = cast(y, 'float32');
      if (!this.enabled) return y;
      // A^T as a [num, r] table (a copy: the embedding kernel gathers contiguous rows)
      const rows = embedding(contiguous(transpose(this.lora_embedding_A)), ids);
      const low = matmul(rows, transpose(this.lora_embedding_B));
      return add(y, this.scale === 1 ? low : mul(low, this.scale));
    });
  }

  protected override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}, r=${this.rank}, alpha=${this.alpha}${this.rsLoRA ? ', rsLoRA' : ''}`;
  }
}

/** Module names LoRA targets by default: every attention and MLP projection. */
export const DEFAULT_LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

export interface ApplyLoRAOptions extends LoRAOptions {
  /**
   * Last name components of the modules to adapt (Linear or Embedding), e.g. ['q_proj', 'v_proj'];
   * 'lm_head' and 'embed_tokens' adapt the output head and the embeddings. Default: DEFAULT_LORA_TARGETS.
   */
  targets?: readonly string[];
  /** Decoder layers to adapt (the N of `layers.N.`): indices, or an inclusive [first, last] range. Default all. */
  layers?: readonly number[] | { first: number; last: number };
}

export type LoRAModule = LoRALinear | LoRAEmbedding;

/**
 * Wraps the targeted submodules of `model` with LoRA adapters in place, freezes every other
 * parameter (the base's weights then never get a gradient: matmul computes only the input
 * gradient through a frozen weight), and returns the adapters by module path. Each adapter's A
 * is seeded from `seed` + its index, so the same options give the same adapter.
 */
export function applyLoRA(model: Module, opts: ApplyLoRAOptions): Map<string, LoRAModule> {
  resolveLoRAOptions('applyLoRA', opts);
  const targets = new Set(opts.targets ?? DEFAULT_LORA_TARGETS);
  if (targets.size === 0) throw new ValueError('applyLoRA: targets is empty');
  const inLayers = layerFilter(opts.layers);
  const found: [Module, string, string, Module][] = [];
  for (const [path, parent] of model.namedModules())
    for (const [name, child] of parent.namedChildren()) {
      if (!targets.has(name)) continue;
      const full = path ? `${path}.${name}` : name;
      const li = /(?:^|\.)layers\.(\d+)\./.exec(full);
      if (li && !inLayers(Number(li[1]))) continue;
      if (child instanceof LoRALinear || child instanceof LoRAEmbedding) throw new ValueError(`applyLoRA: ${full} already has a LoRA adapter`);
      if (!(child instanceof Linear) && !(child instanceof QLinear) && !(child instanceof Embedding))
        throw new ValueError(`applyLoRA: ${full} is a ${child.constructor.name}; LoRA wraps Linear, QLinear and Embedding modules`);
      found.push([parent, name, full, child]);
    }
  const missing = [...targets].filter((t) => !found.some(([, n]) => n === t));
  if (missing.length) throw new ValueError(`applyLoRA: no module named ${missing.map((m) => `'${m}'`).join(', ')} in the selected layers`);
  model.freeze();
  const out = new Map<string, LoRAModule>();
  found.forEach(([parent, name, full, child], i) => {
    const seed = opts.seed === undefined ? undefined : opts.seed + i;
    const m = child instanceof Embedding ? new LoRAEmbedding(child, { ...opts, seed }) : new LoRALinear(child as Linear | QLinear, { ...opts, seed });
    parent.replaceModule(name, m);
    out.set(full, m);
  });
  return out;
}

function layerFilter(l: ApplyLoRAOptions['layers']): (i: number) => boolean {
  if (l === undefined) return () => true;
  if (Array.isArray(l)) {
    for (const i of l) if (!Number.isInteger(i) || i < 0) throw new ValueError(`applyLoRA: layer index ${i} is not a non-negative integer`);
    const s = new Set(l);
    return (i) => s.has(i);
  }
  const r = l as { first: number; last: number };
  if (!Number.isInteger(r.first) || !Number.isInteger(r.last) || r.first < 0 || r.last < r.first)
    throw new ValueError(`applyLoRA: layers range {first: ${r.first}, last: ${r.last}} is not a valid inclusive range`);
  return (i) => i >= r.first && i <= r.last;
}

/** The adapters' trainable tensors (A and B of each), in module order. */
export function loraParameters(adapters: Map<string, LoRAModule>): Tensor[] {
  const out: Tensor[] = [];
  for (const m of adapters.values())
    if (m instanceof LoRALinear) out.push(m.lora_A.weight, m.lora_B.weight);
    else out.push(m.lora_embedding_A, m.lora_embedding_B);
  return out;
}

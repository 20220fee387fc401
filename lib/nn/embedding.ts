// Embedding: a lookup table of rows, indexed by int32 token ids.
import { ValueError } from '../errors.js';
import { randn } from '../ops/creation.js';
import { embedding } from '../ops/embedding.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export interface EmbeddingOptions {
  device?: string;
  /** Seed for the initial values; the global stream when omitted. */
  seed?: number;
}

/** `forward(ids int32 [...]) -> [..., dim]`; weight [num, dim] starts N(0, 1) as in PyTorch. */
export class Embedding extends Module {
  declare weight: Tensor;
  readonly numEmbeddings: number;
  readonly embeddingDim: number;

  constructor(numEmbeddings: number, embeddingDim: number, opts?: EmbeddingOptions) {
    super();
    for (const [n, v] of [['numEmbeddings', numEmbeddings], ['embeddingDim', embeddingDim]] as const)
      if (!Number.isInteger(v) || v <= 0) throw new ValueError(`Embedding: ${n} must be a positive integer, got ${v}`);
    this.numEmbeddings = numEmbeddings;
    this.embeddingDim = embeddingDim;
    this.registerParameter('weight', randn([numEmbeddings, embeddingDim], { device: opts?.device, seed: opts?.seed }));
  }

  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }

  protected override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}`;
  }
}

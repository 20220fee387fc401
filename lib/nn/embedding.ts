// Embedding: a lookup table of rows, indexed by int32 token ids.
import { ValueError } from '../errors.js';
import { randn } from '../ops/creation.js';
import { embedding } from '../ops/embedding.js';
import { resolveDevice } from '../device.js';
import { cast } from '../ops/copy.js';
import { Tensor } from '../tensor.js';
import { Module } from './module.js';

export interface EmbeddingOptions {
  device?: string;
  /** Seed for the initial values; the global stream when omitted. */
  seed?: number;
  /** false: leave the table uninitialised (weights about to be loaded). Default true. */
  init?: boolean;
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
    const shape = [numEmbeddings, embeddingDim];
    this.registerParameter('weight', opts?.init === false ? Tensor.empty(shape, 'float32', resolveDevice(opts?.device, 'Embedding')) : randn(shape, { device: opts?.device, seed: opts?.seed }));
  }

  /** Rows come out as float32 whatever the table's dtype (a float16 table is gathered, then widened). */
  forward(ids: Tensor): Tensor {
    const y = embedding(this.weight, ids);
    if (y.dtype === 'float32') return y;
    const f = cast(y, 'float32');
    y.dispose();
    return f;
  }

  protected override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}`;
  }
}

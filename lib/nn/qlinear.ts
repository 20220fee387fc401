// A Linear layer whose weight stays in a ggml block format (frozen): forward x . W^T through the
// native quantized matmul, input gradient dy . W; no weight gradient (QLoRA trains adapters on
// top, see LoRALinear). The blocks are a non-persistent buffer: stateDict() has no `weight`.
import { ValueError } from '../errors.js';
import { add } from '../ops/binary.js';
import { matmulQ } from '../ops/quant.js';
import { QuantizedWeight } from '../quant/qweight.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export class QLinear extends Module {
  declare qdata: Tensor;
  declare bias: Tensor | null;
  readonly qweight: QuantizedWeight;
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(qweight: QuantizedWeight, bias: Tensor | null = null) {
    super();
    this.qweight = qweight;
    [this.outFeatures, this.inFeatures] = qweight.shape;
    if (bias && (bias.ndim !== 1 || bias.shape[0] !== this.outFeatures)) throw new ValueError(`QLinear: bias [${bias.shape}] does not fit ${this.outFeatures} outputs`);
    this.registerBuffer('qdata', qweight.data, { persistent: false });
    this.registerParameter('bias', bias);
    if (bias) bias.requiresGrad = false;
  }

  forward(x: Tensor): Tensor {
    const y = matmulQ(x, this.qweight);
    if (!this.bias) return y;
    const out = add(y, this.bias);
    y.dispose();
    return out;
  }

  protected override extraRepr(): string {
    return `in=${this.inFeatures}, out=${this.outFeatures}, ${this.qweight.type}, bias=${this.bias !== null}`;
  }
}

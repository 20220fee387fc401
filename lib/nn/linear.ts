// Linear: y = x Wᵀ + b, with PyTorch's default initialisation so ported recipes behave the same.
import { ValueError } from '../errors.js';
import { add } from '../ops/binary.js';
import { rand } from '../ops/creation.js';
import { matmul } from '../ops/matmul.js';
import { transpose } from '../ops/shape.js';
import { resolveDevice } from '../device.js';
import { Tensor } from '../tensor.js';
import { Module } from './module.js';

export interface LinearOptions {
  /** Learn an additive bias (default true). */
  bias?: boolean;
  device?: string;
  /** Seed for the initial values (the bias uses seed + 1); the global stream when omitted. */
  seed?: number;
  /** false: leave the parameters uninitialised (weights about to be loaded). Default true. */
  init?: boolean;
}

function checkSize(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new ValueError(`${op}: ${name} must be a positive integer, got ${v}`);
}

/**
 * Fully connected layer: `forward(x [..., inFeatures]) -> [..., outFeatures]`.
 * weight is [outFeatures, inFeatures] and, like the bias, starts uniform in ±1/√inFeatures
 * (PyTorch's kaiming_uniform_(a=√5) default).
 */
export class Linear extends Module {
  // `declare`: a class field would be re-initialised to undefined after this constructor in
  // subclasses, wiping the registered tensor
  declare weight: Tensor;
  declare bias: Tensor | null;
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(inFeatures: number, outFeatures: number, opts?: LinearOptions) {
    super();
    checkSize('Linear', 'inFeatures', inFeatures);
    checkSize('Linear', 'outFeatures', outFeatures);
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const bound = 1 / Math.sqrt(inFeatures);
    const init = (shape: number[], seed?: number) =>
      opts?.init === false ? Tensor.empty(shape, 'float32', resolveDevice(opts?.device, 'Linear')) : rand(shape, { low: -bound, high: bound, device: opts?.device, seed });
    this.registerParameter('weight', init([outFeatures, inFeatures], opts?.seed));
    this.registerParameter('bias', opts?.bias === false ? null : init([outFeatures], opts?.seed === undefined ? undefined : opts.seed + 1));
  }

  forward(x: Tensor): Tensor {
    const wt = transpose(this.weight);
    const y = matmul(x, wt);
    wt.dispose();
    if (!this.bias) return y;
    const out = add(y, this.bias);
    y.dispose();
    return out;
  }

  protected override extraRepr(): string {
    return `in=${this.inFeatures}, out=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

// Normalisation layers over the last dim, with a learned scale (and shift for LayerNorm).
import { ValueError } from '../errors.js';
import { add } from '../ops/binary.js';
import { ones, zeros } from '../ops/creation.js';
import { layerNorm, rmsNorm } from '../ops/norm.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export interface NormOptions {
  eps?: number;
  /** RMSNorm only: scale by (1 + weight), weight starting at zeros (Gemma's convention). */
  weightOffset?: boolean;
  /** Learn the per-channel scale (and LayerNorm's shift); default true. */
  elementwiseAffine?: boolean;
  device?: string;
}

function checkArgs(op: string, dim: number, eps: number): void {
  if (!Number.isInteger(dim) || dim <= 0) throw new ValueError(`${op}: dim must be a positive integer, got ${dim}`);
  if (!Number.isFinite(eps) || eps < 0) throw new ValueError(`${op}: eps must be a finite number >= 0, got ${eps}`);
}

/**
 * RMSNorm (Llama-style): x / sqrt(mean(x²) + eps) * weight; weight starts at ones. eps defaults
 * to 1e-6. With `weightOffset` (Gemma) the scale is (1 + weight) and weight starts at zeros.
 */
export class RMSNorm extends Module {
  declare weight: Tensor | null;
  readonly dim: number;
  readonly eps: number;
  readonly weightOffset: boolean;

  constructor(dim: number, opts?: NormOptions) {
    super();
    this.eps = opts?.eps ?? 1e-6;
    checkArgs('RMSNorm', dim, this.eps);
    this.dim = dim;
    this.weightOffset = opts?.weightOffset ?? false;
    const init = this.weightOffset ? zeros : ones;
    this.registerParameter('weight', opts?.elementwiseAffine === false ? null : init([dim], { device: opts?.device }));
  }

  forward(x: Tensor): Tensor {
    if (!this.weightOffset || !this.weight) return rmsNorm(x, this.weight, this.eps);
    const scale = add(this.weight, 1);
    const y = rmsNorm(x, scale, this.eps);
    scale.dispose();
    return y;
  }

  protected override extraRepr(): string {
    return `${this.dim}, eps=${this.eps}${this.weightOffset ? ', scale=1+weight' : ''}`;
  }
}

/** LayerNorm: (x - mean) / sqrt(var + eps) * weight + bias; weight ones, bias zeros. eps defaults to 1e-5. */
export class LayerNorm extends Module {
  declare weight: Tensor | null;
  declare bias: Tensor | null;
  readonly dim: number;
  readonly eps: number;

  constructor(dim: number, opts?: NormOptions & { bias?: boolean }) {
    super();
    this.eps = opts?.eps ?? 1e-5;
    checkArgs('LayerNorm', dim, this.eps);
    this.dim = dim;
    const affine = opts?.elementwiseAffine !== false;
    this.registerParameter('weight', affine ? ones([dim], { device: opts?.device }) : null);
    this.registerParameter('bias', affine && opts?.bias !== false ? zeros([dim], { device: opts?.device }) : null);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }

  protected override extraRepr(): string {
    return `${this.dim}, eps=${this.eps}`;
  }
}

// Normalisation layers over the last dim, with a learned scale (and shift for LayerNorm).
import { ValueError } from '../errors.js';
import { ones, zeros } from '../ops/creation.js';
import { layerNorm, rmsNorm } from '../ops/norm.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export interface NormOptions {
  eps?: number;
  /** Learn the per-channel scale (and LayerNorm's shift); default true. */
  elementwiseAffine?: boolean;
  device?: string;
}

function checkArgs(op: string, dim: number, eps: number): void {
  if (!Number.isInteger(dim) || dim <= 0) throw new ValueError(`${op}: dim must be a positive integer, got ${dim}`);
  if (!Number.isFinite(eps) || eps < 0) throw new ValueError(`${op}: eps must be a finite number >= 0, got ${eps}`);
}

/** RMSNorm (Llama-style): x / sqrt(mean(x²) + eps) * weight; weight starts at ones. eps defaults to 1e-6. */
export class RMSNorm extends Module {
  declare weight: Tensor | null;
  readonly dim: number;
  readonly eps: number;

  constructor(dim: number, opts?: NormOptions) {
    super();
    this.eps = opts?.eps ?? 1e-6;
    checkArgs('RMSNorm', dim, this.eps);
    this.dim = dim;
    this.registerParameter('weight', opts?.elementwiseAffine === false ? null : ones([dim], { device: opts?.device }));
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }

  protected override extraRepr(): string {
    return `${this.dim}, eps=${this.eps}`;
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

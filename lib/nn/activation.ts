// Activations as modules, for Sequential stacks.
import { gelu, relu, silu } from '../ops/unary.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

/** max(x, 0). */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** GELU, exact (erf) unless `approximate: 'tanh'`. */
export class GELU extends Module {
  constructor(readonly opts?: { approximate?: 'none' | 'tanh' }) {
    super();
  }
  forward(x: Tensor): Tensor {
    return gelu(x, this.opts);
  }
  protected override extraRepr(): string {
    return this.opts?.approximate === 'tanh' ? "approximate='tanh'" : '';
  }
}

/** x * sigmoid(x) (a.k.a. swish). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return silu(x);
  }
}

/** Returns its input unchanged (a placeholder where a layer is optional). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

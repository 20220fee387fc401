// Dropout as a module, so train()/eval() switch it for a whole model.
import { ValueError } from '../errors.js';
import { dropout } from '../ops/dropout.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

/** Zeroes elements with probability p and scales the rest by 1/(1-p) in training; identity in eval. */
export class Dropout extends Module {
  readonly p: number;

  constructor(p = 0.5) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new ValueError(`Dropout: p must be in [0, 1), got ${p}`);
    this.p = p;
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, { training: this.training });
  }

  protected override extraRepr(): string {
    return `p=${this.p}`;
  }
}

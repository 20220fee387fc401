// One recorded op on the tape: which inputs get gradients, what backward needs, and how to
// compute input gradients from output gradients.
import type { Tensor } from '../tensor.js';

/**
 * Computes the gradients of the op's inputs from the gradients of its outputs.
 * `dys[i]` is the gradient of output i (zeros stand in for outputs that got none).
 * `needs[i]` says whether input i wants a gradient: skip that work when it does not (frozen
 * weights never get a weight gradient computed). Returns one entry per input (null where none).
 * Runs with autograd off.
 */
export type BackwardFn = (dys: Tensor[], saved: Tensor[], needs: boolean[]) => (Tensor | null | undefined)[];

export class Node {
  saved: Tensor[];
  released = false;
  constructor(
    readonly name: string,
    readonly inputs: readonly (Tensor | null)[],
    saved: Tensor[],
    readonly backwardFn: BackwardFn,
    readonly outputShapes: readonly (readonly number[])[],
    readonly outputDTypes: readonly string[],
  ) {
    this.saved = saved;
  }
  /** Drops what backward needed (called as soon as it has run). */
  release(): void {
    for (const t of this.saved) t.dispose();
    this.saved = [];
    this.released = true;
  }
}

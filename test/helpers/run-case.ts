// Builds a fixture case's inputs on a device and runs its op.
import type { Tensor } from '../../lib/index.js';
import { applyView, makeTensor, type OpCase } from './fixtures.js';
import { runOp } from './op-table.js';

export interface CaseRun {
  /** The stored base tensors (leaves; gradients land here). */
  leaves: Tensor[];
  outputs: Tensor[];
}

/**
 * Makes the leaves (with `override[i]` replacing input i's data), applies the views and runs the op.
 * `withGrad` marks the inputs the fixture says need gradients.
 */
export function runCase(c: OpCase, device: string, withGrad: boolean, override?: (ArrayLike<number> | undefined)[]): CaseRun {
  const leaves = c.inputs.map((inp, i) => makeTensor(inp, device, override?.[i] ?? inp.data, withGrad && Boolean(inp.requiresGrad)));
  const operands = leaves.map((l, i) => applyView(l, c.inputs[i]!.view));
  const outputs = runOp(c.op, operands, c.params, device);
  return { leaves, outputs };
}

/** sum_k sum_i y_k[i] * dy_k[i], accumulated in float64 from the read-back outputs. */
export function projectedLoss(c: OpCase, outputs: Tensor[]): number {
  let acc = 0;
  outputs.forEach((y, k) => {
    const dy = c.dy[k];
    if (!dy) return;
    const v = y.dataSync();
    for (let i = 0; i < v.length; i++) acc += v[i]! * dy.data[i]!;
  });
  return acc;
}

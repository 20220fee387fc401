// Comparisons (broadcasting, number operands allowed) -> uint8 masks; not differentiable.
import { Tensor } from '../tensor.js';
import { asTensor, elementwise, type Operand } from './binary.js';
import { expectDType } from './util.js';

function compare(op: 'gt' | 'ge' | 'lt' | 'le' | 'eq' | 'ne', a: Operand, b: Operand): Tensor {
  const like = a instanceof Tensor ? a : (b as Tensor);
  const at = asTensor(a, like);
  const bt = asTensor(b, like);
  try {
    expectDType(op, at, 'float32');
    expectDType(op, bt, 'float32');
    return elementwise(op, [at, bt], 'uint8');
  } finally {
    if (at !== a) at.dispose();
    if (bt !== b) bt.dispose();
  }
}
export const gt = (a: Operand, b: Operand): Tensor => compare('gt', a, b);
export const ge = (a: Operand, b: Operand): Tensor => compare('ge', a, b);
export const lt = (a: Operand, b: Operand): Tensor => compare('lt', a, b);
export const le = (a: Operand, b: Operand): Tensor => compare('le', a, b);
export const eq = (a: Operand, b: Operand): Tensor => compare('eq', a, b);
export const ne = (a: Operand, b: Operand): Tensor => compare('ne', a, b);

// et.functional: the stateless forms of the nn building blocks.
export { softmax, logSoftmax, crossEntropy } from './ops/softmax.js';
export { relu, gelu, silu, sigmoid, tanh } from './ops/unary.js';
export { embedding } from './ops/embedding.js';
export { dropout } from './ops/dropout.js';
export { rmsNorm, layerNorm } from './ops/norm.js';
export { rope } from './ops/rope.js';
export { swiglu } from './ops/swiglu.js';
export { scaledDotProductAttention } from './ops/attention.js';
export { matmul } from './ops/matmul.js';

// et.functional: the stateless forms of the nn building blocks.
export { softmax, logSoftmax } from './ops/softmax.js';
export { relu, gelu, silu, sigmoid, tanh } from './ops/unary.js';

// Every op, by family. Each family file holds forwards and their gradients together.
export * from './creation.js';
export * from './copy.js';
export * from './shape.js';
export * from './unary.js';
export * from './binary.js';
export * from './compare.js';
export * from './reduce.js';
export * from './matmul.js';
export { setMatmulPrecision, getMatmulPrecision, type MatmulPrecision } from './precision.js';
export * from './softmax.js';
export * from './embedding.js';
export * from './dropout.js';
export * from './norm.js';
export * from './rope.js';
export * from './swiglu.js';
export * from './attention.js';

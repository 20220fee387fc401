// et.quant: ggml block formats (dequantize / quantize, bit-compatible with llama.cpp) and frozen
// quantized weights; the ops on them (matmulQ, quantizeTensor) live in lib/ops/quant.ts and are
// re-exported here, where the package has always offered them.
export { BLOCK } from '../quant-types.js';
export { dequantize, NF4_LEVELS } from './dequant.js';
export { QUANTIZABLE, quantize, type QuantType } from './quantize.js';
export { QuantizedWeight } from './qweight.js';
export { exactQuantMatmul, matmulQ, matmulQInputGrad, quantizeTensor } from '../ops/quant.js';
export { FILE_TYPES, mixPlanner } from './mix.js';

// et.quant: ggml block formats (dequantize / quantize, bit-compatible with llama.cpp) and frozen
// quantized weights with native matmuls.
export { BLOCK, dequantize, NF4_LEVELS } from './dequant.js';
export { QUANTIZABLE, quantize, type QuantType } from './quantize.js';
export { QuantizedWeight, matmulQ, matmulQInputGrad } from './qweight.js';
export { quantizeTensor } from './quantize.js';
export { FILE_TYPES, mixPlanner } from './mix.js';

// et.quant: ggml block formats (dequantize / quantize, bit-compatible with llama.cpp) and frozen
// quantized weights with native matmuls.
export { BLOCK, dequantize } from './dequant.js';
export { QUANTIZABLE, quantize, type QuantType } from './quantize.js';
export { QuantizedWeight, matmulQ } from './qweight.js';

// et.nn: modules (layers with parameters) in the shape of PyTorch's torch.nn.
export { Module, parameter, type LoadResult, type LoadStateDictOptions } from './module.js';
export { Linear, type LinearOptions } from './linear.js';
export { Embedding, type EmbeddingOptions } from './embedding.js';
export { RMSNorm, LayerNorm, type NormOptions } from './norm.js';
export { Dropout } from './dropout.js';
export { ReLU, GELU, SiLU, Identity } from './activation.js';
export { ModuleList, Sequential } from './container.js';
export { QLinear } from './qlinear.js';
export { LoRALinear, LoRAEmbedding, applyLoRA, loraParameters, loraScale, DEFAULT_LORA_TARGETS, type LoRAOptions, type ApplyLoRAOptions, type LoRAModule } from './lora.js';

// Llama-family decoders (Llama 2/3.x, TinyLlama, SmolLM, Mistral, Qwen2/2.5, Qwen3, Gemma 3),
// generation, saving, and LoRA adapters in and out.
export {
  type LlamaConfig,
  type LlamaConfigInit,
  type RopeScaling,
  type Llama3RopeScaling,
  type LinearRopeScaling,
  llamaConfig,
  configFromHF,
  hfConfigJSON,
  ropeInvFreq,
  type FactorsRopeScaling,
} from './config.js';
export {
  LlamaModel,
  LlamaBackbone,
  LlamaDecoderLayer,
  LlamaAttention,
  LlamaMLP,
  KVCache,
  type KVCacheOptions,
  type LlamaForwardOptions,
  type LlamaModelOptions,
} from './llama.js';
export { generate, sampleToken, seededRandom, type GenerateOptions, type GenerateResult, type SamplingOptions } from './generate.js';
export { loadHFModel } from './hf.js';
export { configFromGGUF, ggufToHFName, hfToGGUFName, permuteQK, ggufStateDict, checkGGUFTensors, GGUF_ARCHITECTURES, type GGUFTensorShapes } from './gguf.js';
export { loadModel, loadGGUFModel, NO_TOKENIZER_WARNING, type LoadModelOptions, type LoadedModel } from './load.js';
export { quantizeModel, QUANTIZE_TYPES, type QuantizeModelSummary } from './quantize-model.js';
export { adoptWeights, type WeightOptions } from './weights.js';
export { savePEFTAdapter, saveGGUFAdapter, loadAdapter, mergeLoRA, findAdapters, summarizeAdapters, type AdapterSummary } from './adapter.js';
export { saveGGUFModel, saveHFModel, ggufModelMetadata, ggufModelTensors, tokenizerMetadata, type SaveGGUFOptions } from './save.js';
export { makeTinyModel, type TinyModelOptions, type TinyModelFiles } from './tiny.js';

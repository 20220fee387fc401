/**
 * edgetrain: tensors and autograd for TypeScript over native CPU/Vulkan kernels.
 * @packageDocumentation
 */
import './methods.js';

export { Tensor } from './tensor.js';
export * from './ops/index.js';
export * from './errors.js';
export type { DType } from './dtype.js';
export type { DeviceFeatures, DeviceKind, DeviceStatus } from './device.js';
export { tidy, keep } from './scope.js';
export { noGrad, enableGrad, isGradEnabled } from './autograd/engine.js';
export { detach, valueAndGrad, checkpoint } from './autograd/functional.js';
export { devices, memory, emptyCache, setDefaultDevice, getDefaultDevice, getThreads, setThreads, maxThreads, cpuInfo, synchronize } from './device.js';
export { manualSeed } from './random.js';
export { startProfile, stopProfile, formatProfile, type ProfileRow } from './native/profile.js';
export * as functional from './functional.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export {
  saveSafetensors,
  loadSafetensors,
  readSafetensorsHeader,
  type SafetensorsHeader,
  type SafetensorsEntry,
} from './formats/safetensors.js';
export { writeFileAtomic } from './formats/atomic.js';
export { loadSafetensorsModel, saveSafetensorsModel } from './formats/safetensors-sharded.js';
export { mapFile, MappedFile } from './formats/mmap.js';
export {
  readGGUFHeader,
  readGGUFTensorBytes,
  loadGGUF,
  loadGGUFTensor,
  writeGGUF,
  gguf,
  GGUFTyped,
  GGML_TYPES,
  GGML_TYPE_BY_NAME,
  GGUFValueType,
  type GGUFHeader,
  type GGUFTensorInfo,
  type GGUFValue,
  type GGUFArray,
  type GGUFWritable,
  type GGUFTypeName,
  type GGUFScalarTypeName,
  type GGMLTypeInfo,
  type WriteGGUFOptions,
  type LoadGGUFOptions,
  type LoadGGUFTensorOptions,
} from './formats/gguf.js';
export * from './tokenizer/index.js';
export { loadGGUFTokenizer, loadTokenizer } from './tokenizer/gguf.js';
export { trainSpmVocab, type TrainSpmOptions } from './tokenizer/train-spm.js';
export * as models from './models/index.js';
export { loadModel } from './models/load.js';
export * as train from './train/index.js';
export * as quant from './quant/index.js';
export { finetune } from './train/finetune.js';

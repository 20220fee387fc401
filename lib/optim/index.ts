// et.optim: optimizers with fused native updates, gradient clipping and learning-rate schedules.
export {
  Optimizer,
  type BaseOptions,
  type ParamGroup,
  type ParamsInput,
  type ParamState,
  type OptimizerStateDict,
  type StepOptions,
} from './optimizer.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { SGD, type SGDOptions } from './sgd.js';
export { clipGradNorm, clipGradNormAsync, type ClipGradNormOptions } from './clip.js';
export { LRScheduler, constant, warmupConstant, warmupLinear, warmupCosine, type LRLambda, type WarmupOptions } from './schedule.js';

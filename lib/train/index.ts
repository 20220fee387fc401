// et.train: LoRA fine-tuning (finetune), its data pipeline and checkpoints.
export { finetune, FinetuneRun, type FinetuneOptions, type FinetuneEvent, type FinetuneResult } from './finetune.js';
export * from './data.js';
export { latestCheckpoint, readTrainerState, type TrainerState, type RunIdentity } from './checkpoint.js';

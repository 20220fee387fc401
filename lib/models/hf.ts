// Loading a Llama-family model from a Hugging Face folder: config.json + model.safetensors (or
// shards with model.safetensors.index.json).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../errors.js';
import { loadSafetensorsModel } from '../formats/safetensors-sharded.js';
import { configFromHF } from './config.js';
import { LlamaModel, type LlamaModelOptions } from './llama.js';
import { adoptWeights, type WeightOptions } from './weights.js';

/** Keys some HF checkpoints carry that are not weights (recomputed here). */
const IGNORED = /\.rotary_emb\.inv_freq$/;

/**
 * A LlamaModel built from `dir/config.json` with its weights from the folder's safetensors
 * (memory-mapped; on cpu float32/float16/bfloat16 matrices are used in place, see WeightOptions).
 * Missing or unexpected weights throw, naming them.
 */
export function loadHFModel(dir: string, opts?: Omit<LlamaModelOptions, 'init'> & WeightOptions): LlamaModel {
  let json: Record<string, unknown>;
  const cfgPath = join(dir, 'config.json');
  try {
    json = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new FormatError(`loadHFModel: cannot read ${cfgPath}: ${(e as Error).message}`);
  }
  const model = new LlamaModel(configFromHF(json), { ...opts, init: false });
  const { tensors } = loadSafetensorsModel(dir, { device: 'cpu', filter: (n) => !IGNORED.test(n) });
  adoptWeights(model, tensors, opts);
  return model;
}

// One entry point for model files: a .gguf file (weights and tokenizer) or a Hugging Face folder.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, ValueError } from '../errors.js';
import { loadGGUF, readGGUFHeader, type GGUFHeader } from '../formats/gguf.js';
import { cast } from '../ops/copy.js';
import type { Tensor } from '../tensor.js';
import { loadTokenizer } from '../tokenizer/gguf.js';
import type { HFTokenizer } from '../tokenizer/hf.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { configFromHF, type LlamaConfig } from './config.js';
import { checkGGUFTensors, configFromGGUF, ggufStateDict, ggufToHFName } from './gguf.js';
import { loadHFModel } from './hf.js';
import { LlamaModel } from './llama.js';
import { adoptWeights, type WeightOptions } from './weights.js';

export interface LoadModelOptions extends WeightOptions {
  /** Device for the model's weights (default: the default device). */
  device?: string;
}

export interface LoadedModel {
  model: LlamaModel;
  /** The GGUF-embedded tokenizer, or an HF folder's tokenizer.json (+ tokenizer_config.json); undefined when there is none. */
  tokenizer?: Tokenizer | HFTokenizer;
  config: LlamaConfig;
}

/** The values of a GGUF's 'rope_freqs.weight' (Llama 3.1+ rope factors), if it has one. */
function readRopeFreqs(path: string, header: GGUFHeader): Float32Array | undefined {
  if (!header.tensors.some((t) => t.name === 'rope_freqs.weight')) return undefined;
  const { tensors } = loadGGUF(path, { device: 'cpu', filter: (n) => n === 'rope_freqs.weight' });
  const t = tensors.get('rope_freqs.weight')!;
  try {
    const f = t.dtype === 'float32' ? t : cast(t, 'float32');
    const v = Float32Array.from(f.dataSync());
    if (f !== t) f.dispose();
    return v;
  } finally {
    t.dispose();
  }
}

/**
 * A LlamaModel from a GGUF file with its embedded tokenizer. F32/F16/BF16 tensors are used as
 * described in WeightOptions; block-quantized ones (Q8_0 ... Q6_K) are dequantized to float32.
 */
export function loadGGUFModel(path: string, opts?: LoadModelOptions): LoadedModel {
  const header = readGGUFHeader(path);
  const config = configFromGGUF(header.metadata, header.tensors, { ropeFreqs: readRopeFreqs(path, header) });
  checkGGUFTensors(header, config);
  const tokenizer = header.metadata.has('tokenizer.ggml.tokens') ? Tokenizer.fromGGUFMetadata(header.metadata) : undefined;
  const model = new LlamaModel(config, { device: opts?.device, init: false });
  // tensors map the file; on cpu the model takes them in place (see adoptWeights)
  // block-quantized weights are dequantized to float32 on load (bit-exact with llama.cpp)
  const { tensors } = loadGGUF(path, { device: 'cpu', dequantize: true, filter: (n) => ggufToHFName(n, config.architecture) !== undefined });
  let sd: Map<string, Tensor>;
  try {
    sd = ggufStateDict(tensors, config);
  } catch (e) {
    model.dispose();
    for (const t of tensors.values()) t.dispose();
    throw e;
  }
  adoptWeights(model, sd, opts);
  return { model, tokenizer, config };
}

/**
 * Opens a model: a `.gguf` file (config from its metadata, weights, embedded tokenizer) or a
 * Hugging Face folder (config.json + *.safetensors, and tokenizer.json when present).
 */
export async function loadModel(path: string, opts?: LoadModelOptions): Promise<LoadedModel> {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new ValueError(`loadModel: ${path} does not exist`);
  }
  if (st.isDirectory()) {
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(readFileSync(join(path, 'config.json'), 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new FormatError(`loadModel: cannot read ${join(path, 'config.json')}: ${(e as Error).message}`);
    }
    const config = configFromHF(json);
    const tokenizer = existsSync(join(path, 'tokenizer.json')) ? ((await loadTokenizer(path)) as HFTokenizer) : undefined;
    if (tokenizer && tokenizer.vocabSize > config.vocabSize)
      throw new FormatError(`loadModel: ${path}: tokenizer.json has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${config.vocabSize}`);
    const model = loadHFModel(path, opts);
    return { model, config, tokenizer };
  }
  if (path.endsWith('.gguf')) return loadGGUFModel(path, opts);
  throw new ValueError(`loadModel: ${path}: expected a .gguf file or a Hugging Face folder (config.json + safetensors)`);
}


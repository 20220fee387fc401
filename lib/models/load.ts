// One entry point for model files: a .gguf file (weights and tokenizer) or a Hugging Face folder.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, ValueError } from '../errors.js';
import { loadGGUF, readGGUFHeader, readGGUFTensorBytes, type GGUFHeader } from '../formats/gguf.js';
import { Linear } from '../nn/linear.js';
import { QLinear } from '../nn/qlinear.js';
import { native } from '../native/addon.js';
import { OP } from '../native/ops.js';
import { tensor } from '../ops/creation.js';
import { BLOCK } from '../quant-types.js';
import { QuantizedWeight } from '../quant/qweight.js';
import { tidy } from '../scope.js';
import { cast } from '../ops/copy.js';
import type { Tensor } from '../tensor.js';
import { loadTokenizer } from '../tokenizer/gguf.js';
import type { HFTokenizer } from '../tokenizer/hf.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { configFromHF, type LlamaConfig } from './config.js';
import { checkGGUFTensors, configFromGGUF, ggufStateDict, ggufToHFName, permuteQK } from './gguf.js';
import { loadHFModel } from './hf.js';
import { LlamaModel } from './llama.js';
import { quantizeModel } from './quantize-model.js';
import { adoptWeights, type WeightOptions } from './weights.js';

export interface LoadModelOptions extends WeightOptions {
  /** Device for the model's weights (default: the default device). */
  device?: string;
  /**
   * GGUF block-quantized weights: 'keep' the linear layers' weights quantized (QLinear: native
   * quantized matmuls, about 4.5 bits per weight for Q4 types; LoRA trains on top of them), or
   * 'dequantize' them to float32 (bit-exact with llama.cpp). Default: 'keep' with dtype 'auto' on
   * a device that runs the quantized matmul (cpu, vulkan), else 'dequantize'. Embeddings are always dequantized.
   */
  quantized?: 'dequantize' | 'keep';
  /**
   * Quantize-on-load: the decoder's linear layers (not embeddings, norms or the output head) are
   * quantized to this block format ('q4_k', 'nf4', 'q8_0', ...) or llama-quantize mix ('q4_k_m')
   * and their float weights released; layers a GGUF already holds quantized are kept as stored.
   * The blocks are made on the model's device.
   */
  quantize?: string;
  /**
   * What the caller needs the tokenizer for (e.g. 'generate'): a model file without one is then
   * a ValueError saying so, thrown before any weight loads. Without it such a model loads with
   * `tokenizer: undefined` and an EDGETRAIN_NO_TOKENIZER warning (process.emitWarning).
   */
  requireTokenizer?: string;
}

/** The code of the warning loadModel emits for a model file without a tokenizer. */
export const NO_TOKENIZER_WARNING = 'EDGETRAIN_NO_TOKENIZER';

/** A model without a tokenizer: the caller's error when it needs one, else a warning that says what is missing. */
function noTokenizer(path: string, missing: string, opts?: LoadModelOptions): void {
  const what = `${path} has no tokenizer (${missing})`;
  if (opts?.requireTokenizer !== undefined)
    throw new ValueError(`${opts.requireTokenizer}: ${what}, and it needs one to turn text into tokens and back; use a model file that carries its vocabulary`);
  process.emitWarning(
    `loadModel: ${what}: it loads with tokenizer undefined. Encoding text needs one (generation, fine-tuning data, chat templates): ` +
      'load it from the base model with loadTokenizer(<.gguf file or tokenizer.json>) and use it alongside the model.',
    { type: 'EdgeTrainWarning', code: NO_TOKENIZER_WARNING },
  );
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
 * described in WeightOptions; block-quantized linear layers stay quantized or are dequantized
 * (LoadModelOptions.quantized).
 */
export function loadGGUFModel(path: string, opts?: LoadModelOptions): LoadedModel {
  const header = readGGUFHeader(path);
  const config = configFromGGUF(header.metadata, header.tensors, { ropeFreqs: readRopeFreqs(path, header) });
  checkGGUFTensors(header, config);
  const tokenizer = header.metadata.has('tokenizer.ggml.tokens') ? Tokenizer.fromGGUFMetadata(header.metadata) : undefined;
  if (!tokenizer) noTokenizer(path, 'the GGUF file holds no tokenizer.ggml.tokens metadata', opts);
  const model = new LlamaModel(config, { device: opts?.device, init: false });
  // quantized: 'keep' puts QLinear layers over the file's blocks; the rest loads dense
  const keep = opts?.quantized === 'keep' || (opts?.quantized === undefined && native.supportsOp(model.device, OP.matmulQ) && (opts?.dtype ?? 'auto') === 'auto');
  const kept = keep ? keepQuantized(model, header, config) : new Set<string>();
  // tensors map the file; on cpu the model takes them in place (see adoptWeights); other
  // block-quantized weights are dequantized to float32 (bit-exact with llama.cpp)
  const { tensors } = loadGGUF(path, { device: 'cpu', dequantize: true, filter: (n) => ggufToHFName(n, config.architecture) !== undefined && !kept.has(n) });
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
 * Puts a QLinear holding the file's blocks in place of every linear layer whose weight is block-
 * quantized (llama Q/K rows permuted back, whole rows of blocks at a time); returns their GGUF
 * names, which the dense load then skips.
 */
function keepQuantized(model: LlamaModel, header: GGUFHeader, config: LlamaConfig): Set<string> {
  const kept = new Set<string>();
  const modules = new Map(model.namedModules());
  for (const info of header.tensors) {
    if (!(info.typeName in BLOCK) || info.shape.length !== 2 || info.name === 'token_embd.weight') continue;
    const h = ggufToHFName(info.name, config.architecture);
    if (!h?.endsWith('.weight')) continue;
    const path = h.slice(0, -'.weight'.length);
    const dot = path.lastIndexOf('.');
    const parent = modules.get(path.slice(0, Math.max(0, dot)));
    const old = modules.get(path);
    if (!parent || !(old instanceof Linear)) continue;
    const [N, K] = info.shape as [number, number];
    let bytes = readGGUFTensorBytes(header, info);
    const which = /attn_([qk])\.weight$/.exec(info.name);
    if (config.architecture === 'llama' && which) {
      bytes = tidy(() => {
        const t = tensor(bytes, [N, bytes.length / N], { device: 'cpu' });
        return Uint8Array.from(permuteQK(t, which[1] === 'q' ? config.numHeads : config.numKvHeads, true).dataSync());
      });
    }
    const q = new QLinear(new QuantizedWeight(info.typeName, [N, K], bytes, { device: model.device }), old.bias);
    parent.replaceModule(path.slice(dot + 1), q);
    old.weight.dispose();
    kept.add(info.name);
  }
  return kept;
}

function withQuantize(model: LlamaModel, opts?: LoadModelOptions): LlamaModel {
  if (!opts?.quantize) return model;
  try {
    quantizeModel(model, opts.quantize);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
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
    if (!tokenizer) noTokenizer(path, 'the folder holds no tokenizer.json', opts);
    if (tokenizer && tokenizer.vocabSize > config.vocabSize)
      throw new FormatError(`loadModel: ${path}: tokenizer.json has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${config.vocabSize}`);
    const model = loadHFModel(path, opts);
    return { model: withQuantize(model, opts), config, tokenizer };
  }
  if (path.endsWith('.gguf')) {
    const r = loadGGUFModel(path, opts);
    return { ...r, model: withQuantize(r.model, opts) };
  }
  throw new ValueError(`loadModel: ${path}: expected a .gguf file or a Hugging Face folder (config.json + safetensors)`);
}


// `edgetrain generate --model <file> --prompt ...`: streams text as the model produces it.
import { ValueError } from '../errors.js';
import { generate, type GenerateResult } from '../models/generate.js';
import { loadModel } from '../models/load.js';
import { loadAdapter } from '../models/adapter.js';

export interface GenerateCliOptions {
  model: string;
  prompt: string;
  maxTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  seed?: number;
  stop?: string[];
  /** Add BOS as the vocabulary says (default true). */
  bos?: boolean;
  /** A LoRA adapter to apply (PEFT folder or GGUF LoRA file). */
  lora?: string;
  /** Quantize the linear layers at load (a block format or llama-quantize mix). */
  quantize?: string;
  /** Device to run on: cpu, vulkan, vulkan:1, ... (default: the default device). */
  device?: string;
}

/** End-of-generation tokens as llama.cpp counts them (EOS, EOT, <|im_end|>, ...), not EOS alone. */
export function stopTokensOf(eosTokenIds: readonly number[], tokenizer: { eog: ReadonlySet<number> }): number[] {
  return [...new Set([...eosTokenIds, ...tokenizer.eog])].sort((a, b) => a - b);
}

/** Generates from a prompt, writing each piece of text as it is decoded; returns the result. */
export async function runGenerate(o: GenerateCliOptions, write: (s: string) => void): Promise<GenerateResult & { text: string }> {
  // a model file without a vocabulary is refused before its weights load
  const { model, tokenizer } = await loadModel(o.model, { requireTokenizer: 'generate', device: o.device, ...(o.quantize ? { quantize: o.quantize } : {}) });
  if (o.lora) {
    loadAdapter(model, o.lora);
    model.eval();
  }
  if (!tokenizer) throw new ValueError(`generate: ${o.model} has no tokenizer (a .gguf file embeds one; a Hugging Face folder needs tokenizer.json)`);
  const ids = tokenizer.encode(o.prompt, { addSpecial: o.bos ?? true });
  const dec = tokenizer.decoder();
  const it = generate(model, ids, {
    maxTokens: o.maxTokens,
    temperature: o.temperature,
    topK: o.topK,
    topP: o.topP,
    minP: o.minP,
    repetitionPenalty: o.repeatPenalty,
    seed: o.seed,
    stop: o.stop,
    stopTokens: stopTokensOf(model.config.eosTokenIds, tokenizer),
    decode: (t) => tokenizer.decode(t),
  });
  let text = '';
  for (;;) {
    const r = await it.next();
    if (r.done) {
      const tail = dec.flush();
      text += tail;
      write(tail);
      model.dispose();
      return { ...r.value, text };
    }
    const piece = dec.push(r.value);
    text += piece;
    write(piece);
  }
}

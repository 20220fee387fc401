// `edgetrain merge`: base model + LoRA adapter -> one model file (GGUF) or folder (HF).
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ValueError } from '../errors.js';
import { readGGUFHeader, type GGUFWritable } from '../formats/gguf.js';
import { loadAdapter, mergeLoRA } from '../models/adapter.js';
import { hfConfigJSON } from '../models/config.js';
import { loadModel } from '../models/load.js';
import { saveGGUFModel, saveHFModel, tokenizerMetadata } from '../models/save.js';

export interface MergeCliOptions {
  model: string;
  lora: string;
  out: string;
  dtype?: 'float32' | 'float16';
}

/** Writes the merged model; returns where. GGUF output carries the base's tokenizer metadata; HF output copies its tokenizer files. */
export async function runMerge(o: MergeCliOptions): Promise<string> {
  if (o.dtype && o.dtype !== 'float32' && o.dtype !== 'float16') throw new ValueError(`merge: --dtype must be float32 or float16, got ${o.dtype}`);
  const { model } = await loadModel(o.model, { dtype: 'float32' });
  try {
    loadAdapter(model, o.lora);
    mergeLoRA(model);
    const sd = model.stateDict();
    if (o.out.endsWith('.gguf')) {
      const meta = o.model.endsWith('.gguf') ? tokenizerMetadata(readGGUFHeader(o.model)) : new Map<string, GGUFWritable>();
      saveGGUFModel(o.out, sd, model.config, { dtype: o.dtype, metadata: meta, name: 'edgetrain merged' });
    } else {
      saveHFModel(o.out, sd, hfConfigJSON(model.config));
      if (existsSync(o.model) && statSync(o.model).isDirectory())
        for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'])
          if (existsSync(join(o.model, f))) copyFileSync(join(o.model, f), join(o.out, f));
    }
    return o.out;
  } finally {
    model.dispose();
  }
}

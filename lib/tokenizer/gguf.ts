// Opening a GGUF file's tokenizer in one call. Kept apart from index.ts because the GGUF reader
// loads the native addon, which the tokenizer itself does not need.
import { readGGUFHeader } from '../formats/gguf.js';
import { ValueError } from '../errors.js';
import { Tokenizer } from './tokenizer.js';
import { HFTokenizer } from './hf.js';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The tokenizer embedded in a GGUF file (its tokenizer.ggml.* metadata). */
export function loadGGUFTokenizer(path: string): Tokenizer {
  return Tokenizer.fromGGUFMetadata(readGGUFHeader(path).metadata);
}

/**
 * A tokenizer from a model file: a .gguf file (model or vocabulary-only) gives the GGUF Tokenizer;
 * a Hugging Face tokenizer.json, or a folder holding one (with tokenizer_config.json, if present,
 * for BOS/EOS, add_bos_token/add_eos_token and the chat template), gives an HFTokenizer.
 */
export async function loadTokenizer(path: string): Promise<Tokenizer | HFTokenizer> {
  if (path.endsWith('.gguf')) return loadGGUFTokenizer(path);
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new ValueError(`loadTokenizer: ${path} does not exist`);
  }
  let tokFile: string;
  if (st.isDirectory()) {
    tokFile = join(path, 'tokenizer.json');
    if (!existsSync(tokFile)) {
      throw new ValueError(`loadTokenizer: ${path} holds no tokenizer.json`);
    }
  } else if (basename(path).endsWith('.json')) {
    tokFile = path;
  } else {
    throw new ValueError(`loadTokenizer: ${path}: expected a .gguf file, a tokenizer.json or a folder holding one`);
  }
  const cfgFile = join(dirname(tokFile), 'tokenizer_config.json');
  const cfgText = existsSync(cfgFile) ? await readFile(cfgFile, 'utf8') : undefined;
  return HFTokenizer.fromJSONText(await readFile(tokFile, 'utf8'), cfgText, { tokenizer: tokFile, config: cfgFile });
}

// Opening a GGUF file's tokenizer in one call. Kept apart from index.ts because the GGUF reader
// loads the native addon, which the tokenizer itself does not need.
import { readGGUFHeader } from '../formats/gguf.js';
import { ValueError } from '../errors.js';
import { Tokenizer } from './tokenizer.js';

/** The tokenizer embedded in a GGUF file (its tokenizer.ggml.* metadata). */
export function loadGGUFTokenizer(path: string): Tokenizer {
  return Tokenizer.fromGGUFMetadata(readGGUFHeader(path).metadata);
}

/**
 * A tokenizer from a model file. GGUF files (model or vocabulary-only) are supported now;
 * Hugging Face tokenizer.json support comes with the model loaders.
 */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  if (path.endsWith('.gguf')) return loadGGUFTokenizer(path);
  throw new ValueError(`loadTokenizer: ${path}: only .gguf files are supported so far`);
}

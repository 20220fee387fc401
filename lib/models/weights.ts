// Putting loaded weights into a model: in place where the file's tensors can be used as they are
// (cpu, float32, float16 or bfloat16 matrices, memory-mapped copy-on-write), converted copies otherwise.
import { ValueError } from '../errors.js';
import { cast } from '../ops/copy.js';
import type { Tensor } from '../tensor.js';
import type { LlamaModel } from './llama.js';

export interface WeightOptions {
  /**
   * Weight dtype. 'auto' (the default): on cpu, float32, float16 and bfloat16 matrices are used in
   * place from the memory-mapped file (a float16 or bfloat16 weight stays half size: matmul reads
   * it directly); every 1-D tensor (norms, biases) becomes float32. 'float32': every weight is
   * widened to float32 (full fine-tuning, or any device but cpu, where this is always the case).
   * 'bfloat16': every weight matrix but the embedding table is bfloat16 (kept as stored when the
   * file holds bf16, rounded to nearest-even from float32 / float16 otherwise), on any device: a
   * frozen base at half the memory, multiplied by matmul's bf16 path (bf16 dot products where the
   * CPU has AVX512_BF16); norms and embeddings stay float32. LoRA adapters and their gradients are
   * float32 whatever the base.
   * The mapping is copy-on-write: changing a weight in place never changes the file.
   */
  dtype?: 'auto' | 'float32' | 'bfloat16';
}

/**
 * Loads `sd` (tensors on cpu, typically mapped from a file) into `model` and disposes every
 * tensor of `sd` the model did not take. On failure the model is disposed too.
 */
export function adoptWeights(model: LlamaModel, sd: Map<string, Tensor>, opts?: WeightOptions): void {
  const dtype = opts?.dtype ?? 'auto';
  if (dtype !== 'auto' && dtype !== 'float32' && dtype !== 'bfloat16')
    throw new ValueError(`loadModel: dtype must be 'auto', 'float32' or 'bfloat16', got '${String(dtype)}'`);
  const inPlace = (model.device === 'cpu' && dtype === 'auto') || dtype === 'bfloat16';
  const made: Tensor[] = [];
  try {
    if (!inPlace) {
      model.loadStateDict(sd);
      return;
    }
    const use = new Map<string, Tensor>();
    for (const [k, t] of sd) {
      const matrix = t.ndim === 2 && !k.endsWith('embed_tokens.weight');
      const want = dtype === 'bfloat16' ? (matrix ? 'bfloat16' : 'float32') : undefined;
      const keep = want ? t.dtype === want : t.dtype === 'float32' || ((t.dtype === 'float16' || t.dtype === 'bfloat16') && t.ndim === 2);
      if (keep) use.set(k, t);
      else {
        const f = cast(t, want ?? 'float32');
        made.push(f);
        use.set(k, f);
      }
    }
    model.loadStateDict(use, { assign: true });
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    const owned = new Set(model.stateDict().values());
    for (const t of [...sd.values(), ...made]) if (!owned.has(t) && !t.isDisposed) t.dispose();
  }
}

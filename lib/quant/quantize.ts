// Quantization from float32 to the block formats (the op: quantizeTensor in lib/ops/quant.ts;
// native: csrc/cpu/quantize.cpp). The ggml types follow llama.cpp's reference quantizer (what
// llama-quantize runs without an importance matrix), including the error-minimising scale search
// of the K-quants, so the same weights give the same bytes; NF4 / NF4_DQ are QLoRA's
// NormalFloat-4 with a per-64 absmax (float32, or 8-bit multiples of one f16 scale per 256
// values: "double quantization").
import { ShapeError } from '../errors.js';
import { tensor } from '../ops/creation.js';
import { quantizableBlock, quantizeTensor } from '../ops/quant.js';

/**
 * The block formats quantize() writes, as a type: the kernel types of csrc/quant_types.h
 * (test/quant-types.test.ts checks that the two lists agree).
 */
export const QUANTIZABLE = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K', 'NF4', 'NF4_DQ'] as const;
export type QuantType = (typeof QUANTIZABLE)[number];

/** The bytes of `x` (whole blocks) in block format `type`. */
export function quantize(type: string, x: Float32Array): Uint8Array {
  const [bs] = quantizableBlock('quantize', type);
  if (x.length % bs !== 0) throw new ShapeError(`quantize: ${x.length} values are not whole ${type} blocks of ${bs}`);
  const t = tensor(x, [x.length / bs, bs]);
  try {
    const q = quantizeTensor(type, t);
    const bytes = Uint8Array.from(q.dataSync() as Uint8Array);
    q.dispose();
    return bytes;
  } finally {
    t.dispose();
  }
}

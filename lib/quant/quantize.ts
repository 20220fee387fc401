// Quantizers from float32 to the block formats (native: csrc/cpu/quantize.cpp). The ggml types
// follow llama.cpp's reference quantizer (what llama-quantize runs without an importance matrix),
// including the error-minimising scale search of the K-quants, so the same weights give the same
// bytes; NF4 / NF4_DQ are QLoRA's NormalFloat-4 with a per-64 absmax (float32, or 8-bit multiples
// of one f16 scale per 256 values: "double quantization").
import { DTypeError, ShapeError } from '../errors.js';
import { GGML_TYPE_BY_NAME } from '../formats/gguf-types.js';
import { runKernel } from '../native/run.js';
import { tensor } from '../ops/creation.js';
import { contiguous } from '../ops/copy.js';
import type { Tensor } from '../tensor.js';
import { BLOCK } from './dequant.js';

/** The block formats quantize() writes. */
export const QUANTIZABLE = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K', 'NF4', 'NF4_DQ'] as const;
export type QuantType = (typeof QUANTIZABLE)[number];

function checkType(op: string, type: string): [number, number, number] {
  if (!(QUANTIZABLE as readonly string[]).includes(type)) throw new DTypeError(`${op}: type ${type} is not one this version writes (${QUANTIZABLE.join(', ')})`);
  const [bs, bb] = BLOCK[type]!;
  return [GGML_TYPE_BY_NAME.get(type)!.id, bs, bb];
}

/**
 * The blocks of a float32 matrix [N, K] (K a multiple of the type's block size) as uint8
 * [N, K / block * bytesPerBlock]: each row is a run of whole blocks, as GGUF stores it. cpu.
 */
export function quantizeTensor(type: string, x: Tensor): Tensor {
  const [id, bs] = checkType('quantize', type);
  x.assertLive('quantize');
  if (x.dtype !== 'float32' || x.ndim !== 2) throw new DTypeError(`quantize: x must be a float32 matrix [N, K], got ${x.dtype} [${x.shape}]`);
  const [N, K] = x.shape as [number, number];
  if (K % bs !== 0) throw new ShapeError(`quantize: ${type} rows are whole blocks of ${bs}, but [${N}, ${K}] has ${K} columns`);
  const xc = contiguous(x);
  const out = runKernel('quantize', [xc], [{ shape: [N, (K / bs) * BLOCK[type]![1]], dtype: 'uint8' }], [id])[0]!;
  if (xc !== x) xc.dispose();
  return out;
}

/** The bytes of `x` (whole blocks) in block format `type`. */
export function quantize(type: string, x: Float32Array): Uint8Array {
  const [, bs] = checkType('quantize', type);
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

// Ops on block-quantized weights (their storage, QuantizedWeight, is lib/quant's): dequantize,
// quantize, and the matmuls QLoRA needs, y = x . W^T forward and dx = dy . W for the input
// gradient. No gradient ever flows to the quantized weight itself. Kernels: csrc/cpu/quant.cpp,
// quantize.cpp; block sizes: lib/quant-types.ts. Public as et.quant.* (lib/quant/index.ts), not
// at the top level with the dense ops.
import { isGradEnabled, record } from '../autograd/engine.js';
import { DTypeError, ShapeError } from '../errors.js';
import { runKernel } from '../native/run.js';
import { BLOCK, GGML_TYPE_BY_NAME } from '../quant-types.js';
import type { Tensor } from '../tensor.js';
import { contiguous } from './copy.js';
import { reshape } from './shape.js';

/**
 * What the block kernels read of a quantized matrix [N, K] (lib/quant's QuantizedWeight is one):
 * N rows of K / block whole blocks of ggml type `typeId`.
 */
export interface QuantizedMatrix {
  readonly type: string;
  readonly typeId: number;
  /** Rows (output features) and elements per row (input features). */
  readonly shape: readonly [number, number];
  /** The blocks, uint8 [N, K / block * bytesPerBlock]. */
  readonly data: Tensor;
}

/** The float32 matrix [N, K] of w, bit-exact with llama.cpp's dequantization. No autograd. */
export function dequantizeMatrix(w: QuantizedMatrix): Tensor {
  return runKernel('dequantize', [w.data], [{ shape: [...w.shape], dtype: 'float32' }], [w.typeId, w.shape[1]])[0]!;
}

/** [elements, bytes] per block of a type quantize writes, or a DTypeError naming `op`. */
export function quantizableBlock(op: string, type: string): [number, number] {
  const blk = BLOCK[type];
  if (!blk) throw new DTypeError(`${op}: type ${type} is not one this version writes (${Object.keys(BLOCK).join(', ')})`);
  return blk;
}

/**
 * The blocks of a float32 matrix [N, K] (K a multiple of the type's block size) as uint8
 * [N, K / block * bytesPerBlock]: each row is a run of whole blocks, as GGUF stores it. cpu.
 */
export function quantizeTensor(type: string, x: Tensor): Tensor {
  const [bs, bb] = quantizableBlock('quantize', type);
  x.assertLive('quantize');
  if (x.dtype !== 'float32' || x.ndim !== 2) throw new DTypeError(`quantize: x must be a float32 matrix [N, K], got ${x.dtype} [${x.shape}]`);
  const [N, K] = x.shape as [number, number];
  if (K % bs !== 0) throw new ShapeError(`quantize: ${type} rows are whole blocks of ${bs}, but [${N}, ${K}] has ${K} columns`);
  const xc = contiguous(x);
  const out = runKernel('quantize', [xc], [{ shape: [N, (K / bs) * bb], dtype: 'uint8' }], [GGML_TYPE_BY_NAME.get(type)!.id])[0]!;
  if (xc !== x) xc.dispose();
  return out;
}

export interface MatmulQOptions {
  /**
   * Inference with a Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, NF4 or NF4_DQ weight rounds x (and NF4's
   * levels) to 8 bits per 32 values and uses integer dot products (decode rows) or an integer GEMM
   * (prompts), on every CPU tier but x86-64's generic one, as llama.cpp does (results move by
   * ~1e-3 of their scale), only while gradients are not recorded (noGrad: generation,
   * evaluation). `exact: true` (or exactQuantMatmul) keeps the float path.
   */
  exact?: boolean;
}

let exactDepth = 0;

/**
 * Runs fn with every quantized matmul on the float path (dequantized blocks, float32 x), as
 * `exact: true` does for one call: for comparing a quantized model's logits with its
 * dequantized twin, or finite differences of a loss evaluated without gradients.
 */
export function exactQuantMatmul<T>(fn: () => T): T {
  exactDepth++;
  try {
    return fn();
  } finally {
    exactDepth--;
  }
}

/** y [..., N] = x [..., K] . W^T for a quantized W [N, K]; x gets its gradient (dy . W). */
export function matmulQ(x: Tensor, w: QuantizedMatrix, opts?: MatmulQOptions): Tensor {
  x.assertLive('matmulQ');
  const [N, K] = w.shape;
  if (x.dtype !== 'float32') throw new DTypeError(`matmulQ: x must be float32, got ${x.dtype}`);
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== K) throw new ShapeError(`matmulQ: x [${x.shape}] does not end in the weight's ${K} input features (weight [${N}, ${K}] ${w.type})`);
  const lead = x.shape.slice(0, -1);
  const M = lead.reduce((a, b) => a * b, 1);
  const x2 = contiguous(reshape(x, [M, K]));
  // inference only: with gradients recorded (training, even where this x needs none) the float path
  const approx = !opts?.exact && !isGradEnabled() && exactDepth === 0;
  const y2 = runKernel('matmulQ', [x2, w.data], [{ shape: [M, N], dtype: 'float32' }], [w.typeId, K, 0, approx ? 1 : 0])[0]!;
  if (x2 !== x) x2.dispose();
  const y = reshape(y2, [...lead, N]);
  if (y !== y2) y2.dispose();
  record('matmulQ', [x], [y], [], ([dy]) => [matmulQInputGrad(dy!, w)]);
  return y;
}

/** dx [..., K] = dy [..., N] . W for a quantized W [N, K] (the input gradient of matmulQ; no autograd). */
export function matmulQInputGrad(dy: Tensor, w: QuantizedMatrix): Tensor {
  const [N, K] = w.shape;
  if (dy.dtype !== 'float32' || dy.ndim < 1 || dy.shape[dy.ndim - 1] !== N) throw new ShapeError(`matmulQ backward: dy [${dy.shape}] does not end in the weight's ${N} outputs`);
  const lead = dy.shape.slice(0, -1);
  const M = lead.reduce((a, b) => a * b, 1);
  const d2 = contiguous(reshape(dy, [M, N]));
  const dx2 = runKernel('matmulQ', [d2, w.data], [{ shape: [M, K], dtype: 'float32' }], [w.typeId, K, 1, 0])[0]!;
  if (d2 !== dy) d2.dispose();
  const dx = reshape(dx2, [...lead, K]);
  if (dx !== dx2) dx2.dispose();
  return dx;
}

// A frozen weight matrix kept in a ggml block format ([N, K] as N rows of K/block blocks), with
// native dequantization and the matmuls QLoRA needs: y = x . W^T forward and dx = dy . W for the
// input gradient. No gradient ever flows to the quantized weight itself.
import { isGradEnabled, record } from '../autograd/engine.js';
import { DTypeError, ShapeError } from '../errors.js';
import { GGML_TYPE_BY_NAME } from '../formats/gguf-types.js';
import { runKernel } from '../native/run.js';
import { tensor } from '../ops/creation.js';
import { reshape } from '../ops/shape.js';
import { contiguous } from '../ops/copy.js';
import type { Tensor } from '../tensor.js';
import { keep } from '../scope.js';
import { BLOCK } from './dequant.js';

export class QuantizedWeight {
  readonly type: string;
  readonly typeId: number;
  /** Rows (output features) and elements per row (input features). */
  readonly shape: readonly [number, number];
  /** The blocks, uint8 [N, K / block * bytesPerBlock]. */
  readonly data: Tensor;

  /** `bytes`: N rows of whole blocks, as a GGUF file stores a [N, K] matrix of type `type`. */
  constructor(type: string, shape: readonly [number, number], bytes: Uint8Array | Tensor) {
    const blk = BLOCK[type];
    const info = GGML_TYPE_BY_NAME.get(type);
    if (!blk || !info) throw new DTypeError(`QuantizedWeight: ${type} is not a block format this version reads (${Object.keys(BLOCK).join(', ')})`);
    const [N, K] = shape;
    if (!Number.isInteger(N) || !Number.isInteger(K) || N <= 0 || K <= 0 || K % blk[0] !== 0)
      throw new ShapeError(`QuantizedWeight: shape [${N}, ${K}]: rows must be whole ${type} blocks of ${blk[0]}`);
    const rowBytes = (K / blk[0]) * blk[1];
    const n = bytes instanceof Uint8Array ? bytes.length : bytes.numel;
    if (n !== N * rowBytes) throw new ShapeError(`QuantizedWeight: ${type} [${N}, ${K}] needs ${N * rowBytes} bytes, got ${n}`);
    this.type = type;
    this.typeId = info.id;
    this.shape = [N, K];
    this.data = keep(bytes instanceof Uint8Array ? tensor(bytes, [N, rowBytes]) : reshape(bytes, [N, rowBytes]));
  }

  /** Bytes of the blocks. */
  get byteLength(): number {
    return this.data.numel;
  }

  /** The float32 matrix [N, K], bit-exact with llama.cpp's dequantization. */
  dequantize(): Tensor {
    return runKernel('dequantize', [this.data], [{ shape: [...this.shape], dtype: 'float32' }], [this.typeId, this.shape[1]])[0]!;
  }

  dispose(): void {
    this.data.dispose();
  }
}

export interface MatmulQOptions {
  /**
   * Inference on one to four rows of x (decode) with a Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, NF4 or
   * NF4_DQ weight rounds x (and NF4's levels) to 8 bits and uses integer dot products (AVX2,
   * NEON), as llama.cpp does (results move by ~1e-3 of their scale). `exact: true` keeps the float path; it is always taken when x's gradient is
   * recorded.
   */
  exact?: boolean;
}

/** y [..., N] = x [..., K] . W^T for a quantized W [N, K]; x gets its gradient (dy . W). */
export function matmulQ(x: Tensor, w: QuantizedWeight, opts?: MatmulQOptions): Tensor {
  x.assertLive('matmulQ');
  const [N, K] = w.shape;
  if (x.dtype !== 'float32') throw new DTypeError(`matmulQ: x must be float32, got ${x.dtype}`);
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== K) throw new ShapeError(`matmulQ: x [${x.shape}] does not end in the weight's ${K} input features (weight [${N}, ${K}] ${w.type})`);
  const lead = x.shape.slice(0, -1);
  const M = lead.reduce((a, b) => a * b, 1);
  const x2 = contiguous(reshape(x, [M, K]));
  const approx = !opts?.exact && !(isGradEnabled() && x.requiresGrad);
  const y2 = runKernel('matmulQ', [x2, w.data], [{ shape: [M, N], dtype: 'float32' }], [w.typeId, K, 0, approx ? 1 : 0])[0]!;
  if (x2 !== x) x2.dispose();
  const y = reshape(y2, [...lead, N]);
  if (y !== y2) y2.dispose();
  record('matmulQ', [x], [y], [], ([dy]) => [matmulQInputGrad(dy!, w)]);
  return y;
}

/** dx [..., K] = dy [..., N] . W for a quantized W [N, K] (the input gradient of matmulQ; no autograd). */
export function matmulQInputGrad(dy: Tensor, w: QuantizedWeight): Tensor {
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

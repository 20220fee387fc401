// A frozen weight matrix kept in a ggml block format ([N, K] as N rows of K/block blocks): the
// storage the quantized ops (lib/ops/quant.ts: dequantize, matmulQ and its input gradient) read.
// No gradient ever flows to the quantized weight itself.
import { DTypeError, ShapeError } from '../errors.js';
import { dequantizeMatrix, type QuantizedMatrix } from '../ops/quant.js';
import { tensor } from '../ops/creation.js';
import { reshape } from '../ops/shape.js';
import { BLOCK, GGML_TYPE_BY_NAME } from '../quant-types.js';
import type { Tensor } from '../tensor.js';
import { keep } from '../scope.js';

export class QuantizedWeight implements QuantizedMatrix {
  readonly type: string;
  readonly typeId: number;
  /** Rows (output features) and elements per row (input features). */
  readonly shape: readonly [number, number];
  /** The blocks, uint8 [N, K / block * bytesPerBlock]. */
  readonly data: Tensor;

  /**
   * `bytes`: N rows of whole blocks, as a GGUF file stores a [N, K] matrix of type `type`; bytes
   * from the host go to `opts.device` (default: the default device), a tensor stays where it is.
   */
  constructor(type: string, shape: readonly [number, number], bytes: Uint8Array | Tensor, opts?: { device?: string }) {
    const blk = BLOCK[type];
    if (!blk) throw new DTypeError(`QuantizedWeight: ${type} is not a block format this version reads (${Object.keys(BLOCK).join(', ')})`);
    const [N, K] = shape;
    if (!Number.isInteger(N) || !Number.isInteger(K) || N <= 0 || K <= 0 || K % blk[0] !== 0)
      throw new ShapeError(`QuantizedWeight: shape [${N}, ${K}]: rows must be whole ${type} blocks of ${blk[0]}`);
    const rowBytes = (K / blk[0]) * blk[1];
    const n = bytes instanceof Uint8Array ? bytes.length : bytes.numel;
    if (n !== N * rowBytes) throw new ShapeError(`QuantizedWeight: ${type} [${N}, ${K}] needs ${N * rowBytes} bytes, got ${n}`);
    this.type = type;
    this.typeId = GGML_TYPE_BY_NAME.get(type)!.id;
    this.shape = [N, K];
    this.data = keep(bytes instanceof Uint8Array ? tensor(bytes, [N, rowBytes], { device: opts?.device }) : reshape(bytes, [N, rowBytes]));
  }

  /** Bytes of the blocks. */
  get byteLength(): number {
    return this.data.numel;
  }

  /** The float32 matrix [N, K], bit-exact with llama.cpp's dequantization. */
  dequantize(): Tensor {
    return dequantizeMatrix(this);
  }

  dispose(): void {
    this.data.dispose();
  }
}

// Quantizers from float32 to ggml's simple block formats, as llama.cpp's reference quantizer
// (quantize_row_*_ref, used by llama-quantize without an importance matrix) computes them, so the
// same weights give the same bytes. Each block: a scale from the block's extreme value(s), stored
// as f16; quants rounded as the reference rounds them (float32 arithmetic, then truncation).
import { f32ToF16 } from '../dtype.js';
import { DTypeError, ValueError } from '../errors.js';
import { BLOCK } from './dequant.js';

const f32 = Math.fround;
/** C's roundf: halves away from zero. */
const roundf = (x: number) => (x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5));
/** C's (int8_t) cast of a float in range: truncation toward zero. */
const trunc = (x: number) => Math.trunc(x);

/** The block formats quantize() writes. */
export const QUANTIZABLE = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1'] as const;
export type QuantType = (typeof QUANTIZABLE)[number];

function put16(b: Uint8Array, o: number, v: number): void {
  const h = f32ToF16(v);
  b[o] = h & 0xff;
  b[o + 1] = h >> 8;
}

/** The bytes of `x` (whole blocks of 32) in block format `type`. */
export function quantize(type: string, x: Float32Array): Uint8Array {
  if (!(QUANTIZABLE as readonly string[]).includes(type)) throw new DTypeError(`quantize: type ${type} is not one this version writes (${QUANTIZABLE.join(', ')})`);
  const [bs, bb] = BLOCK[type]!;
  if (x.length % bs !== 0) throw new ValueError(`quantize: ${x.length} values are not whole ${type} blocks of ${bs}`);
  const nb = x.length / bs;
  const out = new Uint8Array(nb * bb);
  for (let i = 0; i < nb; i++) {
    const o = i * bb;
    const xo = i * bs;
    if (type === 'Q8_0') {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + j]!));
      const d = f32(amax / 127);
      const id = d ? f32(1 / d) : 0;
      put16(out, o, d);
      for (let j = 0; j < 32; j++) out[o + 2 + j] = roundf(f32(x[xo + j]! * id)) & 0xff;
    } else if (type === 'Q4_0' || type === 'Q5_0') {
      // the value of largest magnitude, with its sign: it maps to -8 (-16), the end of the range
      let amax = 0;
      let max = 0;
      for (let j = 0; j < 32; j++) {
        const v = x[xo + j]!;
        if (amax < Math.abs(v)) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const five = type === 'Q5_0';
      const d = f32(max / (five ? -16 : -8));
      const id = d ? f32(1 / d) : 0;
      put16(out, o, d);
      const qs = o + (five ? 6 : 2);
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const off = five ? 16.5 : 8.5;
        const top = five ? 31 : 15;
        const x0 = Math.min(top, trunc(f32(f32(x[xo + j]! * id) + off)));
        const x1 = Math.min(top, trunc(f32(f32(x[xo + 16 + j]! * id) + off)));
        out[qs + j] = (x0 & 0xf) | ((x1 & 0xf) << 4);
        if (five) qh |= (((x0 & 0x10) >> 4) << j) | (((x1 & 0x10) >> 4) << (j + 16));
      }
      if (five) for (let k = 0; k < 4; k++) out[o + 2 + k] = (qh >>> (8 * k)) & 0xff;
    } else {
      // Q4_1 / Q5_1: min and range
      let min = Infinity;
      let max = -Infinity;
      for (let j = 0; j < 32; j++) {
        min = Math.min(min, x[xo + j]!);
        max = Math.max(max, x[xo + j]!);
      }
      const five = type === 'Q5_1';
      const d = f32((max - min) / (five ? 31 : 15));
      const id = d ? f32(1 / d) : 0;
      put16(out, o, d);
      put16(out, o + 2, min);
      const qs = o + (five ? 8 : 4);
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const top = five ? 31 : 15;
        const x0 = Math.min(top, trunc(f32(f32(f32(x[xo + j]! - min) * id) + 0.5)));
        const x1 = Math.min(top, trunc(f32(f32(f32(x[xo + 16 + j]! - min) * id) + 0.5)));
        out[qs + j] = (x0 & 0xf) | ((x1 & 0xf) << 4);
        if (five) qh |= (((x0 & 0x10) >> 4) << j) | (((x1 & 0x10) >> 4) << (j + 16));
      }
      if (five) for (let k = 0; k < 4; k++) out[o + 4 + k] = (qh >>> (8 * k)) & 0xff;
    }
  }
  return out;
}

// Dequantization of ggml's block formats to float32, bit-exact with llama.cpp's `to_float`: each
// float operation is rounded to float32 in the order ggml's reference C code performs it.
// Layouts (bytes per block of elements):
//   Q8_0  34/32: d f16, qs int8[32]                 y = q * d
//   Q4_0  18/32: d f16, qs u8[16] (lo nibbles = 0..15, hi = 16..31)     y = (q - 8) * d
//   Q4_1  20/32: d, m f16, qs u8[16]                y = q * d + m
//   Q5_0  22/32: d f16, qh u32, qs u8[16]           y = (q | bit4 from qh) - 16) * d
//   Q5_1  24/32: d, m f16, qh u32, qs u8[16]        y = q * d + m
//   Q4_K 144/256: d, dmin f16, scales u8[12] (8 x 6-bit scale + 6-bit min), qs u8[128]
//   Q5_K 176/256: as Q4_K plus qh u8[32] (the 5th bit)
//   Q6_K 210/256: ql u8[128], qh u8[64], scales int8[16], d f16       y = d * sc * (q - 32)
// and edgetrain's own 4-bit NormalFloat (QLoRA's codebook NF4_LEVELS; not ggml types):
//   NF4     36/64:  absmax f32, qs u8[32] (lo nibbles = 0..31, hi = 32..63)  y = NF4[q] * absmax
//   NF4_DQ 134/256: d f16, sc u8[4], qs u8[4][32]: 4 NF4 sub-blocks of 64   y = NF4[q] * (d * sc)
import { DTypeError, ValueError } from '../errors.js';
import { BLOCK } from '../quant-types.js';

const f32 = Math.fround;

const F16 = new Float32Array(65536);
for (let h = 0; h < 65536; h++) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  F16[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The 16 NF4 levels: quantiles of N(0, 1) scaled to [-1, 1] with an exact 0 (Dettmers et al., QLoRA). */
export const NF4_LEVELS = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023,
  1.0,
]);

function nf4Block(b: Uint8Array, q: number, s: number, y: Float32Array, yo: number): void {
  for (let j = 0; j < 32; j++) {
    y[yo + j] = f32(NF4_LEVELS[b[q + j]! & 0xf]! * s);
    y[yo + j + 32] = f32(NF4_LEVELS[b[q + j]! >> 4]! * s);
  }
}

/** The 6-bit scale and min of sub-block j (0..7) of a K-quant block's 12 scale bytes at `s`. */
function scaleMin(b: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [b[s + j]! & 63, b[s + j + 4]! & 63];
  return [(b[s + j + 4]! & 0xf) | ((b[s + j - 4]! >> 6) << 4), (b[s + j + 4]! >> 4) | ((b[s + j]! >> 6) << 4)];
}

/** Float32 values of `numel` elements of type `type` stored in `bytes` (whole blocks). */
export function dequantize(type: string, bytes: Uint8Array, numel: number): Float32Array {
  const blk = BLOCK[type];
  if (!blk) throw new DTypeError(`dequantize: type ${type} is not a block format this version reads (${Object.keys(BLOCK).join(', ')})`);
  const [bs, bb] = blk;
  if (numel % bs !== 0) throw new ValueError(`dequantize: ${numel} elements are not whole ${type} blocks of ${bs}`);
  const nb = numel / bs;
  if (bytes.length < nb * bb) throw new ValueError(`dequantize: ${type}: ${nb} blocks need ${nb * bb} bytes, got ${bytes.length}`);
  const y = new Float32Array(numel);
  const b = bytes;
  const h16 = (o: number) => F16[b[o]! | (b[o + 1]! << 8)]!;
  for (let i = 0; i < nb; i++) {
    const o = i * bb;
    const yo = i * bs;
    switch (type) {
      case 'Q8_0': {
        const d = h16(o);
        for (let j = 0; j < 32; j++) y[yo + j] = f32(((b[o + 2 + j]! << 24) >> 24) * d);
        break;
      }
      case 'Q4_0': {
        const d = h16(o);
        for (let j = 0; j < 16; j++) {
          const q = b[o + 2 + j]!;
          y[yo + j] = f32(((q & 0xf) - 8) * d);
          y[yo + j + 16] = f32(((q >> 4) - 8) * d);
        }
        break;
      }
      case 'Q4_1': {
        const d = h16(o);
        const m = h16(o + 2);
        for (let j = 0; j < 16; j++) {
          const q = b[o + 4 + j]!;
          y[yo + j] = f32(f32((q & 0xf) * d) + m);
          y[yo + j + 16] = f32(f32((q >> 4) * d) + m);
        }
        break;
      }
      case 'Q5_0':
      case 'Q5_1': {
        const one = type === 'Q5_1';
        const d = h16(o);
        const m = one ? h16(o + 2) : 0;
        const ho = o + (one ? 4 : 2);
        const qh = (b[ho]! | (b[ho + 1]! << 8) | (b[ho + 2]! << 16) | (b[ho + 3]! << 24)) >>> 0;
        for (let j = 0; j < 16; j++) {
          const q = b[ho + 4 + j]!;
          const x0 = (q & 0xf) | (((qh >>> j) << 4) & 0x10);
          const x1 = (q >> 4) | ((qh >>> (j + 12)) & 0x10);
          if (one) {
            y[yo + j] = f32(f32(x0 * d) + m);
            y[yo + j + 16] = f32(f32(x1 * d) + m);
          } else {
            y[yo + j] = f32((x0 - 16) * d);
            y[yo + j + 16] = f32((x1 - 16) * d);
          }
        }
        break;
      }
      case 'Q4_K':
      case 'Q5_K': {
        const five = type === 'Q5_K';
        const d = h16(o);
        const dmin = h16(o + 2);
        const sc = o + 4;
        const qhAt = o + 16;
        let ql = o + 16 + (five ? 32 : 0);
        let u1 = 1;
        let u2 = 2;
        let yy = yo;
        for (let j = 0, is = 0; j < 256; j += 64, is += 2) {
          const [s1, m1i] = scaleMin(b, sc, is);
          const [s2, m2i] = scaleMin(b, sc, is + 1);
          const d1 = f32(d * s1);
          const m1 = f32(dmin * m1i);
          const d2 = f32(d * s2);
          const m2 = f32(dmin * m2i);
          for (let l = 0; l < 32; l++) y[yy++] = f32(f32(d1 * ((b[ql + l]! & 0xf) + (five && b[qhAt + l]! & u1 ? 16 : 0))) - m1);
          for (let l = 0; l < 32; l++) y[yy++] = f32(f32(d2 * ((b[ql + l]! >> 4) + (five && b[qhAt + l]! & u2 ? 16 : 0))) - m2);
          ql += 32;
          u1 <<= 2;
          u2 <<= 2;
        }
        break;
      }
      case 'Q6_K': {
        const d = h16(o + 208);
        let ql = o;
        let qh = o + 128;
        let sc = o + 192;
        let yy = yo;
        for (let n = 0; n < 256; n += 128) {
          for (let l = 0; l < 32; l++) {
            const is = l >> 4;
            const q1 = ((b[ql + l]! & 0xf) | (((b[qh + l]! >> 0) & 3) << 4)) - 32;
            const q2 = ((b[ql + l + 32]! & 0xf) | (((b[qh + l]! >> 2) & 3) << 4)) - 32;
            const q3 = ((b[ql + l]! >> 4) | (((b[qh + l]! >> 4) & 3) << 4)) - 32;
            const q4 = ((b[ql + l + 32]! >> 4) | (((b[qh + l]! >> 6) & 3) << 4)) - 32;
            const s = (k: number) => (b[sc + is + k]! << 24) >> 24;
            y[yy + l] = f32(f32(d * s(0)) * q1);
            y[yy + l + 32] = f32(f32(d * s(2)) * q2);
            y[yy + l + 64] = f32(f32(d * s(4)) * q3);
            y[yy + l + 96] = f32(f32(d * s(6)) * q4);
          }
          yy += 128;
          ql += 64;
          qh += 32;
          sc += 8;
        }
        break;
      }
      case 'NF4':
        nf4Block(b, o + 4, new DataView(b.buffer, b.byteOffset + o, 4).getFloat32(0, true), y, yo);
        break;
      case 'NF4_DQ': {
        const d = h16(o);
        for (let s = 0; s < 4; s++) nf4Block(b, o + 6 + 32 * s, f32(d * b[o + 2 + s]!), y, yo + 64 * s);
        break;
      }
    }
  }
  return y;
}

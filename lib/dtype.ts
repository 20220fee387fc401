import { DTypeError } from './errors.js';

/** Element types. Ids mirror csrc/dtype.h. */
export type DType = 'float32' | 'float16' | 'bfloat16' | 'int32' | 'uint8';

export const DTYPE_ID: Record<DType, number> = { float32: 0, float16: 1, bfloat16: 2, int32: 3, uint8: 4 };
export const DTYPE_SIZE: Record<DType, number> = { float32: 4, float16: 2, bfloat16: 2, int32: 4, uint8: 1 };
const ALIASES: Record<string, DType> = {
  float32: 'float32', f32: 'float32', float: 'float32',
  float16: 'float16', f16: 'float16', half: 'float16',
  bfloat16: 'bfloat16', bf16: 'bfloat16',
  int32: 'int32', i32: 'int32',
  uint8: 'uint8', u8: 'uint8', bool: 'uint8',
};

export function parseDType(d: string, op = 'dtype'): DType {
  const r = ALIASES[d];
  if (!r) throw new DTypeError(`${op}: unknown dtype '${d}' (float32, float16, bfloat16, int32, uint8)`);
  return r;
}

export function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float16' || d === 'bfloat16';
}

/** Typed array a dtype reads back as: 16-bit floats are widened to Float32Array. */
export type DataArray = Float32Array | Int32Array | Uint8Array;

// f16/bf16 <-> f32 on the host, used when uploading JS numbers into half-precision tensors.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32ToBf16(v: number): number {
  f32[0] = v;
  const u = u32[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
export function f32ToF16(v: number): number {
  f32[0] = v;
  const u = u32[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  let man = u & 0x7fffff;
  if (((u >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    man |= 0x800000;
    const shift = 14 - exp;
    const half = 1 << (shift - 1);
    let r = man >>> shift;
    const rem = man & ((1 << shift) - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = (exp << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++;
  return sign | r;
}

// Element conversions between storage dtypes and float, bit-exact with csrc/dtype.h
// (round to nearest even for f16/bf16).

int dt_size(int dt) { return (dt == DT_F16 || dt == DT_BF16) ? 2 : (dt == DT_U8 ? 1 : 4); }

float f16_to_f32(uint h) {
  uint sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  uint u;
  if (e == 0u) {
    if (man == 0u) {
      u = sign;
    } else {  // subnormal: normalise
      e = 127u - 15u + 1u;
      while ((man & 0x400u) == 0u) { man <<= 1; e--; }
      u = sign | (e << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (e == 31u) {
    u = sign | 0x7f800000u | (man << 13);
  } else {
    u = sign | ((e + 127u - 15u) << 23) | (man << 13);
  }
  return uintBitsToFloat(u);
}

uint f32_to_f16(float f) {
  uint u = floatBitsToUint(f);
  uint sign = (u >> 16) & 0x8000u;
  int e = int((u >> 23) & 0xffu) - 127 + 15;
  uint man = u & 0x7fffffu;
  if (((u >> 23) & 0xffu) == 0xffu) return sign | 0x7c00u | (man != 0u ? 0x200u : 0u);
  if (e >= 31) return sign | 0x7c00u;
  if (e <= 0) {
    if (e < -10) return sign;
    man |= 0x800000u;
    uint shift = uint(14 - e);
    uint half_ = 1u << (shift - 1u);
    uint r = man >> shift;
    uint rem = man & ((1u << shift) - 1u);
    if (rem > half_ || (rem == half_ && (r & 1u) != 0u)) r++;
    return sign | r;
  }
  uint r = (uint(e) << 10) | (man >> 13);
  uint rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u) != 0u)) r++;
  return sign | r;
}

uint f32_to_bf16(float f) {
  uint u = floatBitsToUint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
  u += 0x7fffu + ((u >> 16) & 1u);
  return u >> 16;
}

// raw element bits (zero-extended) -> float
float bits_to_float(int dt, uint b) {
  if (dt == DT_F32) return uintBitsToFloat(b);
  if (dt == DT_F16) return f16_to_f32(b);
  if (dt == DT_BF16) return uintBitsToFloat(b << 16);
  if (dt == DT_I32) return float(int(b));
  return float(b);
}

// float -> raw element bits, as the CPU backend converts: to int32 truncating toward zero and
// saturating, to uint8 keeping the low byte of the truncated value; NaN becomes 0.
uint float_to_bits(int dt, float v) {
  if (dt == DT_F32) return floatBitsToUint(v);
  if (dt == DT_F16) return f32_to_f16(v);
  if (dt == DT_BF16) return f32_to_bf16(v);
  if (isnan(v)) return 0u;
  if (dt == DT_I32) {
    if (v >= 2147483647.0) return 0x7fffffffu;
    if (v <= -2147483648.0) return 0x80000000u;
    return uint(int(v));
  }
  // |v| >= 2^31 is a multiple of 256 in float: low byte 0
  return abs(v) >= 2147483648.0 ? 0u : (uint(int(v)) & 0xffu);
}

// Raw bits of element i of a uint[] storage buffer holding dtype dt.
#define DEFINE_LOAD_BITS(NAME, BUF)                                                   \
  uint NAME(int dt, int i) {                                                          \
    if (dt == DT_F16 || dt == DT_BF16) return (BUF[uint(i) >> 1] >> (uint(i & 1) * 16u)) & 0xffffu; \
    if (dt == DT_U8) return (BUF[uint(i) >> 2] >> (uint(i & 3) * 8u)) & 0xffu;       \
    return BUF[i];                                                                    \
  }

// Block decoders of the ggml formats (csrc/cpu/quant_blocks.h, quant.cpp), bit-exact with the
// CPU's dequantization: every product is `precise` (rounded before the add or subtract, no fused
// multiply-add), as llama.cpp's reference C code does. The includer declares the weight buffer
//   layout(std430, binding = B) readonly buffer W { uint wq[]; };
// holding the raw bytes: blocks are not 4-byte aligned (Q4_0 is 18 bytes, Q8_0 34, ...), so
// bytes are shifted out of the little-endian words around them (qload8: 8 bytes, 2-3 words). Byte offsets are int32 (the host
// checks buffer sizes). Needs dtype.glsl (f16_to_f32) included first.
//
// Every decoder takes 8 consecutive elements j0..j0+7 of one block (j0 a multiple of 8): in each
// format they share one scale (and min), and sit in consecutive bytes.

// ggml type ids (csrc/quant_types.h)
#define QF_Q4_0 2
#define QF_Q4_1 3
#define QF_Q5_0 6
#define QF_Q5_1 7
#define QF_Q8_0 8
#define QF_Q4_K 12
#define QF_Q5_K 13
#define QF_Q6_K 14
#define QF_NF4 1024
#define QF_NF4_DQ 1025

uint qb(int off) { return (wq[off >> 2] >> ((off & 3) * 8)) & 0xffu; }
// 4 bytes at off, little-endian (the second word is read only when the bytes straddle it)
uint qu32(int off) {
  const int wi = off >> 2;
  const uint sh = uint(off & 3) * 8u;
  return sh == 0u ? wq[wi] : (wq[wi] >> sh) | (wq[wi + 1] << (32u - sh));
}
uint qu16(int off) { return (off & 3) == 3 ? qb(off) | (qb(off + 1) << 8) : (wq[off >> 2] >> ((off & 3) * 8)) & 0xffffu; }
float qf16(int off) { return f16_to_f32(qu16(off)); }
// 8 bytes at off as two little-endian words; byte i of them is q8b(v, i)
uvec2 qload8(int off) {
  const int wi = off >> 2;
  const uint sh = uint(off & 3) * 8u;
  const uint a = wq[wi], b = wq[wi + 1];
  if (sh == 0u) return uvec2(a, b);
  const uint c = wq[wi + 2];
  return uvec2((a >> sh) | (b << (32u - sh)), (b >> sh) | (c << (32u - sh)));
}
uint q8b(uvec2 v, int i) { return ((i < 4 ? v.x : v.y) >> ((i & 3) * 8)) & 0xffu; }
int qi8(int off) { return int(qb(off) << 24) >> 24; }

// elements and bytes per block; 0 for a type without kernels
int q_block(int t) {
  if (t == QF_Q4_0 || t == QF_Q4_1 || t == QF_Q5_0 || t == QF_Q5_1 || t == QF_Q8_0) return 32;
  if (t == QF_Q4_K || t == QF_Q5_K || t == QF_Q6_K || t == QF_NF4_DQ) return 256;
  if (t == QF_NF4) return 64;
  return 0;
}
int q_bytes(int t) {
  switch (t) {
    case QF_Q4_0: return 18;
    case QF_Q4_1: return 20;
    case QF_Q5_0: return 22;
    case QF_Q5_1: return 24;
    case QF_Q8_0: return 34;
    case QF_Q4_K: return 144;
    case QF_Q5_K: return 176;
    case QF_Q6_K: return 210;
    case QF_NF4: return 36;
    case QF_NF4_DQ: return 134;
  }
  return 0;
}

// the 16 NF4 levels (quant_blocks.h kNF4) as their exact f32 bits, and as int8 (quant_dot.cpp kNF4I8)
const uint kNF4Bits[16] = uint[16](0xbf800000u, 0xbf3239b1u, 0xbf066b30u, 0xbeca32a0u, 0xbe91a24du, 0xbe3d353fu, 0xbdba7871u,
                                   0x00000000u, 0x3da2faffu, 0x3e24cae3u, 0x3e7c04ddu, 0x3ead033au, 0x3ee1a4b8u, 0x3f1007abu,
                                   0x3f3913b3u, 0x3f800000u);
const int kNF4I8[16] = int[16](-127, -88, -67, -50, -36, -23, -12, 0, 10, 20, 31, 43, 56, 71, 92, 127);

// 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block whose 12 scale bytes are at s
void q_k_scale_min(int s, int j, out int sc, out int m) {
  if (j < 4) {
    sc = int(qb(s + j) & 63u);
    m = int(qb(s + j + 4) & 63u);
  } else {
    sc = int((qb(s + j + 4) & 0xFu) | ((qb(s + j - 4) >> 6) << 4));
    m = int((qb(s + j + 4) >> 4) | ((qb(s + j) >> 6) << 4));
  }
}

// The integer codes of elements j0..j0+7 of the block at byte b, and the affine map shared by
// the eight, value = mul * float(code) + add (Q4_1, Q5_1: code * d + m; K formats: (d sc) code -
// dmin m), plus `offset`, subtracted from the code first (Q4_0's 8, Q5_0's 16, Q6_K's 32).
// NF4 codes index the level table (mul = scale, add = 0).
void q_codes(int t, int b, int j0, out int c[8], out int offset, out float mul, out float add) {
  offset = 0;
  add = 0.0;
  if (t == QF_Q8_0) {
    mul = qf16(b);
    const uvec2 v = qload8(b + 2 + j0);
    for (int i = 0; i < 8; ++i) c[i] = int(q8b(v, i) << 24) >> 24;
  } else if (t == QF_Q4_0 || t == QF_Q4_1) {
    const int qs = b + (t == QF_Q4_0 ? 2 : 4) + (j0 & 15);
    const int sh = j0 >= 16 ? 4 : 0;
    mul = qf16(b);
    if (t == QF_Q4_1) add = qf16(b + 2);
    else offset = 8;
    const uvec2 v = qload8(qs);
    for (int i = 0; i < 8; ++i) c[i] = int((q8b(v, i) >> sh) & 0xFu);
  } else if (t == QF_Q5_0 || t == QF_Q5_1) {
    const int hp = b + (t == QF_Q5_1 ? 4 : 2);
    const uint qh = qu32(hp);
    const int qs = hp + 4 + (j0 & 15);
    const int sh = j0 >= 16 ? 4 : 0;
    mul = qf16(b);
    if (t == QF_Q5_1) add = qf16(b + 2);
    else offset = 16;
    // bit j of qh is the 5th bit of element j
    const uvec2 v = qload8(qs);
    for (int i = 0; i < 8; ++i) c[i] = int(((q8b(v, i) >> sh) & 0xFu) | (((qh >> (j0 + i)) & 1u) << 4));
  } else if (t == QF_Q4_K || t == QF_Q5_K) {
    const bool five = t == QF_Q5_K;
    const int chunk = j0 >> 6, r = j0 & 63, l = r & 31;
    const bool hi = r >= 32;
    int sc, m;
    q_k_scale_min(b + 4, 2 * chunk + (hi ? 1 : 0), sc, m);
    precise float pm = qf16(b) * float(sc);
    precise float pa = qf16(b + 2) * float(m);
    mul = pm;
    add = -pa;
    const int qs = b + 16 + (five ? 32 : 0) + 32 * chunk + l;
    const uint hbit = (hi ? 2u : 1u) << (2 * chunk);
    const uvec2 v = qload8(qs), h = five ? qload8(b + 16 + l) : uvec2(0u);
    for (int i = 0; i < 8; ++i) {
      int q = int(hi ? (q8b(v, i) >> 4) : (q8b(v, i) & 0xFu));
      if ((q8b(h, i) & hbit) != 0u) q += 16;
      c[i] = q;
    }
  } else if (t == QF_Q6_K) {
    const int n = j0 >> 7, r = j0 & 127, g = r >> 5, l = r & 31;
    const int ql = b + 64 * n + l + ((g & 1) != 0 ? 32 : 0);
    const int qh = b + 128 + 32 * n + l;
    const int sh = (g >> 1) * 4;  // groups 2, 3: the high nibbles
    precise float pm = qf16(b + 208) * float(qi8(b + 192 + 8 * n + (l >> 4) + 2 * g));
    mul = pm;
    offset = 32;
    const uvec2 vl = qload8(ql), vh = qload8(qh);
    for (int i = 0; i < 8; ++i) c[i] = int(((q8b(vl, i) >> sh) & 0xFu) | (((q8b(vh, i) >> (2 * g)) & 3u) << 4));
  } else if (t == QF_NF4) {
    mul = uintBitsToFloat(qu32(b));
    const int qs = b + 4 + (j0 & 31);
    const int sh = j0 >= 32 ? 4 : 0;
    const uvec2 v = qload8(qs);
    for (int i = 0; i < 8; ++i) c[i] = int((q8b(v, i) >> sh) & 0xFu);
  } else {  // QF_NF4_DQ
    const int s = j0 >> 6, r = j0 & 63;
    precise float pm = qf16(b) * float(qb(b + 2 + s));
    mul = pm;
    const int qs = b + 6 + 32 * s + (r & 31);
    const int sh = r >= 32 ? 4 : 0;
    const uvec2 v = qload8(qs);
    for (int i = 0; i < 8; ++i) c[i] = int((q8b(v, i) >> sh) & 0xFu);
  }
}

// The values of eight codes from q_codes, bit-exact with csrc/cpu/quant.cpp.
void q_values(int t, int c[8], int offset, float mul, float add, out float v[8]) {
  const bool nf4 = t == QF_NF4 || t == QF_NF4_DQ;
  const bool affine = t == QF_Q4_1 || t == QF_Q5_1 || t == QF_Q4_K || t == QF_Q5_K;
  for (int i = 0; i < 8; ++i) {
    if (nf4) {
      precise float p = uintBitsToFloat(kNF4Bits[c[i]]) * mul;
      v[i] = p;
    } else if (affine) {
      // CPU: Q4_1 / Q5_1 code * d + m; K formats (d sc) * code - dmin m (add = -(dmin m): the same)
      precise float p = float(c[i]) * mul;
      precise float s = p + add;
      v[i] = s;
    } else {
      precise float p = float(c[i] - offset) * mul;
      v[i] = p;
    }
  }
}

// Elements j0..j0+7 of the block at byte b as floats.
void q_decode8(int t, int b, int j0, out float v[8]) {
  int c[8], offset;
  float mul, add;
  q_codes(t, b, j0, c, offset, mul, add);
  q_values(t, c, offset, mul, add, v);
}

// The types matmulQ's decode path rounds x to 8 bits for (quant_dot.h has_dot_q8 on AVX2 / NEON).
bool q_has_dot8(int t) {
  return t == QF_Q8_0 || t == QF_Q4_0 || t == QF_Q4_K || t == QF_Q5_K || t == QF_Q6_K || t == QF_NF4 || t == QF_NF4_DQ;
}

// Codes from q_codes as the int8-dot codes of quant_dot.cpp: value = scale * code + add with the
// offsets applied, NF4 as its int8 levels with scale / 127.
void q_to_int8(int t, inout int c[8], int offset, inout float scale) {
  if (t == QF_NF4 || t == QF_NF4_DQ) {
    scale = scale / 127.0;
    for (int i = 0; i < 8; ++i) c[i] = kNF4I8[c[i]];
  } else {
    for (int i = 0; i < 8; ++i) c[i] -= offset;
  }
}

// Shared part of quantize.comp (32- and 64-element formats, NF4_DQ) and quantize_k.comp (the
// K-quants): x f32 [N, K] contiguous -> w u8 [N, K / block * bytes], the block formats of
// csrc/cpu/quant_blocks.h, byte for byte as the CPU twin csrc/cpu/quantize.cpp (llama.cpp's
// reference quantizer for the ggml types, edgetrain's NF4 / NF4_DQ). One invocation per block.
//   META_N      blocks (N * K / block)
//   META_I + 0  ggml type id (csrc/quant_types.h), META_I + 1 block elements, META_I + 2 block bytes
//   META_X + 0  x's element offset, META_X + 1 w's byte offset
// Exactness: every float variable is `precise` (no a * b + c contraction into fma, as the CPU file is
// compiled with fp-contract off) and each expression keeps the CPU's operation order and its
// int <-> float conversions; literals that are not small integers or powers of two are given as
// bit patterns (no double rounding through the compiler's constant parser).
// Per-invocation arrays live in shared memory, one row per invocation (a private array indexed
// by a loop variable costs minutes of pipeline compilation on llvmpipe), and long loops are kept
// rolled for the same reason. The including shader defines LS (its local size) and OB_BYTES (its
// largest block, rounded up to whole words) before this file, and quantize_block(type) after it.
// Output: a block is assembled in its ob row and written as 32-bit words; blocks are not word
// aligned (e.g. 18 bytes), so a word shared with a neighbouring block (or with bytes outside w) is
// updated with atomicAnd / atomicOr of this block's bytes only: the result does not depend on order.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "meta.h"
#include "dtype.glsl"

#define LOOP [[dont_unroll]]

layout(local_size_x = LS) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) readonly buffer XBuf { float xs[]; };  // x: [N, K]
layout(std430, binding = 2) buffer WBuf { uint w[]; };             // w: bytes, packed 4 per word

// ggml type ids (csrc/quant_types.h)
#define T_Q4_0 2
#define T_Q4_1 3
#define T_Q5_0 6
#define T_Q5_1 7
#define T_Q8_0 8
#define T_Q4_K 12
#define T_Q5_K 13
#define T_Q6_K 14
#define T_NF4 1024
#define T_NF4_DQ 1025

#define F_0_1 uintBitsToFloat(0x3dcccccdu)    // 0.1f
#define F_1E_15 uintBitsToFloat(0x26901d7du)  // 1e-15f

#define OB_WORDS OB_BYTES / 4
shared uint s_ob[LS][OB_WORDS];  // the block's bytes, little-endian in words
#define LID gl_LocalInvocationID.x

int xb;  // x's element index of this block's first value

float X(int j) { return xs[xb + j]; }
void pb(int i, uint v) { s_ob[LID][i >> 2] |= (v & 0xffu) << (8 * (i & 3)); }
uint gb(int i) { return (s_ob[LID][i >> 2] >> (8 * (i & 3))) & 0xffu; }
void put16(int i, float v) {
  uint h = f32_to_f16(v);
  pb(i, h);
  pb(i + 1, h >> 8);
}
float load16(int i) { return f16_to_f32(gb(i) | (gb(i + 1) << 8)); }

#include "exact_rn.glsl"

// ggml's nearest_int: round to nearest even through the float mantissa (|v| < 2^22).
int nearest_int(float v) {
  precise float f = v + 12582912.0;
  return (floatBitsToInt(f) & 0x007fffff) - 0x00400000;
}
// C's float -> int8_t / uint8_t conversions of in-range values (truncation, low byte).
int to_i8(float v) { return (int(v) << 24) >> 24; }
int to_u8(float v) { return int(v) & 0xff; }

void quantize_block(int type);  // the including shader's formats

void main() {
  int nblocks = mi(META_N);
  int blk = int(gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * LS + int(LID);
  if (blk >= nblocks) return;  // no barriers below: shared rows are per invocation
  int type = mi(META_I), elems = mi(META_I + 1), bytes = mi(META_I + 2);
  xb = mi(META_X) + blk * elems;
  LOOP for (int i = 0; i < OB_WORDS; ++i) s_ob[LID][i] = 0u;
  // a block holding NaN or +-Inf: zero codes under a NaN scale (the CPU's nonfinite_block)
  bool finite = true;
  LOOP for (int j = 0; j < elems; ++j) finite = finite && (floatBitsToUint(X(j)) & 0x7f800000u) != 0x7f800000u;
  if (!finite) {
    if (type == T_NF4) s_ob[LID][0] = 0x7fc00000u;
    else if (type == T_Q6_K) pb(209, 0x7eu);  // f16 NaN 0x7e00 at 208
    else s_ob[LID][0] = 0x7e00u;
  } else {
    quantize_block(type);
  }

  int p0 = mi(META_X + 1) + blk * bytes, p1 = p0 + bytes;  // this block's bytes [p0, p1) of w
  LOOP for (int wi = p0 >> 2; wi <= (p1 - 1) >> 2; ++wi) {
    uint val = 0u, mask = 0u;
    for (int k = 0; k < 4; ++k) {
      int p = 4 * wi + k;
      if (p < p0 || p >= p1) continue;
      val |= gb(p - p0) << (8 * k);
      mask |= 0xffu << (8 * k);
    }
    if (mask == 0xffffffffu) {
      w[wi] = val;
    } else {
      atomicAnd(w[wi], ~mask);
      atomicOr(w[wi], val);
    }
  }
}

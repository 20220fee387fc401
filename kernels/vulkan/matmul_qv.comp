#version 450
// variants: int8dot=ET_INT8_DOT
// matmulQ's forward on one to four rows of x (decode): y [M, N] = x [M, K] W^T, M <= 4, W
// block-quantized [N, K] (kernels/vulkan/quant.glsl). A workgroup owns 8 weight rows, 32
// invocations each: an invocation decodes whole 32-element pieces of its row once (strided by
// 32 pieces) into registers and takes their dot products with every row of x, then the 32
// partial sums of a row are added in shared memory. Few barriers and the weights are not staged:
// the tiled matmul_q.comp would decode the same bytes but waste 3/4 of its tile on x's missing rows.
// Int8 mode (META_I+5 = 1): each 32 values of a row of x are rounded to int8 with one scale
// (csrc/cpu/quant_dot.cpp quantize_row_q8), integer dot products per 8 scaled in f32. The
// workgroup rounds x once into shared memory (qc, qs) for all 8 of its rows: a tile of QB blocks
// of 32 split between x's rows, a multiple of 32 blocks so each lane still owns the same blocks in
// the same order as without tiles (the sums, and y, do not depend on the tile). K up to
// 32 * QB / M fits one tile, rounded once per workgroup; a longer x is re-rounded tile by tile.
// (Rounded by each weight row instead, x cost 8 times the work: a quarter of decode on lavapipe.)
// Meta as matmul_q.comp: META_I+0 = ggml type, +1 = K, +2 = N, +3 = M, +5 = int8, +7 = lda;
// META_X+0 = x's element offset, +1 = w's byte offset, +2 = y's element offset, +3 = ldy.
// Bindings: 1 = x, 2 = w (bytes as uint words), 3 = y. Shared memory: 13 KiB (red 4, qc 8, qs 1).
// matmul_qv_int8dot (ET_INT8_DOT, when the device enabled shaderIntegerDotProduct): the int8
// sums as OpSDotKHR on int8x4 packed in 32-bit words; its int32 result is exact (|sum| <= 4 *
// 128 * 127), so y is bit-identical with the plain variant.
#extension GL_GOOGLE_include_directive : require
#ifdef ET_INT8_DOT
// glslang 11 has no GL_EXT_integer_dot_product: the SPIR-V instruction, declared directly
// (OpSDotKHR = 4450; capabilities DotProductKHR 6019, DotProductInput4x8BitPackedKHR 6018;
// fmt 0 = PackedVectorFormat4x8Bit)
#extension GL_EXT_spirv_intrinsics : require
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot4x8(int a, int b, spirv_literal int fmt);
int pack4(int a, int b, int c, int d) { return (a & 255) | ((b & 255) << 8) | ((c & 255) << 16) | (d << 24); }
#endif
#include "meta.h"
#include "dtype.glsl"

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer W { uint wq[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

#include "quant.glsl"

shared float red[4][256];
// int8 mode: the tile of x's blocks, slot m * tileB + (block - first block of the tile); each slot
// 8 words of 4 int8 codes (byte i of word w is element 4w + i) and the block's scale
#define QB 256
shared uint qc[QB * 8];
shared float qs[QB];

// x's block of 32 at element xb rounded as quantize_row_q8 does, into slot `slot`
void round_block(int xb, int slot) {
  float amax = 0.0;
  for (int j = 0; j < 32; ++j) {
    const float a = abs(x[xb + j]);
    amax = (a > amax || isnan(a)) ? a : amax;  // NaN-propagating max
  }
  // a block holding NaN or +-Inf: scale NaN, or +Inf with codes +-1 at the infinities
  const float s = isnan(amax) ? amax : isinf(amax) ? amax : amax / 127.0;
  const float is = s > 0.0 && !isinf(s) ? 1.0 / s : 0.0;
  const bool bad = isnan(s) || isinf(s);
  for (int w = 0; w < 8; ++w) {
    uint word = 0u;
    for (int i = 0; i < 4; ++i) {
      const float xv = x[xb + 4 * w + i];
      const int c = bad ? ((isnan(s) || !isinf(xv)) ? 0 : (xv > 0.0 ? 1 : -1)) : int(roundEven(xv * is));
      word |= uint(c & 255) << (8 * i);
    }
    qc[slot * 8 + w] = word;
  }
  qs[slot] = s;
}

// The ggml type as a specialization constant where the host builds a pipeline per type
// ("<shader>#<type>", csrc/vulkan/pipelines.h), else META_I+0: with a constant only that
// format's decoder is compiled in, which a CPU device (lavapipe) otherwise runs all of, masked.
layout(constant_id = 0) const int SPEC_TYPE = -1;

void main() {
  const int t = SPEC_TYPE >= 0 ? SPEC_TYPE : mi(META_I), K = mi(META_I + 1), N = mi(META_I + 2), M = mi(META_I + 3);
  const bool i8 = mi(META_I + 5) != 0;
  const int lda = mi(META_I + 7);
  const int xo = mi(META_X), wo = mi(META_X + 1), yo = mi(META_X + 2), ldy = mi(META_X + 3);
  const int bs = q_block(t), bb = q_bytes(t), rowBytes = (K / bs) * bb;
  const int lid = int(gl_LocalInvocationID.x), row = lid >> 5, lane = lid & 31;
  const bool affine = t == QF_Q4_K || t == QF_Q5_K;
  const int groups = (N + 7) / 8, nbx = K / 32;
  // blocks of each row of x a tile holds (int8 mode); the float path reads x directly, all of K
  // as one "tile"
  const int tileB = i8 ? (QB / M) / 32 * 32 : (nbx + 31) / 32 * 32;
  int loaded = -1;  // the tile's first block now in qc / qs
  for (int gi = int(gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x); gi < groups; gi += int(gl_NumWorkGroups.x * gl_NumWorkGroups.y)) {
    const int n = gi * 8 + row;
    float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
    for (int kb0 = 0; kb0 < nbx; kb0 += tileB) {
      if (i8 && loaded != kb0) {
        barrier();  // the previous tile is read by all
        for (int sl = lid; sl < M * tileB; sl += 256) {
          const int m = sl / tileB, blk = kb0 + sl % tileB;
          if (blk < nbx) round_block(xo + m * lda + blk * 32, sl);
        }
        barrier();
        loaded = kb0;
      }
      if (n >= N) continue;
      const int kend = min(nbx, kb0 + tileB) * 32;
      for (int k0 = (kb0 + lane) * 32; k0 < kend; k0 += 32 * 32) {
        const int b = wo + n * rowBytes + (k0 / bs) * bb, j0 = k0 % bs, tb = k0 / 32 - kb0;
        for (int g = 0; g < 4; ++g) {
          int q[8], offset;
          float mul, add;
          q_codes(t, b, j0 + 8 * g, q, offset, mul, add);
          if (i8) q_to_int8(t, q, offset, mul);
#ifdef ET_INT8_DOT
          const int qp0 = pack4(q[0], q[1], q[2], q[3]), qp1 = pack4(q[4], q[5], q[6], q[7]);
#endif
          float v[8];
          if (!i8) q_values(t, q, offset, mul, add, v);
          for (int m = 0; m < 4; ++m) {
            if (m >= M) break;
            if (i8) {
              const int sl = (m * tileB + tb) * 8 + 2 * g;
              const float s = qs[m * tileB + tb];
              int p = 0, sum = 0;
#ifdef ET_INT8_DOT
              const int c0 = int(qc[sl]), c1 = int(qc[sl + 1]);
              p = sdot4x8(c0, qp0, 0) + sdot4x8(c1, qp1, 0);
              if (affine) sum = sdot4x8(c0, 0x01010101, 0) + sdot4x8(c1, 0x01010101, 0);
#else
              for (int j = 0; j < 8; ++j) {
                const int c = bitfieldExtract(int(qc[sl + (j >> 2)]), 8 * (j & 3), 8);
                p += q[j] * c;
                sum += c;
              }
#endif
              acc[m] += (mul * s) * float(p);
              if (affine) acc[m] += (add * s) * float(sum);
            } else {
              const int xb = xo + m * lda + k0;
              for (int j = 0; j < 8; ++j) acc[m] += x[xb + 8 * g + j] * v[j];
            }
          }
        }
      }
    }
    for (int m = 0; m < 4; ++m) red[m][lid] = acc[m];
    for (int s = 16; s > 0; s >>= 1) {
      barrier();
      if (lane < s)
        for (int m = 0; m < 4; ++m) red[m][lid] += red[m][lid + s];
    }
    barrier();
    if (lane == 0 && n < N)
      for (int m = 0; m < M; ++m) y[yo + m * ldy + n] = red[m][lid];
    barrier();  // red is read before the next group overwrites it
  }
}

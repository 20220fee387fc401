#version 450
// matmulQ: x f32 [M, Kin] (rows lda apart) times a block-quantized weight W [N, K] (uint8
// [N, K / block * bytes], kernels/vulkan/quant.glsl) -> y f32 (rows ldy apart):
//   transpose 0: y [M, N] = x W^T (Kin = K, the forward); 1: y [M, K] = x W (Kin = N, dy . W).
// A workgroup owns a tile of y, TM rows (META_I+6: 4, 16 or 32) by 64 columns, and walks the
// reduction 32 at a time: each step decodes the 64 x 32 weights of the tile once into shared
// memory (one group of 8 elements per invocation, which share a block's scale) and stages x's
// TM x 32, then each invocation accumulates TM / 4 outputs of one column in f32.
// The forward on one to four rows (decode, and its int8 mode) is matmul_qv.comp's.
// Meta: META_I+0 = ggml type, +1 = K, +2 = N, +3 = M, +4 = transpose, +6 = TM, +7 = lda;
// META_X+0 = x's element offset, +1 = w's byte offset, +2 = y's element offset, +3 = ldy.
// Bindings: 1 = x, 2 = w (bytes as uint words), 3 = y. Shared memory: 12.5 KiB.
#extension GL_GOOGLE_include_directive : require
#include "meta.h"
#include "dtype.glsl"

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer W { uint wq[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

#include "quant.glsl"

#define TC 64   // columns of y per tile
#define TR 32   // reduction step
#define WS 33   // padded row of the weight tile
shared float Xs[32][TR];      // x [TM, TR] of this step
shared float Ws[TC * WS];     // weights [column][reduction]

// The ggml type as a specialization constant where the host builds a pipeline per type
// ("<shader>#<type>", csrc/vulkan/pipelines.h), else META_I+0: with a constant only that
// format's decoder is compiled in, which a CPU device (lavapipe) otherwise runs all of, masked.
layout(constant_id = 0) const int SPEC_TYPE = -1;

void main() {
  const int t = SPEC_TYPE >= 0 ? SPEC_TYPE : mi(META_I), K = mi(META_I + 1), N = mi(META_I + 2), M = mi(META_I + 3);
  const bool tr = mi(META_I + 4) != 0;
  const int tm = mi(META_I + 6), lda = mi(META_I + 7);
  const int xo = mi(META_X), wo = mi(META_X + 1), yo = mi(META_X + 2), ldy = mi(META_X + 3);
  const int bs = q_block(t), bb = q_bytes(t), rowBytes = (K / bs) * bb;
  const int cols = tr ? K : N, R = tr ? N : K;
  const int ctiles = (cols + TC - 1) / TC, mtiles = (M + tm - 1) / tm;
  const int lid = int(gl_LocalInvocationID.x);
  const int col = lid & (TC - 1), mg = lid >> 6, nr = tm >> 2;
  for (int ct = int(gl_WorkGroupID.x); ct < ctiles; ct += int(gl_NumWorkGroups.x)) {
    for (int mt = int(gl_WorkGroupID.y); mt < mtiles; mt += int(gl_NumWorkGroups.y)) {
      float acc[8] = float[8](0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
      for (int r0 = 0; r0 < R; r0 += TR) {
        barrier();  // the previous step's tiles are read
        for (int i = lid; i < tm * TR; i += 256) {
          const int m = i >> 5, rr = i & (TR - 1), gm = mt * tm + m, gr = r0 + rr;
          Xs[m][rr] = (gm < M && gr < R) ? x[xo + gm * lda + gr] : 0.0;
        }
        // one group of 8 weights per invocation, decoded at one call site (a smaller pipeline):
        // transpose 0: weight row n = column c, its elements r0 + rr0 .. + 7;
        // transpose 1: weight row n = r0 + rr, its elements (columns of y) c0 .. c0 + 7
        const int c = tr ? (lid & 7) * 8 : lid >> 2, rr = tr ? lid >> 3 : (lid & 3) * 8;
        const int n = tr ? r0 + rr : ct * TC + c, k = tr ? ct * TC + c : r0 + rr;
        int q[8] = int[8](0, 0, 0, 0, 0, 0, 0, 0);
        int offset = 0;
        float mul = 0.0, add = 0.0;
        if (n < N && k < K) q_codes(t, wo + n * rowBytes + (k / bs) * bb, k % bs, q, offset, mul, add);
        float v[8];
        q_values(t, q, offset, mul, add, v);
        for (int i = 0; i < 8; ++i) Ws[tr ? (c + i) * WS + rr : c * WS + rr + i] = v[i];
        barrier();  // both tiles are ready
        for (int rr = 0; rr < TR; ++rr) {
          const float w = Ws[col * WS + rr];
          for (int r = 0; r < 8; ++r)
            if (r < nr) acc[r] += Xs[mg + 4 * r][rr] * w;
        }
      }
      const int gc = ct * TC + col;
      for (int r = 0; r < 8; ++r) {
        const int gm = mt * tm + mg + 4 * r;
        if (r < nr && gm < M && gc < cols) y[yo + gm * ldy + gc] = acc[r];
      }
    }
  }
}

#version 450
// Batched f32 matmul c[b] = a[b] @ b[b] on strided operands: 64x64 output tile per workgroup,
// 16x16 invocations computing 4x4 each, K consumed 16 at a time through shared memory.
// Operand strides come from the meta block, so transposed operands and broadcast batches
// (stride 0) need no copy; out-of-range tile elements load as 0 and are not stored.
// b may be float16 (or bfloat16) bits, META_DT+2 its dtype: converted to f32 as loaded into
// shared memory (dtype.glsl, no 16-bit arithmetic); a, c and the accumulation stay float32.
#extension GL_GOOGLE_include_directive : require
#include "meta.h"
#include "dtype.glsl"

#define BM 64
#define BN 64
#define BK 16

layout(local_size_x = 16, local_size_y = 16) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) buffer Out { float c[]; };
layout(std430, binding = 2) readonly buffer InA { float a[]; };
layout(std430, binding = 3) readonly buffer InB { uint bw[]; };  // b: f32, f16 or bf16 elements
DEFINE_LOAD_BITS(load_b, bw)

shared float As[BK][BM + 1];
shared float Bs[BK][BN + 1];

void main() {
  int M = mi(META_I), N = mi(META_I + 1), K = mi(META_I + 2);
  float beta = intBitsToFloat(mi(META_P));  // c = a.b + beta c; 0: c is not read
  int sam = mi(META_X), sak = mi(META_X + 1), sbk = mi(META_X + 2), sbn = mi(META_X + 3);
  int scm = mi(META_X + 4), scn = mi(META_X + 5);
  int dtb = mi(META_DT + 2);

  // batch offsets
  int z = int(gl_WorkGroupID.z) + mi(META_I + 3);
  int oc = mi(META_OFF), oa = mi(META_OFF + 1), ob = mi(META_OFF + 2);
  for (int d = mi(META_NDIM) - 1; d >= 0; --d) {
    int s = mi(META_SHAPE + d);
    int i = z % s;
    z /= s;
    oc += i * mi(META_ST + d);
    oa += i * mi(META_ST + 8 + d);
    ob += i * mi(META_ST + 16 + d);
  }

  int tx = int(gl_LocalInvocationID.x), ty = int(gl_LocalInvocationID.y);
  int tid = ty * 16 + tx;
  int m0 = int(gl_WorkGroupID.y) * BM, n0 = int(gl_WorkGroupID.x) * BN;
  bool a_k_fast = sak == 1;  // load along the operand's unit-stride dim
  bool b_n_fast = sbn == 1;

  float acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0;

  for (int k0 = 0; k0 < K; k0 += BK) {
    for (int l = 0; l < 4; ++l) {
      int idx = tid + l * 256;
      int am = a_k_fast ? idx / BK : idx % BM;
      int ak = a_k_fast ? idx % BK : idx / BM;
      int gm = m0 + am, gk = k0 + ak;
      As[ak][am] = (gm < M && gk < K) ? a[oa + gm * sam + gk * sak] : 0.0;
      int bn = b_n_fast ? idx % BN : idx / BK;
      int bk = b_n_fast ? idx / BN : idx % BK;
      int gn = n0 + bn, gk2 = k0 + bk;
      Bs[bk][bn] = (gn < N && gk2 < K) ? bits_to_float(dtb, load_b(dtb, ob + gk2 * sbk + gn * sbn)) : 0.0;
    }
    barrier();
    for (int k = 0; k < BK; ++k) {
      float av[4], bv[4];
      for (int i = 0; i < 4; ++i) av[i] = As[k][ty + 16 * i];
      for (int j = 0; j < 4; ++j) bv[j] = Bs[k][tx + 16 * j];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }
    barrier();
  }

  for (int i = 0; i < 4; ++i) {
    int gm = m0 + ty + 16 * i;
    if (gm >= M) continue;
    for (int j = 0; j < 4; ++j) {
      int gn = n0 + tx + 16 * j;
      if (gn < N) {
        int ci = oc + gm * scm + gn * scn;
        c[ci] = beta == 0.0 ? acc[i][j] : acc[i][j] + beta * c[ci];
      }
    }
  }
}

#version 450
// Batched f32 matmul for CPU-like Vulkan devices (lavapipe): no shared memory and no barriers,
// each invocation computes a 4x4 block of c straight from a and b (the device's caches do what
// shared memory does on a GPU). Same meta layout as matmul.comp; tile 32x32 per 8x8 workgroup.
#extension GL_GOOGLE_include_directive : require
#include "meta.h"
#include "dtype.glsl"

layout(local_size_x = 8, local_size_y = 8) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) buffer Out { float c[]; };
layout(std430, binding = 2) readonly buffer InA { float a[]; };
layout(std430, binding = 3) readonly buffer InB { uint bw[]; };
DEFINE_LOAD_BITS(load_b, bw)

void main() {
  int M = mi(META_I), N = mi(META_I + 1), K = mi(META_I + 2);
  float beta = intBitsToFloat(mi(META_P));  // c = a.b + beta c; 0: c is not read
  int sam = mi(META_X), sak = mi(META_X + 1), sbk = mi(META_X + 2), sbn = mi(META_X + 3);
  int scm = mi(META_X + 4), scn = mi(META_X + 5);
  int dtb = mi(META_DT + 2);
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
  // rows m0 + 8i, columns n0 + 8j: neighbouring invocations read neighbouring columns of b
  int m0 = int(gl_WorkGroupID.y) * 32 + int(gl_LocalInvocationID.y);
  int n0 = int(gl_WorkGroupID.x) * 32 + int(gl_LocalInvocationID.x);
  int ra[4], cb[4];
  bool rok[4], cok[4];
  for (int i = 0; i < 4; ++i) {
    int gm = m0 + 8 * i, gn = n0 + 8 * i;
    rok[i] = gm < M;
    cok[i] = gn < N;
    ra[i] = oa + min(gm, M - 1) * sam;
    cb[i] = ob + min(gn, N - 1) * sbn;
  }
  float acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0;
  for (int k = 0; k < K; ++k) {
    float av[4], bv[4];
    for (int i = 0; i < 4; ++i) av[i] = a[ra[i] + k * sak];
    for (int j = 0; j < 4; ++j) bv[j] = bits_to_float(dtb, load_b(dtb, cb[j] + k * sbk));
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
  }
  for (int i = 0; i < 4; ++i) {
    if (!rok[i]) continue;
    for (int j = 0; j < 4; ++j)
      if (cok[j]) {
        int ci = oc + (m0 + 8 * i) * scm + (n0 + 8 * j) * scn;
        c[ci] = beta == 0.0 ? acc[i][j] : acc[i][j] + beta * c[ci];
      }
  }
}

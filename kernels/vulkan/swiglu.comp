#version 450
// SwiGLU, float32, contiguous operands of one shape (META_N elements):
//   SW_SWIGLU      (a, b) -> y = silu(a) * b
//   SW_SWIGLU_BWD  (a, b, dy) -> da = dy b s (1 + a (1 - s)), db = dy a s, with s = sigmoid(a)
// Binding 1 + i is the call's argument i, META_X + i its element offset (kernels/vulkan/meta.h).
// A grid-stride loop: the host dispatches at most 65535 workgroups.
#extension GL_GOOGLE_include_directive : require
#include "meta.h"

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) readonly buffer A { float a[]; };      // a: [N]
layout(std430, binding = 2) readonly buffer B { float b[]; };      // b: [N]
layout(std430, binding = 3) buffer YOrDy { float t3[]; };          // y: [N] (swiglu), dy: [N] (swigluBwd)
layout(std430, binding = 4) writeonly buffer Da { float da[]; };   // da: [N] (swigluBwd)
layout(std430, binding = 5) writeonly buffer Db { float db[]; };   // db: [N] (swigluBwd)

float sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }  // 0 at -inf, 1 at +inf, NaN for NaN

void main() {
  int n = mi(META_N);
  int step = int(gl_NumWorkGroups.x * gl_WorkGroupSize.x);
  int oa = mi(META_X), ob = mi(META_X + 1), o3 = mi(META_X + 2);
  if (mi(META_OP) == SW_SWIGLU) {
    for (int i = int(gl_GlobalInvocationID.x); i < n; i += step) {
      float x = a[oa + i];
      t3[o3 + i] = x * sigmoid(x) * b[ob + i];
    }
    return;
  }
  int oda = mi(META_X + 3), odb = mi(META_X + 4);
  for (int i = int(gl_GlobalInvocationID.x); i < n; i += step) {
    float x = a[oa + i], g = t3[o3 + i];
    float s = sigmoid(x);
    da[oda + i] = g * b[ob + i] * s * (1.0 + x * (1.0 - s));
    db[odb + i] = g * x * s;
  }
}

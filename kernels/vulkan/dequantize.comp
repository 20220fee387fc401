#version 450
// dequantize: w uint8 [N, K / block * bytes] (ggml blocks, kernels/vulkan/quant.glsl) -> y f32
// [N, K] contiguous, bit-exact with csrc/cpu/quant.cpp. One invocation per 8 consecutive
// elements of a row (they share a block's scale); the flat group is gl_WorkGroupID.y *
// gl_NumWorkGroups.x + gl_WorkGroupID.x (grid_1d).
// Meta: META_I+0 = ggml type, META_I+1 = K, META_I+2 = N; META_X+0 = w's byte offset,
// META_X+1 = y's element offset. Bindings: 1 = w (bytes as uint words), 2 = y.
#extension GL_GOOGLE_include_directive : require
#include "meta.h"
#include "dtype.glsl"

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) readonly buffer W { uint wq[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

#include "quant.glsl"

// The ggml type as a specialization constant where the host builds a pipeline per type
// ("<shader>#<type>", csrc/vulkan/pipelines.h), else META_I+0: with a constant only that
// format's decoder is compiled in, which a CPU device (lavapipe) otherwise runs all of, masked.
layout(constant_id = 0) const int SPEC_TYPE = -1;

void main() {
  const int t = SPEC_TYPE >= 0 ? SPEC_TYPE : mi(META_I), K = mi(META_I + 1), N = mi(META_I + 2);
  const int wo = mi(META_X), yo = mi(META_X + 1);
  const int bs = q_block(t), bb = q_bytes(t);
  const int per = K / 8;  // groups of 8 in a row
  const int g = int((gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x);
  if (g >= N * per) return;
  const int n = g / per, e = (g - n * per) * 8;
  float v[8];
  q_decode8(t, wo + n * (K / bs) * bb + (e / bs) * bb, e % bs, v);
  const int o = yo + n * K + e;
  for (int i = 0; i < 8; ++i) y[o + i] = v[i];
}

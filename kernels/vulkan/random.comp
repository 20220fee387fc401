#version 450
// Counter-based random numbers on the Philox stream of csrc/cpu/philox.h, bit for bit:
//   RN_RAND_UNIFORM  y = lo + span * u(w)                    (binding 1 = y, strided)
//   RN_RAND_NORMAL   y = mean + sd * Box-Muller(pair)        (binding 1 = y, strided)
//   RN_DROPOUT       y = x * ((w >> 8) >= th ? scale : 0)    (binding 1 = x strided, binding 2 = y contiguous)
// Element i (row-major linear index in the logical shape) takes word i % 4 of block i / 4, so one
// invocation makes one block (4 elements) in a grid-stride loop.
// Meta: META_N elements; META_NDIM/META_SHAPE/META_ST+d = the strided operand's merged dims and
// strides, META_OFF+0 its offset, META_OFF+1 dropout's y offset; META_I+0/1 = key words k0/k1,
// META_I+2 = dropout's threshold th = ceil(float(p) * 2^24); META_I+3 = the Philox block of the
// first element (nonzero in the later chunks of a windowed call, csrc/vulkan/window.h: they start
// on a block, so every element draws the bits it would in one dispatch); META_P+0/1 = (lo, span)
// or (mean, sd); META_P+2 = dropout's scale.
// Box-Muller takes ln/sin/cos/sqrt from normal_math.glsl, the twin of the CPU's
// csrc/cpu/normal_math.h (not the GLSL builtins, whose precision the spec leaves loose), so the
// normals equal the CPU's bit for bit; lo + span * u and mean + sd * z are precise (not fused),
// as the CPU rounds them.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "meta.h"
#include "normal_math.glsl"

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
float mf(int k) { return intBitsToFloat(mi(k)); }
layout(std430, binding = 1) buffer T1 { float t1[]; };  // y (random) or x (dropout)
layout(std430, binding = 2) buffer T2 { float t2[]; };  // y (dropout)

uvec4 philox(uint g, uint k0, uint k1) {
  uvec4 c = uvec4(g, 0u, 0u, 0u);  // counter (g mod 2^32, g / 2^32 = 0: fewer than 2^31 elements)
  for (int r = 0; r < 10; ++r) {
    uint hi0, lo0, hi1, lo1;
    umulExtended(0xD2511F53u, c.x, hi0, lo0);
    umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
    c = uvec4(hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0);
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

float u01(uint w) { return float(w >> 8) * (1.0 / 16777216.0); }

// element offset of linear index i in the strided operand
int strided(int i) {
  int o = mi(META_OFF);
  for (int d = mi(META_NDIM) - 1; d >= 0; --d) {
    int s = mi(META_SHAPE + d);
    o += (i % s) * mi(META_ST + d);
    i /= s;
  }
  return o;
}

void main() {
  int n = mi(META_N), op = mi(META_OP);
  uint k0 = uint(mi(META_I)), k1 = uint(mi(META_I + 1));
  int blocks = n / 4 + ((n & 3) != 0 ? 1 : 0);  // n + 3 may overflow
  int step = int(gl_NumWorkGroups.x * gl_WorkGroupSize.x);
  for (int g = int(gl_GlobalInvocationID.x); g < blocks; g += step) {
    uvec4 w = philox(uint(g) + uint(mi(META_I + 3)), k0, k1);
    float v[4];
    if (op == RN_RAND_UNIFORM) {
      float lo = mf(META_P), span = mf(META_P + 1);
      for (int j = 0; j < 4; ++j) {
        precise float y = lo + span * u01(w[j]);
        v[j] = y;
      }
    } else if (op == RN_RAND_NORMAL) {
      float mean = mf(META_P), sd = mf(META_P + 1);
      for (int j = 0; j < 4; j += 2) {
        vec2 z = nm_box_muller(w[j], w[j + 1]);
        precise float y0 = mean + sd * z.x;
        precise float y1 = mean + sd * z.y;
        v[j] = y0;
        v[j + 1] = y1;
      }
    } else {  // RN_DROPOUT
      uint th = uint(mi(META_I + 2));
      float scale = mf(META_P + 2);
      for (int j = 0; j < 4; ++j) v[j] = (w[j] >> 8) >= th ? scale : 0.0;
    }
    int i0 = 4 * g, cnt = min(4, n - i0);
    if (op == RN_DROPOUT) {
      int oy = mi(META_OFF + 1);
      for (int j = 0; j < cnt; ++j) t2[oy + i0 + j] = t1[strided(i0 + j)] * v[j];
    } else {
      for (int j = 0; j < cnt; ++j) t1[strided(i0 + j)] = v[j];
    }
  }
}

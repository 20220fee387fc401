#version 450
// Counter-based random numbers on the Philox stream of csrc/cpu/philox.h, bit for bit:
//   RN_RAND_UNIFORM  y = lo + span * u(w)                    (binding 1 = y, strided)
//   RN_RAND_NORMAL   y = mean + sd * Box-Muller(pair)        (binding 1 = y, strided)
//   RN_DROPOUT       y = x * ((w >> 8) >= th ? scale : 0)    (binding 1 = x strided, binding 2 = y contiguous)
// Element i (row-major linear index in the logical shape) takes word i % 4 of block i / 4, so one
// invocation makes one block (4 elements) in a grid-stride loop.
// Meta: META_N elements; META_NDIM/META_SHAPE/META_ST+d = the strided operand's merged dims and
// strides, META_OFF+0 its offset, META_OFF+1 dropout's y offset; META_I+0/1 = key words k0/k1,
// META_I+2 = dropout's threshold th = ceil(float(p) * 2^24); META_P+0/1 = (lo, span) or
// (mean, sd); META_P+2 = dropout's scale.
// Box-Muller takes log/sin/cos from the functions below, not the GLSL builtins (whose precision
// the spec leaves loose: 2^-11 absolute for sin/cos): they agree with libm to a few ulp.
#extension GL_GOOGLE_include_directive : require
#include "meta.h"

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

// ln(x) for x > 0 finite: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s),
// s = (m - 1) / (m + 1) (|s| < 0.172; m - 1 is exact).
float ln(float x) {
  int e;
  float m = frexp(x, e);  // m in [0.5, 1)
  if (m < 0.70710678) {
    m *= 2.0;
    e -= 1;
  }
  float s = (m - 1.0) / (m + 1.0), s2 = s * s;
  float p = s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0))));
  float lm = 2.0 * s + 2.0 * s * p;
  return float(e) * 0.693145751953125 + (float(e) * 1.42860682e-6 + lm);  // ln 2 in two parts
}

// sin and cos of x in [0, 2 pi]: x = k pi/2 + r (Cody-Waite, |r| <= pi/4), cephes sinf/cosf
// polynomials on r, quadrant from k.
vec2 sincos_(float x) {
  float k = floor(x * 0.636619772 + 0.5);
  float r = ((x - k * 1.5703125) - k * 4.837512969970703125e-4) - k * 7.54978995489188216e-8;
  float z = r * r;
  float s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  float c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  int q = int(k) & 3;
  if (q == 0) return vec2(s, c);
  if (q == 1) return vec2(c, -s);
  if (q == 2) return vec2(-s, -c);
  return vec2(-c, s);
}

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
  int blocks = (n + 3) / 4;
  int step = int(gl_NumWorkGroups.x * gl_WorkGroupSize.x);
  for (int g = int(gl_GlobalInvocationID.x); g < blocks; g += step) {
    uvec4 w = philox(uint(g), k0, k1);
    float v[4];
    if (op == RN_RAND_UNIFORM) {
      float lo = mf(META_P), span = mf(META_P + 1);
      for (int j = 0; j < 4; ++j) v[j] = lo + span * u01(w[j]);
    } else if (op == RN_RAND_NORMAL) {
      float mean = mf(META_P), sd = mf(META_P + 1);
      for (int j = 0; j < 4; j += 2) {
        float u1 = 1.0 - u01(w[j]);
        float th = 6.2831853071795865 * u01(w[j + 1]);
        float r = sqrt(-2.0 * ln(u1));
        vec2 sc = sincos_(th);
        v[j] = mean + sd * (r * sc.y);
        v[j + 1] = mean + sd * (r * sc.x);
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

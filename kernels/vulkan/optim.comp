#version 450
// Optimizer updates in place on contiguous float32 tensors of META_N elements (csrc/cpu/optim.cpp,
// the same order of operations as its vector path):
//   OPT_ADAMW  (param, grad, m, v): g = grad * scale; m = b1 m + ob1 g; v = b2 v + ob2 g^2;
//              p = p * decay - step_size * m / (sqrt(v) / bc2_sqrt + eps)
//   OPT_SGD    (param, grad, buf): g = grad * scale (+ wd p); with momentum buf = first ? g :
//              mom buf + damp1 g, g = nesterov ? g + mom buf : buf; p -= lr g
// Binding 1 + i = argument i, META_X + i its element offset. Floats (bit patterns):
//   adamw  META_P+0..3 = decay, step_size, bc2_sqrt, eps; META_I+0..4 = b1, b2, ob1, ob2, scale
//   sgd    META_P+0..3 = lr, mom, damp1, wd; META_I+0 = scale; META_I+1 = flags (1 wd,
//          2 momentum, 4 nesterov, 8 first step). Without momentum binding 3 is not touched.
#extension GL_GOOGLE_include_directive : require
#include "meta.h"

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
float mf(int k) { return intBitsToFloat(mi(k)); }
layout(std430, binding = 1) buffer P { float p[]; };
layout(std430, binding = 2) readonly buffer G { float gr[]; };
layout(std430, binding = 3) buffer M { float m[]; };  // adamw m, sgd momentum buffer
layout(std430, binding = 4) buffer V { float v[]; };

void main() {
  int n = mi(META_N);
  int step = int(gl_NumWorkGroups.x * gl_WorkGroupSize.x);
  int op_ = mi(META_X), og = mi(META_X + 1), om = mi(META_X + 2), ov = mi(META_X + 3);
  if (mi(META_OP) == OPT_ADAMW) {
    float decay = mf(META_P), step_size = mf(META_P + 1), bc2 = mf(META_P + 2), eps = mf(META_P + 3);
    float b1 = mf(META_I), b2 = mf(META_I + 1), ob1 = mf(META_I + 2), ob2 = mf(META_I + 3), scale = mf(META_I + 4);
    for (int i = int(gl_GlobalInvocationID.x); i < n; i += step) {
      float g = gr[og + i] * scale;
      float mm = fma(b1, m[om + i], ob1 * g);
      float vv = fma(b2, v[ov + i], ob2 * (g * g));
      m[om + i] = mm;
      v[ov + i] = vv;
      float den = sqrt(vv) / bc2 + eps;
      p[op_ + i] = p[op_ + i] * decay - (step_size * mm) / den;
    }
    return;
  }
  float lr = mf(META_P), mom = mf(META_P + 1), damp1 = mf(META_P + 2), wd = mf(META_P + 3);
  float scale = mf(META_I);
  int flags = mi(META_I + 1);
  for (int i = int(gl_GlobalInvocationID.x); i < n; i += step) {
    float g = gr[og + i] * scale;
    if ((flags & 1) != 0) g = fma(wd, p[op_ + i], g);
    if ((flags & 2) != 0) {
      float buf = (flags & 8) != 0 ? g : fma(mom, m[om + i], damp1 * g);
      m[om + i] = buf;
      g = (flags & 4) != 0 ? fma(mom, buf, g) : buf;
    }
    p[op_ + i] = p[op_ + i] - lr * g;
  }
}

#version 450
// variants: subgroup=ET_SUBGROUP
// Row ops over the last dim, float32, rows of C elements (the CPU twin: csrc/cpu/softmax.cpp):
//   SM_SOFTMAX          x -> y = exp(x - max) / sum(exp(x - max))
//   SM_LOG_SOFTMAX      x -> y = (x - max) - log(sum(exp(x - max)))
//   SM_SOFTMAX_BWD      (y, dy) -> dx = y * (dy - sum(y * dy))
//   SM_LOG_SOFTMAX_BWD  (y, dy) -> dx = dy - exp(y) * sum(dy)
// One workgroup per row (rows may be vocabulary-long), looping over the rows by the number of
// workgroups (at most 65535). NaN in a row is skipped by the max and makes the sums NaN, so the
// whole row turns NaN, as on CPU; a row of -inf gives NaN (-inf - -inf), as on CPU.
// Meta: META_N = rows, META_I + 0 = C; argument i (binding 1 + i) starts at element
// META_X + i and its rows are META_X + 4 + i elements apart.
#extension GL_GOOGLE_include_directive : require
#ifdef ET_SUBGROUP  // softmax_subgroup: the reductions of rows.glsl in subgroup registers
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "meta.h"
#include "rows.glsl"

layout(local_size_x = ROW_THREADS) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) readonly buffer A0 { float a0[]; };  // x (forward), y (backward)
layout(std430, binding = 2) buffer A1 { float a1[]; };           // y (forward, written), dy (backward)
layout(std430, binding = 3) writeonly buffer A2 { float a2[]; }; // dx (backward)

void main() {
  int op = mi(META_OP), N = mi(META_N), C = mi(META_I);
  int o0 = mi(META_X), o1 = mi(META_X + 1), o2 = mi(META_X + 2);
  int s0 = mi(META_X + 4), s1 = mi(META_X + 5), s2 = mi(META_X + 6);
  int tid = int(gl_LocalInvocationID.x);
  for (int row = int(gl_WorkGroupID.x); row < N; row += int(gl_NumWorkGroups.x)) {
    int b0 = o0 + row * s0, b1 = o1 + row * s1, b2 = o2 + row * s2;
    if (op == SM_SOFTMAX || op == SM_LOG_SOFTMAX) {
      float m = -1.0 / 0.0;
      for (int j = tid; j < C; j += ROW_THREADS) {
        float v = a0[b0 + j];
        if (m < v) m = v;  // NaN skipped
      }
      m = row_max_all(m);
      float s = 0.0;
      for (int j = tid; j < C; j += ROW_THREADS) s += fexp(a0[b0 + j] - m);
      s = row_sum_all(s);
      if (op == SM_SOFTMAX) {
        float inv = 1.0 / s;
        for (int j = tid; j < C; j += ROW_THREADS) a1[b1 + j] = fexp(a0[b0 + j] - m) * inv;
      } else {
        float ls = log(s);
        for (int j = tid; j < C; j += ROW_THREADS) a1[b1 + j] = (a0[b0 + j] - m) - ls;
      }
    } else {
      float s = 0.0;
      if (op == SM_SOFTMAX_BWD) {
        for (int j = tid; j < C; j += ROW_THREADS) s += a0[b0 + j] * a1[b1 + j];
        s = row_sum_all(s);
        for (int j = tid; j < C; j += ROW_THREADS) a2[b2 + j] = a0[b0 + j] * (a1[b1 + j] - s);
      } else {
        for (int j = tid; j < C; j += ROW_THREADS) s += a1[b1 + j];
        s = row_sum_all(s);
        for (int j = tid; j < C; j += ROW_THREADS) a2[b2 + j] = a1[b1 + j] - fexp(a0[b0 + j]) * s;
      }
    }
  }
}

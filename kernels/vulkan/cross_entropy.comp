#version 450
// variants: subgroup=ET_SUBGROUP
// Cross-entropy over rows of C logits, float32 (the CPU twin: csrc/cpu/softmax.cpp):
//   CE_CROSS_ENTROPY      (logits [N, C], target i32 [N]) -> loss [N], lse [N]
//                         lse = max + log(sum(exp(x - max))); loss = lse - x[target], 0 where
//                         target is the ignore index (lse is still written)
//   CE_CROSS_ENTROPY_BWD  (logits, target, lse, dloss [N]) -> dlogits [N, C]
//                         = exp(x - lse) * dloss[row], minus dloss[row] at the target; zero rows
//                         where target is the ignore index
// One workgroup per row, looping over the rows by the number of workgroups (at most 65535).
// Targets outside [0, C) were reported by index_check.comp before this runs; here such a row
// only avoids reading or writing out of its bounds (its loss is 0).
// Meta: META_N = rows, META_I + 0 = C, META_I + 1 = ignore index; argument i (binding 1 + i)
// starts at element META_X + i; META_X + 8 + i is its row stride ([N, C] operands) or its
// element stride (the length-N vectors).
#extension GL_GOOGLE_include_directive : require
#ifdef ET_SUBGROUP  // cross_entropy_subgroup: the reductions of rows.glsl in subgroup registers
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "meta.h"
#include "rows.glsl"

layout(local_size_x = ROW_THREADS) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) readonly buffer Logits { float x[]; };
layout(std430, binding = 2) readonly buffer Target { int tgt[]; };
layout(std430, binding = 3) buffer A2 { float a2[]; };            // loss (forward), lse (backward)
layout(std430, binding = 4) buffer A3 { float a3[]; };            // lse (forward), dloss (backward)
layout(std430, binding = 5) writeonly buffer Dlogits { float dx[]; };

void main() {
  int op = mi(META_OP), N = mi(META_N), C = mi(META_I), ignore = mi(META_I + 1);
  int tid = int(gl_LocalInvocationID.x);
  for (int row = int(gl_WorkGroupID.x); row < N; row += int(gl_NumWorkGroups.x)) {
    int xb = mi(META_X) + row * mi(META_X + 8);
    int t = tgt[mi(META_X + 1) + row * mi(META_X + 9)];
    int i2 = mi(META_X + 2) + row * mi(META_X + 10), i3 = mi(META_X + 3) + row * mi(META_X + 11);
    if (op == CE_CROSS_ENTROPY) {
      float m = -1.0 / 0.0;
      for (int j = tid; j < C; j += ROW_THREADS) {
        float v = x[xb + j];
        if (m < v) m = v;  // NaN skipped: it poisons the sum instead
      }
      m = row_max_all(m);
      float s = 0.0;
      for (int j = tid; j < C; j += ROW_THREADS) s += fexp(x[xb + j] - m);
      s = row_sum_all(s);
      if (tid == 0) {
        float lse = m + log(s);
        a3[i3] = lse;
        a2[i2] = (t == ignore || t < 0 || t >= C) ? 0.0 : lse - x[xb + t];
      }
    } else {
      int ob = mi(META_X + 4) + row * mi(META_X + 12);
      if (t == ignore) {
        for (int j = tid; j < C; j += ROW_THREADS) dx[ob + j] = 0.0;
        continue;
      }
      float lse = a2[i2], g = a3[i3];
      for (int j = tid; j < C; j += ROW_THREADS) {
        float v = fexp(x[xb + j] - lse) * g;
        dx[ob + j] = j == t ? v - g : v;
      }
    }
  }
}

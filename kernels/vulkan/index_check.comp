#version 450
// Checks an int32 index vector on the device before the op that gathers with it runs (embedding
// ids, cross-entropy targets): the first position (lowest, as the CPU twins scan) whose value is
// outside [0, bound) and is not the ignore value goes to the kernel error record.
// One workgroup; each invocation scans the positions congruent to it, then a shared-memory min.
// Meta: META_N = positions, META_I + 0 = bound, META_I + 1 = 1 when META_I + 2 is an ignore value,
// META_I + 3 = op id (OP_*), META_I + 4 = message kind (KE_*), META_X + 0/1 = ids offset / stride,
// META_I + 5 = the position of the first id (a later chunk of a windowed call, csrc/vulkan/window.h).
// Binding 1 = the ids, binding 2 = the kernel error record.
#extension GL_GOOGLE_include_directive : require
#include "meta.h"
#define KERNEL_ERROR_BINDING 2
#include "kernel_error.glsl"

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) readonly buffer Ids { int ids[]; };

shared int first_bad[256];

void main() {
  int n = mi(META_N), bound = mi(META_I);
  bool has_ignore = mi(META_I + 1) != 0;
  int ignore = mi(META_I + 2), off = mi(META_X), st = mi(META_X + 1);
  int tid = int(gl_LocalInvocationID.x);
  int bad = n;
  for (int i = tid; i < n; i += 256) {
    int v = ids[off + i * st];
    if ((v < 0 || v >= bound) && !(has_ignore && v == ignore)) {
      bad = i;
      break;
    }
  }
  first_bad[tid] = bad;
  barrier();
  for (int s = 128; s > 0; s >>= 1) {
    if (tid < s) first_bad[tid] = min(first_bad[tid], first_bad[tid + s]);
    barrier();
  }
  if (tid == 0 && first_bad[0] < n) {
    int p = first_bad[0];
    kernel_error(mi(META_I + 3), mi(META_I + 4), p + mi(META_I + 5), ids[off + p * st], bound);
  }
}

#version 450
// SUM over the trailing dims of a strided f32 view. META_SHAPE holds the leading dims (first
// META_I+1 of them) then the reduced dims; slot 1 strides address x, the output is contiguous.
// REDUCE_ROW_PER_THREAD: short rows, one invocation per output element.
// REDUCE_ROW_PER_GROUP: one workgroup per output element, tree reduction in shared memory.
#extension GL_GOOGLE_include_directive : require
#include "meta.h"

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) buffer Out { float y[]; };
layout(std430, binding = 2) readonly buffer In1 { float x[]; };

shared float partial[256];

int row_offset(int row) {
  int o = mi(META_OFF + 1);
  for (int d = mi(META_I + 1) - 1; d >= 0; --d) {
    int s = mi(META_SHAPE + d);
    o += (row % s) * mi(META_ST + 8 + d);
    row /= s;
  }
  return o;
}

int red_offset(int r) {
  int lead = mi(META_I + 1), nd = mi(META_NDIM);
  if (nd - lead == 1) return r * mi(META_ST + 8 + lead);
  int o = 0;
  for (int d = nd - 1; d >= lead; --d) {
    int s = mi(META_SHAPE + d);
    o += (r % s) * mi(META_ST + 8 + d);
    r /= s;
  }
  return o;
}

void main() {
  int rows = mi(META_N), count = mi(META_I);
  if (mi(META_MODE) == REDUCE_ROW_PER_THREAD) {
    int row = int(gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x);
    if (row >= rows) return;
    int base = row_offset(row);
    float acc = 0.0;
    for (int r = 0; r < count; ++r) acc += x[base + red_offset(r)];
    y[mi(META_OFF) + row] = acc;
    return;
  }
  int row = int(gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x);
  if (row >= rows) return;  // uniform across the workgroup
  int lid = int(gl_LocalInvocationID.x);
  int base = row_offset(row);
  float acc = 0.0;
  for (int r = lid; r < count; r += 256) acc += x[base + red_offset(r)];
  partial[lid] = acc;
  barrier();
  for (int s = 128; s > 0; s >>= 1) {
    if (lid < s) partial[lid] += partial[lid + s];
    barrier();
  }
  if (lid == 0) y[mi(META_OFF) + row] = partial[0];
}

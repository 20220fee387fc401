// Shared frame of the elementwise families (copy.comp, elementwise.comp): bindings, strided
// index math and the output writer. The including shader defines
//   uint element_bits(int o1, int o2, int o3)
// returning the output element's raw bits from the input element offsets.
#extension GL_GOOGLE_include_directive : require
#include "meta.h"
#include "dtype.glsl"

layout(local_size_x = 256) in;

layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) buffer Out { uint t0[]; };
layout(std430, binding = 2) readonly buffer In1 { uint t1[]; };
layout(std430, binding = 3) readonly buffer In2 { uint t2[]; };
layout(std430, binding = 4) readonly buffer In3 { uint t3[]; };

DEFINE_LOAD_BITS(load1, t1)
DEFINE_LOAD_BITS(load2, t2)
DEFINE_LOAD_BITS(load3, t3)

float mf(int k) { return intBitsToFloat(mi(k)); }

uint element_bits(int o1, int o2, int o3);

// Element offsets of the 4 slots for linear index e of the iteration shape.
void offsets(int e, out ivec4 o) {
  o = ivec4(mi(META_OFF), mi(META_OFF + 1), mi(META_OFF + 2), mi(META_OFF + 3));
  int nd = mi(META_NDIM);
  if (nd == 1) {  // the common case after merging dims: no integer division
    o += e * ivec4(mi(META_ST), mi(META_ST + 8), mi(META_ST + 16), mi(META_ST + 24));
    return;
  }
  for (int d = nd - 1; d >= 0; --d) {
    int s = mi(META_SHAPE + d);
    int idx = e % s;
    e /= s;
    o += idx * ivec4(mi(META_ST + d), mi(META_ST + 8 + d), mi(META_ST + 16 + d), mi(META_ST + 24 + d));
  }
}

void main() {
  int gid = int(gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x);
  int n = mi(META_N);
  int dt0 = mi(META_DT);
  if (mi(META_MODE) == MODE_PACKED) {
    // Output contiguous with 2- or 1-byte elements: each invocation assembles one 32-bit word;
    // the partial words at either end are merged with atomics so neighbours are kept.
    int esz = dt_size(dt0);
    int per = 4 / esz;
    int off0 = mi(META_OFF);
    int lead = off0 % per;
    int e0 = gid * per - lead;
    if (e0 >= n) return;
    uint word = 0u, mask = 0u;
    uint emask = esz == 2 ? 0xffffu : 0xffu;
    for (int j = 0; j < per; ++j) {
      int e = e0 + j;
      if (e < 0 || e >= n) continue;
      ivec4 o;
      offsets(e, o);
      uint sh = uint(j * esz * 8);
      word |= (element_bits(o.y, o.z, o.w) & emask) << sh;
      mask |= emask << sh;
    }
    uint w = uint((off0 - lead) / per + gid);
    if (mask == 0xffffffffu) {
      t0[w] = word;
    } else {
      atomicAnd(t0[w], ~mask);
      atomicOr(t0[w], word);
    }
    return;
  }
  if (gid >= n) return;
  ivec4 o;
  offsets(gid, o);
  uint b = element_bits(o.y, o.z, o.w);
  if (dt0 == DT_F16 || dt0 == DT_BF16) {
    uint sh = uint(o.x & 1) * 16u;
    atomicAnd(t0[uint(o.x) >> 1], ~(0xffffu << sh));
    atomicOr(t0[uint(o.x) >> 1], (b & 0xffffu) << sh);
  } else if (dt0 == DT_U8) {
    uint sh = uint(o.x & 3) * 8u;
    atomicAnd(t0[uint(o.x) >> 2], ~(0xffu << sh));
    atomicOr(t0[uint(o.x) >> 2], (b & 0xffu) << sh);
  } else {
    t0[o.x] = b;
  }
}

#version 450
// Embedding lookup and its scatter-add backward (the CPU twin: csrc/cpu/embedding.cpp):
//   EM_EMBEDDING      (weight [V, D] of any dtype, idx i32 [N]) -> y [N, D] of weight's dtype:
//                     rows copied as raw element bits
//   EM_EMBEDDING_BWD  (dy f32 [N, D], idx [N]) -> dweight f32 [V, D], two passes (META_MODE):
//                     EM_ZERO clears dweight, EM_ADD lets invocation (vocab range r, column d)
//                     walk the ids in position order and add dy[n, d] into dweight[idx[n], d]
//                     when idx[n] is in range r: every element sums its contributions in
//                     position order (as the CPU twin), and no two invocations share an element,
//                     so no float atomics are needed and results are deterministic.
// Ids outside [0, V) were reported by index_check.comp before this runs; here they only avoid
// reads and writes out of bounds (their output rows are 0, their gradient is dropped).
// Invocations are numbered over the whole grid (gx * gy workgroups, csrc/vulkan/op_util.h
// grid_1d); META_I + 3 is how many do work.
// Meta: META_N = N, META_I + 0 = D, META_I + 1 = V, META_I + 2 = element bytes (forward) or
// vocab rows per range (EM_ADD); META_X + 0/1 = weight or dy offset / row stride (elements),
// META_X + 2/3 = idx offset / stride, META_X + 4 = y or dweight offset (elements).
// A windowed call (csrc/vulkan/window.h) binds vocabulary rows [META_I + 4, + V) of the table
// (or dweight) and sets META_I + 5: ids outside the window belong to another chunk, so the
// forward leaves their output untouched instead of writing zeros.
// Forward with 4-byte elements: one invocation per element; with 1- or 2-byte elements: one
// invocation per 32-bit word of y (the words y's bytes touch; bytes outside y are kept).
#extension GL_GOOGLE_include_directive : require
#include "meta.h"

#define EM_ZERO 0
#define EM_ADD 1

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) readonly buffer A0 { uint a0[]; };  // weight bits, or dy (float bits)
layout(std430, binding = 2) readonly buffer Ids { int ids[]; };
layout(std430, binding = 3) buffer A2 { uint a2[]; };           // y bits, or dweight (float bits)

uint weight_byte(uint b) { return (a0[b >> 2] >> ((b & 3u) * 8u)) & 0xffu; }

void main() {
  int gid = int((gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x);
  int total = mi(META_I + 3);
  if (gid >= total) return;
  int N = mi(META_N), D = mi(META_I), V = mi(META_I + 1);
  int w_off = mi(META_X), w_rs = mi(META_X + 1), i_off = mi(META_X + 2), i_st = mi(META_X + 3), o_off = mi(META_X + 4);
  int vbase = mi(META_I + 4);
  bool windowed = mi(META_I + 5) != 0;
  if (mi(META_OP) == EM_EMBEDDING) {
    int es = mi(META_I + 2);
    if (es == 4) {
      int n = gid / D, d = gid - n * D;
      int v = ids[i_off + n * i_st] - vbase;
      if (v >= 0 && v < V) a2[o_off + gid] = a0[w_off + v * w_rs + d];
      else if (!windowed) a2[o_off + gid] = 0u;
      return;
    }
    // y's bytes are [o_off * es, (o_off + N * D) * es); this invocation owns one word of them
    uint ybase = uint(o_off) * uint(es), yend = ybase + uint(N) * uint(D) * uint(es);
    uint word = ybase / 4u + uint(gid);
    uint cur = a2[word], res = 0u;
    for (uint k = 0u; k < 4u; ++k) {
      uint b = word * 4u + k, bits;
      if (b < ybase || b >= yend) {
        bits = (cur >> (k * 8u)) & 0xffu;
      } else {
        uint e = b - ybase, el = e / uint(es), within = e - el * uint(es);
        uint n = el / uint(D), d = el - n * uint(D);
        int v = ids[i_off + int(n) * i_st] - vbase;
        bits = (v >= 0 && v < V) ? weight_byte((uint(w_off) + uint(v) * uint(w_rs) + d) * uint(es) + within)
               : windowed ? (cur >> (k * 8u)) & 0xffu : 0u;
      }
      res |= bits << (k * 8u);
    }
    a2[word] = res;
    return;
  }
  if (mi(META_MODE) == EM_ZERO) {
    a2[o_off + gid] = 0u;
    return;
  }
  // EM_ADD: invocation (vocab range r, column d)
  int vb = mi(META_I + 2);
  int r = gid / D, d = gid - r * D;
  int v0 = r * vb, v1 = min(V, v0 + vb);
  for (int n = 0; n < N; ++n) {
    int v = ids[i_off + n * i_st] - vbase;
    if (v < v0 || v >= v1) continue;
    int o = o_off + v * D + d;
    a2[o] = floatBitsToUint(uintBitsToFloat(a2[o]) + uintBitsToFloat(a0[w_off + n * w_rs + d]));
  }
}

#version 450
// variants: subgroup=ET_SUBGROUP
// SUM and MAX (values + first argmax, NaN counts as the maximum) over the trailing dims of a
// strided f32 view. META_SHAPE holds the leading dims (first META_I+1 of them) then the reduced
// dims; slot 1 strides/offset address x; outputs are contiguous (y at META_OFF+0, MAX's argmax
// yi at META_OFF+2). META_N = rows, META_I+0 = reduced elements per row (count).
// REDUCE_ROW_PER_THREAD: short rows, one invocation per output element.
// REDUCE_ROW_PER_GROUP: META_I+2 = chunks per row C, META_I+3 = chunk length L. Workgroup
//   row * C + k reduces elements [k L, (k + 1) L) of its row (tree in shared memory) into
//   y[row * C + k]: with C = 1 that is the result; otherwise a partial in a scratch buffer that
//   the next dispatch reduces as a contiguous [rows, C] x (long rows take a few passes, so no
//   invocation loops more than L / 256 times).
// MAX: META_I+4 = 1 when x is such a partial pass's output: the element's index in the row is
//   then xi[its offset] instead of its position; else its position plus META_I+5 (a windowed
//   chunk's first index in the call's reduced range).
// reduce_subgroup (ET_SUBGROUP): REDUCE_ROW_PER_GROUP reduces in subgroup registers, one
// (value, index) per subgroup, which invocation 0 combines in order. MAX's winner does not depend
// on the order (better() is a total order on (value, index)), SUM's rounding does.
#extension GL_GOOGLE_include_directive : require
#ifdef ET_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "meta.h"

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) buffer Out { float y[]; };
layout(std430, binding = 2) readonly buffer In1 { float x[]; };
layout(std430, binding = 3) buffer OutI { int yi[]; };
layout(std430, binding = 4) readonly buffer InI { int xi[]; };

shared float partial[256];
shared int partial_i[256];

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

// MAX: does candidate (bv, bi) beat (av, ai)? NaN beats numbers; among equals (or NaNs) the
// lower index wins; index -1 is an empty slot.
bool better(float bv, int bi, float av, int ai) {
  if (bi < 0) return false;
  if (ai < 0) return true;
  bool bn = isnan(bv), an = isnan(av);
  if (bn != an) return bn;
  if (!bn && bv != av) return bv > av;
  return bi < ai;
}

void main() {
  int rows = mi(META_N), count = mi(META_I);
  bool is_max = mi(META_OP) == RD_MAX, from_partial = mi(META_I + 4) != 0;
  if (mi(META_MODE) == REDUCE_ROW_PER_THREAD) {
    int row = int(gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x);
    if (row >= rows) return;
    int base = row_offset(row);
    float acc = 0.0;
    int best = -1;
    for (int r = 0; r < count; ++r) {
      int o = base + red_offset(r);
      float v = x[o];
      if (!is_max) {
        acc += v;
      } else {
        int idx = from_partial ? xi[o] : r + mi(META_I + 5);
        if (better(v, idx, acc, best)) {
          acc = v;
          best = idx;
        }
      }
    }
    y[mi(META_OFF) + row] = acc;
    if (is_max) yi[mi(META_OFF + 2) + row] = best;
    return;
  }
  int chunks = mi(META_I + 2), len = mi(META_I + 3);
  int grp = int(gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x);
  if (grp >= rows * chunks) return;  // uniform across the workgroup
  int row = grp / chunks, k = grp - row * chunks;
  int lid = int(gl_LocalInvocationID.x);
  int base = row_offset(row);
  int r0 = k * len, r1 = r0 + min(count - r0, len);  // r0 + len may overflow
  float acc = 0.0;
  int best = -1;
  for (int r = r0 + lid; r < r1; r += 256) {
    int o = base + red_offset(r);
    float v = x[o];
    if (!is_max) {
      acc += v;
    } else {
      int idx = from_partial ? xi[o] : r + mi(META_I + 5);
      if (better(v, idx, acc, best)) {
        acc = v;
        best = idx;
      }
    }
  }
#ifdef ET_SUBGROUP
  const uint sg = gl_SubgroupID;
  if (!is_max) {
    float t = subgroupAdd(acc);
    if (subgroupElect()) partial[sg] = t;
  } else {
    // the subgroup's best: the first NaN if it holds one, else the first of its largest values
    const int kNone = 0x7fffffff;
    bool valid = best >= 0, nan = valid && isnan(acc);
    bool any_nan = subgroupMax(nan ? 1 : 0) != 0;
    float top = subgroupMax(valid && !nan ? acc : -1.0 / 0.0);
    bool cand = any_nan ? nan : valid && acc == top;
    int w = subgroupMin(cand ? best : kNone);
    if (w == kNone) {
      if (subgroupElect()) {
        partial[sg] = 0.0;
        partial_i[sg] = -1;
      }
    } else if (best == w) {
      partial[sg] = acc;
      partial_i[sg] = best;
    }
  }
  barrier();
  if (lid == 0) {
    float v = partial[0];
    int vi = partial_i[0];
    for (uint i = 1u; i < gl_NumSubgroups; ++i) {
      if (!is_max) {
        v += partial[i];
      } else if (better(partial[i], partial_i[i], v, vi)) {
        v = partial[i];
        vi = partial_i[i];
      }
    }
    y[mi(META_OFF) + grp] = v;
    if (is_max) yi[mi(META_OFF + 2) + grp] = vi;
  }
}
#else
  partial[lid] = acc;
  partial_i[lid] = best;
  barrier();
  for (int s = 128; s > 0; s >>= 1) {
    if (lid < s) {
      if (!is_max) {
        partial[lid] += partial[lid + s];
      } else if (better(partial[lid + s], partial_i[lid + s], partial[lid], partial_i[lid])) {
        partial[lid] = partial[lid + s];
        partial_i[lid] = partial_i[lid + s];
      }
    }
    barrier();
  }
  if (lid == 0) {
    y[mi(META_OFF) + grp] = partial[0];
    if (is_max) yi[mi(META_OFF + 2) + grp] = partial_i[0];
  }
}
#endif

#version 450
// variants: subgroup=ET_SUBGROUP
// rmsNorm / layerNorm over the last dim, with their backwards (the twin: csrc/cpu/norm.cpp).
// x, y, dy, dx are contiguous [N, C]; w, b, mean, rstd are 1-D with any stride (w may be a
// stride-0 view of one element: "no weight").
//   NM_RMS_NORM        (x, w) -> (y, rstd)
//   NM_RMS_NORM_BWD    (x, w, rstd, dy) -> (dx, dw)
//   NM_LAYER_NORM      (x, w, b) -> (y, mean, rstd)
//   NM_LAYER_NORM_BWD  (x, w, mean, rstd, dy) -> (dx, dw, db)
// Binding 1 + i is the call's argument i (inputs then outputs).
// Meta: META_OP = NM_*, META_MODE = 0 (rows pass: one workgroup per row, flat group id
// gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) or 1 (columns pass of the
// backwards: dw/db, NM_COLS columns per workgroup), META_N = N, META_I + 0 = C, META_P + 0 = eps,
// META_X + i = argument i's element offset, META_X + 8 + i = its stride (1-D arguments).
//
// dw/db sum over rows in the CPU's order: min(N, 64) row blocks, each summed from its first row,
// then the block partials added in block order, so results are deterministic (and close to CPU).
// norm_subgroup (ET_SUBGROUP): the rows pass's sums add in subgroup registers first; the columns
// pass is unchanged (dw/db keep the CPU's order).
#extension GL_GOOGLE_include_directive : require
#ifdef ET_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "meta.h"
#include "ff.glsl"

#define NM_THREADS 64  // = 8 x 8: the sums below assume it
#define NM_COLS 16                       // columns per workgroup in the columns pass
#define NM_LANES (NM_THREADS / NM_COLS)  // threads per column, each summing every NM_LANES-th block
#define NM_BLOCKS 64                     // the CPU's kMaxRowBlocks

layout(local_size_x = NM_THREADS) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
float mf(int k) { return intBitsToFloat(mi(k)); }
layout(std430, binding = 1) readonly buffer T1 { float t1[]; };  // x in every op: readonly lets the stream skip barriers
layout(std430, binding = 2) readonly buffer T2 { float t2[]; };  // w in every op
layout(std430, binding = 3) buffer T3 { float t3[]; };
layout(std430, binding = 4) buffer T4 { float t4[]; };
layout(std430, binding = 5) buffer T5 { float t5[]; };
layout(std430, binding = 6) buffer T6 { float t6[]; };
layout(std430, binding = 7) buffer T7 { float t7[]; };
layout(std430, binding = 8) buffer T8 { float t8[]; };

shared float red0[NM_THREADS];
shared float red1[NM_THREADS];
shared float red2[16];
shared float part[2 * NM_BLOCKS * NM_COLS];  // columns pass: [vector][block][column]

int off(int i) { return mi(META_X + i); }
int stv(int i) { return mi(META_X + 8 + i); }

#ifdef ET_SUBGROUP
// Workgroup-wide sums of a (and b): a subgroup sum per subgroup in slot gl_SubgroupID, then
// every thread adds the gl_NumSubgroups slots in order (any subgroup size; 64 slots cover 1).
float sum1(float a) {
  float s = subgroupAdd(a);
  if (subgroupElect()) red0[gl_SubgroupID] = s;
  barrier();
  float r = red0[0];
  for (uint k = 1u; k < gl_NumSubgroups; ++k) r += red0[k];
  barrier();
  return r;
}
vec2 sum2(float a, float b) {
  float sa = subgroupAdd(a), sb = subgroupAdd(b);
  if (subgroupElect()) {
    red0[gl_SubgroupID] = sa;
    red1[gl_SubgroupID] = sb;
  }
  barrier();
  vec2 r = vec2(red0[0], red1[0]);
  for (uint k = 1u; k < gl_NumSubgroups; ++k) r += vec2(red0[k], red1[k]);
  barrier();
  return r;
}
#else
// Workgroup-wide sums of a (and b) in a fixed order: 8 partial sums of 8 threads each, then
// every thread adds the 8 in order. Three barriers, not log2(threads) + 1: lavapipe pays for
// each barrier in every invocation.
float sum1(float a) {
  uint l = gl_LocalInvocationID.x;
  red0[l] = a;
  barrier();
  if (l < 8) {
    float s = 0.0;
    for (uint k = 0; k < 8; ++k) s += red0[l * 8 + k];
    red1[l] = s;
  }
  barrier();
  float r = 0.0;
  for (uint k = 0; k < 8; ++k) r += red1[k];
  barrier();
  return r;
}
vec2 sum2(float a, float b) {
  uint l = gl_LocalInvocationID.x;
  red0[l] = a;
  red1[l] = b;
  barrier();
  if (l < 16) {  // threads 0..7 sum a's groups, 8..15 b's
    uint g = l & 7u;
    float s = 0.0;
    if (l < 8) for (uint k = 0; k < 8; ++k) s += red0[g * 8 + k];
    else for (uint k = 0; k < 8; ++k) s += red1[g * 8 + k];
    red2[l] = s;
  }
  barrier();
  vec2 r = vec2(0.0);
  for (uint k = 0; k < 8; ++k) r += vec2(red2[k], red2[8 + k]);
  barrier();
  return r;
}
#endif

void rows_pass(int op, int row, int C) {
  int l = int(gl_LocalInvocationID.x);
  int base = row * C;
  int ox = off(0) + base;
  float fC = float(C);
  if (op == NM_RMS_NORM) {  // x, w -> y, rstd
    float s = 0.0;
    for (int j = l; j < C; j += NM_THREADS) { float v = t1[ox + j]; s += v * v; }
    float rs = 1.0 / sqrt(sum1(s) / fC + mf(META_P));
    int ow = off(1), sw = stv(1), oy = off(2) + base;
    for (int j = l; j < C; j += NM_THREADS) t3[oy + j] = t1[ox + j] * rs * t2[ow + j * sw];
    if (l == 0) t4[off(3) + row * stv(3)] = rs;
  } else if (op == NM_LAYER_NORM) {  // x, w, b -> y, mean, rstd
    float s = 0.0;
    for (int j = l; j < C; j += NM_THREADS) s += t1[ox + j];
    float mu = sum1(s) / fC;
    s = 0.0;
    for (int j = l; j < C; j += NM_THREADS) { float d = t1[ox + j] - mu; s += d * d; }
    float rs = 1.0 / sqrt(sum1(s) / fC + mf(META_P));
    int ow = off(1), sw = stv(1), ob = off(2), sb = stv(2), oy = off(3) + base;
    for (int j = l; j < C; j += NM_THREADS) t4[oy + j] = (t1[ox + j] - mu) * rs * t2[ow + j * sw] + t3[ob + j * sb];
    if (l == 0) {
      t5[off(4) + row * stv(4)] = mu;
      t6[off(5) + row * stv(5)] = rs;
    }
  } else if (op == NM_RMS_NORM_BWD) {  // x, w, rstd, dy -> dx (dw in the columns pass)
    int ow = off(1), sw = stv(1), ody = off(3) + base, odx = off(4) + base;
    float rs = t3[off(2) + row * stv(2)];
    float s = 0.0;
    for (int j = l; j < C; j += NM_THREADS) s += (t4[ody + j] * t2[ow + j * sw]) * t1[ox + j];
    float k = sum1(s) * rs * rs * rs / fC;
    for (int j = l; j < C; j += NM_THREADS) {
      float g = t4[ody + j] * t2[ow + j * sw];
      // rs g - k x with rs g unrounded, as the CPU's contraction (fmsub) does: at C = 1 the two
      // terms cancel and only this form agrees
      t5[odx + j] = fma_ff(rs, g, -(k * t1[ox + j]));
    }
  } else {  // NM_LAYER_NORM_BWD: x, w, mean, rstd, dy -> dx (dw, db in the columns pass)
    int ow = off(1), sw = stv(1), ody = off(4) + base, odx = off(5) + base;
    float mu = t3[off(2) + row * stv(2)], rs = t4[off(3) + row * stv(3)];
    float sg = 0.0, sgx = 0.0;
    for (int j = l; j < C; j += NM_THREADS) {
      float g = t5[ody + j] * t2[ow + j * sw];
      sg += g;
      sgx += g * ((t1[ox + j] - mu) * rs);
    }
    vec2 r = sum2(sg, sgx);
    float mg = r.x / fC, mgx = r.y / fC;
    for (int j = l; j < C; j += NM_THREADS) {
      float g = t5[ody + j] * t2[ow + j * sw];
      float xh = (t1[ox + j] - mu) * rs;
      t6[odx + j] = rs * (g - mg - xh * mgx);
    }
  }
}

// Rows [r0, r1) of block bk of nblk: the CPU's N * bk / nblk without overflowing int32.
int block_start(int N, int nblk, int bk) { return (N / nblk) * bk + ((N % nblk) * bk) / nblk; }

void cols_pass(int op, int group, int N, int C) {
  int l = int(gl_LocalInvocationID.x);
  int col = l % NM_COLS, lane = l / NM_COLS;
  int j = group * NM_COLS + col;
  int nblk = max(1, min(N, NM_BLOCKS));
  bool rms = op == NM_RMS_NORM_BWD;
  if (j < C) {
    int ox = off(0) + j;
    for (int bk = lane; bk < nblk; bk += NM_LANES) {
      int r0 = block_start(N, nblk, bk), r1 = block_start(N, nblk, bk + 1);
      float pw = 0.0, pb = 0.0;
      if (rms) {  // dw_j = sum dy_j x_j r
        int ors = off(2), sr = stv(2), ody = off(3) + j;
        for (int i = r0; i < r1; ++i) pw += t4[ody + i * C] * t1[ox + i * C] * t3[ors + i * sr];
      } else {  // dw_j = sum dy_j xhat_j, db_j = sum dy_j
        int om = off(2), sm = stv(2), ors = off(3), sr = stv(3), ody = off(4) + j;
        for (int i = r0; i < r1; ++i) {
          float dy = t5[ody + i * C];
          pw += dy * ((t1[ox + i * C] - t3[om + i * sm]) * t4[ors + i * sr]);
          pb += dy;
        }
      }
      part[bk * NM_COLS + col] = pw;
      part[(NM_BLOCKS + bk) * NM_COLS + col] = pb;
    }
  }
  barrier();
  if (j >= C || lane != 0) return;
  float w = 0.0, b = 0.0;
  for (int bk = 0; bk < nblk; ++bk) {
    w += part[bk * NM_COLS + col];
    b += part[(NM_BLOCKS + bk) * NM_COLS + col];
  }
  if (rms) {
    t6[off(5) + j * stv(5)] = w;
  } else {
    t7[off(6) + j * stv(6)] = w;
    t8[off(7) + j * stv(7)] = b;
  }
}

void main() {
  int group = int(gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x);
  int op = mi(META_OP), N = mi(META_N), C = mi(META_I);
  if (mi(META_MODE) == 1) {
    if (group * NM_COLS >= C) return;
    cols_pass(op, group, N, C);
    return;
  }
  if (group >= N) return;  // the whole workgroup leaves together: barriers stay uniform
  rows_pass(op, group, C);
}

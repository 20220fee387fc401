#version 450
// sdpa forward, float32 (the twin: csrc/cpu/attention.cpp k_sdpa), flash-attention style:
//   q [B, Hq, T, D], k [B, Hkv, S, D], v [B, Hkv, S, Dv], mask? broadcast to [B, Hq, T, S]
//   -> o [B, Hq, T, Dv], lse [B, Hq, T]; query head h reads kv head h / (Hq / Hkv).
// Workgroup (query block x, b * Hq + h, column pass z) owns 16 query rows of one head and output
// columns [128 z, 128 z + 128): it streams 16-key tiles (k, then v, 64 head dims at a time)
// through shared memory with an online softmax, so no T x S score matrix exists anywhere.
// Invocation (r, c) = (lid / 16, lid % 16) computes score (row r, key c) of a tile and owns o
// columns 64 u + 4 c + (0..3), u < 2, of row r (a vec4 per 64-column chunk). Every invocation of row r keeps the row's running max and
// sum (identical copies). Meta layout and bindings: kernels/vulkan/attention.h.
//
// Semantics as the CPU: a -inf score weighs exactly 0 (even in a NaN row); a NaN score makes its
// row's max, o and lse NaN; a row that sees no key gets o = 0, lse = -inf.
#extension GL_GOOGLE_include_directive : require
#include "meta.h"
#include "attention.h"

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
layout(std430, binding = 1) readonly buffer Qb { float q[]; };
layout(std430, binding = 2) readonly buffer Kb { float k[]; };
layout(std430, binding = 3) readonly buffer Vb { float v[]; };
layout(std430, binding = 4) readonly buffer Mb { float mask[]; };
layout(std430, binding = 5) writeonly buffer Ob { float o[]; };
layout(std430, binding = 6) writeonly buffer Lb { float lse[]; };

#define NEG_INF uintBitsToFloat(0xff800000u)
#define NAN uintBitsToFloat(0x7fc00000u)
const float EXP_LO = -87.33654;  // exp() underflows below this: the weight is exactly 0 (as the CPU)

// vec4 words: a score is a chain of 4-wide dot products (fewer shared loads per multiply-add)
#define QW (ATT_COLS / 4)     // vec4 words of a query row
#define KW (ATT_CH / 4 + 1)   // vec4 words of a key/value row (one word of padding)
shared vec4 Qs[ATT_BR * QW];       // 16 query rows x up to 128 head dims
shared vec4 KVs[ATT_BC * KW];      // 16 keys x 64 dims of k or v
shared float Ps[ATT_BR * ATT_BC];          // scores, then weights, of the tile

// 4 consecutive elements row[x .. x + 4) of a unit-stride row at `base`, zero past len (or when !ok)
#define LOAD4(NAME, BUF) \
  vec4 NAME(bool ok, int base, int x, int len) { \
    vec4 r = vec4(0.0); \
    if (ok) for (int l = 0; l < 4; ++l) if (x + l < len) r[l] = BUF[base + x + l]; \
    return r; \
  }
LOAD4(load4q, q)
LOAD4(load4k, k)
LOAD4(load4v, v)

void main() {
  const int lid = int(gl_LocalInvocationIndex);
  const int r = lid >> 4, c = lid & 15;
  const int Hq = mi(ATT_HQ), T = mi(ATT_T), S = mi(ATT_S), D = mi(ATT_D), Dv = mi(ATT_DV);
  const int group = Hq / mi(ATT_HKV), shift = mi(ATT_SHIFT);
  const bool causal = mi(ATT_CAUSAL) != 0, has_mask = mi(ATT_HASMASK) != 0;
  const float scale = intBitsToFloat(mi(ATT_SCALE));
  const int bh = int(gl_WorkGroupID.y) + mi(ATT_Y0), b = bh / Hq, h = bh % Hq, kh = h / group;
  const int i0 = int(gl_WorkGroupID.x) * ATT_BR, br = min(ATT_BR, T - i0);
  const int col0 = int(gl_WorkGroupID.z) * ATT_COLS;
  const int i = i0 + r;

  const int qbase = mi(ATT_Q) + b * mi(ATT_Q + 1) + h * mi(ATT_Q + 2), qs = mi(ATT_Q + 3);
  const int kbase = mi(ATT_K) + b * mi(ATT_K + 1) + kh * mi(ATT_K + 2), ks = mi(ATT_K + 3);
  const int vbase = mi(ATT_V) + b * mi(ATT_V + 1) + kh * mi(ATT_V + 2), vs = mi(ATT_V + 3);
  const int mrow = mi(ATT_MASK) + b * mi(ATT_MASK + 1) + h * mi(ATT_MASK + 2) + i * mi(ATT_MASK + 3);
  const int ms = mi(ATT_MASK + 4);

  // a head dim of at most 128 keeps the query block in shared memory for the whole key loop
  if (D <= ATT_COLS) {
    for (int e = lid; e < ATT_BR * QW; e += 256) {
      int rr = e / QW, x = 4 * (e % QW);
      Qs[e] = load4q(rr < br, qbase + (i0 + rr) * qs, x, D);
    }
  }

  float m = NEG_INF, l = 0.0;
  // acc[h0] = o columns col0 + 64 h0 + 4 c + (0..3) of row r (word c of each 64-column chunk)
  vec4 acc[ATT_COLS / ATT_CH];
  for (int u = 0; u < ATT_COLS / ATT_CH; ++u) acc[u] = vec4(0.0);

  // one past the last key any row of this block may see
  const int jend = causal ? max(0, min(S, i0 + br + shift)) : S;
  for (int j0 = 0; j0 < jend; j0 += ATT_BC) {
    const int j = j0 + c;
    // ---- score (r, c) = q_i . k_j, 64 dims of k at a time (and 128 of q when D > 128)
    float sc = 0.0;
    for (int q0 = 0; q0 < D; q0 += ATT_COLS) {
      if (D > ATT_COLS) {
        barrier();
        for (int e = lid; e < ATT_BR * QW; e += 256) {
          int rr = e / QW, x = q0 + 4 * (e % QW);
          Qs[e] = load4q(rr < br, qbase + (i0 + rr) * qs, x, D);
        }
      }
      for (int d0 = q0; d0 < min(D, q0 + ATT_COLS); d0 += ATT_CH) {
        for (int e = lid; e < ATT_BC * (ATT_CH / 4); e += 256) {
          int cc = e / (ATT_CH / 4), x = 4 * (e % (ATT_CH / 4));
          KVs[cc * KW + x / 4] = load4k(j0 + cc < S, kbase + (j0 + cc) * ks, d0 + x, D);
        }
        barrier();
        const int w = (min(ATT_CH, D - d0) + 3) / 4, qo = r * QW + (d0 - q0) / 4, ko = c * KW;
        for (int x = 0; x < w; ++x) sc += dot(Qs[qo + x], KVs[ko + x]);
        barrier();
      }
    }
    float s = sc * scale;
    if (has_mask && i < T && j < S) s += mask[mrow + j * ms];
    if (j >= S || (causal && j > i + shift)) s = NEG_INF;
    Ps[lid] = s;
    barrier();

    // ---- online softmax of row r (every invocation of the row computes the same values)
    float mx = NEG_INF;
    bool nan = false;
    for (int cc = 0; cc < ATT_BC; ++cc) {
      float x = Ps[r * ATT_BC + cc];
      mx = x > mx ? x : mx;
      nan = nan || isnan(x);
    }
    if (nan) mx = NAN;
    const float mnew = (mx > m || isnan(mx)) ? mx : m;
    float p = 0.0, corr = 1.0;
    if (mnew != NEG_INF) {
      const float x = s - mnew;
      p = (!(x <= EXP_LO) && s != NEG_INF) ? exp(x) : 0.0;
      corr = m == NEG_INF ? 0.0 : exp(m - mnew);
    }
    barrier();
    Ps[lid] = p;
    barrier();
    if (mnew != NEG_INF) {
      float sum = 0.0;
      for (int cc = 0; cc < ATT_BC; ++cc) sum += Ps[r * ATT_BC + cc];
      l = l * corr + sum;
      for (int u = 0; u < ATT_COLS / ATT_CH; ++u) acc[u] *= corr;
      m = mnew;
    }

    // ---- acc += sum_c P(r, c) v_{j0 + c}[its columns], 64 columns of v at a time
    for (int h0 = 0; h0 < ATT_COLS / ATT_CH; ++h0) {
      const int d0 = col0 + h0 * ATT_CH;
      if (d0 >= Dv) break;
      for (int e = lid; e < ATT_BC * (ATT_CH / 4); e += 256) {
        int cc = e / (ATT_CH / 4), x = 4 * (e % (ATT_CH / 4));
        KVs[cc * KW + x / 4] = load4v(j0 + cc < S, vbase + (j0 + cc) * vs, d0 + x, Dv);
      }
      barrier();
      vec4 a = vec4(0.0);
      for (int cc = 0; cc < ATT_BC; ++cc) a += Ps[r * ATT_BC + cc] * KVs[cc * KW + c];
      acc[h0] += a;
      barrier();
    }
    if (Dv == 0) barrier();  // (no v chunk above) the sums read Ps before the next tile writes it
  }

  if (i >= T) return;
  const bool seen = m != NEG_INF;  // NaN for a poisoned row: still "seen"
  const float inv = seen ? 1.0 / l : 0.0;
  const int obase = mi(ATT_O) + b * mi(ATT_O + 1) + h * mi(ATT_O + 2) + i * mi(ATT_O + 3);
  for (int u = 0; u < ATT_COLS / ATT_CH; ++u)
    for (int l = 0; l < 4; ++l) {
      const int col = col0 + ATT_CH * u + 4 * c + l;
      if (col < Dv) o[obase + col] = seen ? acc[u][l] * inv : 0.0;
    }
  if (gl_WorkGroupID.z == 0 && c == 0)
    lse[mi(ATT_LSE) + b * mi(ATT_LSE + 1) + h * mi(ATT_LSE + 2) + i * mi(ATT_LSE + 3)] = seen ? m + log(l) : NEG_INF;
}

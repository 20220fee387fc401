#version 450
// sdpaBwd, float32 (the twin: csrc/cpu/attention.cpp k_sdpa_bwd): (q, k, v, o, lse, do, mask?)
// -> (dq, dk, dv), shapes as attention_fwd.comp. Per tile the weights are recomputed from the
// saved lse, P = exp(s - lse), then dP = do v^T, dS = P (dP - Dq) scale with Dq_i = do_i . o_i,
// and
//   pass 0, workgroup (key block x, b * Hkv + kv head, column pass z): dv_j = sum P^T do and
//           dk_j = sum dS^T q over the query heads sharing the kv head, then all query blocks,
//           in that fixed order (invocation (c, t) = (lid / 16, lid % 16) owns key c's columns
//           64 u + 4 t + (0..3), u < 2, of dk and of dv);
//   pass 1, workgroup (query block x, b * Hq + h, column pass z): dq_i = sum dS k over the key
//           blocks (invocation (r, t) owns row r's columns 64 u + 4 t + (0..3)).
// Each output element has one writer and a fixed summation order: deterministic, no atomics.
// Tiles are 16 queries x 16 keys; q, k, v, do stream through shared memory 64 head dims at a
// time; columns past 128 take more workgroups along z (recomputing P and dS).
// Meta layout and bindings: kernels/vulkan/attention.h.
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
layout(std430, binding = 5) readonly buffer Ob { float o[]; };
layout(std430, binding = 6) readonly buffer Lb { float lse[]; };
layout(std430, binding = 7) readonly buffer DOb { float dout[]; };
layout(std430, binding = 8) writeonly buffer Out1 { float out1[]; };  // dk (pass 0), dq (pass 1)
layout(std430, binding = 9) writeonly buffer Out2 { float out2[]; };  // dv (pass 0)

#define NEG_INF uintBitsToFloat(0xff800000u)
const float EXP_LO = -87.33654;  // as the forward (and the CPU): below it the weight is exactly 0
const int LW = ATT_CH / 4 + 1;   // vec4 words of a shared chunk row (one of padding)
const int NU = ATT_COLS / ATT_CH;  // vec4 accumulators: word t of each 64-column chunk

// chunks as vec4 words: a score is a chain of 4-wide dot products (fewer shared loads)
shared vec4 As[ATT_BR * LW];       // 16 query-side rows (q or do) x 64 dims
shared vec4 Bs[ATT_BC * LW];       // 16 key-side rows (k or v) x 64 dims
shared float Ps[ATT_BR * ATT_BC];  // P(r, c) at r * 16 + c
shared float Dss[ATT_BR * ATT_BC]; // dS(r, c)
shared float Ls[ATT_BR];           // lse of the tile's rows
shared float Dq[ATT_BR];           // do . o of the tile's rows

float dot4(vec4 a, vec4 b) { return dot(a, b); }

int B, Hq, Hkv, T, S, D, Dv, group, shift;
bool causal, has_mask;
float scale;

// 16 rows of 64 dims from a strided tensor into As / Bs, one vec4 word per invocation: element
// (row, x) at base + row * rs + d0 + x, zero past `rows` rows or `len` dims.
#define LOAD(dst, buf, base, rs, rows, d0, len)                                 \
  {                                                                             \
    const int rr_ = int(gl_LocalInvocationIndex) >> 4, x_ = (d0) + 4 * (int(gl_LocalInvocationIndex) & 15); \
    vec4 w_ = vec4(0.0);                                                        \
    if (rr_ < (rows))                                                           \
      for (int l_ = 0; l_ < 4; ++l_)                                            \
        if (x_ + l_ < (len)) w_[l_] = buf[(base) + rr_ * (rs) + x_ + l_];       \
    dst[rr_ * LW + (int(gl_LocalInvocationIndex) & 15)] = w_;                   \
  }

// Row bases of the tile's operands: query rows i0.. of head h, key rows j0.. of kv head kh.
int qb_, qs_, ob_, os_, db_, ds_, kb_, ks_, vb_, vs_, mb_, ms2_, ms3_, lb_, ls_;
void bases(int b, int h, int i0, int j0) {
  const int kh = h / group;
  qs_ = mi(ATT_Q + 3); qb_ = mi(ATT_Q) + b * mi(ATT_Q + 1) + h * mi(ATT_Q + 2) + i0 * qs_;
  os_ = mi(ATT_O + 3); ob_ = mi(ATT_O) + b * mi(ATT_O + 1) + h * mi(ATT_O + 2) + i0 * os_;
  ds_ = mi(ATT_DO + 3); db_ = mi(ATT_DO) + b * mi(ATT_DO + 1) + h * mi(ATT_DO + 2) + i0 * ds_;
  ks_ = mi(ATT_K + 3); kb_ = mi(ATT_K) + b * mi(ATT_K + 1) + kh * mi(ATT_K + 2) + j0 * ks_;
  vs_ = mi(ATT_V + 3); vb_ = mi(ATT_V) + b * mi(ATT_V + 1) + kh * mi(ATT_V + 2) + j0 * vs_;
  ms2_ = mi(ATT_MASK + 3); ms3_ = mi(ATT_MASK + 4);
  mb_ = mi(ATT_MASK) + b * mi(ATT_MASK + 1) + h * mi(ATT_MASK + 2) + i0 * ms2_ + j0 * ms3_;
  ls_ = mi(ATT_LSE + 3); lb_ = mi(ATT_LSE) + b * mi(ATT_LSE + 1) + h * mi(ATT_LSE + 2) + i0 * ls_;
}

// lse and do . o of the tile's rows into Ls, Dq (callers put a barrier before their first use).
void row_stats(int br) {
  const int r = int(gl_LocalInvocationIndex);
  if (r < ATT_BR) {
    float dd = 0.0;
    if (r < br)
      for (int x = 0; x < Dv; ++x) dd += o[ob_ + r * os_ + x] * dout[db_ + r * ds_ + x];
    Ls[r] = r < br ? lse[lb_ + r * ls_] : NEG_INF;
    Dq[r] = dd;
  }
}

// Tile (query rows i0 + r, r < br; keys j0 + c, c < bc) for invocation (r, c): writes P(r, c)
// and dS(r, c) into Ps, Dss (visible after the final barrier). Needs bases() and row_stats().
void tile(int i0, int br, int j0, int bc, int r, int c) {
  const int i = i0 + r, j = j0 + c;
  float dot = 0.0, dp = 0.0;
  for (int d0 = 0; d0 < D; d0 += ATT_CH) {
    LOAD(As, q, qb_, qs_, br, d0, D)
    LOAD(Bs, k, kb_, ks_, bc, d0, D)
    barrier();
    const int w = (min(ATT_CH, D - d0) + 3) >> 2;
    for (int x = 0; x < w; ++x) dot += dot4(As[r * LW + x], Bs[c * LW + x]);
    barrier();
  }
  for (int d0 = 0; d0 < Dv; d0 += ATT_CH) {
    LOAD(As, dout, db_, ds_, br, d0, Dv)
    LOAD(Bs, v, vb_, vs_, bc, d0, Dv)
    barrier();
    const int w = (min(ATT_CH, Dv - d0) + 3) >> 2;
    for (int x = 0; x < w; ++x) dp += dot4(As[r * LW + x], Bs[c * LW + x]);
    barrier();
  }
  float s = dot * scale;
  const bool inside = r < br && c < bc;
  if (has_mask && inside) s += mask[mb_ + r * ms2_ + c * ms3_];
  if (causal && j > i + shift) s = NEG_INF;
  const float L = Ls[r];
  float p = 0.0;
  if (L != NEG_INF) {
    const float x = s - L;
    p = (!(x <= EXP_LO) && s != NEG_INF) ? exp(x) : 0.0;
  }
  if (!inside) p = 0.0;
  Ps[r * ATT_BC + c] = p;
  Dss[r * ATT_BC + c] = inside ? p * (dp - Dq[r]) * scale : 0.0;
  barrier();
}

void main() {
  B = mi(ATT_B); Hq = mi(ATT_HQ); Hkv = mi(ATT_HKV); T = mi(ATT_T); S = mi(ATT_S);
  D = mi(ATT_D); Dv = mi(ATT_DV);
  group = Hq / Hkv; shift = mi(ATT_SHIFT);
  causal = mi(ATT_CAUSAL) != 0; has_mask = mi(ATT_HASMASK) != 0;
  scale = intBitsToFloat(mi(ATT_SCALE));
  const int lid = int(gl_LocalInvocationIndex);
  const int col0 = int(gl_WorkGroupID.z) * ATT_COLS;
  vec4 a1[NU], a2[NU];
  for (int u = 0; u < NU; ++u) { a1[u] = vec4(0.0); a2[u] = vec4(0.0); }

  if (mi(ATT_PASS) == 0) {
    // ---- dk, dv of keys j0 + c of kv head kh; score invocation (r, c) = (lid % 16, lid / 16)
    const int c = lid >> 4, t = lid & 15, r = t;
    const int bk = int(gl_WorkGroupID.y) + mi(ATT_Y0), b = bk / Hkv, kh = bk % Hkv;
    const int j0 = int(gl_WorkGroupID.x) * ATT_BC, bc = min(ATT_BC, S - j0);
    // first query row that sees key j0: i + shift >= j0
    const int ifirst = causal ? max(0, j0 - shift) : 0;
    for (int h = kh * group; h < (kh + 1) * group; ++h) {
      for (int i0 = (ifirst / ATT_BR) * ATT_BR; i0 < T; i0 += ATT_BR) {
        const int br = min(ATT_BR, T - i0);
        bases(b, h, i0, j0);
        row_stats(br);
        barrier();
        tile(i0, br, j0, bc, r, c);
        // dv_c += sum_r P(r, c) do_r, dk_c += sum_r dS(r, c) q_r over this pass's columns
        for (int h0 = 0; h0 < ATT_COLS / ATT_CH; ++h0) {
          const int d0 = col0 + h0 * ATT_CH;
          if (d0 >= max(D, Dv)) break;
          LOAD(As, dout, db_, ds_, br, d0, Dv)
          LOAD(Bs, q, qb_, qs_, br, d0, D)
          barrier();
          vec4 sv = vec4(0.0), sk = vec4(0.0);
          for (int rr = 0; rr < ATT_BR; ++rr) {
            sv += Ps[rr * ATT_BC + c] * As[rr * LW + t];
            sk += Dss[rr * ATT_BC + c] * Bs[rr * LW + t];
          }
          a2[h0] += sv;
          a1[h0] += sk;
          barrier();
        }
      }
    }
    if (c >= bc) return;
    const int j = j0 + c;
    const int kbase = mi(ATT_OUT1) + b * mi(ATT_OUT1 + 1) + kh * mi(ATT_OUT1 + 2) + j * mi(ATT_OUT1 + 3);
    const int vbase = mi(ATT_OUT2) + b * mi(ATT_OUT2 + 1) + kh * mi(ATT_OUT2 + 2) + j * mi(ATT_OUT2 + 3);
    for (int u = 0; u < NU; ++u)
      for (int l = 0; l < 4; ++l) {
        const int col = col0 + ATT_CH * u + 4 * t + l;
        if (col < D) out1[kbase + col] = a1[u][l];
        if (col < Dv) out2[vbase + col] = a2[u][l];
      }
    return;
  }

  // ---- pass 1: dq of query rows i0 + r of head h; invocation (r, c) = (lid / 16, lid % 16)
  const int r = lid >> 4, c = lid & 15, t = c;
  const int bh = int(gl_WorkGroupID.y) + mi(ATT_Y0), b = bh / Hq, h = bh % Hq;
  const int i0 = int(gl_WorkGroupID.x) * ATT_BR, br = min(ATT_BR, T - i0);
  const int jend = causal ? max(0, min(S, i0 + br + shift)) : S;
  bases(b, h, i0, 0);
  row_stats(br);
  barrier();
  for (int j0 = 0; j0 < jend; j0 += ATT_BC) {
    const int bc = min(ATT_BC, jend - j0);
    bases(b, h, i0, j0);
    tile(i0, br, j0, bc, r, c);
    // dq_r += sum_c dS(r, c) k_c over this pass's columns
    for (int h0 = 0; h0 < ATT_COLS / ATT_CH; ++h0) {
      const int d0 = col0 + h0 * ATT_CH;
      if (d0 >= D) break;
      LOAD(Bs, k, kb_, ks_, bc, d0, D)
      barrier();
      vec4 sq = vec4(0.0);
      for (int cc = 0; cc < ATT_BC; ++cc) sq += Dss[r * ATT_BC + cc] * Bs[cc * LW + t];
      a1[h0] += sq;
      barrier();
    }
  }
  if (r >= br) return;
  const int qbase = mi(ATT_OUT1) + b * mi(ATT_OUT1 + 1) + h * mi(ATT_OUT1 + 2) + (i0 + r) * mi(ATT_OUT1 + 3);
  for (int u = 0; u < NU; ++u)
    for (int l = 0; l < 4; ++l) {
      const int col = col0 + ATT_CH * u + 4 * t + l;
      if (col < D) out1[qbase + col] = a1[u][l];
    }
}

// Scaled dot-product attention (SDPA) and its backward, flash-attention style.
//
// Shapes: q [B,Hq,T,D], k [B,Hkv,S,D], v [B,Hkv,S,Dv] (any strides, unit last stride), optional
// additive mask [B,Hq,T,S] (stride 0 on broadcast dims), o [B,Hq,T,Dv] and lse [B,Hq,T] contiguous.
// Query head h reads kv head h / (Hq / Hkv) (GQA / MQA). Causal: key j visible to query i iff
// j <= i + S - T (the queries are the last T of S positions, as in KV-cached decoding).
//
// Memory: nothing of size T x S is ever allocated. The forward walks (b, h, query block) tasks;
// each streams key blocks through a Br x Bc score tile with an online softmax, accumulating
// straight into its rows of o. Scratch is one score tile per thread.
//
// Backward recomputes P = exp(s - lse) per tile (lse saved by the forward), with
// dS = P * (do v^T - Dq), Dq_i = rowsum(do_i * o_i). Every output element has exactly one writer
// and a fixed summation order, so results are deterministic without atomics:
//   with enough (b, kv head) pairs to occupy the pool, one task per pair owns dk/dv of its kv head
//   and dq of the query heads sharing it: 5 tile GEMMs (S, dP, dv, dk, dq) per tile;
//   otherwise two passes with finer tasks at the price of recomputing S and dP (7 GEMMs):
//     pass A, tasks (b, kv head, key block): dv_j += P^T do, dk_j += scale * dS^T q over the
//             query heads sharing that kv head and all query blocks;
//     pass B, tasks (b, q head, query block): dq_i += scale * dS k over all key blocks.
// Fully masked rows (every key -inf or causally hidden) give o = 0, lse = -inf and zero gradients.
// NaN propagates as in a dense softmax: a NaN score (from q, k or the mask) makes its query row's
// running max, o and lse NaN, and so its gradients; a masked (-inf) score still weighs exactly 0.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "fastmath.h"
#include "gemm.h"
#include "kernels.h"
#include "rows.h"

namespace et {
namespace ET_ISA {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Below this exp() underflows to 0 in float; masked (-inf) scores land here too.
constexpr float kExpLo = -87.33654f;

// p[j] = exp(p[j] - m) for j < n; returns the sum. Scores at -inf (masked) become exactly 0, even
// when m is NaN (a row poisoned by a NaN score elsewhere); a NaN score or m gives NaN.
inline float exp_shift_sum(float* p, int64_t n, float m) {
  int64_t j = 0;
  float sum = 0.f;
#if defined(__AVX512F__)
  {
    const __m512 vm = _mm512_set1_ps(m), lo = _mm512_set1_ps(kExpLo), ninf = _mm512_set1_ps(kNegInf);
    __m512 acc = _mm512_setzero_ps();
    for (; j + 16 <= n; j += 16) {
      const __m512 s = _mm512_loadu_ps(p + j);
      const __m512 x = _mm512_sub_ps(s, vm);
      const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_NLE_UQ) & _mm512_cmp_ps_mask(s, ninf, _CMP_NEQ_UQ);
      const __m512 y = _mm512_maskz_mov_ps(keep, exp16(x));
      _mm512_storeu_ps(p + j, y);
      acc = _mm512_add_ps(acc, y);
    }
    // the 16 lanes summed as the 8-lane loop below sums its 8 (pairs of lanes first)
    const __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
    alignas(32) float t[8];
    _mm256_store_ps(t, a8);
    sum = ((t[0] + t[4]) + (t[1] + t[5])) + ((t[2] + t[6]) + (t[3] + t[7]));
  }
#endif
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 vm = _mm256_set1_ps(m);
  const __m256 lo = _mm256_set1_ps(kExpLo);
  __m256 acc = _mm256_setzero_ps();
  const __m256 ninf = _mm256_set1_ps(kNegInf);
  for (; j + 8 <= n; j += 8) {
    const __m256 s = _mm256_loadu_ps(p + j);
    const __m256 x = _mm256_sub_ps(s, vm);
    // at or below the clamp the weight is exactly 0; NaN (unordered) keeps exp8's NaN
    const __m256 keep = _mm256_and_ps(_mm256_cmp_ps(x, lo, _CMP_NLE_UQ), _mm256_cmp_ps(s, ninf, _CMP_NEQ_UQ));
    const __m256 y = _mm256_and_ps(exp8(x), keep);
    _mm256_storeu_ps(p + j, y);
    acc = _mm256_add_ps(acc, y);
  }
  alignas(32) float t[8];
  _mm256_store_ps(t, acc);
  sum += ((t[0] + t[4]) + (t[1] + t[5])) + ((t[2] + t[6]) + (t[3] + t[7]));
#endif
  for (; j < n; ++j) {
    const float x = p[j] - m;
    const float e = !(x <= kExpLo) && p[j] != kNegInf ? std::exp(x) : 0.f;
    p[j] = e;
    sum += e;
  }
  return sum;
}

// max of p[0, n), NaN if any p[j] is NaN (a NaN score must poison its row, not read as masked);
// -inf for an empty or fully masked run.
inline float max_or_nan(const float* p, int64_t n) {
  int64_t j = 0;
  float m = kNegInf;
  bool nan = false;
#if defined(__AVX512F__)
  {
    __m512 vm = _mm512_set1_ps(kNegInf);
    __mmask16 vnan = 0;
    for (; j + 16 <= n; j += 16) {
      const __m512 x = _mm512_loadu_ps(p + j);
      vm = _mm512_max_ps(vm, x);
      vnan |= _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    }
    m = _mm512_reduce_max_ps(vm);
    nan = vnan != 0;
  }
#endif
#if defined(__AVX2__) && defined(__FMA__)
  __m256 vm = _mm256_set1_ps(kNegInf), vnan = _mm256_setzero_ps();
  for (; j + 8 <= n; j += 8) {
    const __m256 x = _mm256_loadu_ps(p + j);
    vm = _mm256_max_ps(vm, x);
    vnan = _mm256_or_ps(vnan, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
  }
  alignas(32) float t[8];
  _mm256_store_ps(t, vm);
  for (int k = 0; k < 8; ++k) m = t[k] > m ? t[k] : m;
  nan |= _mm256_movemask_ps(vnan) != 0;
#endif
  for (; j < n; ++j) {
    m = p[j] > m ? p[j] : m;
    nan |= p[j] != p[j];
  }
  return nan ? std::numeric_limits<float>::quiet_NaN() : m;
}

struct Geo {
  int64_t B = 0, Hq = 0, Hkv = 0, T = 0, S = 0, D = 0, Dv = 0, group = 1, shift = 0;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* mask = nullptr;  // null: no mask
  int64_t qs[3] = {}, ks[3] = {}, vs[3] = {}, ms[4] = {};
  float scale = 1.f;
  bool causal = false;

  const float* qrow(int64_t b, int64_t h, int64_t i) const { return q + b * qs[0] + h * qs[1] + i * qs[2]; }
  const float* krow(int64_t b, int64_t kh, int64_t j) const { return k + b * ks[0] + kh * ks[1] + j * ks[2]; }
  const float* vrow(int64_t b, int64_t kh, int64_t j) const { return v + b * vs[0] + kh * vs[1] + j * vs[2]; }
  // One past the last key any query of rows [i0, i0 + br) may see.
  int64_t key_end(int64_t i0, int64_t br) const {
    return causal ? std::max<int64_t>(0, std::min(S, i0 + br + shift)) : S;
  }
};

std::string shape_str(const View& v) {
  std::string s = "[";
  for (int d = 0; d < v.ndim; ++d) s += (d ? ", " : "") + std::to_string(v.shape[d]);
  return s + "]";
}

// Validates shapes/strides and fills g. `op` names the kernel in messages.
std::string setup(const Call& c, const char* op, bool has_mask, int mask_index, Geo* g) {
  const View& q = c.in(0);
  const View& k = c.in(1);
  const View& v = c.in(2);
  const std::string shapes = " (q " + shape_str(q) + ", k " + shape_str(k) + ", v " + shape_str(v) + ")";
  if (q.ndim != 4 || k.ndim != 4 || v.ndim != 4)
    return std::string("ShapeError: ") + op + ": q, k, v must be rank 4" + shapes;
  g->B = q.shape[0];
  g->Hq = q.shape[1];
  g->T = q.shape[2];
  g->D = q.shape[3];
  g->Hkv = k.shape[1];
  g->S = k.shape[2];
  g->Dv = v.shape[3];
  if (k.shape[0] != g->B || v.shape[0] != g->B || k.shape[3] != g->D || v.shape[1] != g->Hkv ||
      v.shape[2] != g->S || g->Hkv == 0 || g->Hq % g->Hkv != 0)
    return std::string("ShapeError: ") + op + ": incompatible shapes" + shapes;
  if ((q.shape[3] > 1 && q.strides[3] != 1) || (k.shape[3] > 1 && k.strides[3] != 1) ||
      (v.shape[3] > 1 && v.strides[3] != 1))
    return std::string("ValueError: ") + op + ": q, k, v need unit stride in the last dim";
  g->group = g->Hq / g->Hkv;
  g->shift = g->S - g->T;
  for (int d = 0; d < 3; ++d) {
    g->qs[d] = q.strides[d];
    g->ks[d] = k.strides[d];
    g->vs[d] = v.strides[d];
  }
  g->q = q.data<float>();
  g->k = k.data<float>();
  g->v = v.data<float>();
  g->scale = float(c.p[0]);
  g->causal = c.p[1] != 0;
  if (has_mask) {
    if (c.n_in <= mask_index) return std::string("ValueError: ") + op + ": has-mask flag set but no mask given";
    const View& m = c.in(mask_index);
    if (m.dtype != ET_F32) return std::string("DTypeError: ") + op + ": mask must be float32 (additive)";
    if (m.ndim != 4 || m.shape[0] != g->B || m.shape[1] != g->Hq || m.shape[2] != g->T || m.shape[3] != g->S)
      return std::string("ShapeError: ") + op + ": mask " + shape_str(m) + " must be broadcast to [B, Hq, T, S]" + shapes;
    for (int d = 0; d < 4; ++d) g->ms[d] = m.strides[d];
    g->mask = m.data<float>();
  }
  return "";
}

// St[r, c] (leading dim ld) = scale * q_{i0+r} . k_{j0+c} + mask, -inf where causally hidden.
void scores(const Geo& g, int64_t b, int64_t h, int64_t i0, int64_t br, int64_t j0, int64_t bc, float* St,
            int64_t ld) {
  const int64_t kh = h / g.group;
  gemm_f32(br, bc, g.D, g.scale, g.qrow(b, h, i0), g.qs[2], 1, g.krow(b, kh, j0), 1, g.ks[2], 0.f, St, ld, 1);
  if (g.mask) {
    const int64_t m3 = g.ms[3];
    for (int64_t r = 0; r < br; ++r) {
      const float* mr = g.mask + b * g.ms[0] + h * g.ms[1] + (i0 + r) * g.ms[2] + j0 * m3;
      float* sr = St + r * ld;
      if (m3 == 1)
        for (int64_t cc = 0; cc < bc; ++cc) sr[cc] += mr[cc];
      else
        for (int64_t cc = 0; cc < bc; ++cc) sr[cc] += mr[cc * m3];
    }
  }
  if (g.causal) {
    for (int64_t r = 0; r < br; ++r) {
      // visible: j0 + c <= i0 + r + shift
      const int64_t first_hidden = std::max<int64_t>(0, i0 + r + g.shift - j0 + 1);
      float* sr = St + r * ld;
      for (int64_t cc = first_hidden; cc < bc; ++cc) sr[cc] = kNegInf;
    }
  }
}

// Recomputes P = exp(s - lse) in place (rows whose lse is -inf are fully masked: P = 0).
void probs_from_lse(float* St, int64_t ld, int64_t br, int64_t bc, const float* lse) {
  for (int64_t r = 0; r < br; ++r) {
    float* sr = St + r * ld;
    if (lse[r] == kNegInf) {
      for (int64_t cc = 0; cc < bc; ++cc) sr[cc] = 0.f;
    } else {
      exp_shift_sum(sr, bc, lse[r]);
    }
  }
}

// Runs fn(task, scratch) for task in [0, n) on the pool, tasks handed out dynamically (causal
// tasks differ in cost); each thread gets its own scratch of `scratch_floats`.
template <class F>
void run_tasks(int64_t n, size_t scratch_floats, F&& fn) {
  if (n <= 0) return;
  std::atomic<int64_t> next{0};
  const int nt = int(std::min<int64_t>(threadpool_size(), n));
  parallel_run(nt, [&](int, int) {
    std::vector<float> scratch(scratch_floats);
    for (;;) {
      const int64_t t = next.fetch_add(1, std::memory_order_relaxed);
      if (t >= n) break;
      fn(t, scratch.data());
    }
  });
}

// Halves a block size while there are too few tasks to fill the pool (short sequences).
int64_t pick_block(int64_t len, int64_t other_tasks, int64_t pref) {
  int64_t blk = pref;
  const int64_t want = 2 * int64_t(threadpool_size());
  while (blk > 16 && other_tasks * ((len + blk - 1) / blk) < want) blk /= 2;
  return std::max<int64_t>(1, std::min(blk, std::max<int64_t>(len, 1)));
}

constexpr int64_t kBr = 64;   // query rows per tile
constexpr int64_t kBc = 128;  // keys per tile (forward)

// ---- SDPA: (q, k, v, [mask]) -> (o, lse); p0 scale, p1 causal, p2 has mask ----
std::string k_sdpa(const Call& c) {
  Geo g;
  std::string e = setup(c, "sdpa", c.p[2] != 0, 3, &g);
  if (!e.empty()) return e;
  float* op = c.out(0).data<float>();
  float* lp = c.out(1).data<float>();
  const int64_t Br = pick_block(g.T, g.B * g.Hq, kBr);
  const int64_t Bc = kBc;
  const int64_t nqb = (g.T + Br - 1) / Br;
  const int64_t BH = g.B * g.Hq;
  const size_t scratch = size_t(Br * Bc + 2 * Br);
  run_tasks(BH * nqb, scratch, [&](int64_t task, float* sc) {
    // later query blocks see more keys under causal masking: hand them out first
    const int64_t qb = nqb - 1 - task / BH;
    const int64_t bh = task % BH;
    const int64_t b = bh / g.Hq, h = bh % g.Hq;
    const int64_t i0 = qb * Br, br = std::min(Br, g.T - i0);
    float* St = sc;
    float* mrow = sc + Br * Bc;
    float* lrow = mrow + Br;
    float* O = op + (bh * g.T + i0) * g.Dv;  // this task's rows of o, used as the accumulator
    float* L = lp + bh * g.T + i0;
    for (int64_t r = 0; r < br; ++r) {
      mrow[r] = kNegInf;
      lrow[r] = 0.f;
    }
    std::fill(O, O + br * g.Dv, 0.f);
    const int64_t jend = g.key_end(i0, br);
    for (int64_t j0 = 0; j0 < jend; j0 += Bc) {
      const int64_t bc = std::min(Bc, jend - j0);
      scores(g, b, h, i0, br, j0, bc, St, Bc);
      for (int64_t r = 0; r < br; ++r) {
        float* sr = St + r * Bc;
        const float mx = max_or_nan(sr, bc);
        const float mnew = (mx > mrow[r] || mx != mx) ? mx : mrow[r];
        if (mnew == kNegInf) {  // nothing visible in this row so far
          for (int64_t cc = 0; cc < bc; ++cc) sr[cc] = 0.f;
          continue;
        }
        const float corr = mrow[r] == kNegInf ? 0.f : std::exp(mrow[r] - mnew);
        const float s = exp_shift_sum(sr, bc, mnew);
        lrow[r] = lrow[r] * corr + s;
        if (corr != 1.f) {
          float* orow = O + r * g.Dv;
          for (int64_t d = 0; d < g.Dv; ++d) orow[d] *= corr;
        }
        mrow[r] = mnew;
      }
      gemm_f32(br, g.Dv, bc, 1.f, St, Bc, 1, g.vrow(b, h / g.group, j0), g.vs[2], 1, 1.f, O, g.Dv, 1);
    }
    for (int64_t r = 0; r < br; ++r) {
      float* orow = O + r * g.Dv;
      if (mrow[r] != kNegInf) {  // some key was visible (mrow is NaN for a poisoned row)
        const float inv = 1.f / lrow[r];
        for (int64_t d = 0; d < g.Dv; ++d) orow[d] *= inv;
        L[r] = mrow[r] + std::log(lrow[r]);
      } else {
        for (int64_t d = 0; d < g.Dv; ++d) orow[d] = 0.f;
        L[r] = kNegInf;
      }
    }
  });
  return "";
}

// ---- SDPA_BWD: (q, k, v, o, lse, do, [mask]) -> (dq, dk, dv); p as SDPA ----
std::string k_sdpa_bwd(const Call& c) {
  Geo g;
  std::string e = setup(c, "sdpaBwd", c.p[2] != 0, 6, &g);
  if (!e.empty()) return e;
  const View& o = c.in(3);
  const View& lse = c.in(4);
  const View& dov = c.in(5);
  for (const View* w : {&o, &dov}) {
    if (w->ndim != 4 || w->shape[0] != g.B || w->shape[1] != g.Hq || w->shape[2] != g.T || w->shape[3] != g.Dv)
      return "ShapeError: sdpaBwd: o and do must be [B, Hq, T, Dv], got " + shape_str(*w);
    if (w->shape[3] > 1 && w->strides[3] != 1) return "ValueError: sdpaBwd: o and do need unit stride in the last dim";
  }
  if (lse.numel() != g.B * g.Hq * g.T || !lse.contiguous())
    return "ShapeError: sdpaBwd: lse must be contiguous [B, Hq, T], got " + shape_str(lse);
  const float* lp = lse.data<float>();
  const float* op = o.data<float>();
  const float* dop = dov.data<float>();
  const int64_t os[3] = {o.strides[0], o.strides[1], o.strides[2]};
  const int64_t ds[3] = {dov.strides[0], dov.strides[1], dov.strides[2]};
  auto dorow = [&](int64_t b, int64_t h, int64_t i) { return dop + b * ds[0] + h * ds[1] + i * ds[2]; };
  float* dq = c.out(0).data<float>();
  float* dk = c.out(1).data<float>();
  float* dv = c.out(2).data<float>();
  const int64_t BH = g.B * g.Hq, BHkv = g.B * g.Hkv;

  // Dq_i = rowsum(do_i * o_i), [B*Hq*T]
  std::vector<float> Dq(size_t(BH * g.T));
  parallel_for(BH * g.T, row_grain(g.Dv, 8192), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r % g.T, bh = r / g.T, b = bh / g.Hq, h = bh % g.Hq;
      const float* a = op + b * os[0] + h * os[1] + i * os[2];
      const float* d = dorow(b, h, i);
      float s = 0.f;
      for (int64_t x = 0; x < g.Dv; ++x) s += a[x] * d[x];
      Dq[size_t(r)] = s;
    }
  });

  // dS = P * (dP - Dq) * scale in place over dP (P in St), rows of a Br x Bc tile.
  auto make_ds = [&](const float* St, float* dP, int64_t ld, int64_t br, int64_t bc, const float* Drow) {
    for (int64_t r = 0; r < br; ++r) {
      const float* pr = St + r * ld;
      float* dr = dP + r * ld;
      const float dd = Drow[r];
      for (int64_t cc = 0; cc < bc; ++cc) dr[cc] = pr[cc] * (dr[cc] - dd) * g.scale;
    }
  };

  // One (query block, key block) tile of head h: recompute P, then
  // dV += P^T dO, dP = dO V^T, dS = P (dP - Dq) scale, dK += dS^T Q, dQ += dS K (null: skipped).
  // St and dP are Br x Bc scratch (leading dim ld); dK/dV/dQ point at the tile's first rows.
  auto tile = [&](int64_t b, int64_t h, int64_t i0, int64_t br, int64_t j0, int64_t bc, float* St, float* dP,
                  int64_t ld, float* dK, float* dV, float* dQ) {
    const int64_t kh = h / g.group, bh = b * g.Hq + h;
    scores(g, b, h, i0, br, j0, bc, St, ld);
    probs_from_lse(St, ld, br, bc, lp + bh * g.T + i0);
    const float* dO = dorow(b, h, i0);
    if (dV) gemm_f32(bc, g.Dv, br, 1.f, St, 1, ld, dO, ds[2], 1, 1.f, dV, g.Dv, 1);
    gemm_f32(br, bc, g.Dv, 1.f, dO, ds[2], 1, g.vrow(b, kh, j0), 1, g.vs[2], 0.f, dP, ld, 1);
    make_ds(St, dP, ld, br, bc, Dq.data() + bh * g.T + i0);
    if (dK) gemm_f32(bc, g.D, br, 1.f, dP, 1, ld, g.qrow(b, h, i0), g.qs[2], 1, 1.f, dK, g.D, 1);
    if (dQ) gemm_f32(br, g.D, bc, 1.f, dP, ld, 1, g.krow(b, kh, j0), g.ks[2], 1, 1.f, dQ, g.D, 1);
  };

  const int64_t nt = threadpool_size();
  // one task per (b, kv head) costs 5 units per pair in ceil(BHkv / nt) rounds; two passes cost
  // 7 units per pair spread evenly over the pool
  const bool fused = 5 * ((BHkv + nt - 1) / nt) * nt <= 7 * BHkv;
  if (fused) {
    const int64_t Br = kBr, Bc = 64;
    const size_t scratch = size_t(2 * Br * Bc);
    run_tasks(BHkv, scratch, [&](int64_t bk, float* sc) {
      const int64_t b = bk / g.Hkv, kh = bk % g.Hkv;
      float* St = sc;
      float* dP = sc + Br * Bc;
      std::fill(dk + bk * g.S * g.D, dk + (bk + 1) * g.S * g.D, 0.f);
      std::fill(dv + bk * g.S * g.Dv, dv + (bk + 1) * g.S * g.Dv, 0.f);
      const int64_t h0 = kh * g.group;
      std::fill(dq + (b * g.Hq + h0) * g.T * g.D, dq + (b * g.Hq + h0 + g.group) * g.T * g.D, 0.f);
      for (int64_t j0 = 0; j0 < g.S; j0 += Bc) {
        const int64_t bc = std::min(Bc, g.S - j0);
        float* dK = dk + (bk * g.S + j0) * g.D;
        float* dV = dv + (bk * g.S + j0) * g.Dv;
        const int64_t ifirst = g.causal ? std::max<int64_t>(0, j0 - g.shift) : 0;
        for (int64_t h = h0; h < h0 + g.group; ++h) {
          const int64_t bh = b * g.Hq + h;
          for (int64_t i0 = (ifirst / Br) * Br; i0 < g.T; i0 += Br)
            tile(b, h, i0, std::min(Br, g.T - i0), j0, bc, St, dP, Bc, dK, dV, dq + (bh * g.T + i0) * g.D);
        }
      }
    });
    return "";
  }

  // pass A: dk, dv per (b, kv head, key block)
  {
    const int64_t Br = kBr;
    const int64_t Bc = pick_block(g.S, BHkv, 64);
    const int64_t nkb = (g.S + Bc - 1) / Bc;
    const size_t scratch = size_t(2 * Br * Bc);
    run_tasks(BHkv * nkb, scratch, [&](int64_t task, float* sc) {
      // early key blocks are seen by more queries under causal masking: hand them out first
      const int64_t kb = task / BHkv;
      const int64_t bk = task % BHkv;
      const int64_t b = bk / g.Hkv, kh = bk % g.Hkv;
      const int64_t j0 = kb * Bc, bc = std::min(Bc, g.S - j0);
      float* St = sc;
      float* dP = sc + Br * Bc;
      float* dK = dk + (bk * g.S + j0) * g.D;
      float* dV = dv + (bk * g.S + j0) * g.Dv;
      std::fill(dK, dK + bc * g.D, 0.f);
      std::fill(dV, dV + bc * g.Dv, 0.f);
      // first query row that sees key j0: i + shift >= j0
      const int64_t ifirst = g.causal ? std::max<int64_t>(0, j0 - g.shift) : 0;
      for (int64_t h = kh * g.group; h < (kh + 1) * g.group; ++h)
        for (int64_t i0 = (ifirst / Br) * Br; i0 < g.T; i0 += Br)
          tile(b, h, i0, std::min(Br, g.T - i0), j0, bc, St, dP, Bc, dK, dV, nullptr);
    });
  }

  // pass B: dq per (b, q head, query block)
  {
    const int64_t Br = pick_block(g.T, BH, kBr);
    const int64_t Bc = 64;
    const int64_t nqb = (g.T + Br - 1) / Br;
    const size_t scratch = size_t(2 * Br * Bc);
    run_tasks(BH * nqb, scratch, [&](int64_t task, float* sc) {
      const int64_t qb = nqb - 1 - task / BH;
      const int64_t bh = task % BH;
      const int64_t b = bh / g.Hq, h = bh % g.Hq;
      const int64_t i0 = qb * Br, br = std::min(Br, g.T - i0);
      float* dQ = dq + (bh * g.T + i0) * g.D;
      std::fill(dQ, dQ + br * g.D, 0.f);
      const int64_t jend = g.key_end(i0, br);
      for (int64_t j0 = 0; j0 < jend; j0 += Bc)
        tile(b, h, i0, br, j0, std::min(Bc, jend - j0), sc, sc + Br * Bc, Bc, nullptr, nullptr, dQ);
    });
  }
  return "";
}

}  // namespace

void register_attention(KernelFn* t) {
  t[OP_SDPA] = k_sdpa;
  t[OP_SDPA_BWD] = k_sdpa_bwd;
}

}  // namespace ET_ISA
}  // namespace et

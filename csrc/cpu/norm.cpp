// rmsNorm / layerNorm over the last dim, with their backwards.
//
// x is contiguous and read as [N, C] (C = last dim, N = every other dim folded); w and b are
// [C] with any stride (the TS side passes a stride-0 view of one element for "no weight").
// Per-row statistics (mean, rstd) are outputs so the backward never recomputes them.
// Weight/bias gradients sum over rows: each of a fixed number of row blocks (independent of the
// thread count) writes its own partial row, and the blocks are then added in block order, so
// results are bit-identical from run to run and across thread counts.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "rows.h"

namespace et {
namespace ET_ISA {
namespace {

constexpr int64_t kMaxRowBlocks = 64;  // partial rows for dw/db: 64 * C floats of scratch

std::string check_vec(const char* op, const char* name, const View& v, int64_t C) {
  if (v.ndim != 1 || v.shape[0] != C)
    return std::string("ShapeError: ") + op + ": " + name + " must have shape [" + std::to_string(C) +
           "] (the last dim of x), got rank " + std::to_string(v.ndim) +
           (v.ndim ? " with length " + std::to_string(v.shape[0]) : std::string());
  return "";
}

// Row statistics in sum_lanes8's order (rows.h).
inline float sum_sq(const float* x, int64_t n) {
  return sum_lanes8(n, [&](int64_t j) { return x[j] * x[j]; });
}
inline float sum_of(const float* x, int64_t n) {
  return sum_lanes8(n, [&](int64_t j) { return x[j]; });
}
inline float sum_sq_dev(const float* x, int64_t n, float mu) {
  return sum_lanes8(n, [&](int64_t j) {
    const float d = x[j] - mu;
    return d * d;
  });
}

// A strided [C] vector as a contiguous array (w/b are tiny next to x; one copy per call).
std::vector<float> gather_vec(const View& v, int64_t C) {
  std::vector<float> out(static_cast<size_t>(C));
  const float* p = v.data<float>();
  const int64_t s = v.strides[0];
  for (int64_t j = 0; j < C; ++j) out[size_t(j)] = p[j * s];
  return out;
}

// Runs body(r0, r1, partial) over row blocks, then adds the partials (nblk x width) in block
// order into out[0..width) per output vector. `nvec` partial vectors of `width` per block.
template <class F>
void blocked_rows(int64_t N, int64_t width, int nvec, float* const* outs, F&& body) {
  const int64_t nblk = std::max<int64_t>(1, std::min<int64_t>(N, kMaxRowBlocks));
  std::vector<float> part(size_t(nblk * nvec * width), 0.f);
  parallel_for(nblk, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t bk = b0; bk < b1; ++bk) {
      const int64_t r0 = N * bk / nblk, r1 = N * (bk + 1) / nblk;
      body(r0, r1, part.data() + bk * nvec * width);
    }
  });
  // fixed-order reduction over blocks, split over columns
  parallel_for(width, 1024, [&](int64_t c0, int64_t c1) {
    for (int v = 0; v < nvec; ++v) {
      float* o = outs[v];
      for (int64_t j = c0; j < c1; ++j) o[j] = 0.f;
      for (int64_t bk = 0; bk < nblk; ++bk) {
        const float* p = part.data() + (bk * nvec + v) * width;
        for (int64_t j = c0; j < c1; ++j) o[j] += p[j];
      }
    }
  });
}

// ---- RMS_NORM: (x [N,C], w [C]) -> (y [N,C], rstd [N]); p0 eps ----
std::string k_rms_norm(const Call& c) {
  const View& x = c.in(0);
  const Rows r = rows_of(x);
  std::string e = check_vec("rmsNorm", "weight", c.in(1), r.C);
  if (!e.empty()) return e;
  const float eps = float(c.p[0]);
  const std::vector<float> w = gather_vec(c.in(1), r.C);
  const float* xp = x.data<float>();
  float* yp = c.out(0).data<float>();
  float* rp = c.out(1).data<float>();
  const int64_t C = r.C;
  parallel_for(r.N, row_grain(C), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* xi = xp + i * C;
      float* yi = yp + i * C;
      const float rs = 1.f / std::sqrt(sum_sq(xi, C) / float(C) + eps);
      rp[i] = rs;
      for (int64_t j = 0; j < C; ++j) yi[j] = xi[j] * rs * w[size_t(j)];
    }
  });
  return "";
}

// ---- RMS_NORM_BWD: (x, w, rstd, dy) -> (dx, dw) ----
// y_j = x_j r w_j with r = (mean(x^2) + eps)^-1/2, so
// dx_j = r w_j dy_j - x_j r^3 / C * sum_k dy_k w_k x_k,   dw_j = sum_rows dy_j x_j r.
std::string k_rms_norm_bwd(const Call& c) {
  const View& x = c.in(0);
  const Rows r = rows_of(x);
  std::string e = check_vec("rmsNormBwd", "weight", c.in(1), r.C);
  if (!e.empty()) return e;
  const std::vector<float> w = gather_vec(c.in(1), r.C);
  const float* xp = x.data<float>();
  const float* rp = c.in(2).data<float>();
  const float* dyp = c.in(3).data<float>();
  float* dxp = c.out(0).data<float>();
  float* dwp = c.out(1).data<float>();
  const int64_t C = r.C;
  float* outs[1] = {dwp};
  blocked_rows(r.N, C, 1, outs, [&](int64_t i0, int64_t i1, float* pdw) {
    std::vector<float> g(static_cast<size_t>(C));
    for (int64_t i = i0; i < i1; ++i) {
      const float* xi = xp + i * C;
      const float* dyi = dyp + i * C;
      float* dxi = dxp + i * C;
      const float rs = rp[i];
      for (int64_t j = 0; j < C; ++j) g[size_t(j)] = dyi[j] * w[size_t(j)];
      const float k = dot(g.data(), xi, C) * rs * rs * rs / float(C);
      for (int64_t j = 0; j < C; ++j) {
        dxi[j] = rs * g[size_t(j)] - k * xi[j];
        pdw[j] += dyi[j] * xi[j] * rs;
      }
    }
  });
  return "";
}

// ---- LAYER_NORM: (x, w, b) -> (y, mean [N], rstd [N]); p0 eps ----
std::string k_layer_norm(const Call& c) {
  const View& x = c.in(0);
  const Rows r = rows_of(x);
  std::string e = check_vec("layerNorm", "weight", c.in(1), r.C);
  if (e.empty()) e = check_vec("layerNorm", "bias", c.in(2), r.C);
  if (!e.empty()) return e;
  const float eps = float(c.p[0]);
  const std::vector<float> w = gather_vec(c.in(1), r.C);
  const std::vector<float> b = gather_vec(c.in(2), r.C);
  const float* xp = x.data<float>();
  float* yp = c.out(0).data<float>();
  float* mp = c.out(1).data<float>();
  float* rp = c.out(2).data<float>();
  const int64_t C = r.C;
  parallel_for(r.N, row_grain(C), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* xi = xp + i * C;
      float* yi = yp + i * C;
      // two passes: variance from deviations, not E[x^2] - E[x]^2 (cancels for large means)
      const float mu = sum_of(xi, C) / float(C);
      const float rs = 1.f / std::sqrt(sum_sq_dev(xi, C, mu) / float(C) + eps);
      mp[i] = mu;
      rp[i] = rs;
      for (int64_t j = 0; j < C; ++j) yi[j] = (xi[j] - mu) * rs * w[size_t(j)] + b[size_t(j)];
    }
  });
  return "";
}

// ---- LAYER_NORM_BWD: (x, w, mean, rstd, dy) -> (dx, dw, db) ----
// xhat = (x - mean) r, g = dy w: dx = r (g - mean(g) - xhat mean(g xhat)), dw = sum dy xhat, db = sum dy.
std::string k_layer_norm_bwd(const Call& c) {
  const View& x = c.in(0);
  const Rows r = rows_of(x);
  std::string e = check_vec("layerNormBwd", "weight", c.in(1), r.C);
  if (!e.empty()) return e;
  const std::vector<float> w = gather_vec(c.in(1), r.C);
  const float* xp = x.data<float>();
  const float* mp = c.in(2).data<float>();
  const float* rp = c.in(3).data<float>();
  const float* dyp = c.in(4).data<float>();
  float* dxp = c.out(0).data<float>();
  float* dwp = c.out(1).data<float>();
  float* dbp = c.out(2).data<float>();
  const int64_t C = r.C;
  float* outs[2] = {dwp, dbp};
  blocked_rows(r.N, C, 2, outs, [&](int64_t i0, int64_t i1, float* part) {
    float* pdw = part;
    float* pdb = part + C;
    std::vector<float> g(static_cast<size_t>(C)), xh(static_cast<size_t>(C));
    for (int64_t i = i0; i < i1; ++i) {
      const float* xi = xp + i * C;
      const float* dyi = dyp + i * C;
      float* dxi = dxp + i * C;
      const float mu = mp[i], rs = rp[i];
      for (int64_t j = 0; j < C; ++j) {
        xh[size_t(j)] = (xi[j] - mu) * rs;
        g[size_t(j)] = dyi[j] * w[size_t(j)];
      }
      const float mg = sum_of(g.data(), C) / float(C);
      const float mgx = dot(g.data(), xh.data(), C) / float(C);
      for (int64_t j = 0; j < C; ++j) {
        dxi[j] = rs * (g[size_t(j)] - mg - xh[size_t(j)] * mgx);
        pdw[j] += dyi[j] * xh[size_t(j)];
        pdb[j] += dyi[j];
      }
    }
  });
  return "";
}

}  // namespace

void register_norm(KernelFn* t) {
  t[OP_RMS_NORM] = k_rms_norm;
  t[OP_RMS_NORM_BWD] = k_rms_norm_bwd;
  t[OP_LAYER_NORM] = k_layer_norm;
  t[OP_LAYER_NORM_BWD] = k_layer_norm_bwd;
}

}  // namespace ET_ISA
}  // namespace et

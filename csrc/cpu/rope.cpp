// Rotary position embedding (ROPE) and its inverse (the backward).
#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <vector>

#include "fastmath.h"
#include "kernels.h"
#include "rows.h"

namespace et {
namespace ET_ISA {
namespace {

// cos/sin of angle(t, i) as a [T, n_rot/2] table. Angles are computed in double (positions in the
// hundred-thousands keep their precision). The last table is cached: every layer's q and k rope,
// and their backwards, use the same positions, so the trig runs once per step, not per call.
struct RopeTable {
  double base = 0, fscale = 0;
  int64_t nrot = 0;
  std::vector<int32_t> pos;
  std::vector<float> cos, sin;
};

std::shared_ptr<const RopeTable> rope_table(double base, int64_t nrot, double fscale, std::vector<int32_t> pos) {
  static std::mutex mu;
  static std::shared_ptr<const RopeTable> last;
  {
    std::lock_guard<std::mutex> lk(mu);
    if (last && last->base == base && last->nrot == nrot && last->fscale == fscale && last->pos == pos) return last;
  }
  auto tab = std::make_shared<RopeTable>();
  const int64_t T = int64_t(pos.size()), half = nrot / 2;
  tab->base = base;
  tab->nrot = nrot;
  tab->fscale = fscale;
  tab->cos.resize(size_t(T * half));
  tab->sin.resize(size_t(T * half));
  std::vector<double> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) inv[size_t(i)] = fscale * std::pow(base, -2.0 * double(i) / double(nrot));
  parallel_for(T, row_grain(half, 2048), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const double p = double(pos[size_t(t)]);
      for (int64_t i = 0; i < half; ++i) {
        const double a = p * inv[size_t(i)];
        tab->cos[size_t(t * half + i)] = float(std::cos(a));
        tab->sin[size_t(t * half + i)] = float(std::sin(a));
      }
    }
  });
  tab->pos = std::move(pos);
  std::lock_guard<std::mutex> lk(mu);
  last = tab;
  return last;
}

// ---- ROPE: x [B,T,H,D] contiguous, pos i32 [T] -> y [B,T,H,D] ----
// p0 base, p1 mode (0 neox: pairs (i, i + n_rot/2); 1 interleaved: pairs (2i, 2i+1)),
// p2 direction (+1 rotate by +angle, -1 by -angle: the inverse, used for the gradient),
// p3 n_rot (even, <= D; dims from n_rot on are copied), p4 freq scale.
// angle(t, i) = pos[t] * freq_scale * base^(-2i / n_rot), i in [0, n_rot/2).
std::string k_rope(const Call& c) {
  const View& x = c.in(0);
  const View& pos = c.in(1);
  const View& y = c.out(0);
  if (x.ndim != 4) return "ShapeError: rope: x must be [B, T, H, D], got rank " + std::to_string(x.ndim);
  if (!x.contiguous()) return "ValueError: rope: x must be contiguous";
  const int64_t B = x.shape[0], T = x.shape[1], H = x.shape[2], D = x.shape[3];
  if (pos.dtype != ET_I32) return "DTypeError: rope: positions must be int32";
  if (pos.ndim != 1 || pos.shape[0] != T)
    return "ShapeError: rope: positions must have shape [" + std::to_string(T) + "] (T of x [B, T, H, D])";
  const double base = c.p[0];
  const int mode = int(c.p[1]);
  const double dir = c.p[2] < 0 ? -1.0 : 1.0;
  const int64_t nrot = int64_t(c.p[3]);
  const double fscale = c.p[4];
  if (nrot < 0 || nrot > D || nrot % 2 != 0)
    return "ValueError: rope: rotary dims " + std::to_string(nrot) + " must be even and <= D = " + std::to_string(D);
  if (mode != 0 && mode != 1) return "ValueError: rope: mode must be 0 (neox) or 1 (interleaved)";
  const int64_t half = nrot / 2;

  const int32_t* pp = pos.data<int32_t>();
  std::vector<int32_t> positions(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) positions[size_t(t)] = pp[t * pos.strides[0]];
  const std::shared_ptr<const RopeTable> tab = rope_table(base, nrot, fscale, std::move(positions));
  const float* cs = tab->cos.data();
  const float* sn = tab->sin.data();
  const float sg = float(dir);  // sin(-a) = -sin(a): the inverse rotation shares the table

  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const int64_t rows = B * T * H;  // one row = one head vector of D
  parallel_for(rows, row_grain(D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t t = (r / H) % T;
      const float* xr = xp + r * D;
      float* yr = yp + r * D;
      const float* cr = cs + t * half;
      const float* sr = sn + t * half;
      if (mode == 0) {
        const float* x1 = xr;
        const float* x2 = xr + half;
        float* y1 = yr;
        float* y2 = yr + half;
        for (int64_t i = 0; i < half; ++i) {
          const float a = x1[i], b = x2[i];
          const float si = sg * sr[i];
          y1[i] = a * cr[i] - b * si;
          y2[i] = a * si + b * cr[i];
        }
      } else {
        for (int64_t i = 0; i < half; ++i) {
          const float a = xr[2 * i], b = xr[2 * i + 1];
          const float si = sg * sr[i];
          yr[2 * i] = a * cr[i] - b * si;
          yr[2 * i + 1] = a * si + b * cr[i];
        }
      }
      for (int64_t j = nrot; j < D; ++j) yr[j] = xr[j];
    }
  });
  return "";
}

}  // namespace

void register_rope(KernelFn* t) {
  t[OP_ROPE] = k_rope;
}

}  // namespace ET_ISA
}  // namespace et

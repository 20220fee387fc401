// dropout on the Philox stream (philox.h): keep element i iff u(word i) >= float(p); out = x *
// (keep ? s : 0) with s = float(1 / (1 - p)) (computed in double); p == 1 gives x * 0 (NaN stays
// NaN, as in PyTorch). The same key gives the same mask, so backward reruns this on dy.
#include <cmath>
#include <cstring>

#include "kernels.h"
#include "philox.h"

namespace et {
namespace ET_ISA {
namespace {

// x (any strides) -> out contiguous of x's shape; p0 key, p1 p.
std::string k_dropout(const Call& c) {
  const View& x = c.in(0);
  const View& y = c.out(0);
  if (x.dtype != ET_F32 || y.dtype != ET_F32)
    return std::string("DTypeError: dropout: expected float32, got ") + dtype_name(x.dtype);
  if (x.numel() != y.numel() || !y.contiguous()) return "ShapeError: dropout: output must be contiguous with x's shape";
  const double p = c.p[1];
  if (!(p >= 0 && p <= 1)) return "ValueError: dropout: p must be in [0, 1], got " + std::to_string(p);
  const Key key = key_of(c.p[0]);
  const float pf = float(p);
  const float scale = p < 1 ? float(1.0 / (1.0 - p)) : 0.f;
  const uint32_t th = uint32_t(std::ceil(double(pf) * 16777216.0));  // keep iff (w >> 8) >= th
  int32_t scale_bits;
  std::memcpy(&scale_bits, &scale, 4);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const bool xc = x.contiguous();
  run_blocks(
      x.numel(),
      [=](uint64_t g, int, float* vals) {  // vals = each element's multiplier
        uint32_t w[4 * kBatch];
        philox_blocks(key, g, w);
        // u >= float(p) as an integer compare (both sides scaled by 2^24, exactly), blended
        // bitwise: a float compare here would stay a scalar branch under -ftrapping-math
        for (int j = 0; j < 4 * kBatch; ++j) {
          const int32_t b = scale_bits & -int32_t((w[j] >> 8) >= th);
          std::memcpy(vals + j, &b, 4);
        }
      },
      [&](int64_t i0, int64_t n, const float* m) {
        if (xc) {
          const float* xi = xp + i0;
          float* yi = yp + i0;
          for (int64_t j = 0; j < n; ++j) yi[j] = xi[j] * m[j];
        } else {
          for_each_strided(x.ndim, x.shape, x.strides, i0, i0 + n,
                           [&](int64_t i, int64_t off) { yp[i] = xp[off] * m[i - i0]; });
        }
      });
  return "";
}

}  // namespace

void register_dropout(KernelFn* t) { t[OP_DROPOUT] = k_dropout; }

}  // namespace ET_ISA
}  // namespace et

// Vulkan host code of rope (kernels/vulkan/rope.comp): the CPU twin's checks (csrc/cpu/rope.cpp),
// and the inverse-frequency powers the shader builds its float-float angles from.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "op_util.h"
#include "vk_backend.h"

namespace et {
namespace vk {

namespace {

// v as float hi + float lo (about 48 bits of v).
void split_double(double v, Meta& mt, int k) {
  const float hi = float(v);
  mt.f(k, hi);
  mt.f(k + 1, float(v - double(hi)));
}

}  // namespace

// x [B, T, H, D] contiguous, pos int32 [T]; p0 base, p1 mode, p2 direction, p3 rotary dims,
// p4 freq scale (the CPU's parameters).
std::string VulkanBackend::exec_rope(const Call& c) {
  const View& x = c.in(0);
  const View& pos = c.in(1);
  const View& y = c.out(0);
  if (x.ndim != 4) return fail(c, kShape, "x must be [B, T, H, D], got rank " + std::to_string(x.ndim));
  if (!x.contiguous()) return fail(c, kValue, "x must be contiguous");
  const int64_t B = x.shape[0], T = x.shape[1], H = x.shape[2], D = x.shape[3];
  if (pos.dtype != ET_I32) return fail(c, kDType, "positions must be int32");
  if (pos.ndim != 1 || pos.shape[0] != T)
    return fail(c, kShape, "positions must have shape [" + std::to_string(T) + "] (T of x [B, T, H, D])");
  const double base = c.p[0];
  const int mode = int(c.p[1]);
  const double dir = c.p[2] < 0 ? -1.0 : 1.0;
  const int64_t nrot = int64_t(c.p[3]);
  const double fscale = c.p[4];
  if (nrot < 0 || nrot > D || nrot % 2 != 0)
    return fail(c, kValue, "rotary dims " + std::to_string(nrot) + " must be even and <= D = " + std::to_string(D));
  if (mode != 0 && mode != 1) return fail(c, kValue, "mode must be 0 (neox) or 1 (interleaved)");
  if (y.numel() != x.numel() || !y.contiguous()) return fail(c, kShape, "y must be contiguous with the shape of x");
  const int64_t half = nrot / 2;
  if (half > 65535) return fail(c, kShape, "too many rotary dims for one dispatch (at most 131070)");
  const int64_t rows = B * T * H;
  if (rows == 0 || D == 0) return "";
  if (rows * D > kI32Max || x.offset + rows * D > kI32Max || y.offset + rows * D > kI32Max ||
      pos.offset > kI32Max || std::llabs(pos.strides[0]) > kI32Max)
    return fail(c, kShape, "too many elements for one dispatch");
  Meta mt;
  mt.m[META_N] = int32_t(rows);
  mt.m[META_I] = int32_t(T);
  mt.m[META_I + 1] = int32_t(H);
  mt.m[META_I + 2] = int32_t(D);
  mt.m[META_I + 3] = int32_t(half);
  mt.m[META_I + 4] = mode;
  mt.f(META_P, float(dir));
  split_double(fscale, mt, META_P + 1);
  // q^(2^k), q = base^(-2 / nrot): the shader multiplies those of i's bits for inv_freq(i)
  for (int k = 0; k < 16 && half > 0; ++k) split_double(std::pow(base, -2.0 * double(1 << k) / double(nrot)), mt, META_ST + 2 * k);
  mt.m[META_X] = int32_t(x.offset);
  mt.m[META_X + 1] = int32_t(pos.offset);
  mt.m[META_X + 2] = int32_t(y.offset);
  mt.m[META_X + 3] = int32_t(pos.strides[0]);
  DeviceBuffer* bufs[3] = {dev(x.buf), dev(pos.buf), dev(y.buf)};
  const int64_t work = rows * (D - half);
  const uint32_t groups = uint32_t(std::min<int64_t>((work + 255) / 256, 65535));
  return run(c, "rope", mt.m, bufs, groups, 1, 1);
}

}  // namespace vk
}  // namespace et

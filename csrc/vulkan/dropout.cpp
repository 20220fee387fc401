// Vulkan host code of dropout (kernels/vulkan/random.comp, RN_DROPOUT): x of any strides ->
// y contiguous, the keep mask from the Philox stream. The twin: csrc/cpu/dropout.cpp.
#include <algorithm>
#include <cmath>

#include "op_util.h"
#include "random_meta.h"
#include "vk_backend.h"

namespace et {
namespace vk {

std::string VulkanBackend::exec_dropout(const Call& c) {
  const View& x = c.in(0);
  const View& y = c.out(0);
  if (x.dtype != ET_F32 || y.dtype != ET_F32)
    return fail(c, kDType, std::string("expected float32, got ") + dtype_name(x.dtype));
  if (x.numel() != y.numel() || !y.contiguous()) return fail(c, kShape, "output must be contiguous with x's shape");
  const double p = c.p[1];
  if (!(p >= 0 && p <= 1)) return fail(c, kValue, "p must be in [0, 1], got " + std::to_string(p));
  const int64_t n = x.numel();
  if (n == 0) return "";
  if (n > kI32Max || y.offset > kI32Max) return fail(c, kShape, "too many elements for one dispatch");
  Meta mt;
  if (!pack_view_dims(x, mt)) return fail(c, kShape, "offsets or strides exceed the 32-bit index range");
  mt.m[META_OP] = kOpShaders[c.op].code;
  mt.m[META_I + 3] = win_ ? int32_t(win_->start[0] / 4) : 0;  // a windowed chunk's first Philox block
  mt.m[META_N] = int32_t(n);
  mt.m[META_OFF + 1] = int32_t(y.offset);
  pack_key(c.p[0], mt);
  const float pf = float(p);
  mt.m[META_I + 2] = int32_t(uint32_t(std::ceil(double(pf) * 16777216.0)));  // keep iff (w >> 8) >= th
  mt.f(META_P + 2, p < 1 ? float(1.0 / (1.0 - p)) : 0.f);
  DeviceBuffer* bufs[2] = {dev(x.buf), dev(y.buf)};
  const uint32_t groups = uint32_t(std::min<int64_t>(((n + 3) / 4 + 255) / 256, 65535));
  return run(c, "random", mt.m, {bufs, 2}, groups, 1, 1);
}

}  // namespace vk
}  // namespace et

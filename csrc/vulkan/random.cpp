// Vulkan host code of the random family (kernels/vulkan/random.comp): randUniform and
// randNormal into a float32 output of any strides. The twin: csrc/cpu/random.cpp.
#include <algorithm>

#include "op_util.h"
#include "random_meta.h"
#include "vk_backend.h"

namespace et {
namespace vk {

std::string VulkanBackend::exec_random(const Call& c) {
  const View& y = c.out(0);
  if (y.dtype != ET_F32) return fail(c, kDType, std::string("output must be float32, got ") + dtype_name(y.dtype));
  const int64_t n = y.numel();
  if (n == 0) return "";
  if (n > kI32Max) return fail(c, kShape, "too many elements for one dispatch");
  Meta mt;
  if (!pack_view_dims(y, mt)) return fail(c, kShape, "offsets or strides exceed the 32-bit index range");
  mt.m[META_OP] = kOpShaders[c.op].code;
  mt.m[META_I + 3] = win_ ? int32_t(win_->start[0] / 4) : 0;  // a windowed chunk's first Philox block
  mt.m[META_N] = int32_t(n);
  pack_key(c.p[0], mt);
  if (c.op == OP_RAND_UNIFORM) {
    mt.f(META_P, float(c.p[1]));
    mt.f(META_P + 1, float(c.p[2] - c.p[1]));
  } else {
    mt.f(META_P, float(c.p[1]));
    mt.f(META_P + 1, float(c.p[2]));
  }
  DeviceBuffer* bufs[1] = {dev(y.buf)};
  const uint32_t groups = uint32_t(std::min<int64_t>(((n + 3) / 4 + 255) / 256, 65535));
  return run(c, "random", mt.m, {bufs, 1}, groups, 1, 1);
}

}  // namespace vk
}  // namespace et

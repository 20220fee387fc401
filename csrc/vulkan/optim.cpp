// Vulkan host code of the optim family (kernels/vulkan/optim.comp): adamw and sgd, in place on
// contiguous float32 tensors (no outputs). The twin: csrc/cpu/optim.cpp (the same scalars,
// computed here in double and rounded to float as there).
#include <algorithm>
#include <cmath>

#include "op_util.h"
#include "vk_backend.h"

namespace et {
namespace vk {

std::string VulkanBackend::exec_optim(const Call& c) {
  static const char* const adamw_names[] = {"param", "grad", "exp_avg", "exp_avg_sq"};
  static const char* const sgd_names[] = {"param", "grad", "momentum_buffer"};
  const bool adamw = c.op == OP_ADAMW;
  const bool momentum = !adamw && c.p[1] != 0;
  const int used = adamw ? 4 : (momentum ? 3 : 2);  // without momentum the buffer is not touched
  const char* const* names = adamw ? adamw_names : sgd_names;
  if (c.n_in < used) return fail(c, kValue, "momentum needs a momentum_buffer");
  const int64_t n = c.in(0).numel();
  Meta mt;
  DeviceBuffer* bufs[4] = {};
  for (int i = 0; i < 4; ++i) {
    if (i >= used) {
      bufs[i] = nullptr;  // the dummy buffer
      continue;
    }
    const View& v = c.in(i);
    if (v.dtype != ET_F32) return fail(c, kDType, std::string(names[i]) + " must be float32, got " + dtype_name(v.dtype));
    if (!v.contiguous()) return fail(c, kShape, std::string(names[i]) + " must be contiguous");
    if (v.numel() != n)
      return fail(c, kShape, std::string(names[i]) + " has " + std::to_string(v.numel()) + " elements, param has " + std::to_string(n));
    if (v.offset > kI32Max) return fail(c, kShape, "offsets exceed the 32-bit index range");
    mt.m[META_X + i] = int32_t(v.offset);
    bufs[i] = dev(v.buf);
  }
  if (adamw && !(c.p[5] >= 1)) return fail(c, kValue, "step must be >= 1, got " + std::to_string(c.p[5]));
  if (n == 0) return "";
  if (n > kI32Max) return fail(c, kShape, "too many elements for one dispatch");
  mt.m[META_OP] = kOpShaders[c.op].code;
  mt.m[META_N] = int32_t(n);
  if (adamw) {
    const double lr = c.p[0], b1 = c.p[1], b2 = c.p[2], step = c.p[5];
    mt.f(META_P, float(1.0 - lr * c.p[4]));
    mt.f(META_P + 1, float(lr / (1.0 - std::pow(b1, step))));
    mt.f(META_P + 2, float(std::sqrt(1.0 - std::pow(b2, step))));
    mt.f(META_P + 3, float(c.p[3]));
    mt.f(META_I, float(b1));
    mt.f(META_I + 1, float(b2));
    mt.f(META_I + 2, float(1.0 - b1));
    mt.f(META_I + 3, float(1.0 - b2));
    mt.f(META_I + 4, float(c.p[6]));
  } else {
    mt.f(META_P, float(c.p[0]));
    mt.f(META_P + 1, float(c.p[1]));
    mt.f(META_P + 2, float(1.0 - c.p[2]));
    mt.f(META_P + 3, float(c.p[3]));
    mt.f(META_I, float(c.p[6]));
    const bool wd = c.p[3] != 0, nesterov = momentum && c.p[4] != 0, first = momentum && c.p[5] != 0;
    mt.m[META_I + 1] = int(wd) | int(momentum) << 1 | int(nesterov) << 2 | int(first) << 3;
  }
  const uint32_t groups = uint32_t(std::min<int64_t>((n + 255) / 256, 65535));
  return run(c, "optim", mt.m, {bufs, 4}, groups, 1, 1);
}

}  // namespace vk
}  // namespace et

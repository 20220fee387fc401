// Vulkan host code of the swiglu family (kernels/vulkan/swiglu.comp): swiglu (a, b -> y) and
// swigluBwd (a, b, dy -> da, db), one dispatch each with a storage binding per argument. The
// twins: csrc/cpu/swiglu.cpp (the same math) and lib/ops/swiglu.ts (the op and its gradient).
#include <algorithm>
#include <string>

#include "../../kernels/vulkan/meta.h"
#include "op_table.h"
#include "vk_backend.h"

namespace et {
namespace vk {

// Every argument float32 (the schema), contiguous, with out(0)'s element count.
std::string VulkanBackend::exec_swiglu(const Call& c) {
  const int args = c.n_in + c.n_out;
  const int64_t n = c.out(0).numel();
  int32_t meta[META_INTS] = {};
  DeviceBuffer* bufs[kMaxArgs];
  for (int i = 0; i < args; ++i) {
    const View& v = c.t[i];
    if (v.numel() != n || !v.contiguous())
      return std::string("ShapeError: ") + op_name(c.op) + ": operands must be contiguous with " + std::to_string(n) +
             " elements (vulkan: " + call_signature(c) + ")";
    meta[META_X + i] = int32_t(v.offset);  // buffers hold fewer than 2^31 elements (kMaxBufferCap)
    bufs[i] = dev(v.buf);
  }
  if (n == 0) return "";
  meta[META_OP] = kOpShaders[c.op].code;
  meta[META_N] = int32_t(n);
  const uint32_t groups = uint32_t(std::min<int64_t>((n + 255) / 256, 65535));
  return run(c, "swiglu", meta, {bufs, uint32_t(args)}, groups, 1, 1);
}

}  // namespace vk
}  // namespace et

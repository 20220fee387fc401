// Vulkan host code of the softmax family (kernels/vulkan/softmax.comp): softmax, logSoftmax and
// their backwards, one dispatch each, one workgroup per row. The twins: csrc/cpu/softmax.cpp
// (the same math and checks) and lib/ops for the gradients.
#include <algorithm>

#include "op_util.h"
#include "row_layout.h"
#include "vk_backend.h"

namespace et {
namespace vk {

// Forward (x -> y) or backward (y, dy -> dx); every argument float32 (the schema) as [N, C] rows.
std::string VulkanBackend::exec_softmax(const Call& c) {
  const int args = c.n_in + c.n_out;
  static const char* const fwd_names[] = {"x", "out"};
  static const char* const bwd_names[] = {"y", "dy", "dx"};
  const char* const* names = args == 2 ? fwd_names : bwd_names;
  RowLayout r[3];
  Meta mt;
  DeviceBuffer* bufs[3] = {};
  for (int i = 0; i < args; ++i) {
    std::string e = row_layout(c.t[i], names[i], &r[i]);
    if (!e.empty()) return fail(c, kShape, e);
    if (i > 0 && (r[i].N != r[0].N || r[i].C != r[0].C))
      return fail(c, kShape, "operands are [" + std::to_string(r[0].N) + ", " + std::to_string(r[0].C) + "] and [" +
                                 std::to_string(r[i].N) + ", " + std::to_string(r[i].C) + "] rows");
    if (!fits_i32(c.t[i].offset, r[i].N, r[i].rs, r[i].C)) return fail(c, kShape, "operands exceed 2^31 elements");
    mt.m[META_X + i] = int32_t(c.t[i].offset);
    mt.m[META_X + 4 + i] = int32_t(r[i].rs);
    bufs[i] = dev(c.t[i].buf);
  }
  if (r[0].N == 0 || r[0].C == 0) return "";
  mt.m[META_OP] = kOpShaders[c.op].code;
  mt.m[META_N] = int32_t(r[0].N);
  mt.m[META_I] = int32_t(r[0].C);
  const uint32_t groups = uint32_t(std::min<int64_t>(r[0].N, 65535));
  return run(c, ctx_->subgroup_arith ? "softmax_subgroup" : "softmax", mt.m, {bufs, uint32_t(args)}, groups, 1, 1);
}

}  // namespace vk
}  // namespace et

// Vulkan host code of the cross_entropy family (kernels/vulkan/cross_entropy.comp):
// crossEntropy (logits, target -> loss, lse) and crossEntropyBwd (logits, target, lse, dloss ->
// dlogits). The targets are checked on the device first (index_check.comp, kernel_error.h): a
// target outside [0, C) other than the ignore index is the CPU twin's IndexError, surfacing at
// the next read or sync. The twin: csrc/cpu/softmax.cpp (the same math and checks).
#include <algorithm>

#include "op_util.h"
#include "row_layout.h"
#include "vk_backend.h"

namespace et {
namespace vk {

std::string VulkanBackend::exec_cross_entropy(const Call& c) {
  const bool bwd = c.op == OP_CROSS_ENTROPY_BWD;
  RowLayout x, dx;
  std::string e = row_layout(c.in(0), "logits", &x);
  if (e.empty() && bwd) {
    e = row_layout(c.out(0), "dlogits", &dx);
    if (e.empty() && (dx.N != x.N || dx.C != x.C))
      e = "operands are [" + std::to_string(x.N) + ", " + std::to_string(x.C) + "] and [" + std::to_string(dx.N) + ", " +
          std::to_string(dx.C) + "] rows";
  }
  if (!e.empty()) return fail(c, kShape, e);
  // the length-N vectors: target, then loss and lse (forward) or lse and dloss (backward)
  const View* vecs[3] = {&c.in(1), bwd ? &c.in(2) : &c.out(0), bwd ? &c.in(3) : &c.out(1)};
  static const char* const fwd_names[] = {"target", "loss", "lse"};
  static const char* const bwd_names[] = {"target", "lse", "dloss"};
  const char* const* names = bwd ? bwd_names : fwd_names;
  Meta mt;
  int64_t st[3];
  for (int i = 0; i < 3; ++i) {
    const View& v = *vecs[i];
    const int want = i == 0 ? ET_I32 : ET_F32;
    if (v.dtype != want)
      return fail(c, kDType, std::string(names[i]) + " must be " + dtype_name(want) + ", got " + dtype_name(v.dtype));
    st[i] = vec_stride(v, x.N);
    if (st[i] < 0)
      return fail(c, kShape, std::string(names[i]) + " must be a vector of " + std::to_string(x.N) +
                                 " elements (one per row), got " + std::to_string(v.numel()));
    if (!fits_i32(v.offset, x.N, st[i], 1)) return fail(c, kShape, "operands exceed 2^31 elements");
    mt.m[META_X + 1 + i] = int32_t(v.offset);
    mt.m[META_X + 9 + i] = int32_t(st[i]);
  }
  if (!fits_i32(c.in(0).offset, x.N, x.rs, x.C) || (bwd && !fits_i32(c.out(0).offset, dx.N, dx.rs, dx.C)))
    return fail(c, kShape, "operands exceed 2^31 elements");
  if (x.N == 0) return "";
  const int32_t ignore = int32_t(c.p[0]);
  e = check_indices(c, c.in(1), st[0], x.C, true, &ignore);
  if (!e.empty()) return e;
  mt.m[META_OP] = kOpShaders[c.op].code;
  mt.m[META_N] = int32_t(x.N);
  mt.m[META_I] = int32_t(x.C);
  mt.m[META_I + 1] = ignore;
  mt.m[META_X] = int32_t(c.in(0).offset);
  mt.m[META_X + 8] = int32_t(x.rs);
  DeviceBuffer* bufs[5] = {dev(c.in(0).buf), dev(vecs[0]->buf), dev(vecs[1]->buf), dev(vecs[2]->buf), nullptr};
  if (bwd) {
    mt.m[META_X + 4] = int32_t(c.out(0).offset);
    mt.m[META_X + 12] = int32_t(dx.rs);
    bufs[4] = dev(c.out(0).buf);
  }
  const uint32_t groups = uint32_t(std::min<int64_t>(x.N, 65535));
  return run(c, ctx_->subgroup_arith ? "cross_entropy_subgroup" : "cross_entropy", mt.m, {bufs, bwd ? 5u : 4u}, groups, 1, 1);
}

}  // namespace vk
}  // namespace et

// Vulkan host code of the norm family (kernels/vulkan/norm.comp): rmsNorm, layerNorm and their
// backwards. x is read as [N, C] (C = last dim); one workgroup per row computes the row's
// statistics with shared-memory sums; the backwards then run a second dispatch (the columns
// pass) that sums dw/db over rows in the CPU's fixed block order. The twins: csrc/cpu/norm.cpp
// (the same math and error checks) and lib/ops/norm.ts.
#include <cstdlib>
#include <string>

#include "op_util.h"
#include "vk_backend.h"

namespace et {
namespace vk {

namespace {

// The CPU's check of w / b: [C] (any stride).
std::string check_vec(const Call& c, const char* name, const View& v, int64_t C) {
  if (v.ndim != 1 || v.shape[0] != C)
    return fail(c, kShape,
                std::string(name) + " must have shape [" + std::to_string(C) + "] (the last dim of x), got rank " +
                    std::to_string(v.ndim) + (v.ndim ? " with length " + std::to_string(v.shape[0]) : std::string()));
  return "";
}

// Element stride of a 1-D argument of n elements (a contiguous view of any rank counts as 1-D);
// -1 if it is neither.
int64_t vec_stride(const View& v, int64_t n) {
  if (v.numel() != n) return -1;
  if (v.ndim == 1) return v.strides[0];
  return v.contiguous() ? 1 : -1;
}

}  // namespace

std::string VulkanBackend::exec_norm(const Call& c) {
  const View& x = c.in(0);
  const int64_t C = x.ndim ? x.shape[x.ndim - 1] : 1;
  int64_t N = 1;  // every dim but the last (C = 0 still has N rows: their statistics are NaN, as on CPU)
  for (int d = 0; d + 1 < x.ndim; ++d) N *= x.shape[d];
  const bool bwd = c.op == OP_RMS_NORM_BWD || c.op == OP_LAYER_NORM_BWD;
  std::string e = check_vec(c, "weight", c.in(1), C);
  if (e.empty() && c.op == OP_LAYER_NORM) e = check_vec(c, "bias", c.in(2), C);
  if (!e.empty()) return e;

  if (N > kI32Max || N * C > kI32Max) return fail(c, kShape, "too many elements for one dispatch");

  // Each argument's role: 'r' a contiguous [N, C] row tensor, 'n' a vector of N, 'c' one of C.
  const char* roles = c.op == OP_RMS_NORM        ? "rcrn"
                      : c.op == OP_RMS_NORM_BWD  ? "rcnrrc"
                      : c.op == OP_LAYER_NORM    ? "rccrnn"
                                                 : "rcnnrrcc";
  const int args = c.n_in + c.n_out;
  Meta mt;
  DeviceBuffer* bufs[kMaxArgs];
  for (int i = 0; i < args; ++i) {
    const View& v = c.t[i];
    int64_t stride = 1;
    if (roles[i] == 'r') {
      if (v.numel() != N * C) return fail(c, kShape, "argument " + std::to_string(i) + " must have the shape of x");
      if (!v.contiguous()) return fail(c, kValue, "argument " + std::to_string(i) + " must be contiguous");
    } else {
      const int64_t n = roles[i] == 'n' ? N : C;
      stride = vec_stride(v, n);
      if (stride < 0)
        return fail(c, kShape, "argument " + std::to_string(i) + " must be a vector of " + std::to_string(n));
    }
    if (v.offset > kI32Max || std::llabs(stride) > kI32Max) return fail(c, kShape, "offsets exceed the 32-bit index range");
    const int64_t last = roles[i] == 'r' ? N * C : std::llabs(stride) * ((roles[i] == 'n' ? N : C) - 1);
    if (v.offset + last > kI32Max) return fail(c, kShape, "too many elements for one dispatch");
    mt.m[META_X + i] = int32_t(v.offset);
    mt.m[META_X + 8 + i] = int32_t(stride);
    bufs[i] = dev(v.buf);
  }
  mt.m[META_OP] = kOpShaders[c.op].code;
  mt.m[META_N] = int32_t(N);
  mt.m[META_I] = int32_t(C);
  mt.f(META_P, float(bwd ? 0.0 : c.p[0]));
  uint32_t gx, gy;
  if (N > 0) {
    mt.m[META_MODE] = 0;
    grid_1d(N, 1, &gx, &gy);
    e = run(c, ctx_->subgroup_arith ? "norm_subgroup" : "norm", mt.m, {bufs, uint32_t(args)}, gx, gy, 1);
    if (!e.empty()) return e;
  }
  if (!bwd || C == 0) return "";
  mt.m[META_MODE] = 1;  // dw (and db): zero when N == 0, as the CPU's empty block sum
  grid_1d(C, 16, &gx, &gy);
  return run(c, "norm", mt.m, {bufs, uint32_t(args)}, gx, gy, 1);
}

}  // namespace vk
}  // namespace et

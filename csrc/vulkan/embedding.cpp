// Vulkan host code of the embedding family (kernels/vulkan/embedding.comp): embedding (a table
// of any dtype, rows gathered as raw bits) and embeddingBwd (the deterministic scatter-add).
// The ids are checked on the device first (index_check.comp, kernel_error.h): one outside
// [0, V) is the CPU twin's IndexError, surfacing at the next read or sync.
// The twin: csrc/cpu/embedding.cpp (the same checks and messages, the same summation order).
#include <algorithm>

#include "op_util.h"
#include "row_layout.h"
#include "vk_backend.h"

namespace et {
namespace vk {

namespace {

constexpr int kEmZero = 0, kEmAdd = 1;  // embedding.comp META_MODE of the backward passes

int64_t ids_stride(const View& v) {
  if (v.contiguous()) return 1;
  if (v.ndim == 1) return v.strides[0];
  return -1;
}

// Row stride of a [rows, D] matrix with unit stride along D; -1 otherwise.
int64_t row_stride(const View& v, int64_t D) {
  if (v.contiguous()) return D;
  if (v.ndim == 2 && (v.strides[1] == 1 || v.shape[1] <= 1)) return v.strides[0];
  return -1;
}

}  // namespace

std::string VulkanBackend::exec_embedding(const Call& c) {
  const bool bwd = c.op == OP_EMBEDDING_BWD;
  const View& idx = c.in(1);
  if (idx.dtype != ET_I32) return fail(c, kDType, std::string("indices must be int32, got ") + dtype_name(idx.dtype));
  const int64_t is = ids_stride(idx);
  if (is < 0) return fail(c, kShape, "indices must be contiguous or 1-D");
  const int64_t N = idx.numel();
  if (!fits_i32(idx.offset, N, is, 1)) return fail(c, kShape, "operands exceed 2^31 elements");
  Meta mt;
  mt.m[META_X + 2] = int32_t(idx.offset);
  mt.m[META_X + 3] = int32_t(is);
  mt.m[META_N] = int32_t(N);
  mt.m[META_OP] = kOpShaders[c.op].code;
  // a windowed chunk (window.cpp) holds vocabulary rows [vbase, vbase + V) of Vall; its ids are
  // checked against Vall once, by the chunk at vbase 0
  const int64_t vbase = win_ ? win_->start[0] : 0;
  const int64_t Vall = win_ ? win_->orig->t[bwd ? 2 : 0].shape[0] : -1;
  mt.m[META_I + 4] = int32_t(vbase);
  mt.m[META_I + 5] = win_ ? 1 : 0;
  if (!bwd) {
    const View& w = c.in(0);
    const View& y = c.out(0);
    if (w.ndim != 2) return fail(c, kShape, "weight must be [V, D], got rank " + std::to_string(w.ndim));
    const int64_t V = w.shape[0], D = w.shape[1];
    const int64_t ws = row_stride(w, D);
    if (ws < 0) return fail(c, kShape, "weight rows must be contiguous");
    if (y.dtype != w.dtype) return fail(c, kDType, "output dtype differs from weight's");
    if (y.numel() != N * D || !y.contiguous())
      return fail(c, kShape, "output must be contiguous [" + std::to_string(N) + ", " + std::to_string(D) + "]");
    if (!fits_i32(w.offset, V, ws, D) || !fits_i32(y.offset, N, D, D) || V > kI32Max)
      return fail(c, kShape, "operands exceed 2^31 elements");
    std::string e = vbase ? "" : check_indices(c, idx, is, win_ ? Vall : V, false, nullptr);
    if (!e.empty() || N * D == 0) return e;
    const int es = dtype_size(w.dtype);
    // 4-byte elements: one invocation each; narrower: one per 32-bit word of y's bytes
    const int64_t first = y.offset * es / 4, end = ((y.offset + N * D) * es + 3) / 4;
    const int64_t work = es == 4 ? N * D : end - first;
    mt.m[META_I] = int32_t(D);
    mt.m[META_I + 1] = int32_t(V);
    mt.m[META_I + 2] = es;
    mt.m[META_I + 3] = int32_t(work);
    mt.m[META_X] = int32_t(w.offset);
    mt.m[META_X + 1] = int32_t(ws);
    mt.m[META_X + 4] = int32_t(y.offset);
    uint32_t gx, gy;
    grid_1d(work, 256, &gx, &gy);
    DeviceBuffer* bufs[3] = {dev(w.buf), dev(idx.buf), dev(y.buf)};
    return run(c, "embedding", mt.m, bufs, gx, gy, 1);
  }
  // (dy [N, D], idx [N]) -> dweight [V, D]
  const View& dy = c.in(0);
  const View& dw = c.out(0);
  if (dw.ndim != 2 || !dw.contiguous()) return fail(c, kShape, "dweight must be contiguous [V, D]");
  if (dy.dtype != ET_F32 || dw.dtype != ET_F32) return fail(c, kDType, "expected float32 gradients");
  const int64_t V = dw.shape[0], D = dw.shape[1];
  const int64_t gs = row_stride(dy, D);
  if (dy.numel() != N * D || gs < 0)
    return fail(c, kShape, "dy must be [" + std::to_string(N) + ", " + std::to_string(D) + "] with contiguous rows");
  if (!fits_i32(dw.offset, V, D, D) || !fits_i32(dy.offset, N, gs, D)) return fail(c, kShape, "operands exceed 2^31 elements");
  std::string e = vbase ? "" : check_indices(c, idx, is, win_ ? Vall : V, false, nullptr);
  if (!e.empty() || V * D == 0) return e;
  mt.m[META_I] = int32_t(D);
  mt.m[META_I + 1] = int32_t(V);
  mt.m[META_X] = int32_t(dy.offset);
  mt.m[META_X + 1] = int32_t(gs);
  mt.m[META_X + 4] = int32_t(dw.offset);
  DeviceBuffer* bufs[3] = {dev(dy.buf), dev(idx.buf), dev(dw.buf)};
  uint32_t gx, gy;
  mt.m[META_MODE] = kEmZero;
  mt.m[META_I + 3] = int32_t(V * D);
  grid_1d(V * D, 256, &gx, &gy);
  e = run(c, "embedding", mt.m, bufs, gx, gy, 1);
  if (!e.empty() || N == 0) return e;
  // EM_ADD: (vocab range, column) invocations, about 16K of them (each walks all N ids)
  const int64_t nvoc = std::min<int64_t>(V, std::max<int64_t>(1, (16384 + D - 1) / D));
  const int64_t vb = (V + nvoc - 1) / nvoc;
  const int64_t work = ((V + vb - 1) / vb) * D;
  mt.m[META_MODE] = kEmAdd;
  mt.m[META_I + 2] = int32_t(vb);
  mt.m[META_I + 3] = int32_t(work);
  grid_1d(work, 256, &gx, &gy);
  return run(c, "embedding", mt.m, bufs, gx, gy, 1);
}

}  // namespace vk
}  // namespace et

// Vulkan host code of the quant family: dequantize (kernels/vulkan/dequantize.comp) and matmulQ
// (kernels/vulkan/matmul_q.comp), over the block decoders of kernels/vulkan/quant.glsl. The
// twins: csrc/cpu/quant.cpp (the checks, the math, which calls take the 8-bit decode path) and
// csrc/cpu/quant_dot.cpp (that path's rounding of x).
#include <algorithm>
#include <string>

#include "../../kernels/vulkan/meta.h"
#include "../quant_types.h"
#include "op_util.h"
#include "vk_backend.h"

namespace et {
namespace vk {

namespace {

// The weight view: uint8 [N, rowBytes] contiguous with rowBytes = K / block * bytes, as
// csrc/cpu/quant.cpp check_weight, with its error classes and messages.
std::string check_weight(const Call& c, const View& w, int type, int64_t K, int64_t N) {
  const QInfo q = qinfo(type);
  if (q.block == 0) return fail(c, kDType, "ggml type " + std::to_string(type) + " is not a supported block format");
  if (w.dtype != ET_U8 || w.ndim != 2) return fail(c, kDType, "the weight must be uint8 [rows, bytes per row]");
  if (K % q.block != 0) return fail(c, kShape, "K " + std::to_string(K) + " is not a multiple of the block size " + std::to_string(q.block));
  const int64_t rowBytes = K / q.block * q.bytes;
  if (w.shape[0] != N || w.shape[1] != rowBytes || w.strides[1] != 1 || w.strides[0] != rowBytes)
    return fail(c, kShape, "weight is [" + std::to_string(w.shape[0]) + ", " + std::to_string(w.shape[1]) + "], expected contiguous [" + std::to_string(N) + ", " +
                               std::to_string(rowBytes) + "]");
  if (w.offset + N * rowBytes > kI32Max) return fail(c, kShape, "the weight's bytes do not fit int32 offsets");
  return "";
}

// The types csrc/cpu/quant_dot.h's has_dot_q8 names on AVX2 and NEON builds.
bool has_dot_q8(int type) { return type == Q8_0 || type == Q4_0 || type == Q4_K || type == Q5_K || type == Q6_K || type == NF4 || type == NF4_DQ; }

}  // namespace

std::string VulkanBackend::exec_quant(const Call& c) {
  const int type = int(c.p[0]);
  const int64_t K = int64_t(c.p[1]);
  if (c.op == OP_DEQUANTIZE) {
    const View& w = c.in(0);
    const View& y = c.out(0);
    const int64_t N = w.ndim == 2 ? w.shape[0] : -1;
    std::string err = check_weight(c, w, type, K, N);
    if (!err.empty()) return err;
    if (y.dtype != ET_F32 || y.ndim != 2 || y.shape[0] != N || y.shape[1] != K || !y.contiguous()) return fail(c, kShape, "output must be f32 [N, K]");
    if (y.offset + N * K > kI32Max) return fail(c, kShape, "the output does not fit int32 offsets");
    if (N == 0) return "";
    Meta m;
    m.m[META_OP] = kOpShaders[c.op].code;
    m.m[META_I] = type;
    m.m[META_I + 1] = int32_t(K);
    m.m[META_I + 2] = int32_t(N);
    m.m[META_X] = int32_t(w.offset);
    m.m[META_X + 1] = int32_t(y.offset);
    DeviceBuffer* bufs[2] = {dev(w.buf), dev(y.buf)};
    uint32_t gx, gy;
    grid_1d(N * K / 8, 256, &gx, &gy);
    return run(c, ("dequantize#" + std::to_string(type)).c_str(), m.m, {bufs, 2}, gx, gy, 1);
  }
  // matmulQ (x, w) -> y; p2 transpose, p3 int8 activations
  const View& x = c.in(0);
  const View& w = c.in(1);
  const View& y = c.out(0);
  const int mode = int(c.p[2]);
  const int64_t N = w.ndim == 2 ? w.shape[0] : -1;
  std::string err = check_weight(c, w, type, K, N);
  if (!err.empty()) return err;
  if (x.dtype != ET_F32 || x.ndim != 2 || x.strides[1] != 1) return fail(c, kDType, "x must be f32 [M, K] with unit last stride");
  const int64_t M = x.shape[0];
  const int64_t Kin = mode == 0 ? K : N;
  const int64_t Kout = mode == 0 ? N : K;
  if (x.shape[1] != Kin)
    return fail(c, kShape, "x is [" + std::to_string(M) + ", " + std::to_string(x.shape[1]) + "] but the weight needs " + std::to_string(Kin) + " columns");
  if (y.dtype != ET_F32 || y.ndim != 2 || y.shape[0] != M || y.shape[1] != Kout || y.strides[1] != 1) return fail(c, kShape, "output shape");
  const int64_t lda = M > 1 ? x.strides[0] : Kin, ldy = M > 1 ? y.strides[0] : Kout;
  if (x.offset + (M - 1) * lda + Kin > kI32Max || y.offset + (M - 1) * ldy + Kout > kI32Max || lda > kI32Max || ldy > kI32Max)
    return fail(c, kShape, "x or the output does not fit int32 offsets");
  if (M == 0 || Kout == 0) return "";
  // as csrc/cpu/quant.cpp: the forward on one to four rows rounds x to 8 bits when asked
  const int64_t Mall = win_ ? win_->orig->in(0).shape[0] : M;  // a windowed chunk (window.cpp) decides as the call
  const bool i8 = mode == 0 && Mall <= 4 && int(c.p[3]) == 1 && has_dot_q8(type);
  const int tm = M <= 4 ? 4 : M <= 16 ? 16 : 32;
  Meta m;
  m.m[META_OP] = kOpShaders[c.op].code;
  m.m[META_I] = type;
  m.m[META_I + 1] = int32_t(K);
  m.m[META_I + 2] = int32_t(N);
  m.m[META_I + 3] = int32_t(M);
  m.m[META_I + 4] = mode == 0 ? 0 : 1;
  m.m[META_I + 5] = i8 ? 1 : 0;
  m.m[META_I + 6] = tm;
  m.m[META_I + 7] = int32_t(lda);
  m.m[META_X] = int32_t(x.offset);
  m.m[META_X + 1] = int32_t(w.offset);
  m.m[META_X + 2] = int32_t(y.offset);
  m.m[META_X + 3] = int32_t(ldy);
  DeviceBuffer* bufs[3] = {dev(x.buf), dev(w.buf), dev(y.buf)};
  if (mode == 0 && M <= 4) {
    // decode: 8 weight rows a workgroup, x read directly or, 8-bit, rounded once into shared memory (matmul_qv.comp)
    uint32_t gx, gy;
    grid_1d((N + 7) / 8, 1, &gx, &gy);
    return run(c, ((i8 && ctx_->int8_dot ? "matmul_qv_int8dot#" : "matmul_qv#") + std::to_string(type)).c_str(), m.m,
               {bufs, 3}, gx, gy, 1);
  }
  const uint32_t gx = uint32_t(std::min<int64_t>((Kout + 63) / 64, 65535));
  const uint32_t gy = uint32_t(std::min<int64_t>((M + tm - 1) / tm, 65535));
  return run(c, ("matmul_q#" + std::to_string(type)).c_str(), m.m, {bufs, 3}, gx, gy, 1);
}

}  // namespace vk
}  // namespace et

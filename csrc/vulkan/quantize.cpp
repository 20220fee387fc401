// Vulkan host code of quantize: x f32 [N, K] contiguous -> w u8 [N, K / block * bytes], one
// dispatch with one invocation per block, by kernels/vulkan/quantize.comp (Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1, NF4, NF4_DQ) or quantize_k.comp (Q4_K, Q5_K, Q6_K: 16 blocks a group). The twin:
// csrc/cpu/quantize.cpp (the same algorithms, byte for byte, and the same checks).
#include <string>

#include "../quant_types.h"
#include "op_util.h"
#include "vk_backend.h"

namespace et {
namespace vk {

std::string VulkanBackend::exec_quantize(const Call& c) {
  const View& x = c.in(0);
  const View& w = c.out(0);
  const int type = int(c.p[0]);
  const QInfo q = qinfo(type);
  if (q.block == 0) return fail(c, kDType, "type " + std::to_string(type) + " is not a supported block format");
  if (x.dtype != ET_F32 || x.ndim != 2 || x.strides[1] != 1 || x.strides[0] != x.shape[1])
    return fail(c, kDType, "x must be contiguous f32 [N, K]");
  const int64_t N = x.shape[0], K = x.shape[1];
  if (K % q.block != 0)
    return fail(c, kShape, "K " + std::to_string(K) + " is not a multiple of the block size " + std::to_string(q.block));
  const int64_t per = K / q.block;
  if (w.dtype != ET_U8 || w.ndim != 2 || w.shape[0] != N || w.shape[1] != per * q.bytes)
    return fail(c, kShape, "output must be uint8 [N, K / block * bytes]");
  const int64_t blocks = N * per;
  // as the CPU twin, w's bytes are written densely from its offset
  if (x.offset + N * K > kI32Max || w.offset + blocks * q.bytes > kI32Max)
    return fail(c, kShape, "tensors of 2^31 or more elements are not supported");
  if (blocks == 0) return "";
  Meta m;
  m.m[META_OP] = kOpShaders[c.op].code;
  m.m[META_N] = int32_t(blocks);
  m.m[META_I + 0] = type;
  m.m[META_I + 1] = q.block;
  m.m[META_I + 2] = q.bytes;
  m.m[META_X + 0] = int32_t(x.offset);
  m.m[META_X + 1] = int32_t(w.offset);
  DeviceBuffer* bufs[2] = {dev(x.buf), dev(w.buf)};
  const bool k = type == Q4_K || type == Q5_K || type == Q6_K;
  uint32_t gx, gy;
  grid_1d(blocks, k ? 16 : 64, &gx, &gy);  // the shaders' local sizes
  return run(c, k ? "quantize_k" : "quantize", m.m, {bufs, 2}, gx, gy, 1);
}

}  // namespace vk
}  // namespace et

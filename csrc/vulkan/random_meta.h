// Meta packing shared by the hosts of kernels/vulkan/random.comp (random.cpp, dropout.cpp).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "op_util.h"

namespace et {
namespace vk {

// One view's dims (size-1 dims dropped, contiguous runs merged) into META_NDIM, META_SHAPE and
// META_ST + d, its offset into META_OFF; false if a size, stride or offset exceeds int32.
inline bool pack_view_dims(const View& v, Meta& mt) {
  int64_t shape[kMaxDims], st[kMaxDims];
  int nd = 0;
  for (int d = 0; d < v.ndim; ++d) {
    if (v.shape[d] == 1) continue;
    if (nd > 0 && st[nd - 1] == v.strides[d] * v.shape[d]) {
      shape[nd - 1] *= v.shape[d];
      st[nd - 1] = v.strides[d];
      continue;
    }
    shape[nd] = v.shape[d];
    st[nd] = v.strides[d];
    nd++;
  }
  if (v.offset > kI32Max) return false;
  mt.m[META_OFF] = int32_t(v.offset);
  mt.m[META_NDIM] = nd;
  for (int d = 0; d < nd; ++d) {
    if (shape[d] > kI32Max || std::llabs(st[d]) > kI32Max) return false;
    mt.m[META_SHAPE + d] = int32_t(shape[d]);
    mt.m[META_ST + d] = int32_t(st[d]);
  }
  return true;
}

// The Philox key of a seed parameter (csrc/cpu/philox.h key_of) into META_I + 0/1.
inline void pack_key(double p, Meta& mt) {
  const uint64_t k = p > 0 ? uint64_t(p) : 0;
  mt.m[META_I] = int32_t(uint32_t(k));
  mt.m[META_I + 1] = int32_t(uint32_t(k >> 32));
}

}  // namespace vk
}  // namespace et

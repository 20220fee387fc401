// Windowed binding (window.cpp): a storage-buffer descriptor spans at most maxStorageBufferRange
// bytes (128 MiB on lavapipe and many Adreno/Mali drivers; EDGETRAIN_VULKAN_MAX_BUFFER lowers it),
// while a tensor buffer may be as large as one allocation. A call that meets such a buffer is cut
// into sub-calls over a split plan (per level, which dim of each argument is cut), each sub-call's
// views narrowed so that every buffer is touched only inside one window; the window's byte offset
// (aligned to minStorageBufferOffsetAlignment) is bound and the views' element offsets are rebased
// onto it, so the op's host code runs unchanged on the sub-call.
#pragma once
#include <cstdint>
#include <cstdlib>

#include "../backend.h"

namespace et {
namespace vk {

// The bytes [lo, hi) a view reaches in its buffer (empty views reach none).
struct ByteExtent {
  int64_t lo = 0, hi = 0;
  bool empty = true;
};

inline ByteExtent view_extent(const View& v) {
  ByteExtent e;
  if (!v.buf || v.numel() == 0) return e;
  int64_t lo = v.offset, hi = v.offset;
  for (int d = 0; d < v.ndim; ++d) {
    const int64_t span = (v.shape[d] - 1) * v.strides[d];
    (span < 0 ? lo : hi) += span;
  }
  const int es = dtype_size(v.dtype);
  e.lo = lo * es;
  e.hi = (hi + 1) * es;
  e.empty = false;
  return e;
}

// Keeps `count` indices of dim `dim` from `start`.
inline void narrow(View& v, int dim, int64_t start, int64_t count) {
  v.offset += start * v.strides[dim];
  v.shape[dim] = count;
}

// A contiguous view as 1-D (last = false) or as [rows, last dim] (last = true); others unchanged.
inline void flatten(View& v, bool last) {
  if (!v.contiguous() || (last && v.ndim < 1)) return;
  const int64_t n = v.numel();
  const int64_t C = last ? v.shape[v.ndim - 1] : n;
  v.ndim = last ? 2 : 1;
  v.shape[v.ndim - 1] = C;
  v.strides[v.ndim - 1] = 1;
  if (last) {
    v.shape[0] = C ? n / C : 0;
    v.strides[0] = C;
  }
}

// Per level, the dim of each argument that level cuts (-1: not cut). A level sizes its chunks so
// that one unit of each cut argument, with the dims later levels cut left whole, fits a window;
// where that cannot fit, with those dims at one index (the later levels cut them): so levels go
// innermost dims first.
// A level may cut a contraction (matmul's K, the rows a norm's dw sums over) instead: its chunks
// after the first write each output argument in `acc` into a scratch tensor that is then added
// into it, so each chunk sees only its range of the contraction.
// An argument may count a level's units in groups (`group`: sdpa's kv heads, each serving
// Hq / Hkv query heads): its index along the cut dim is the level's index / group. Such a level
// has the group as quantum, and `split` lets a chunk hold a divisor of it instead (several
// chunks then share one kv head; an output accumulated over them has `acc_every` = the group:
// the chunks starting a group write it, the others add into it).
struct WindowPlan {
  Call call;  // the call, some views reshaped (flatten) for the plan
  int levels = 0;
  int dim[kMaxDims][kMaxArgs];
  uint32_t acc[kMaxDims];     // per level: bit i set, output argument i is accumulated
  int64_t quantum[kMaxDims];  // per level: chunks start on multiples of it (random: a Philox block of 4)
  int64_t group[kMaxDims][kMaxArgs];
  bool split[kMaxDims];
  int64_t acc_every[kMaxDims];  // 0: only the first chunk writes the accumulated outputs
  int add_level() {
    for (int i = 0; i < kMaxArgs; ++i) {
      dim[levels][i] = -1;
      group[levels][i] = 1;
    }
    acc[levels] = 0;
    split[levels] = false;
    acc_every[levels] = 0;
    quantum[levels] = 1;
    return levels++;
  }
};

}  // namespace vk
}  // namespace et

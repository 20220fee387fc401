// Iteration over several same-shaped strided views at once (inputs broadcast to the output
// shape). Dims are merged first (csrc/broadcast.h), so contiguous views become one flat run, and
// the element range is split over the thread pool; within a chunk the callback gets runs along the last dim.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../backend.h"
#include "../broadcast.h"
#include "../threadpool.h"

namespace et {

template <int NT>
struct StridedPlan {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t strides[NT][kMaxDims];
  int64_t numel = 1;

  // views[k] must all have shape `shape0` (ndim0 dims), or broadcast to it. Dims are merged as
  // csrc/broadcast.h describes. A view that does not broadcast to shape0 (a caller bug: the op
  // schema promises operands of the output's shape) would make the walk leave that view, so the
  // plan then covers nothing.
  StridedPlan(int ndim0, const int64_t* shape0, const View* const views[NT]) {
    Broadcast<NT> b(ndim0, shape0);
    bool ok = true;
    for (int k = 0; k < NT; ++k) ok = ok && b.add(*views[k]);
    numel = ok ? b.numel() : 0;
    b.merge();
    ndim = b.ndim;
    for (int d = 0; d < ndim; ++d) {
      shape[d] = b.shape[d];
      for (int k = 0; k < NT; ++k) strides[k][d] = ok ? b.strides[k][d] : 0;
    }
  }

  // fn(const int64_t off[NT], int64_t n, const int64_t step[NT]): n elements starting at element
  // offsets off[k], advancing by step[k] (the last dim's strides).
  template <class F>
  void run(int64_t grain, F&& fn) const {
    const int last = ndim - 1;
    parallel_for(numel, grain, [&](int64_t begin, int64_t end) {
      int64_t idx[kMaxDims];
      int64_t off[NT];
      int64_t rem = begin;
      for (int k = 0; k < NT; ++k) off[k] = 0;
      for (int d = last; d >= 0; --d) {
        idx[d] = rem % shape[d];
        rem /= shape[d];
        for (int k = 0; k < NT; ++k) off[k] += idx[d] * strides[k][d];
      }
      int64_t step[NT];
      for (int k = 0; k < NT; ++k) step[k] = strides[k][last];
      int64_t i = begin;
      while (i < end) {
        int64_t n = std::min(shape[last] - idx[last], end - i);
        fn(off, n, step);
        i += n;
        // advance to the start of the next run
        for (int k = 0; k < NT; ++k) off[k] += n * step[k];
        idx[last] += n;
        for (int d = last; d > 0 && idx[d] == shape[d]; --d) {
          for (int k = 0; k < NT; ++k) off[k] += strides[k][d - 1] - shape[d] * strides[k][d];
          idx[d] = 0;
          idx[d - 1]++;
        }
      }
    });
  }
};

}  // namespace et

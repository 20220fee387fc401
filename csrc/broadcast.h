// Broadcasting and dim merging for elementwise iteration, shared by every backend (the CPU's
// StridedPlan, the Vulkan meta block), so the rules are written once.
//
// The iteration space is the output's shape. Each operand is a view broadcast to it, aligned on
// the right as in NumPy: a dim the view lacks, or has with size 1, is read with stride 0.
//   out [4, 3, 5], a [3, 1] with strides [1, 1]  ->  a over out: strides [0, 1, 0]
// merge() then drops size-1 dims and fuses dims d-1 and d wherever every operand has
// stride[d-1] == stride[d] * shape[d] (the pair walks each operand as one longer dim):
//   contiguous operands of any shape          ->  one dim [numel]
//   out [B, T, C] + bias [C] (strides [0, 0, 1])  ->  [B*T, C], bias strides [0, 1]
//   a transposed operand                       ->  no merge across the transposed pair
// The result visits the same elements in the same order as the unmerged walk, so kernels that
// use it give bit-identical results whatever merges.
#pragma once
#include <cstdint>
#include <string>

#include "backend.h"

namespace et {

// N: the most operands (outputs and inputs together) one iteration carries.
template <int N>
struct Broadcast {
  int ndim = 0;  // dims of the iteration space (after merge(): at least 1)
  int n = 0;     // operands added
  int64_t shape[kMaxDims] = {};
  int64_t strides[N][kMaxDims] = {};

  Broadcast() = default;
  Broadcast(int nd, const int64_t* out_shape) : ndim(nd) {
    for (int d = 0; d < nd; ++d) shape[d] = out_shape[d];
  }

  int64_t numel() const {
    int64_t k = 1;
    for (int d = 0; d < ndim; ++d) k *= shape[d];
    return k;
  }

  // Adds view v as operand n, broadcast to the iteration shape. False (nothing added) when v has
  // more dims than the iteration space, a dim that is neither 1 nor the iteration's size, or
  // there are already N operands.
  bool add(const View& v) {
    if (n >= N || v.ndim > ndim) return false;
    const int shift = ndim - v.ndim;
    for (int d = 0; d < shift; ++d) strides[n][d] = 0;
    for (int d = shift; d < ndim; ++d) {
      const int64_t s = v.shape[d - shift];
      if (s == 1) strides[n][d] = 0;
      else if (s == shape[d]) strides[n][d] = v.strides[d - shift];
      else return false;
    }
    ++n;
    return true;
  }

  // Adds operand n with its strides given directly over the iteration shape (a reduction's
  // source, whose shape is the iteration space itself).
  void add_strides(const int64_t* st) {
    for (int d = 0; d < ndim; ++d) strides[n][d] = st[d];
    ++n;
  }

  // Drops size-1 dims and fuses neighbours contiguous in every operand (see the top of the
  // file). An empty or all-ones space becomes [1] with stride 0.
  void merge() {
    int m = 0;
    for (int d = 0; d < ndim; ++d) {
      if (shape[d] == 1) continue;
      bool fuse = m > 0;
      for (int t = 0; t < n && fuse; ++t) fuse = strides[t][m - 1] == strides[t][d] * shape[d];
      if (fuse) {
        shape[m - 1] *= shape[d];
        for (int t = 0; t < n; ++t) strides[t][m - 1] = strides[t][d];
      } else {
        shape[m] = shape[d];
        for (int t = 0; t < n; ++t) strides[t][m] = strides[t][d];
        ++m;
      }
    }
    if (m == 0) {
      m = 1;
      shape[0] = 1;
      for (int t = 0; t < n; ++t) strides[t][0] = 0;
    }
    ndim = m;
  }

  // Whether operand t is row-major contiguous over the iteration space.
  bool contiguous(int t) const {
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; --d) {
      if (shape[d] != 1 && strides[t][d] != s) return false;
      s *= shape[d];
    }
    return true;
  }
};

// The iteration of an elementwise call: operand 0 is `out`, then ins[0..n_in) broadcast to it,
// merged. Returns "" or why the call cannot iterate: an input that does not broadcast, or an
// output that would be written twice (stride 0 on a dim longer than 1).
template <int N>
std::string broadcast_elementwise(const View& out, const View* const* ins, int n_in, Broadcast<N>* it) {
  *it = Broadcast<N>(out.ndim, out.shape);
  for (int d = 0; d < out.ndim; ++d)
    if (out.shape[d] != 1 && out.strides[d] == 0) return "output has a zero stride";
  if (1 + n_in > N) return "too many operands";
  it->add(out);
  for (int i = 0; i < n_in; ++i)
    if (!it->add(*ins[i])) return "input " + std::to_string(i) + " does not broadcast to the output shape";
  it->merge();
  return "";
}

}  // namespace et

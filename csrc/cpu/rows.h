// Helpers of the kernel families that read operands as [N, C] rows (C = the last dim): the row
// layout, the parallel grain in rows, and the small reductions whose summation order is part of
// the kernels' results (reorder one and outputs move in the last bits).
// Internal linkage (an unnamed namespace): each kernel file compiles its own copy under its own
// ISA flags and floating-point rules (fp_exact.h files forbid contraction), so the linker never
// hands one file another file's differently compiled copy.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels.h"
#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace et {
namespace ET_ISA {
namespace {

// x read as [N, C]: C = last dim (1 for a scalar), N = the other dims folded, rs = elements
// between row starts.
struct Rows {
  int64_t N = 0, C = 0, rs = 0;
};

// The rows of a contiguous view (rs = C).
inline Rows rows_of(const View& v) {
  Rows r;
  r.C = v.ndim ? v.shape[v.ndim - 1] : 1;
  r.N = 1;
  for (int d = 0; d + 1 < v.ndim; ++d) r.N *= v.shape[d];
  r.rs = r.C;
  return r;
}

// Rows per parallel_for chunk so that one chunk holds about `per_chunk` elements of C-long rows.
inline int64_t row_grain(int64_t C, int64_t per_chunk = 16384) { return std::max<int64_t>(1, per_chunk / std::max<int64_t>(C, 1)); }

// Sum of term(j) for j in [0, n): 8 lane accumulators l0..l7 (vectorises without reassociation)
// and the tail t of n % 8 summed apart; the total is (t + ((l0 + l4) + (l1 + l5))) + ((l2 + l6) + (l3 + l7)).
template <class F>
inline float sum_lanes8(int64_t n, F&& term) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += term(j + k);
  float s = 0;
  for (; j < n; ++j) s += term(j);
  return s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// Dot product of two contiguous runs, in sum_lanes8's order.
inline float dot(const float* a, const float* b, int64_t n) {
  return sum_lanes8(n, [&](int64_t j) { return a[j] * b[j]; });
}

#if defined(__AVX2__)
// Total of v's 8 lanes: lanes k and k + 4, then k and k + 2, then 0 and 1.
inline float hsum(__m256 v) {
  __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  a = _mm_add_ps(a, _mm_movehl_ps(a, a));
  a = _mm_add_ss(a, _mm_movehdup_ps(a));
  return _mm_cvtss_f32(a);
}
#endif

}  // namespace
}  // namespace ET_ISA
}  // namespace et

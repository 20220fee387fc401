// Embedding lookup and its scatter-add backward.
//
// weight [V, D] has unit stride along D (any row stride) and any element type (a frozen base
// model may keep its table in f16/bf16; rows are copied as bytes into an output of the same
// dtype). idx is int32 [N] (contiguous, or 1-D with any stride).
// The backward is deterministic: the [V, D] gradient is cut into (vocab range x column block)
// tiles, one task per tile, and each task walks the ids in order, so every element sums its
// contributions in position order whatever the thread count, and no two threads share a row.
#include <algorithm>
#include <cstring>

#include "kernels.h"
#include "rows.h"

namespace et {
namespace ET_ISA {
namespace {

// Element stride of an id vector; -1 if it is not a vector.
int64_t ids_stride(const View& v) {
  if (v.contiguous()) return 1;
  if (v.ndim == 1) return v.strides[0];
  return -1;
}

std::string check_ids(const char* op, const View& idx, int64_t V, int64_t* stride) {
  if (idx.dtype != ET_I32) return std::string("DTypeError: ") + op + ": indices must be int32, got " + dtype_name(idx.dtype);
  *stride = ids_stride(idx);
  if (*stride < 0) return std::string("ShapeError: ") + op + ": indices must be contiguous or 1-D";
  const int32_t* ip = idx.data<int32_t>();
  const int64_t N = idx.numel();
  for (int64_t n = 0; n < N; ++n) {
    const int32_t v = ip[n * *stride];
    if (v < 0 || v >= V)
      return std::string("IndexError: ") + op + ": index " + std::to_string(v) + " at position " + std::to_string(n) +
             " is outside [0, " + std::to_string(V) + ")";
  }
  return "";
}

// Row stride of a [rows, D] matrix with unit stride along D (contiguous views of any rank fold
// to rows); -1 otherwise.
int64_t row_stride(const View& v, int64_t D) {
  if (v.contiguous()) return D;
  if (v.ndim == 2 && (v.strides[1] == 1 || v.shape[1] <= 1)) return v.strides[0];
  return -1;
}

std::string k_embedding(const Call& c) {
  const View& w = c.in(0);
  const View& idx = c.in(1);
  const View& y = c.out(0);
  if (w.ndim != 2) return "ShapeError: embedding: weight must be [V, D], got rank " + std::to_string(w.ndim);
  const int64_t V = w.shape[0], D = w.shape[1];
  const int64_t ws = row_stride(w, D);
  if (ws < 0) return "ShapeError: embedding: weight rows must be contiguous";
  int64_t is;
  std::string e = check_ids("embedding", idx, V, &is);
  if (!e.empty()) return e;
  const int64_t N = idx.numel();
  if (y.dtype != w.dtype) return "DTypeError: embedding: output dtype differs from weight's";
  if (y.numel() != N * D || !y.contiguous())
    return "ShapeError: embedding: output must be contiguous [" + std::to_string(N) + ", " + std::to_string(D) + "]";
  const size_t es = size_t(dtype_size(w.dtype));
  const char* wp = reinterpret_cast<const char*>(w.data<char>());
  char* yp = reinterpret_cast<char*>(y.data<char>());
  const int32_t* ip = idx.data<int32_t>();
  parallel_for(N, row_grain(D), [&](int64_t b, int64_t en) {
    for (int64_t n = b; n < en; ++n)
      std::memcpy(yp + size_t(n * D) * es, wp + size_t(int64_t(ip[n * is]) * ws) * es, size_t(D) * es);
  });
  return "";
}

// (dy [N, D], idx [N]) -> dweight [V, D] (V from the output's shape).
std::string k_embedding_bwd(const Call& c) {
  const View& dy = c.in(0);
  const View& idx = c.in(1);
  const View& dw = c.out(0);
  if (dw.ndim != 2 || !dw.contiguous()) return "ShapeError: embeddingBwd: dweight must be contiguous [V, D]";
  if (dy.dtype != ET_F32 || dw.dtype != ET_F32) return "DTypeError: embeddingBwd: expected float32 gradients";
  const int64_t V = dw.shape[0], D = dw.shape[1];
  int64_t is;
  std::string e = check_ids("embeddingBwd", idx, V, &is);
  if (!e.empty()) return e;
  const int64_t N = idx.numel();
  const int64_t gs = row_stride(dy, D);
  if (dy.numel() != N * D || gs < 0)
    return "ShapeError: embeddingBwd: dy must be [" + std::to_string(N) + ", " + std::to_string(D) + "] with contiguous rows";
  const float* gp = dy.data<float>();
  const int32_t* ip = idx.data<int32_t>();
  float* wp = dw.data<float>();

  parallel_for(V, row_grain(D, 65536), [&](int64_t b, int64_t en) {
    std::memset(wp + b * D, 0, size_t((en - b) * D) * sizeof(float));
  });
  // Tiles: column blocks of 256 floats (1 KB), and enough vocab ranges for ~4 tasks per thread.
  const int64_t cb = 256;
  const int64_t ncol = (D + cb - 1) / cb;
  const int64_t want = 4 * int64_t(threadpool_size());
  const int64_t nvoc = std::min<int64_t>(V, std::max<int64_t>(1, (want + ncol - 1) / ncol));
  if (N == 0 || D == 0) return "";
  parallel_for(nvoc * ncol, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t vr = t / ncol, cbk = t % ncol;
      const int64_t v0 = V * vr / nvoc, v1 = V * (vr + 1) / nvoc;
      const int64_t d0 = cbk * cb, d1 = std::min(D, d0 + cb);
      for (int64_t n = 0; n < N; ++n) {
        const int64_t v = ip[n * is];
        if (v < v0 || v >= v1) continue;
        float* o = wp + v * D;
        const float* g = gp + n * gs;
        for (int64_t d = d0; d < d1; ++d) o[d] += g[d];
      }
    }
  });
  return "";
}

}  // namespace

void register_embedding(KernelFn* t) {
  t[OP_EMBEDDING] = k_embedding;
  t[OP_EMBEDDING_BWD] = k_embedding_bwd;
}

}  // namespace ET_ISA
}  // namespace et

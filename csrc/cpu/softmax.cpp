// Row ops over the last dim: softmax, logSoftmax, crossEntropy (fused log-softmax + NLL), and
// their backwards.
//
// x is read as [N, C] (C = last dim, N = every other dim folded) and must be contiguous, or 2-D
// with unit last stride (any row stride). Rows run in parallel; within a row every pass is a
// plain loop over LANES independent accumulators, so the compiler vectorises the max, the
// exponentials and the sums without -ffast-math, and results do not depend on the thread count.
//
// These run on [tokens, vocab] = [256, 32000] logits in LLM training, so the exponential is
// fexp() below (range reduction + Cephes polynomial, ~1 ulp) instead of std::exp, which does not
// vectorise. NaN anywhere in a row makes the whole row NaN (it is skipped by the max and then
// propagates through exp and the sum), as in PyTorch.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels.h"
#include "rows.h"

namespace et {
namespace ET_ISA {
namespace {

constexpr int kLanes = 16;  // two AVX2 registers per accumulator: hides the add latency

inline int32_t f2i_bits(float f) {
  int32_t i;
  std::memcpy(&i, &f, 4);
  return i;
}
inline float i2f_bits(int32_t i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
// c ? a : b as a bit blend. GCC (with its default -ftrapping-math) will not if-convert a float
// ternary whose arms hold float math, which stops vectorisation; a blend has no branch.
inline float sel(bool c, float a, float b) {
  const int32_t m = -int32_t(c);
  return i2f_bits((f2i_bits(a) & m) | (f2i_bits(b) & ~m));
}

// exp(x) for x <= 88 (callers pass x - max <= 0): relative error ~1e-7. x < -87.33 flushes to 0
// (exp would be subnormal); NaN gives NaN. No float->int conversion (NaN-safe, vectorises).
inline float fexp(float x) {
  constexpr float kLo = -87.33654f, kHi = 88.0f;
  constexpr float kMagic = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer in the mantissa
  float xc = sel(x < kLo, kLo, x);
  xc = sel(xc > kHi, kHi, xc);
  const float t = xc * 1.44269504088896341f + kMagic;
  const float n = t - kMagic;
  const int32_t ni = f2i_bits(t) - f2i_bits(kMagic);
  float r = xc - n * 0.693359375f;  // ln2 split in two for an exact reduction (Cephes C1, C2)
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = (p * r * r + r + 1.f) * i2f_bits((ni + 127) << 23);
  return sel(x < kLo, 0.f, e);
}

inline float lane_sum(const float* acc) {
  float s = 0;
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  return s;
}

// max over a row, NaN skipped (it poisons the sum pass instead); -inf for an empty row.
inline float row_max(const float* x, int64_t n) {
  float acc[kLanes];
  for (int k = 0; k < kLanes; ++k) acc[k] = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] = acc[k] < x[j + k] ? x[j + k] : acc[k];  // maxps form
  for (int k = 0; j < n; ++j, ++k) acc[k] = acc[k] < x[j] ? x[j] : acc[k];
  float m = acc[0];
  for (int k = 1; k < kLanes; ++k) m = acc[k] > m ? acc[k] : m;
  return m;
}

// sum of exp(x - m); also stores the exponentials when y is given.
inline float row_sumexp(const float* x, int64_t n, float m, float* y) {
  float acc[kLanes] = {};
  int64_t j = 0;
  if (y) {
    for (; j + kLanes <= n; j += kLanes)
      for (int k = 0; k < kLanes; ++k) {
        const float e = fexp(x[j + k] - m);
        y[j + k] = e;
        acc[k] += e;
      }
    for (int k = 0; j < n; ++j, ++k) acc[k] += (y[j] = fexp(x[j] - m));
  } else {
    for (; j + kLanes <= n; j += kLanes)
      for (int k = 0; k < kLanes; ++k) acc[k] += fexp(x[j + k] - m);
    for (int k = 0; j < n; ++j, ++k) acc[k] += fexp(x[j] - m);
  }
  return lane_sum(acc);
}

inline float row_dot(const float* a, const float* b, int64_t n) {
  float acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += a[j + k] * b[j + k];
  for (int k = 0; j < n; ++j, ++k) acc[k] += a[j] * b[j];
  return lane_sum(acc);
}

inline float row_sum(const float* a, int64_t n) {
  float acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += a[j + k];
  for (int k = 0; j < n; ++j, ++k) acc[k] += a[j];
  return lane_sum(acc);
}

// The rows of operand v, which may also be 2-D with unit last stride and any row stride.
std::string rows_of(const char* op, const char* name, const View& v, Rows* r) {
  *r = rows_of(v);
  if (v.contiguous()) return "";
  if (v.ndim == 2 && (v.strides[1] == 1 || v.shape[1] <= 1)) {
    r->rs = v.strides[0];
    return "";
  }
  return std::string("ShapeError: ") + op + ": " + name + " must be contiguous (read as [N, C] rows)";
}

// Element stride of a length-N vector operand (target, lse, dloss); -1 if it is not one.
int64_t vec_stride(const View& v, int64_t N) {
  if (v.numel() != N) return -1;
  if (v.contiguous()) return 1;
  if (v.ndim == 1) return v.strides[0];
  return -1;
}

std::string check_vec(const char* op, const char* name, const View& v, int64_t N, int dtype, int64_t* stride) {
  if (v.dtype != dtype)
    return std::string("DTypeError: ") + op + ": " + name + " must be " + dtype_name(dtype) + ", got " + dtype_name(v.dtype);
  *stride = vec_stride(v, N);
  if (*stride < 0)
    return std::string("ShapeError: ") + op + ": " + name + " must be a vector of " + std::to_string(N) +
           " elements (one per row), got " + std::to_string(v.numel());
  return "";
}

std::string check_same(const char* op, const Rows& a, const Rows& b) {
  if (a.N != b.N || a.C != b.C)
    return std::string("ShapeError: ") + op + ": operands are [" + std::to_string(a.N) + ", " + std::to_string(a.C) +
           "] and [" + std::to_string(b.N) + ", " + std::to_string(b.C) + "] rows";
  return "";
}

std::string k_softmax(const Call& c) {
  Rows x, y;
  std::string e = rows_of("softmax", "x", c.in(0), &x);
  if (e.empty()) e = rows_of("softmax", "out", c.out(0), &y);
  if (e.empty()) e = check_same("softmax", x, y);
  if (!e.empty()) return e;
  const float* xp = c.in(0).data<float>();
  float* yp = c.out(0).data<float>();
  parallel_for(x.N, row_grain(x.C), [&](int64_t b, int64_t en) {
    for (int64_t i = b; i < en; ++i) {
      const float* xr = xp + i * x.rs;
      float* yr = yp + i * y.rs;
      const float m = row_max(xr, x.C);
      const float inv = 1.f / row_sumexp(xr, x.C, m, yr);
      for (int64_t j = 0; j < x.C; ++j) yr[j] *= inv;
    }
  });
  return "";
}

std::string k_log_softmax(const Call& c) {
  Rows x, y;
  std::string e = rows_of("logSoftmax", "x", c.in(0), &x);
  if (e.empty()) e = rows_of("logSoftmax", "out", c.out(0), &y);
  if (e.empty()) e = check_same("logSoftmax", x, y);
  if (!e.empty()) return e;
  const float* xp = c.in(0).data<float>();
  float* yp = c.out(0).data<float>();
  parallel_for(x.N, row_grain(x.C), [&](int64_t b, int64_t en) {
    for (int64_t i = b; i < en; ++i) {
      const float* xr = xp + i * x.rs;
      float* yr = yp + i * y.rs;
      const float m = row_max(xr, x.C);
      const float ls = std::log(row_sumexp(xr, x.C, m, nullptr));
      for (int64_t j = 0; j < x.C; ++j) yr[j] = (xr[j] - m) - ls;
    }
  });
  return "";
}

// (y, dy) -> dx for softmax: dx = y * (dy - sum(y * dy)); for logSoftmax: dx = dy - exp(y) * sum(dy).
template <bool kLog>
std::string row_bwd(const Call& c) {
  const char* op = kLog ? "logSoftmaxBwd" : "softmaxBwd";
  Rows y, dy, dx;
  std::string e = rows_of(op, "y", c.in(0), &y);
  if (e.empty()) e = rows_of(op, "dy", c.in(1), &dy);
  if (e.empty()) e = rows_of(op, "dx", c.out(0), &dx);
  if (e.empty()) e = check_same(op, y, dy);
  if (e.empty()) e = check_same(op, y, dx);
  if (!e.empty()) return e;
  const float* yp = c.in(0).data<float>();
  const float* gp = c.in(1).data<float>();
  float* op_ = c.out(0).data<float>();
  parallel_for(y.N, row_grain(y.C), [&](int64_t b, int64_t en) {
    for (int64_t i = b; i < en; ++i) {
      const float* yr = yp + i * y.rs;
      const float* gr = gp + i * dy.rs;
      float* o = op_ + i * dx.rs;
      if (kLog) {
        const float s = row_sum(gr, y.C);
        for (int64_t j = 0; j < y.C; ++j) o[j] = gr[j] - fexp(yr[j]) * s;
      } else {
        const float s = row_dot(yr, gr, y.C);
        for (int64_t j = 0; j < y.C; ++j) o[j] = yr[j] * (gr[j] - s);
      }
    }
  });
  return "";
}

std::string check_targets(const char* op, const int32_t* t, int64_t ts, int64_t N, int64_t C, int32_t ignore) {
  for (int64_t i = 0; i < N; ++i) {
    const int32_t v = t[i * ts];
    if (v != ignore && (v < 0 || v >= C))
      return std::string("IndexError: ") + op + ": target " + std::to_string(v) + " at row " + std::to_string(i) +
             " is outside [0, " + std::to_string(C) + ")";
  }
  return "";
}

// (logits [N, C], target i32 [N]) -> (loss [N], lse [N]); p0 ignore index (loss 0 on those rows;
// lse is still computed).
std::string k_cross_entropy(const Call& c) {
  const char* op = "crossEntropy";
  Rows x;
  std::string e = rows_of(op, "logits", c.in(0), &x);
  if (!e.empty()) return e;
  if (c.in(0).dtype != ET_F32) return std::string("DTypeError: crossEntropy: logits must be float32, got ") + dtype_name(c.in(0).dtype);
  int64_t ts, ls, es;
  e = check_vec(op, "target", c.in(1), x.N, ET_I32, &ts);
  if (e.empty()) e = check_vec(op, "loss", c.out(0), x.N, ET_F32, &ls);
  if (e.empty()) e = check_vec(op, "lse", c.out(1), x.N, ET_F32, &es);
  if (!e.empty()) return e;
  const int32_t ignore = int32_t(c.p[0]);
  const float* xp = c.in(0).data<float>();
  const int32_t* tp = c.in(1).data<int32_t>();
  e = check_targets(op, tp, ts, x.N, x.C, ignore);
  if (!e.empty()) return e;
  float* lp = c.out(0).data<float>();
  float* ep = c.out(1).data<float>();
  parallel_for(x.N, row_grain(x.C), [&](int64_t b, int64_t en) {
    for (int64_t i = b; i < en; ++i) {
      const float* xr = xp + i * x.rs;
      const float m = row_max(xr, x.C);
      const float lse = m + std::log(row_sumexp(xr, x.C, m, nullptr));
      const int32_t t = tp[i * ts];
      ep[i * es] = lse;
      lp[i * ls] = t == ignore ? 0.f : lse - xr[t];
    }
  });
  return "";
}

// (logits, target, lse, dloss [N]) -> dlogits = (softmax - onehot(target)) * dloss[row]; rows
// whose target is the ignore index (p0) get zeros.
std::string k_cross_entropy_bwd(const Call& c) {
  const char* op = "crossEntropyBwd";
  Rows x, dx;
  std::string e = rows_of(op, "logits", c.in(0), &x);
  if (e.empty()) e = rows_of(op, "dlogits", c.out(0), &dx);
  if (e.empty()) e = check_same(op, x, dx);
  if (!e.empty()) return e;
  int64_t ts, es, gs;
  e = check_vec(op, "target", c.in(1), x.N, ET_I32, &ts);
  if (e.empty()) e = check_vec(op, "lse", c.in(2), x.N, ET_F32, &es);
  if (e.empty()) e = check_vec(op, "dloss", c.in(3), x.N, ET_F32, &gs);
  if (!e.empty()) return e;
  const int32_t ignore = int32_t(c.p[0]);
  const float* xp = c.in(0).data<float>();
  const int32_t* tp = c.in(1).data<int32_t>();
  const float* lsep = c.in(2).data<float>();
  const float* gp = c.in(3).data<float>();
  e = check_targets(op, tp, ts, x.N, x.C, ignore);
  if (!e.empty()) return e;
  float* op_ = c.out(0).data<float>();
  parallel_for(x.N, row_grain(x.C), [&](int64_t b, int64_t en) {
    for (int64_t i = b; i < en; ++i) {
      const float* xr = xp + i * x.rs;
      float* o = op_ + i * dx.rs;
      const int32_t t = tp[i * ts];
      if (t == ignore) {
        std::fill(o, o + x.C, 0.f);
        continue;
      }
      const float lse = lsep[i * es], g = gp[i * gs];
      for (int64_t j = 0; j < x.C; ++j) o[j] = fexp(xr[j] - lse) * g;
      o[t] -= g;
    }
  });
  return "";
}

}  // namespace

void register_softmax(KernelFn* t) {
  t[OP_SOFTMAX] = k_softmax;
  t[OP_SOFTMAX_BWD] = row_bwd<false>;
  t[OP_LOG_SOFTMAX] = k_log_softmax;
  t[OP_LOG_SOFTMAX_BWD] = row_bwd<true>;
  t[OP_CROSS_ENTROPY] = k_cross_entropy;
  t[OP_CROSS_ENTROPY_BWD] = k_cross_entropy_bwd;
}

}  // namespace ET_ISA
}  // namespace et

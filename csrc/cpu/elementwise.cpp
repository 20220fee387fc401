// fill, copy (with dtype conversion), unary math/activations, broadcast binary ops, their
// activation backwards, comparisons and where. All walk strided views through StridedPlan.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels.h"
#include "strided.h"

namespace et {
namespace ET_ISA {
namespace {

constexpr int64_t kGrain = 16384;

// ---- dtype tags: load to float / store from float ----
struct TF32 { using T = float; static float ld(T v) { return v; } static T st(float v) { return v; } };
struct TF16 { using T = uint16_t; static float ld(T v) { return f16_to_f32(v); } static T st(float v) { return f32_to_f16(v); } };
struct TBF16 { using T = uint16_t; static float ld(T v) { return bf16_to_f32(v); } static T st(float v) { return f32_to_bf16(v); } };
struct TI32 {
  using T = int32_t;
  static float ld(T v) { return float(v); }
  static T st(float v) {  // truncate toward zero, saturating; NaN -> 0
    if (!(v == v)) return 0;
    if (v >= 2147483647.f) return INT32_MAX;
    if (v <= -2147483648.f) return INT32_MIN;
    return T(v);
  }
};
struct TU8 {
  using T = uint8_t;
  static float ld(T v) { return float(v); }
  static T st(float v) { return (v == v) ? T(int64_t(v) & 0xff) : 0; }
};

template <class S, class D>
void copy_typed(const Call& c) {
  const View& x = c.in(0);
  const View& y = c.out(0);
  const View* vs[2] = {&y, &x};
  StridedPlan<2> plan(y.ndim, y.shape, vs);
  auto* yp = y.data<typename D::T>();
  const auto* xp = x.data<typename S::T>();
  plan.run(kGrain, [&](const int64_t* off, int64_t n, const int64_t* st) {
    auto* o = yp + off[0];
    const auto* i = xp + off[1];
    for (int64_t j = 0; j < n; ++j) {
      if constexpr (std::is_same<S, D>::value) o[j * st[0]] = i[j * st[1]];
      else o[j * st[0]] = D::st(S::ld(i[j * st[1]]));
    }
  });
}

template <class S>
void copy_from(const Call& c) {
  switch (c.out(0).dtype) {
    case ET_F32: return copy_typed<S, TF32>(c);
    case ET_F16: return copy_typed<S, TF16>(c);
    case ET_BF16: return copy_typed<S, TBF16>(c);
    case ET_I32: return copy_typed<S, TI32>(c);
    case ET_U8: return copy_typed<S, TU8>(c);
  }
}

std::string k_copy(const Call& c) {
  const View& x = c.in(0);
  const View& y = c.out(0);
  if (x.ndim != y.ndim) return "ShapeError: copy: rank mismatch";
  for (int d = 0; d < x.ndim; ++d)
    if (x.shape[d] != y.shape[d]) return "ShapeError: copy: shapes differ";
  switch (x.dtype) {
    case ET_F32: copy_from<TF32>(c); break;
    case ET_F16: copy_from<TF16>(c); break;
    case ET_BF16: copy_from<TBF16>(c); break;
    case ET_I32: copy_from<TI32>(c); break;
    case ET_U8: copy_from<TU8>(c); break;
  }
  return "";
}

template <class D>
void fill_typed(const View& y, float v) {
  const View* vs[1] = {&y};
  StridedPlan<1> plan(y.ndim, y.shape, vs);
  auto* p = y.data<typename D::T>();
  const auto val = D::st(v);
  plan.run(kGrain, [&](const int64_t* off, int64_t n, const int64_t* st) {
    auto* o = p + off[0];
    for (int64_t j = 0; j < n; ++j) o[j * st[0]] = val;
  });
}

std::string k_fill(const Call& c) {
  const View& y = c.out(0);
  float v = float(c.p[0]);
  if (y.dtype == ET_I32) {  // keep integers exact beyond 2^24
    const View* vs[1] = {&y};
    StridedPlan<1> plan(y.ndim, y.shape, vs);
    auto* p = y.data<int32_t>();
    int32_t iv = int32_t(c.p[0]);
    plan.run(kGrain, [&](const int64_t* off, int64_t n, const int64_t* st) {
      for (int64_t j = 0; j < n; ++j) p[off[0] + j * st[0]] = iv;
    });
    return "";
  }
  switch (y.dtype) {
    case ET_F32: fill_typed<TF32>(y, v); break;
    case ET_F16: fill_typed<TF16>(y, v); break;
    case ET_BF16: fill_typed<TBF16>(y, v); break;
    case ET_U8: fill_typed<TU8>(y, v); break;
  }
  return "";
}

// ---- unary: out contiguous f32, x strided f32 ----
template <class F>
std::string unary(const Call& c, F f) {
  const View& x = c.in(0);
  const View& y = c.out(0);
  const View* vs[2] = {&y, &x};
  StridedPlan<2> plan(y.ndim, y.shape, vs);
  float* yp = y.data<float>();
  const float* xp = x.data<float>();
  plan.run(kGrain, [&](const int64_t* off, int64_t n, const int64_t* st) {
    float* o = yp + off[0];
    const float* i = xp + off[1];
    if (st[0] == 1 && st[1] == 1)
      for (int64_t j = 0; j < n; ++j) o[j] = f(i[j]);
    else
      for (int64_t j = 0; j < n; ++j) o[j * st[0]] = f(i[j * st[1]]);
  });
  return "";
}

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;

inline float sigm(float x) { return 1.f / (1.f + std::exp(-x)); }

std::string k_affine(const Call& c) {
  float a = float(c.p[0]), b = float(c.p[1]);
  return unary(c, [=](float x) { return x * a + b; });
}
std::string k_exp(const Call& c) { return unary(c, [](float x) { return std::exp(x); }); }
std::string k_log(const Call& c) { return unary(c, [](float x) { return std::log(x); }); }
std::string k_sqrt(const Call& c) { return unary(c, [](float x) { return std::sqrt(x); }); }
std::string k_rsqrt(const Call& c) { return unary(c, [](float x) { return 1.f / std::sqrt(x); }); }
std::string k_abs(const Call& c) { return unary(c, [](float x) { return std::fabs(x); }); }
std::string k_sign(const Call& c) { return unary(c, [](float x) { return float((x > 0) - (x < 0)); }); }
// NaN passes through (as in PyTorch): a NaN activation must not turn into a clean 0
std::string k_relu(const Call& c) { return unary(c, [](float x) { return x <= 0.f ? 0.f : x; }); }
std::string k_gelu_tanh(const Call& c) {
  return unary(c, [](float x) { return 0.5f * x * (1.f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x))); });
}
std::string k_gelu_erf(const Call& c) { return unary(c, [](float x) { return 0.5f * x * (1.f + std::erf(x * kInvSqrt2)); }); }
std::string k_silu(const Call& c) { return unary(c, [](float x) { return x * sigm(x); }); }
std::string k_sigmoid(const Call& c) { return unary(c, [](float x) { return sigm(x); }); }
std::string k_tanh(const Call& c) { return unary(c, [](float x) { return std::tanh(x); }); }
std::string k_pow(const Call& c) {
  float p = float(c.p[0]);
  if (p == 2.f) return unary(c, [](float x) { return x * x; });
  if (p == 3.f) return unary(c, [](float x) { return x * x * x; });
  if (p == 1.f) return unary(c, [](float x) { return x; });
  if (p == 0.5f) return unary(c, [](float x) { return std::sqrt(x); });
  if (p == -1.f) return unary(c, [](float x) { return 1.f / x; });
  return unary(c, [=](float x) { return std::pow(x, p); });
}

// ---- binary: out contiguous, a/b broadcast to out ----
template <class Out, class F>
std::string binary(const Call& c, F f) {
  const View& a = c.in(0);
  const View& b = c.in(1);
  const View& y = c.out(0);
  const View* vs[3] = {&y, &a, &b};
  StridedPlan<3> plan(y.ndim, y.shape, vs);
  Out* yp = y.data<Out>();
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  plan.run(kGrain, [&](const int64_t* off, int64_t n, const int64_t* st) {
    Out* o = yp + off[0];
    const float* x = ap + off[1];
    const float* w = bp + off[2];
    if (st[0] == 1 && st[1] == 1 && st[2] == 1)
      for (int64_t j = 0; j < n; ++j) o[j] = f(x[j], w[j]);
    else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
      const float wv = *w;
      for (int64_t j = 0; j < n; ++j) o[j] = f(x[j], wv);
    } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
      const float xv = *x;
      for (int64_t j = 0; j < n; ++j) o[j] = f(xv, w[j]);
    } else
      for (int64_t j = 0; j < n; ++j) o[j * st[0]] = f(x[j * st[1]], w[j * st[2]]);
  });
  return "";
}

std::string k_add(const Call& c) { return binary<float>(c, [](float a, float b) { return a + b; }); }
std::string k_sub(const Call& c) { return binary<float>(c, [](float a, float b) { return a - b; }); }
std::string k_mul(const Call& c) { return binary<float>(c, [](float a, float b) { return a * b; }); }
std::string k_div(const Call& c) { return binary<float>(c, [](float a, float b) { return a / b; }); }
std::string k_maximum(const Call& c) {
  return binary<float>(c, [](float a, float b) { return (a != a || a > b) ? a : b; });
}
std::string k_minimum(const Call& c) {
  return binary<float>(c, [](float a, float b) { return (a != a || a < b) ? a : b; });
}
// as PyTorch's threshold_backward (x <= 0 ? 0 : dy): a NaN input, which relu passes on, passes dy
std::string k_relu_bwd(const Call& c) { return binary<float>(c, [](float x, float dy) { return x <= 0.f ? 0.f : dy; }); }
std::string k_gelu_tanh_bwd(const Call& c) {
  return binary<float>(c, [](float x, float dy) {
    float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
    float t = std::tanh(u);
    float du = kSqrt2OverPi * (1.f + 3.f * 0.044715f * x * x);
    return dy * (0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * du);
  });
}
std::string k_gelu_erf_bwd(const Call& c) {
  return binary<float>(c, [](float x, float dy) {
    constexpr float kInvSqrt2Pi = 0.3989422804014327f;
    return dy * (0.5f * (1.f + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5f * x * x));
  });
}
std::string k_silu_bwd(const Call& c) {
  return binary<float>(c, [](float x, float dy) {
    float s = sigm(x);
    return dy * s * (1.f + x * (1.f - s));
  });
}
std::string k_gt(const Call& c) { return binary<uint8_t>(c, [](float a, float b) { return uint8_t(a > b); }); }
std::string k_ge(const Call& c) { return binary<uint8_t>(c, [](float a, float b) { return uint8_t(a >= b); }); }
std::string k_lt(const Call& c) { return binary<uint8_t>(c, [](float a, float b) { return uint8_t(a < b); }); }
std::string k_le(const Call& c) { return binary<uint8_t>(c, [](float a, float b) { return uint8_t(a <= b); }); }
std::string k_eq(const Call& c) { return binary<uint8_t>(c, [](float a, float b) { return uint8_t(a == b); }); }
std::string k_ne(const Call& c) { return binary<uint8_t>(c, [](float a, float b) { return uint8_t(a != b); }); }

std::string k_where(const Call& c) {
  const View& m = c.in(0);
  const View& a = c.in(1);
  const View& b = c.in(2);
  const View& y = c.out(0);
  const View* vs[4] = {&y, &m, &a, &b};
  StridedPlan<4> plan(y.ndim, y.shape, vs);
  float* yp = y.data<float>();
  const uint8_t* mp = m.data<uint8_t>();
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  plan.run(kGrain, [&](const int64_t* off, int64_t n, const int64_t* st) {
    for (int64_t j = 0; j < n; ++j)
      yp[off[0] + j * st[0]] = mp[off[1] + j * st[1]] ? ap[off[2] + j * st[2]] : bp[off[3] + j * st[3]];
  });
  return "";
}

}  // namespace

void register_elementwise(KernelFn* t) {
  t[OP_FILL] = k_fill;
  t[OP_COPY] = k_copy;
  t[OP_AFFINE] = k_affine;
  t[OP_EXP] = k_exp;
  t[OP_LOG] = k_log;
  t[OP_SQRT] = k_sqrt;
  t[OP_RSQRT] = k_rsqrt;
  t[OP_ABS] = k_abs;
  t[OP_SIGN] = k_sign;
  t[OP_RELU] = k_relu;
  t[OP_GELU_TANH] = k_gelu_tanh;
  t[OP_GELU_ERF] = k_gelu_erf;
  t[OP_SILU] = k_silu;
  t[OP_SIGMOID] = k_sigmoid;
  t[OP_TANH] = k_tanh;
  t[OP_POW_SCALAR] = k_pow;
  t[OP_ADD] = k_add;
  t[OP_SUB] = k_sub;
  t[OP_MUL] = k_mul;
  t[OP_DIV] = k_div;
  t[OP_MAXIMUM] = k_maximum;
  t[OP_MINIMUM] = k_minimum;
  t[OP_RELU_BWD] = k_relu_bwd;
  t[OP_GELU_TANH_BWD] = k_gelu_tanh_bwd;
  t[OP_GELU_ERF_BWD] = k_gelu_erf_bwd;
  t[OP_SILU_BWD] = k_silu_bwd;
  t[OP_GT] = k_gt;
  t[OP_GE] = k_ge;
  t[OP_LT] = k_lt;
  t[OP_LE] = k_le;
  t[OP_EQ] = k_eq;
  t[OP_NE] = k_ne;
  t[OP_WHERE] = k_where;
}

}  // namespace ET_ISA
}  // namespace et

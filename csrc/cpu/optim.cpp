// Optimizer updates, in place on contiguous f32 tensors: one pass over memory, elementwise loops
// the compiler vectorises, split over the thread pool. The math is PyTorch's (torch.optim.AdamW
// and torch.optim.SGD, single-tensor path), with the gradient first multiplied by p6 (grad
// scale: loss-scale undo or clipping factor, 1 otherwise).
#include <algorithm>
#include <cmath>
#include <string>

#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#endif

#include "kernels.h"

namespace et {
namespace ET_ISA {
namespace {

constexpr int64_t kGrain = 32768;

std::string check_args(const char* op, const Call& c, int n, const char* const* names, int64_t* numel) {
  *numel = c.in(0).numel();
  for (int i = 0; i < n; ++i) {
    const View& v = c.in(i);
    if (v.dtype != ET_F32) return std::string("DTypeError: ") + op + ": " + names[i] + " must be float32, got " + dtype_name(v.dtype);
    if (!v.contiguous()) return std::string("ShapeError: ") + op + ": " + names[i] + " must be contiguous";
    if (v.numel() != *numel)
      return std::string("ShapeError: ") + op + ": " + names[i] + " has " + std::to_string(v.numel()) +
             " elements, param has " + std::to_string(*numel);
  }
  return "";
}

// Splits [0, n) over the pool in chunks whose starts are multiples of 8, so which elements take
// the vector path (and its rounding) does not depend on the thread count.
template <class F>
void for_chunks(int64_t n, F f) {
  parallel_for((n + 7) / 8, kGrain / 8, [&](int64_t b, int64_t e) { f(b * 8, std::min(n, e * 8)); });
}

// (param, grad, m, v); p0 lr, p1 beta1, p2 beta2, p3 eps, p4 weight decay, p5 step (1-based),
// p6 grad scale.
//   p <- p * (1 - lr * wd)                      (decoupled weight decay)
//   m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2     (g = grad * scale)
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// sqrt does not auto-vectorise under the default -fmath-errno, hence the intrinsics.
std::string k_adamw(const Call& c) {
  static const char* const names[] = {"param", "grad", "exp_avg", "exp_avg_sq"};
  int64_t n;
  std::string e = check_args("adamw", c, 4, names, &n);
  if (!e.empty()) return e;
  const double lr = c.p[0], b1 = c.p[1], b2 = c.p[2], step = c.p[5];
  if (!(step >= 1)) return "ValueError: adamw: step must be >= 1, got " + std::to_string(step);
  const float decay = float(1.0 - lr * c.p[4]);
  const float step_size = float(lr / (1.0 - std::pow(b1, step)));
  const float bc2_sqrt = float(std::sqrt(1.0 - std::pow(b2, step)));
  const float fb1 = float(b1), fb2 = float(b2), ob1 = float(1.0 - b1), ob2 = float(1.0 - b2);
  const float eps = float(c.p[3]), scale = float(c.p[6]);
  float* pp = c.in(0).data<float>();
  const float* gp = c.in(1).data<float>();
  float* mp = c.in(2).data<float>();
  float* vp = c.in(3).data<float>();
  for_chunks(n, [&](int64_t b, int64_t en) {
    int64_t i = b;
#if defined(__AVX2__) && defined(__FMA__)
    const __m256 vdecay = _mm256_set1_ps(decay), vstep = _mm256_set1_ps(step_size), vbc2 = _mm256_set1_ps(bc2_sqrt);
    const __m256 vb1 = _mm256_set1_ps(fb1), vb2 = _mm256_set1_ps(fb2), vob1 = _mm256_set1_ps(ob1), vob2 = _mm256_set1_ps(ob2);
    const __m256 veps = _mm256_set1_ps(eps), vscale = _mm256_set1_ps(scale);
    for (; i + 8 <= en; i += 8) {
      const __m256 g = _mm256_mul_ps(_mm256_loadu_ps(gp + i), vscale);
      const __m256 m = _mm256_fmadd_ps(vb1, _mm256_loadu_ps(mp + i), _mm256_mul_ps(vob1, g));
      const __m256 v = _mm256_fmadd_ps(vb2, _mm256_loadu_ps(vp + i), _mm256_mul_ps(vob2, _mm256_mul_ps(g, g)));
      _mm256_storeu_ps(mp + i, m);
      _mm256_storeu_ps(vp + i, v);
      const __m256 den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v), vbc2), veps);
      const __m256 upd = _mm256_div_ps(_mm256_mul_ps(vstep, m), den);
      _mm256_storeu_ps(pp + i, _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(pp + i), vdecay), upd));
    }
#elif defined(__ARM_NEON) && defined(__aarch64__)
    const float32x4_t vdecay = vdupq_n_f32(decay), vstep = vdupq_n_f32(step_size), vbc2 = vdupq_n_f32(bc2_sqrt);
    const float32x4_t vb1 = vdupq_n_f32(fb1), vb2 = vdupq_n_f32(fb2), vob1 = vdupq_n_f32(ob1), vob2 = vdupq_n_f32(ob2);
    const float32x4_t veps = vdupq_n_f32(eps), vscale = vdupq_n_f32(scale);
    for (; i + 4 <= en; i += 4) {
      const float32x4_t g = vmulq_f32(vld1q_f32(gp + i), vscale);
      const float32x4_t m = vfmaq_f32(vmulq_f32(vob1, g), vb1, vld1q_f32(mp + i));
      const float32x4_t v = vfmaq_f32(vmulq_f32(vob2, vmulq_f32(g, g)), vb2, vld1q_f32(vp + i));
      vst1q_f32(mp + i, m);
      vst1q_f32(vp + i, v);
      const float32x4_t den = vaddq_f32(vdivq_f32(vsqrtq_f32(v), vbc2), veps);
      const float32x4_t upd = vdivq_f32(vmulq_f32(vstep, m), den);
      vst1q_f32(pp + i, vsubq_f32(vmulq_f32(vld1q_f32(pp + i), vdecay), upd));
    }
#endif
    for (; i < en; ++i) {
      const float g = gp[i] * scale;
      const float m = fb1 * mp[i] + ob1 * g;
      const float v = fb2 * vp[i] + ob2 * (g * g);
      mp[i] = m;
      vp[i] = v;
      pp[i] = pp[i] * decay - step_size * m / (std::sqrt(v) / bc2_sqrt + eps);
    }
  });
  return "";
}

// (param, grad, momentum buf); p0 lr, p1 momentum, p2 dampening, p3 weight decay, p4 nesterov,
// p5 first step, p6 grad scale.
//   g <- grad * scale (+ wd * p when wd != 0, as PyTorch skips it)
//   momentum != 0: buf <- first ? g : momentum * buf + (1 - dampening) * g
//                  g <- nesterov ? g + momentum * buf : buf
//   p <- p - lr * g
// With momentum == 0 the buffer is not touched (it may be empty). The flags are template
// arguments so each loop is branch-free and vectorises.
template <bool kWd, bool kMomentum, bool kNesterov, bool kFirst>
void sgd_loop(const Call& c, int64_t n) {
  const float lr = float(c.p[0]), mom = float(c.p[1]), damp1 = float(1.0 - c.p[2]), wd = float(c.p[3]);
  const float scale = float(c.p[6]);
  float* pp = c.in(0).data<float>();
  const float* gp = c.in(1).data<float>();
  float* bp = kMomentum ? c.in(2).data<float>() : nullptr;
  // by value, so the stores through pp cannot alias the scalars and the loop vectorises
  for_chunks(n, [=](int64_t b, int64_t en) {
    for (int64_t i = b; i < en; ++i) {
      float g = gp[i] * scale;
      if (kWd) g += wd * pp[i];
      if (kMomentum) {
        const float buf = kFirst ? g : mom * bp[i] + damp1 * g;
        bp[i] = buf;
        g = kNesterov ? g + mom * buf : buf;
      }
      pp[i] -= lr * g;
    }
  });
}

using SgdFn = void (*)(const Call&, int64_t);
template <int I>
constexpr SgdFn sgd_fn() {
  return sgd_loop<(I & 1) != 0, (I & 2) != 0, (I & 4) != 0, (I & 8) != 0>;
}
constexpr SgdFn kSgd[16] = {sgd_fn<0>(),  sgd_fn<1>(),  sgd_fn<2>(),  sgd_fn<3>(),  sgd_fn<4>(),  sgd_fn<5>(),
                            sgd_fn<6>(),  sgd_fn<7>(),  sgd_fn<8>(),  sgd_fn<9>(),  sgd_fn<10>(), sgd_fn<11>(),
                            sgd_fn<12>(), sgd_fn<13>(), sgd_fn<14>(), sgd_fn<15>()};

std::string k_sgd(const Call& c) {
  static const char* const names[] = {"param", "grad", "momentum_buffer"};
  const bool momentum = c.p[1] != 0;
  int64_t n;
  std::string e = check_args("sgd", c, momentum ? 3 : 2, names, &n);
  if (!e.empty()) return e;
  const bool wd = c.p[3] != 0, nesterov = momentum && c.p[4] != 0, first = momentum && c.p[5] != 0;
  kSgd[int(wd) | int(momentum) << 1 | int(nesterov) << 2 | int(first) << 3](c, n);
  return "";
}

}  // namespace

void register_optim(KernelFn* t) {
  t[OP_ADAMW] = k_adamw;
  t[OP_SGD] = k_sgd;
}

}  // namespace ET_ISA
}  // namespace et

// The fused SwiGLU activation of LLM MLPs: (a, b) -> silu(a) * b, and its backward.
#include <cmath>
#include <string>

#include "fastmath.h"
#include "kernels.h"

namespace et {
namespace ET_ISA {
namespace {

// (a, b) -> silu(a) * b; all contiguous and of one shape. Backward with s = sigmoid(a):
// da = dy b s (1 + a (1 - s)), db = dy a s.
constexpr int64_t kGrain = 16384;

inline float sigm(float v) { return 1.f / (1.f + std::exp(-v)); }

#if defined(__AVX2__) && defined(__FMA__)
// 8 x sigmoid(v) = 1 / (1 + exp(-v)): exactly 0 / 1 at -inf / +inf (exp8 overflows to inf),
// NaN for NaN, as std::exp gives in the scalar tail.
inline __m256 sigm8(__m256 v) {
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), v));
  return _mm256_div_ps(_mm256_set1_ps(1.f), _mm256_add_ps(_mm256_set1_ps(1.f), e));
}
#endif
#if defined(__AVX512F__)
inline __m512 sigm16(__m512 v) {
  const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), v));
  return _mm512_div_ps(_mm512_set1_ps(1.f), _mm512_add_ps(_mm512_set1_ps(1.f), e));
}
#endif

std::string same_numel(const char* op, const Call& c, int n_in) {
  const int64_t n = c.out(0).numel();
  for (int i = 0; i < n_in; ++i)
    if (c.in(i).numel() != n || !c.in(i).contiguous())
      return std::string("ShapeError: ") + op + ": inputs must be contiguous with " + std::to_string(n) + " elements";
  return "";
}

std::string k_swiglu(const Call& c) {
  std::string e = same_numel("swiglu", c, 2);
  if (!e.empty()) return e;
  const float* a = c.in(0).data<float>();
  const float* b = c.in(1).data<float>();
  float* y = c.out(0).data<float>();
  parallel_for(c.out(0).numel(), kGrain, [&](int64_t i0, int64_t i1) {
    int64_t i = i0;
#if defined(__AVX512F__)
    for (; i + 16 <= i1; i += 16) {
      const __m512 va = _mm512_loadu_ps(a + i);
      _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_mul_ps(va, sigm16(va)), _mm512_loadu_ps(b + i)));
    }
#endif
#if defined(__AVX2__) && defined(__FMA__)
    for (; i + 8 <= i1; i += 8) {
      const __m256 va = _mm256_loadu_ps(a + i);
      _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(va, sigm8(va)), _mm256_loadu_ps(b + i)));
    }
#endif
    for (; i < i1; ++i) y[i] = a[i] * sigm(a[i]) * b[i];
  });
  return "";
}

std::string k_swiglu_bwd(const Call& c) {
  std::string e = same_numel("swigluBwd", c, 3);
  if (!e.empty()) return e;
  const float* a = c.in(0).data<float>();
  const float* b = c.in(1).data<float>();
  const float* dy = c.in(2).data<float>();
  float* da = c.out(0).data<float>();
  float* db = c.out(1).data<float>();
  parallel_for(c.out(0).numel(), kGrain, [&](int64_t i0, int64_t i1) {
    int64_t i = i0;
#if defined(__AVX512F__)
    {
      const __m512 one = _mm512_set1_ps(1.f);
      for (; i + 16 <= i1; i += 16) {
        const __m512 va = _mm512_loadu_ps(a + i), vb = _mm512_loadu_ps(b + i), g = _mm512_loadu_ps(dy + i);
        const __m512 s = sigm16(va);
        const __m512 t = _mm512_fmadd_ps(va, _mm512_sub_ps(one, s), one);
        _mm512_storeu_ps(da + i, _mm512_mul_ps(_mm512_mul_ps(g, vb), _mm512_mul_ps(s, t)));
        _mm512_storeu_ps(db + i, _mm512_mul_ps(_mm512_mul_ps(g, va), s));
      }
    }
#endif
#if defined(__AVX2__) && defined(__FMA__)
    const __m256 one = _mm256_set1_ps(1.f);
    for (; i + 8 <= i1; i += 8) {
      const __m256 va = _mm256_loadu_ps(a + i), vb = _mm256_loadu_ps(b + i), g = _mm256_loadu_ps(dy + i);
      const __m256 s = sigm8(va);
      // da = g b s (1 + a (1 - s)), db = g a s
      const __m256 t = _mm256_fmadd_ps(va, _mm256_sub_ps(one, s), one);
      _mm256_storeu_ps(da + i, _mm256_mul_ps(_mm256_mul_ps(g, vb), _mm256_mul_ps(s, t)));
      _mm256_storeu_ps(db + i, _mm256_mul_ps(_mm256_mul_ps(g, va), s));
    }
#endif
    for (; i < i1; ++i) {
      const float s = sigm(a[i]);
      const float g = dy[i];
      da[i] = g * b[i] * s * (1.f + a[i] * (1.f - s));
      db[i] = g * a[i] * s;
    }
  });
  return "";
}

}  // namespace

void register_swiglu(KernelFn* t) {
  t[OP_SWIGLU] = k_swiglu;
  t[OP_SWIGLU_BWD] = k_swiglu_bwd;
}

}  // namespace ET_ISA
}  // namespace et

// Integer dot products of quantized weight rows with 8-bit activations (see quant_dot.h). AVX2:
// vpmaddubsw multiplies unsigned weight codes by signed activation bytes into pairs of int16,
// vpmaddwd sums them into int32 lanes, and each block's scale product turns those into floats.
// Where the tier has VNNI, vpdpbusd does both in one instruction (quant_dot_x86.inc, compiled twice).
// NEON (arm64): widening multiplies (smull) with pairwise accumulation (sadalp) per 16 values.
// Codes with an offset (Q4_0's -8, Q6_K's -32) or a min (Q4_K, Q5_K) are corrected with the sums of the
// activation bytes per 16, which quantize_row_q8 keeps.
#include "quant_dot.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "../dtype.h"
#include "cpuid.h"
#include "quant_blocks.h"
#include "rows.h"
#include "../threadpool.h"

#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace et {
namespace ET_ISA {

// A block holding NaN or +-Inf cannot be rounded to int8 (int(NaN) is undefined): it gets scale
// NaN, or +Inf with codes +-1 at the infinities and 0 elsewhere, so every dot product with it is
// NaN, or +-Inf / NaN as the float sum with that infinity would be.
namespace {

void quantize_block_q8(const float* xb, int8_t* q, float* d, int32_t* sum16) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) {
    const float a = std::fabs(xb[j]);
    amax = (a > amax || a != a) ? a : amax;  // NaN-propagating max
  }
  if (!(amax <= std::numeric_limits<float>::max())) {
    const bool nan = amax != amax;
    *d = nan ? amax : std::numeric_limits<float>::infinity();
    for (int h = 0; h < 2; ++h) {
      int32_t sum = 0;
      for (int j = 16 * h; j < 16 * h + 16; ++j) {
        const int v = nan || std::fabs(xb[j]) != std::numeric_limits<float>::infinity() ? 0 : (xb[j] > 0 ? 1 : -1);
        q[j] = int8_t(v);
        sum += v;
      }
      sum16[h] = sum;
    }
    return;
  }
  const float s = amax / 127;
  const float is = s > 0 ? 1 / s : 0;
  *d = s;
  for (int h = 0; h < 2; ++h) {
    int32_t sum = 0;
    for (int j = 16 * h; j < 16 * h + 16; ++j) {
      const int v = int(std::nearbyint(xb[j] * is));
      q[j] = int8_t(v);
      sum += v;
    }
    sum16[h] = sum;
  }
}

#if defined(__AVX2__)
inline int32_t hsum_i32(__m256i v) {
  __m128i a = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0x4E));
  return _mm_cvtsi128_si32(_mm_add_epi32(a, _mm_shuffle_epi32(a, 0xB1)));
}
#endif

}  // namespace

void quantize_row_q8(const float* x, int64_t n, int8_t* q, float* d, int32_t* sum16) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x + 32 * b;
#if defined(__AVX2__)
    // the scalar block's values: the same scale and quotient, and vcvtps2dq rounds half to even
    // as nearbyint does in the default rounding mode; blocks with NaN or infinity go the scalar way
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4], m = _mm256_setzero_ps(), fin = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(xb + 8 * k);
      const __m256 a = _mm256_andnot_ps(sign, v[k]);
      m = _mm256_max_ps(m, a);
      fin = _mm256_and_ps(fin, _mm256_cmp_ps(a, _mm256_set1_ps(std::numeric_limits<float>::max()), _CMP_LE_OQ));
    }
    if (_mm256_movemask_ps(fin) == 0xFF) {
      __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
      h = _mm_max_ps(h, _mm_movehl_ps(h, h));
      h = _mm_max_ss(h, _mm_movehdup_ps(h));
      const float amax = _mm_cvtss_f32(h);
      const float s = amax / 127;
      const __m256 is = _mm256_set1_ps(s > 0 ? 1 / s : 0);
      d[b] = s;
      __m256i i[4];
      for (int k = 0; k < 4; ++k) i[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], is));
      sum16[2 * b] = hsum_i32(_mm256_add_epi32(i[0], i[1]));
      sum16[2 * b + 1] = hsum_i32(_mm256_add_epi32(i[2], i[3]));
      // int32 to bytes (no saturation: |v| <= 127): packs interleave 4-lane groups, the permute restores order
      const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * b), _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
      continue;
    }
#endif
    quantize_block_q8(xb, q + 32 * b, d + b, sum16 + 2 * b);
  }
}

#if defined(__AVX2__)

namespace {
#define QD_VNNI 0
#define QD_NS qd_plain
#include "quant_dot_x86.inc"
#undef QD_NS
#undef QD_VNNI
#pragma GCC push_options
#if defined(__AVX512F__)
#pragma GCC target("avx512vnni")
#else
#pragma GCC target("avxvnni")
#endif
#define QD_VNNI 1
#define QD_NS qd_vnni
#include "quant_dot_x86.inc"
#undef QD_NS
#undef QD_VNNI
#pragma GCC pop_options
}  // namespace

#elif defined(__ARM_NEON) && defined(__aarch64__)

namespace {

// 16 codes (each < 128) times 16 signed bytes, summed: widening multiplies, pairwise accumulation
inline int32_t dot16(uint8x16_t codes, const int8_t* x) {
  const int8x16_t a = vreinterpretq_s8_u8(codes), b = vld1q_s8(x);
  const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  const int16x8_t hi = vmull_high_s8(a, b);
  return vaddvq_s32(vpadalq_s16(vpaddlq_s16(lo), hi));
}

float dot_q8_0(const uint8_t* w, int64_t nb, const Q8Row& x) {
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i, w += kBlockBytes<Q8_0>) {
    const int8x16_t a0 = vld1q_s8(reinterpret_cast<const int8_t*>(w + 2)), a1 = vld1q_s8(reinterpret_cast<const int8_t*>(w + 18));
    const int8x16_t b0 = vld1q_s8(x.q + 32 * i), b1 = vld1q_s8(x.q + 32 * i + 16);
    int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(a0), vget_low_s8(b0)));
    s = vpadalq_s16(s, vmull_high_s8(a0, b0));
    s = vpadalq_s16(s, vmull_s8(vget_low_s8(a1), vget_low_s8(b1)));
    s = vpadalq_s16(s, vmull_high_s8(a1, b1));
    acc += load_f16(w) * x.d[i] * float(vaddvq_s32(s));
  }
  return acc;
}

float dot_q4_0(const uint8_t* w, int64_t nb, const Q8Row& x) {
  const uint8x16_t m4 = vdupq_n_u8(0x0F);
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i, w += kBlockBytes<Q4_0>) {
    const uint8x16_t b = vld1q_u8(w + 2);
    const int32_t sum = dot16(vandq_u8(b, m4), x.q + 32 * i) + dot16(vshrq_n_u8(b, 4), x.q + 32 * i + 16);
    acc += load_f16(w) * x.d[i] * float(sum - 8 * (x.sum16[2 * i] + x.sum16[2 * i + 1]));
  }
  return acc;
}

template <bool five>
float dot_qk45(const uint8_t* w, int64_t nsb, const Q8Row& x) {
  const uint8x16_t m4 = vdupq_n_u8(0x0F), one = vdupq_n_u8(1);
  constexpr int bytes = five ? kBlockBytes<Q5_K> : kBlockBytes<Q4_K>;
  float acc = 0;
  for (int64_t b = 0; b < nsb; ++b, w += bytes) {
    const float d = load_f16(w), dmin = load_f16(w + 2);
    const uint8_t* qs = w + 16 + (five ? 32 : 0);
    const int8_t* qx = x.q + 256 * b;
    const float* dx = x.d + 8 * b;
    const int32_t* s16 = x.sum16 + 16 * b;
    for (int j = 0; j < 4; ++j) {
      int32_t p0 = 0, p1 = 0;
      for (int h = 0; h < 2; ++h) {
        const uint8x16_t v = vld1q_u8(qs + 32 * j + 16 * h);
        uint8x16_t lo = vandq_u8(v, m4), hi = vshrq_n_u8(v, 4);
        if (five) {
          const uint8x16_t bits = vshlq_u8(vld1q_u8(w + 16 + 16 * h), vdupq_n_s8(int8_t(-2 * j)));
          lo = vorrq_u8(lo, vshlq_n_u8(vandq_u8(bits, one), 4));
          hi = vorrq_u8(hi, vshlq_n_u8(vandq_u8(vshrq_n_u8(bits, 1), one), 4));
        }
        p0 += dot16(lo, qx + 64 * j + 16 * h);
        p1 += dot16(hi, qx + 64 * j + 32 + 16 * h);
      }
      int s0, m0, s1, m1;
      k_scale_min(w + 4, 2 * j, &s0, &m0);
      k_scale_min(w + 4, 2 * j + 1, &s1, &m1);
      acc += d * float(s0) * dx[2 * j] * float(p0) - dmin * float(m0) * dx[2 * j] * float(s16[4 * j] + s16[4 * j + 1]);
      acc += d * float(s1) * dx[2 * j + 1] * float(p1) - dmin * float(m1) * dx[2 * j + 1] * float(s16[4 * j + 2] + s16[4 * j + 3]);
    }
  }
  return acc;
}

float dot_q6_k(const uint8_t* w, int64_t nsb, const Q8Row& x) {
  const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x03);
  float acc = 0;
  for (int64_t b = 0; b < nsb; ++b, w += kBlockBytes<Q6_K>) {
    const float d = load_f16(w + 208);
    const int8_t* sc = reinterpret_cast<const int8_t*>(w + 192);
    for (int n = 0; n < 2; ++n)
      for (int h = 0; h < 2; ++h) {
        // 16 values of each of the four groups of 32 in this half (see the AVX2 version)
        const uint8x16_t A = vld1q_u8(w + 64 * n + 16 * h), B = vld1q_u8(w + 64 * n + 32 + 16 * h), H = vld1q_u8(w + 128 + 32 * n + 16 * h);
        const uint8x16_t q[4] = {
            vorrq_u8(vandq_u8(A, m4), vshlq_n_u8(vandq_u8(H, m2), 4)),
            vorrq_u8(vandq_u8(B, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(H, 2), m2), 4)),
            vorrq_u8(vshrq_n_u8(A, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(H, 4), m2), 4)),
            vorrq_u8(vshrq_n_u8(B, 4), vshlq_n_u8(vshrq_n_u8(H, 6), 4)),
        };
        for (int g = 0; g < 4; ++g) {
          const int64_t blk = 8 * b + 4 * n + g;
          const int k = 8 * n + 2 * g + h;
          const int32_t p = dot16(q[g], x.q + 32 * blk + 16 * h);
          acc += d * float(sc[k]) * x.d[blk] * float(p - 32 * x.sum16[2 * blk + h]);
        }
      }
  }
  return acc;
}

// One NF4 block of 64 with scale s: the codes become int8 levels by a table lookup (tbl).
inline float nf4_block(const uint8_t* qs, float s, const int8_t* qx, const float* dx) {
  const int8x16_t table = vld1q_s8(kNF4I8);
  const uint8x16_t m4 = vdupq_n_u8(0x0F);
  int32_t p[2] = {0, 0};
  for (int h = 0; h < 2; ++h) {
    const uint8x16_t v = vld1q_u8(qs + 16 * h);
    p[0] += dot16(vreinterpretq_u8_s8(vqtbl1q_s8(table, vandq_u8(v, m4))), qx + 16 * h);
    p[1] += dot16(vreinterpretq_u8_s8(vqtbl1q_s8(table, vshrq_n_u8(v, 4))), qx + 32 + 16 * h);
  }
  return s * dx[0] * float(p[0]) + s * dx[1] * float(p[1]);
}

float dot_nf4(const uint8_t* w, int64_t nb, const Q8Row& x) {
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i, w += kBlockBytes<NF4>) {
    float amax;
    std::memcpy(&amax, w, 4);
    acc += nf4_block(w + 4, amax / 127, x.q + 64 * i, x.d + 2 * i);
  }
  return acc;
}

float dot_nf4_dq(const uint8_t* w, int64_t nb, const Q8Row& x) {
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i, w += kBlockBytes<NF4_DQ>) {
    const float d = load_f16(w);
    for (int s = 0; s < 4; ++s) acc += nf4_block(w + 6 + 32 * s, d * float(w[2 + s]) / 127, x.q + 256 * i + 64 * s, x.d + 8 * i + 2 * s);
  }
  return acc;
}

}  // namespace

#endif

#if defined(__AVX2__) || (defined(__ARM_NEON) && defined(__aarch64__))

bool has_dot_q8(int type) { return type == Q8_0 || type == Q4_0 || type == Q4_K || type == Q5_K || type == Q6_K || type == NF4 || type == NF4_DQ; }

#if defined(__AVX2__)
#define QD_DISPATCH(ns)                                                      \
  switch (type) {                                                            \
    case Q8_0: return ns::dot_q8_0(w, K / kBlockElems<Q8_0>, x);             \
    case Q4_0: return ns::dot_q4_0(w, K / kBlockElems<Q4_0>, x);             \
    case Q4_K: return ns::dot_qk45<false>(w, K / kBlockElems<Q4_K>, x);      \
    case Q5_K: return ns::dot_qk45<true>(w, K / kBlockElems<Q5_K>, x);       \
    case Q6_K: return ns::dot_q6_k(w, K / kBlockElems<Q6_K>, x);             \
    case NF4: return ns::dot_nf4(w, K / kBlockElems<NF4>, x);                \
    case NF4_DQ: return ns::dot_nf4_dq(w, K / kBlockElems<NF4_DQ>, x);       \
    default: return 0.f; /* has_dot_q8 is false: never called */            \
  }

float dot_q8(int type, const uint8_t* w, int64_t K, const Q8Row& x) {
  // vpdpbusd where the tier allows it (decided once: the tier never changes)
#if defined(__AVX512F__)
  static const bool vnni = cpu_features().avx512_vnni;
#else
  static const bool vnni = cpu_features().avx_vnni;
#endif
  if (vnni) {
    QD_DISPATCH(qd_vnni)
  }
  QD_DISPATCH(qd_plain)
}
#undef QD_DISPATCH
#else
float dot_q8(int type, const uint8_t* w, int64_t K, const Q8Row& x) {
  switch (type) {
    case Q8_0: return dot_q8_0(w, K / kBlockElems<Q8_0>, x);
    case Q4_0: return dot_q4_0(w, K / kBlockElems<Q4_0>, x);
    case Q4_K: return dot_qk45<false>(w, K / kBlockElems<Q4_K>, x);
    case Q5_K: return dot_qk45<true>(w, K / kBlockElems<Q5_K>, x);
    case Q6_K: return dot_q6_k(w, K / kBlockElems<Q6_K>, x);
    case NF4: return dot_nf4(w, K / kBlockElems<NF4>, x);
    case NF4_DQ: return dot_nf4_dq(w, K / kBlockElems<NF4_DQ>, x);
    default: return 0.f;  // has_dot_q8 is false: never called
  }
}
#endif

#else

bool has_dot_q8(int) { return false; }
float dot_q8(int, const uint8_t*, int64_t, const Q8Row&) { return 0.f; }  // has_dot_q8 is false: never called

#endif

// The weight streams from memory once per token, so the kernel is bound by how many cache lines
// are in flight. Each row asks for the lines kPrefetchBytes further on (the same stretch of the
// chunk a few rows ahead, whatever the row length: Q4_K rows at K 768 are 432 bytes, Q8_0's 816)
// into L2 (prefetcht1; the L1 streamer then brings them on), which leaves the L1 fill buffers to
// the loads. Measured on a 2-core Sapphire Rapids against prefetcht0 of the row 4 rows on: the
// 100M-model decode chain (85 matmuls, 106 MB of Q8_0) 12-20% faster.
constexpr int64_t kPrefetchBytes = 4096;

void gemv_q8(int type, const uint8_t* w, int64_t rowBytes, int64_t N, int64_t K, const int8_t* qx, const float* dx, const int32_t* sx, int64_t M, float* y,
             int64_t ldy) {
  parallel_for(N, 8, [&](int64_t n0, int64_t n1) {
    const uint8_t* end = w + n1 * rowBytes;  // this chunk's end: the next chunk is another thread's
    for (int64_t n = n0; n < n1; ++n) {
      const uint8_t* row = w + n * rowBytes;
      for (const uint8_t* p = row + kPrefetchBytes; p < row + kPrefetchBytes + rowBytes && p < end; p += 64) __builtin_prefetch(p, 0, 2);
      for (int64_t m = 0; m < M; ++m) y[m * ldy + n] = dot_q8(type, row, K, Q8Row{qx + m * K, dx + m * K / 32, sx + m * K / 16});
    }
  });
}

}  // namespace ET_ISA
}  // namespace et

// Single-precision GEMM, BLIS-style: B is packed into KC x NR column panels (a KC x NC block kept
// in L3), A into MR x KC row panels (an MC x KC block kept in L2), and an MR x NR register-tile
// micro-kernel streams one A panel against one B panel.
//
// Compiled once per ISA (see kernels.h): the AVX-512 copy uses a 14x32 zmm kernel (gemm_avx512.h),
// the AVX2+FMA copy a 6x16 kernel (inline asm k loop
// under GCC/Clang, intrinsics otherwise), the NEON copy an 8x12 kernel, and the baseline copy a
// 4x8 loop nest the compiler vectorises. M == 1 / N == 1 go to a GEMV path (LLM decode), tiny
// products to a plain loop. Threads take disjoint rectangles of C (see gemm_f32).
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <type_traits>
#include <cstdlib>
#include <cstring>

#include "../dtype.h"
#include "../threadpool.h"
#include "rows.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define ET_GEMM_AVX2 1
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
// The AVX-512 copy keeps the AVX2 helpers (GEMV, conversions) and swaps in a 14x32 zmm kernel.
#define ET_GEMM_AVX512 1
#if defined(__linux__)  // AMX detection and permission (gemm_amx.h)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "cpuid.h"
#endif
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#define ET_GEMM_NEON 1
#endif

namespace et {
namespace ET_ISA {
namespace {

// Register tile and cache blocking (tuned on a 2-core Zen 4 VM: 32 KiB L1d, 1 MiB L2, 32 MiB L3).
// AVX2: 6x16 = 12 ymm accumulators + 2 B vectors + 2 broadcasts = all 16 registers.
// KC = 512: a 16 x 512 B panel is 32 KiB, so it lives in L1/L2 rather than L1 alone, but L2 feeds
// the 64 B per 6 cycles the kernel needs, and halving the number of C read-modify-write passes
// (and the per-call overhead) measured 3-5% faster than KC = 256 (KC = 768+ was slower).
// MC = 144: packed A block 144 x 512 x 4 B = 288 KiB, comfortably inside L2 next to the B panels.
// NC = 4096: packed B block up to 8 MiB; with two threads (each with its own block) 16 MiB of L3.
#if defined(ET_GEMM_AVX512)
// MR = 14, NR = 32: see gemm_avx512.h.
#elif defined(ET_GEMM_AVX2)
constexpr int MR = 6;
constexpr int NR = 16;
#elif defined(ET_GEMM_NEON)
// 8x12 = 24 q accumulators + 2 A + 3 B = 29 of the 32 NEON registers.
constexpr int MR = 8;
constexpr int NR = 12;
#else
// Baseline x86-64 has 16 xmm registers: 4x8 = 8 accumulators, as SSE2 vectors after vectorisation.
constexpr int MR = 4;
constexpr int NR = 8;
#endif
// -DET_GEMM_KC=... etc. override these for tuning runs.
#if defined(ET_GEMM_AVX512)
// AVX-512 (tuned on a 2-core Sapphire Rapids VM: 48 KiB L1d, 2 MiB L2): KC = 512 makes the
// 32 x 512 B micro-panel 64 KiB, fed partly from L2, but halves the read-modify-write passes over
// C against KC = 256 and measured 2-6% faster (KC = 384 in between); MC = 168 = 12 x MR (336 KiB
// packed A) beat 336.
#ifndef ET_GEMM_KC
#define ET_GEMM_KC 512
#endif
#ifndef ET_GEMM_MC
#define ET_GEMM_MC 168
#endif
#endif
#ifndef ET_GEMM_KC
#define ET_GEMM_KC 512
#endif
#ifndef ET_GEMM_MC
#define ET_GEMM_MC 144  // multiple of MR for every ISA above (6, 8, 4)
#endif
#ifndef ET_GEMM_NC
#define ET_GEMM_NC 4096
#endif
constexpr int64_t KC_MAX = ET_GEMM_KC;
constexpr int64_t MC_MAX = ET_GEMM_MC;
constexpr int64_t NC_MAX = ET_GEMM_NC;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Grow-only 64-byte aligned scratch, one per thread per use. malloc + manual alignment keeps this
// portable to platforms without std::aligned_alloc. Returns nullptr when out of memory.
struct AlignedBuf {
  void* raw = nullptr;
  float* p = nullptr;
  size_t cap = 0;  // floats
  ~AlignedBuf() { std::free(raw); }
  float* get(size_t n) {
    if (n <= cap) return p;
    std::free(raw);
    raw = std::malloc(n * sizeof(float) + 128);
    if (!raw) {
      p = nullptr;
      cap = 0;
      return nullptr;
    }
    p = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(raw) + 63) & ~uintptr_t(63));
    cap = n;
    return p;
  }
};

thread_local AlignedBuf tl_apack;
thread_local AlignedBuf tl_bpack;

// C := beta * C for an M x N tile (beta == 0 writes zeros without reading).
void scale_c(int64_t M, int64_t N, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.0f) {
      for (int64_t j = 0; j < N; ++j) ci[j] = 0.0f;
    } else if (beta != 1.0f) {
      for (int64_t j = 0; j < N; ++j) ci[j] *= beta;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Micro-kernels. All compute C[MR x NR] = alpha * (A panel . B panel) + beta * C, where the A panel
// is packed k-major (MR floats per k) and the B panel has NR contiguous floats per k at stride ldb
// (NR when packed, the row stride of B when B is read in place). beta == 0: C is not read.

#if defined(ET_GEMM_AVX512)

#include "gemm_avx512.h"

#elif defined(ET_GEMM_AVX2)

#if defined(__GNUC__) && defined(__x86_64__)
// The k loop is written in asm: GCC 12 rotates the 12 intrinsic accumulators through the broadcast
// register and spills two of them every k (about -15% in a pure-L1 test). Here the 12
// accumulators, 2 B vectors and 2 broadcast temporaries fill exactly the 16 ymm registers.
// One k step: 2 B loads + 6 broadcasts feed 12 FMAs (6 cycles at 2 FMA/cycle).
#define ET_K(A0, A1, A2, A3, A4, A5, B0, B1)       \
  "vmovups " B0 ", %[t0]\n\t"                     \
  "vmovups " B1 ", %[t1]\n\t"                     \
  "vbroadcastss " A0 "(%[a]), %[t2]\n\t"          \
  "vfmadd231ps %[t0], %[t2], %[c00]\n\t"          \
  "vfmadd231ps %[t1], %[t2], %[c01]\n\t"          \
  "vbroadcastss " A1 "(%[a]), %[t3]\n\t"          \
  "vfmadd231ps %[t0], %[t3], %[c10]\n\t"          \
  "vfmadd231ps %[t1], %[t3], %[c11]\n\t"          \
  "vbroadcastss " A2 "(%[a]), %[t2]\n\t"          \
  "vfmadd231ps %[t0], %[t2], %[c20]\n\t"          \
  "vfmadd231ps %[t1], %[t2], %[c21]\n\t"          \
  "vbroadcastss " A3 "(%[a]), %[t3]\n\t"          \
  "vfmadd231ps %[t0], %[t3], %[c30]\n\t"          \
  "vfmadd231ps %[t1], %[t3], %[c31]\n\t"          \
  "vbroadcastss " A4 "(%[a]), %[t2]\n\t"          \
  "vfmadd231ps %[t0], %[t2], %[c40]\n\t"          \
  "vfmadd231ps %[t1], %[t2], %[c41]\n\t"          \
  "vbroadcastss " A5 "(%[a]), %[t3]\n\t"          \
  "vfmadd231ps %[t0], %[t3], %[c50]\n\t"          \
  "vfmadd231ps %[t1], %[t3], %[c51]\n\t"

void ukernel(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t ldb,
             float* __restrict c, int64_t ldc, float alpha, float beta) {
  for (int i = 0; i < MR; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
  for (int i = 0; i < MR; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 15), _MM_HINT_T0);
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, t0, t1, t2, t3;
  int64_t k4 = kc >> 2, kr = kc & 3, ldb3;
  const int64_t ldbb = ldb * int64_t(sizeof(float));
  __asm__ volatile(
      "vxorps %[c00], %[c00], %[c00]\n\t"
      "vxorps %[c01], %[c01], %[c01]\n\t"
      "vxorps %[c10], %[c10], %[c10]\n\t"
      "vxorps %[c11], %[c11], %[c11]\n\t"
      "vxorps %[c20], %[c20], %[c20]\n\t"
      "vxorps %[c21], %[c21], %[c21]\n\t"
      "vxorps %[c30], %[c30], %[c30]\n\t"
      "vxorps %[c31], %[c31], %[c31]\n\t"
      "vxorps %[c40], %[c40], %[c40]\n\t"
      "vxorps %[c41], %[c41], %[c41]\n\t"
      "vxorps %[c50], %[c50], %[c50]\n\t"
      "vxorps %[c51], %[c51], %[c51]\n\t"
      "lea (%[ldb], %[ldb], 2), %[ldb3]\n\t"
      "test %[k4], %[k4]\n\t"
      "jz 2f\n\t"
      ".p2align 5\n\t"
      "1:\n\t"
      "prefetcht0 384(%[a])\n\t"
      ET_K("0", "4", "8", "12", "16", "20", "(%[b])", "32(%[b])")
      ET_K("24", "28", "32", "36", "40", "44", "(%[b], %[ldb])", "32(%[b], %[ldb])")
      ET_K("48", "52", "56", "60", "64", "68", "(%[b], %[ldb], 2)", "32(%[b], %[ldb], 2)")
      ET_K("72", "76", "80", "84", "88", "92", "(%[b], %[ldb3])", "32(%[b], %[ldb3])")
      "add $96, %[a]\n\t"
      "lea (%[b], %[ldb], 4), %[b]\n\t"
      "dec %[k4]\n\t"
      "jnz 1b\n\t"
      "2:\n\t"
      "test %[kr], %[kr]\n\t"
      "jz 4f\n\t"
      "3:\n\t"
      ET_K("0", "4", "8", "12", "16", "20", "(%[b])", "32(%[b])")
      "add $24, %[a]\n\t"
      "add %[ldb], %[b]\n\t"
      "dec %[kr]\n\t"
      "jnz 3b\n\t"
      "4:\n\t"
      : [c00] "=&x"(c00), [c01] "=&x"(c01), [c10] "=&x"(c10), [c11] "=&x"(c11), [c20] "=&x"(c20),
        [c21] "=&x"(c21), [c30] "=&x"(c30), [c31] "=&x"(c31), [c40] "=&x"(c40), [c41] "=&x"(c41),
        [c50] "=&x"(c50), [c51] "=&x"(c51), [t0] "=&x"(t0), [t1] "=&x"(t1), [t2] "=&x"(t2), [t3] "=&x"(t3),
        [a] "+r"(a), [b] "+r"(b), [k4] "+r"(k4), [kr] "+r"(kr), [ldb3] "=&r"(ldb3)
      : [ldb] "r"(ldbb)
      : "cc", "memory");
  (void)t0;
  (void)t1;
  (void)t2;
  (void)t3;
#undef ET_K

#else  // intrinsics for compilers without GNU inline asm

void ukernel(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t ldb,
             float* __restrict c, int64_t ldc, float alpha, float beta) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int i = 0; i < MR; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
  for (int i = 0; i < MR; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 15), _MM_HINT_T0);
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    __m256 av = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
    a += MR;
    b += ldb;
  }
#endif

  const __m256 va = _mm256_set1_ps(alpha);
  if (beta == 0.0f) {
#define ET_ST(R, X0, X1)                                          \
  _mm256_storeu_ps(c + (R)*ldc, _mm256_mul_ps(va, X0));           \
  _mm256_storeu_ps(c + (R)*ldc + 8, _mm256_mul_ps(va, X1));
    ET_ST(0, c00, c01) ET_ST(1, c10, c11) ET_ST(2, c20, c21)
    ET_ST(3, c30, c31) ET_ST(4, c40, c41) ET_ST(5, c50, c51)
#undef ET_ST
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
#define ET_ST(R, X0, X1)                                                                        \
  _mm256_storeu_ps(c + (R)*ldc, _mm256_fmadd_ps(va, X0, _mm256_mul_ps(vb, _mm256_loadu_ps(c + (R)*ldc)))); \
  _mm256_storeu_ps(c + (R)*ldc + 8,                                                             \
                   _mm256_fmadd_ps(va, X1, _mm256_mul_ps(vb, _mm256_loadu_ps(c + (R)*ldc + 8))));
    ET_ST(0, c00, c01) ET_ST(1, c10, c11) ET_ST(2, c20, c21)
    ET_ST(3, c30, c31) ET_ST(4, c40, c41) ET_ST(5, c50, c51)
#undef ET_ST
  }
}

#elif defined(ET_GEMM_NEON)

void ukernel(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t ldb,
             float* __restrict c, int64_t ldc, float alpha, float beta) {
  float32x4_t acc[MR][3];
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = acc[i][2] = vdupq_n_f32(0.0f);
  for (int64_t k = 0; k < kc; ++k) {
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
#define ET_ROW(R, AV, L)                              \
  acc[R][0] = vfmaq_laneq_f32(acc[R][0], b0, AV, L);  \
  acc[R][1] = vfmaq_laneq_f32(acc[R][1], b1, AV, L);  \
  acc[R][2] = vfmaq_laneq_f32(acc[R][2], b2, AV, L);
    ET_ROW(0, a0, 0) ET_ROW(1, a0, 1) ET_ROW(2, a0, 2) ET_ROW(3, a0, 3)
    ET_ROW(4, a1, 0) ET_ROW(5, a1, 1) ET_ROW(6, a1, 2) ET_ROW(7, a1, 3)
#undef ET_ROW
    a += MR;
    b += ldb;
  }
  const float32x4_t va = vdupq_n_f32(alpha);
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    for (int v = 0; v < 3; ++v) {
      float32x4_t r = vmulq_f32(acc[i][v], va);
      if (beta != 0.0f) r = vfmaq_n_f32(r, vld1q_f32(ci + 4 * v), beta);
      vst1q_f32(ci + 4 * v, r);
    }
  }
}

#else

void ukernel(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t ldb,
             float* __restrict c, int64_t ldc, float alpha, float beta) {
  float acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = 0.0f;
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < MR; ++i) {
      const float av = a[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += av * b[j];
    }
    a += MR;
    b += ldb;
  }
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < NR; ++j) ci[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < NR; ++j) ci[j] = alpha * acc[i][j] + beta * ci[j];
    }
  }
}

#endif

// ---------------------------------------------------------------------------------------------
// Packing. Panels are zero-padded to full MR / NR so the micro-kernel never needs a ragged loop.

#if defined(ET_GEMM_AVX2)
inline void transpose8x8(__m256& r0, __m256& r1, __m256& r2, __m256& r3, __m256& r4, __m256& r5,
                         __m256& r6, __m256& r7) {
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r0 = _mm256_permute2f128_ps(s0, s4, 0x20);
  r1 = _mm256_permute2f128_ps(s1, s5, 0x20);
  r2 = _mm256_permute2f128_ps(s2, s6, 0x20);
  r3 = _mm256_permute2f128_ps(s3, s7, 0x20);
  r4 = _mm256_permute2f128_ps(s0, s4, 0x31);
  r5 = _mm256_permute2f128_ps(s1, s5, 0x31);
  r6 = _mm256_permute2f128_ps(s2, s6, 0x31);
  r7 = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Packs 8 "lines" (each contiguous in k: src + l*ls + k) into dst[k*dstride + l], 8 k at a time.
// Used for both A with csa == 1 (lines are rows of A) and B with rsb == 1 (lines are columns of B).
// Writes 8 floats per k even when fewer lines are valid, so callers point dst at a panel whose
// trailing slots are rewritten afterwards (dstride >= 8 here, or handled by the caller).
inline void pack8_lines_kmajor(int64_t kc, const float* src, int64_t ls, float* dst, int64_t dstride) {
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 r0 = _mm256_loadu_ps(src + 0 * ls + k), r1 = _mm256_loadu_ps(src + 1 * ls + k);
    __m256 r2 = _mm256_loadu_ps(src + 2 * ls + k), r3 = _mm256_loadu_ps(src + 3 * ls + k);
    __m256 r4 = _mm256_loadu_ps(src + 4 * ls + k), r5 = _mm256_loadu_ps(src + 5 * ls + k);
    __m256 r6 = _mm256_loadu_ps(src + 6 * ls + k), r7 = _mm256_loadu_ps(src + 7 * ls + k);
    transpose8x8(r0, r1, r2, r3, r4, r5, r6, r7);
    float* d = dst + k * dstride;
    _mm256_storeu_ps(d + 0 * dstride, r0);
    _mm256_storeu_ps(d + 1 * dstride, r1);
    _mm256_storeu_ps(d + 2 * dstride, r2);
    _mm256_storeu_ps(d + 3 * dstride, r3);
    _mm256_storeu_ps(d + 4 * dstride, r4);
    _mm256_storeu_ps(d + 5 * dstride, r5);
    _mm256_storeu_ps(d + 6 * dstride, r6);
    _mm256_storeu_ps(d + 7 * dstride, r7);
  }
  for (; k < kc; ++k)
    for (int l = 0; l < 8; ++l) dst[k * dstride + l] = src[l * ls + k];
}
#endif

// A block (mc x kc, element (i,k) at a[i*rsa + k*csa]) -> ceil(mc/MR) panels of MR x kc, k-major.
void pack_a(int64_t mc, int64_t kc, const float* a, int64_t rsa, int64_t csa, float* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    const int64_t mr = std::min<int64_t>(MR, mc - i0);
    const float* src = a + i0 * rsa;
    float* d = dst + i0 * kc;
    if (mr == MR && rsa == 1) {
      // A transposed in memory (K x M): each k is MR contiguous floats.
      for (int64_t k = 0; k < kc; ++k)
        for (int i = 0; i < MR; ++i) d[k * MR + i] = src[k * csa + i];
      continue;
    }
#if defined(ET_GEMM_AVX512)
    if (mr == MR && csa == 1 && kc >= 8) {
      // Row-major A: rows 0-7 and rows 6-13 through 8x8 transposes (rows 6, 7 written twice,
      // with the same values).
      pack8_lines_kmajor(kc, src, rsa, d, MR);
      pack8_lines_kmajor(kc, src + 6 * rsa, rsa, d + 6, MR);
      continue;
    }
#elif defined(ET_GEMM_AVX2)
    if (mr == MR && csa == 1 && kc >= 8) {
      // Row-major A: transpose 6 rows through an 8-wide 8x8 transpose. Rows 6,7 alias row 5 (kept
      // in bounds); each 8-float store spills 2 floats into the next k's slots, which the next
      // store overwrites -- except after the last k, so that one goes through a small bounce.
      const int64_t kmain = (kc - 1) & ~int64_t(7);  // leave >= 1 k for the tail loop
      int64_t k = 0;
      for (; k < kmain; k += 8) {
        __m256 r0 = _mm256_loadu_ps(src + 0 * rsa + k), r1 = _mm256_loadu_ps(src + 1 * rsa + k);
        __m256 r2 = _mm256_loadu_ps(src + 2 * rsa + k), r3 = _mm256_loadu_ps(src + 3 * rsa + k);
        __m256 r4 = _mm256_loadu_ps(src + 4 * rsa + k), r5 = _mm256_loadu_ps(src + 5 * rsa + k);
        __m256 r6 = r5, r7 = r5;
        transpose8x8(r0, r1, r2, r3, r4, r5, r6, r7);
        float* o = d + k * MR;
        _mm256_storeu_ps(o + 0 * MR, r0);
        _mm256_storeu_ps(o + 1 * MR, r1);
        _mm256_storeu_ps(o + 2 * MR, r2);
        _mm256_storeu_ps(o + 3 * MR, r3);
        _mm256_storeu_ps(o + 4 * MR, r4);
        _mm256_storeu_ps(o + 5 * MR, r5);
        _mm256_storeu_ps(o + 6 * MR, r6);
        _mm256_storeu_ps(o + 7 * MR, r7);
      }
      for (; k < kc; ++k)
        for (int i = 0; i < MR; ++i) d[k * MR + i] = src[i * rsa + k];
      continue;
    }
#endif
    for (int64_t k = 0; k < kc; ++k) {
      int i = 0;
      for (; i < mr; ++i) d[k * MR + i] = src[i * rsa + k * csa];
      for (; i < MR; ++i) d[k * MR + i] = 0.0f;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// B elements: float, f16 (uint16_t bits) or bf16 (bf16_t); the half-size types are frozen weights.
// Everything that reads B goes through ld / cvt_row, so the half variants convert while packing
// (or, in GEMV, while streaming) and never hold a float copy of the whole weight.

inline float ld(const float* p) { return *p; }
inline float ld(const uint16_t* p) { return f16_to_f32(*p); }
inline float ld(const bf16_t* p) { return bf16_to_f32(p->bits); }

// d[0..n) = float(s[0..n)).
inline void cvt_row(const float* s, float* d, int64_t n) { std::memcpy(d, s, size_t(n) * sizeof(float)); }
inline void cvt_row(const uint16_t* s, float* d, int64_t n) {
  int64_t i = 0;
#if defined(ET_GEMM_AVX2) && defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
#endif
  for (; i < n; ++i) d[i] = f16_to_f32(s[i]);
}
#if defined(ET_GEMM_AVX2)
// 8 bf16 -> 8 floats: zero-extend to 32 bits and shift into the high half (exact).
inline __m256 bf16x8_to_ps(const bf16_t* s) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
#endif
inline void cvt_row(const bf16_t* s, float* d, int64_t n) {
  int64_t i = 0;
#if defined(ET_GEMM_AVX2)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, bf16x8_to_ps(s + i));
#endif
  for (; i < n; ++i) d[i] = bf16_to_f32(s[i].bits);
}

thread_local AlignedBuf tl_bconv;

// B block (kc x nc, element (k,j) at b[k*rsb + j*csb]) -> ceil(nc/NR) panels of kc x NR.
template <class TB>
void pack_b(int64_t kc, int64_t nc, const TB* b, int64_t rsb, int64_t csb, float* dst) {
  int64_t jfull = 0;
  if (csb == 1) {
    // Row-major B (weights, typically streamed from DRAM). Walking one panel down all kc rows
    // touches one line per row, each in a different page, which defeats the hardware prefetchers
    // (~5 GB/s measured); sweeping 8 rows across every panel reads 8 sequential streams instead
    // (~11 GB/s on Zen 4, 2x).
    jfull = nc / NR * NR;
    constexpr int64_t KG = 8;
    for (int64_t k0 = 0; k0 < kc; k0 += KG) {
      const int64_t kn = std::min(KG, kc - k0);
      for (int64_t j0 = 0; j0 < jfull; j0 += NR) {
        const TB* s = b + k0 * rsb + j0;
        float* d = dst + j0 * kc + k0 * NR;
        for (int64_t k = 0; k < kn; ++k) cvt_row(s + k * rsb, d + k * NR, NR);
      }
    }
  }
  for (int64_t j0 = jfull; j0 < nc; j0 += NR) {
    const int64_t nr = std::min<int64_t>(NR, nc - j0);
    const TB* src = b + j0 * csb;
    float* d = dst + j0 * kc;
#if defined(ET_GEMM_AVX2)
    if (nr == NR && rsb == 1) {
      // B transposed in memory (N x K, e.g. a Linear weight): 8x8 transposes per half panel.
      // f16 / bf16 lines are first widened into a 16 x kc float scratch.
      const float* lines = nullptr;
      int64_t ls = csb;
      if constexpr (sizeof(TB) == sizeof(float)) {
        lines = src;
      } else {
        float* t = tl_bconv.get(size_t(NR * kc));
        if (t) {
          for (int l = 0; l < NR; ++l) cvt_row(src + l * csb, t + l * kc, kc);
          lines = t;
          ls = kc;
        }
      }
      if (lines) {
        for (int q = 0; q < NR; q += 8) pack8_lines_kmajor(kc, lines + q * ls, ls, d + q, NR);
        continue;
      }
    }
#endif
    for (int64_t k = 0; k < kc; ++k) {
      int64_t j = 0;
      for (; j < nr; ++j) d[k * NR + j] = ld(src + k * rsb + j * csb);
      for (; j < NR; ++j) d[k * NR + j] = 0.0f;
    }
  }
}

// ---------------------------------------------------------------------------------------------

template <class TB>
struct Problem {
  int64_t M, N, K;
  float alpha;
  const float* a;
  int64_t rsa, csa;
  const TB* b;
  int64_t rsb, csb;
  float beta;
  float* c;
  int64_t ldc;
};

#if !defined(ET_GEMM_AVX512)  // (gemm_avx512.h has its own)
// Edge tile: run the full kernel into a bounce buffer, then merge the valid mr x nr part.
inline void edge_tile(int64_t kc, const float* ap, const float* bp, int64_t ldb, float* c, int64_t ldc,
                      int64_t mr, int64_t nr, float alpha, float beta) {
  alignas(64) float t[MR * NR];
  ukernel(kc, ap, bp, ldb, t, NR, 1.0f, 0.0f);
  for (int64_t i = 0; i < mr; ++i) {
    float* ci = c + i * ldc;
    const float* ti = t + i * NR;
    if (beta == 0.0f) {
      for (int64_t j = 0; j < nr; ++j) ci[j] = alpha * ti[j];
    } else {
      for (int64_t j = 0; j < nr; ++j) ci[j] = alpha * ti[j] + beta * ci[j];
    }
  }
}
#endif

#if defined(ET_GEMM_AVX512)
#include "gemm_amx.h"
#include "gemm_amx_f32.h"
#include "gemm_amx_wrows.h"
#endif

// Sub-problem rows [m0, m1) x columns [n0, n1) on the calling thread. Returns false if scratch
// could not be allocated (caller falls back to the plain loop).
template <class TB>
bool gemm_rect(const Problem<TB>& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int64_t M = m1 - m0, N = n1 - n0, K = p.K;
  if (M <= 0 || N <= 0) return true;
  // Balanced blocks: K = 600 becomes 2 x 300 rather than 512 + 88.
  const int64_t kblocks = ceil_div(K, KC_MAX);
  const int64_t KC = ceil_div(K, kblocks);
  const int64_t mblocks = ceil_div(M, MC_MAX);
  const int64_t MC = std::min(MC_MAX, round_up(ceil_div(M, mblocks), MR));
  const int64_t nblocks = ceil_div(N, NC_MAX);
  const int64_t NC = std::min(round_up(N, NR), round_up(ceil_div(N, nblocks), NR));

  // 2-4 row tiles: packing B costs about as much as using it, so when B rows are contiguous
  // floats the kernel reads B in place (only a ragged last column panel is packed); the first
  // tile takes the misses and the others hit L1. With a single tile nothing amortises those
  // strided misses and the row-sweeping pack_b is faster (measured 4x2048x2048: 29 vs 14-22
  // GFLOP/s on one core). Half-size (f16 / bf16) B is always packed (widened).
  const bool direct_b = sizeof(TB) == sizeof(float) && p.csb == 1 && M > MR && M <= 4 * MR;

  float* apack = tl_apack.get(size_t(round_up(std::min(M, MC), MR) * KC));
  float* bpack = tl_bpack.get(size_t(direct_b ? KC * NR : NC * KC));
  if (!apack || !bpack) return false;

  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      const float beta = pc == 0 ? p.beta : 1.0f;
      const TB* bsrc = p.b + pc * p.rsb + (n0 + jc) * p.csb;
      const int64_t nfull = nc / NR * NR;
      if (!direct_b) {
        pack_b(kc, nc, bsrc, p.rsb, p.csb, bpack);
      } else if (nfull < nc) {
        pack_b(kc, nc - nfull, bsrc + nfull * p.csb, p.rsb, p.csb, bpack);
      }
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        pack_a(mc, kc, p.a + (m0 + ic) * p.rsa + pc * p.csa, p.rsa, p.csa, apack);
        float* cblk = p.c + (m0 + ic) * p.ldc + (n0 + jc);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          const float* bp;
          int64_t ldb;
          if (!direct_b) {
            bp = bpack + jr * kc;
            ldb = NR;
          } else if (nr == NR) {
            // direct_b implies TB is float
            bp = reinterpret_cast<const float*>(bsrc) + jr;
            ldb = p.rsb;
          } else {
            bp = bpack;
            ldb = NR;
          }
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min<int64_t>(MR, mc - ir);
            const float* ap = apack + ir * kc;
            float* ct = cblk + ir * p.ldc + jr;
            if (mr == MR && nr == NR)
              ukernel(kc, ap, bp, ldb, ct, p.ldc, p.alpha, beta);
            else
              edge_tile(kc, ap, bp, ldb, ct, p.ldc, mr, nr, p.alpha, beta);
          }
        }
      }
    }
  }
  return true;
}

// Plain triple loop: tiny products and the out-of-memory fallback. i-k-j order so the inner loop
// runs along a row of C (and of B when csb == 1).
template <class TB>
void gemm_naive(const Problem<TB>& p, int64_t m0, int64_t m1) {
  for (int64_t i = m0; i < m1; ++i) {
    float* ci = p.c + i * p.ldc;
    if (p.beta == 0.0f) {
      for (int64_t j = 0; j < p.N; ++j) ci[j] = 0.0f;
    } else if (p.beta != 1.0f) {
      for (int64_t j = 0; j < p.N; ++j) ci[j] *= p.beta;
    }
    for (int64_t k = 0; k < p.K; ++k) {
      const float av = p.alpha * p.a[i * p.rsa + k * p.csa];
      const TB* bk = p.b + k * p.rsb;
      for (int64_t j = 0; j < p.N; ++j) ci[j] += av * ld(bk + j * p.csb);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// GEMV: y[l * ys] = alpha * sum_k X(l, k) * v[k] + beta * y[l * ys] for l in [l0, l1),
// X(l, k) = x[l * xr + k * xc], v contiguous float. M == 1 maps X to B^T, N == 1 maps X to A.

inline float dot_contig(int64_t K, const float* x, const float* v) {
#if defined(ET_GEMM_AVX2)
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
         s3 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(v + k), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(v + k + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 16), _mm256_loadu_ps(v + k + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 24), _mm256_loadu_ps(v + k + 24), s3);
  }
  for (; k + 8 <= K; k += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(v + k), s0);
  float r = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; k < K; ++k) r += x[k] * v[k];
  return r;
#else
  // Several partial sums so the compiler may vectorise without reassociation flags.
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= K; k += 8)
    for (int u = 0; u < 8; ++u) s[u] += x[k + u] * v[k + u];
  float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; k < K; ++k) r += x[k] * v[k];
  return r;
#endif
}

inline float dot_contig(int64_t K, const uint16_t* x, const float* v) {
#if defined(ET_GEMM_AVX2) && defined(__F16C__)
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
         s3 = _mm256_setzero_ps();
  auto h = [&](int64_t k) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + k))); };
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    s0 = _mm256_fmadd_ps(h(k), _mm256_loadu_ps(v + k), s0);
    s1 = _mm256_fmadd_ps(h(k + 8), _mm256_loadu_ps(v + k + 8), s1);
    s2 = _mm256_fmadd_ps(h(k + 16), _mm256_loadu_ps(v + k + 16), s2);
    s3 = _mm256_fmadd_ps(h(k + 24), _mm256_loadu_ps(v + k + 24), s3);
  }
  for (; k + 8 <= K; k += 8) s0 = _mm256_fmadd_ps(h(k), _mm256_loadu_ps(v + k), s0);
  float r = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; k < K; ++k) r += f16_to_f32(x[k]) * v[k];
  return r;
#else
  // Widen a chunk at a time, then the float dot product.
  float buf[256];
  float r = 0.0f;
  for (int64_t k0 = 0; k0 < K; k0 += 256) {
    const int64_t n = std::min<int64_t>(256, K - k0);
    cvt_row(x + k0, buf, n);
    r += dot_contig(n, buf, v + k0);
  }
  return r;
#endif
}

inline float dot_contig(int64_t K, const bf16_t* x, const float* v) {
#if defined(ET_GEMM_AVX2)
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
         s3 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    s0 = _mm256_fmadd_ps(bf16x8_to_ps(x + k), _mm256_loadu_ps(v + k), s0);
    s1 = _mm256_fmadd_ps(bf16x8_to_ps(x + k + 8), _mm256_loadu_ps(v + k + 8), s1);
    s2 = _mm256_fmadd_ps(bf16x8_to_ps(x + k + 16), _mm256_loadu_ps(v + k + 16), s2);
    s3 = _mm256_fmadd_ps(bf16x8_to_ps(x + k + 24), _mm256_loadu_ps(v + k + 24), s3);
  }
  for (; k + 8 <= K; k += 8) s0 = _mm256_fmadd_ps(bf16x8_to_ps(x + k), _mm256_loadu_ps(v + k), s0);
  float r = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; k < K; ++k) r += bf16_to_f32(x[k].bits) * v[k];
  return r;
#else
  float buf[256];
  float r = 0.0f;
  for (int64_t k0 = 0; k0 < K; k0 += 256) {
    const int64_t n = std::min<int64_t>(256, K - k0);
    cvt_row(x + k0, buf, n);
    r += dot_contig(n, buf, v + k0);
  }
  return r;
#endif
}

template <class TX>
void gemv_range(int64_t l0, int64_t l1, int64_t K, float alpha, const TX* x, int64_t xr, int64_t xc,
                const float* v, float beta, float* y, int64_t ys) {
  if (xc == 1) {
    // Rows of X contiguous in k: one dot product per output; 4 rows at a time share the v loads
    // only through L1, which is enough since this is bound by streaming X from memory.
    for (int64_t l = l0; l < l1; ++l) {
      const float d = alpha * dot_contig(K, x + l * xr, v);
      float& o = y[l * ys];
      o = beta == 0.0f ? d : d + beta * o;
    }
    return;
  }
  if (xr == 1 && ys == 1) {
    // Columns of X contiguous in l: y += (alpha v_k) X(:, k). Chunk l so y stays in L1.
    constexpr int64_t LB = 2048;
    float row[4][LB];
    for (int64_t lb = l0; lb < l1; lb += LB) {
      const int64_t le = std::min(l1, lb + LB);
      float* yy = y + lb;
      const int64_t n = le - lb;
      if (beta == 0.0f) {
        for (int64_t l = 0; l < n; ++l) yy[l] = 0.0f;
      } else if (beta != 1.0f) {
        for (int64_t l = 0; l < n; ++l) yy[l] *= beta;
      }
      // X rows as floats: in place for float, widened into `row` for f16 / bf16.
      auto line = [&](int64_t k, int u) -> const float* {
        if constexpr (sizeof(TX) == sizeof(float)) {
          (void)u;
          return reinterpret_cast<const float*>(x + k * xc + lb);
        } else {
          cvt_row(x + k * xc + lb, row[u], n);
          return row[u];
        }
      };
      int64_t k = 0;
      // Four k per pass: one load/store of y per four FMAs.
      for (; k + 4 <= K; k += 4) {
        const float v0 = alpha * v[k], v1 = alpha * v[k + 1], v2 = alpha * v[k + 2], v3 = alpha * v[k + 3];
        const float* x0 = line(k, 0);
        const float* x1 = line(k + 1, 1);
        const float* x2 = line(k + 2, 2);
        const float* x3 = line(k + 3, 3);
        for (int64_t l = 0; l < n; ++l) yy[l] += v0 * x0[l] + v1 * x1[l] + v2 * x2[l] + v3 * x3[l];
      }
      for (; k < K; ++k) {
        const float v0 = alpha * v[k];
        const float* x0 = line(k, 0);
        for (int64_t l = 0; l < n; ++l) yy[l] += v0 * x0[l];
      }
    }
    return;
  }
  // General strides.
  for (int64_t l = l0; l < l1; ++l) {
    float s = 0.0f;
    for (int64_t k = 0; k < K; ++k) s += ld(x + l * xr + k * xc) * v[k];
    float& o = y[l * ys];
    o = beta == 0.0f ? alpha * s : alpha * s + beta * o;
  }
}

thread_local AlignedBuf tl_vbuf;

template <class TX, class TV>
void gemv(int64_t L, int64_t K, float alpha, const TX* x, int64_t xr, int64_t xc, const TV* v,
          int64_t vs, float beta, float* y, int64_t ys, int threads) {
  // Memory bound: a second thread pays off once X is a few hundred KiB.
  if (L * K < (int64_t(1) << 16) || L < 16) threads = 1;
  // A strided or half-size vector is gathered (widened) by each thread into its own buffer.
  const bool gather = vs != 1 || sizeof(TV) != sizeof(float);
  auto body = [&](int t, int nt) {
    // Split on multiples of 16 outputs so AVX chunks of y stay aligned to each other.
    const int64_t units = ceil_div(L, 16);
    const int64_t l0 = std::min(L, units * t / nt * 16), l1 = std::min(L, units * (t + 1) / nt * 16);
    if (l0 >= l1) return;
    const float* vf;
    if (gather) {
      float* vbuf = tl_vbuf.get(size_t(K));
      if (!vbuf) {  // out of memory: strided path without gathering
        for (int64_t l = l0; l < l1; ++l) {
          float s = 0.0f;
          for (int64_t k = 0; k < K; ++k) s += ld(x + l * xr + k * xc) * ld(v + k * vs);
          float& o = y[l * ys];
          o = beta == 0.0f ? alpha * s : alpha * s + beta * o;
        }
        return;
      }
      for (int64_t k = 0; k < K; ++k) vbuf[k] = ld(v + k * vs);
      vf = vbuf;
    } else {
      vf = reinterpret_cast<const float*>(v);
    }
    gemv_range(l0, l1, K, alpha, x, xr, xc, vf, beta, y, ys);
  };
  if (threads <= 1)
    body(0, 1);
  else
    parallel_run(threads, body);
}

// bf16_pieces: for bf16 B on AMX (gemm_amx.h), the number of bf16 parts A is split into (3: exact,
// 1: A rounded to bf16); ignored elsewhere.
template <class TB>
void gemm_any(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t rsa, int64_t csa,
              const TB* b, int64_t rsb, int64_t csb, float beta, float* c, int64_t ldc, int threads,
              int bf16_pieces = 3) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, c, ldc);
    return;
  }
  threads = std::max(1, std::min(threads, threadpool_size()));
  // bf16 and f32 B on AMX tiles (32 x 32 blocks of C) where the CPU and the shape allow
  bool amx = false;
#if defined(ET_GEMM_AVX512)
  if constexpr (sizeof(TB) == 2 && !std::is_same<TB, uint16_t>::value)
    amx = M >= 16 && N >= 16 && K >= 32 && amx_usable();
  // f32 B: both operands in three bf16 parts on the tiles (gemm_amx_f32.h)
  if constexpr (std::is_same<TB, float>::value) amx = f32_amx_shape(M, N, K) && f32_amx_enabled() && amx_usable();
#endif
  // A rounded to bf16 (gemm_f32_bf16b_round_a) off the tiles: rounded here into a contiguous copy,
  // so every CPU and shape gives the product of the rounded values
  if (bf16_pieces == 1 && !amx) {
    static thread_local AlignedBuf tl_around;
    float* ar = tl_around.get(size_t(M * K));
    if (ar) {
      for (int64_t i = 0; i < M; ++i)
        for (int64_t k = 0; k < K; ++k) ar[i * K + k] = bf16_to_f32(f32_to_bf16(a[i * rsa + k * csa]));
      a = ar;
      rsa = K;
      csa = 1;
    }
  }

  if (M == 1) {
    // C row = alpha * a . B: X = B^T (X(j,k) = b[k*rsb + j*csb]).
    gemv(N, K, alpha, b, csb, rsb, a, csa, beta, c, 1, threads);
    return;
  }
  if (N == 1) {
    gemv(M, K, alpha, a, rsa, csa, b, rsb, beta, c, ldc, threads);
    return;
  }

  const Problem<TB> p{M, N, K, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc};
  const double work = double(M) * double(N) * double(K);
  if (work <= 4096.0) {
    gemm_naive(p, 0, M);
    return;
  }
  // A pool wake-up costs a few microseconds; below ~2^18 FMAs (~3 us on one core) it is not worth it.
  if (work < double(1 << 18)) threads = 1;

  // Each thread takes an independent rectangle of C (no shared packed buffers, no barriers). Split
  // the dimension with more register tiles, so the operand that is re-packed by every thread
  // (A when splitting N, B when splitting M) is the cheaper one relative to the FMAs it feeds.
  // (bf16 and f32 B on AMX: 32 x 32 blocks of C.)
  const int64_t MU = amx ? 32 : MR, NU = amx ? 32 : NR;
  const int64_t mt = ceil_div(M, MU), nt_tiles = ceil_div(N, NU);
  // Per-thread cost of each split in multiply-adds: the largest share of C's tiles, plus what that
  // thread packs (splitting N it packs all of A and its columns of B; splitting M its rows of A and
  // all of B, which gemm_rect reads in place for 2-4 row tiles of float B). One packed element
  // costs about as much as 8 multiply-adds (a transpose or widening, and a store): at 256 x 512
  // x 512 splitting M packed the 512 x 512 B twice and ran 15% slower than splitting N.
  const bool b_in_place = sizeof(TB) == sizeof(float) && csb == 1 && M > MR && M <= 4 * MR && !amx;
  auto split_cost = [&](bool by_n) {
    const int64_t units = by_n ? nt_tiles : mt;
    const int64_t share = ceil_div(units, std::min<int64_t>(threads, units)) * (by_n ? NU : MU);
    const double rows = by_n ? double(M) : double(std::min(M, share));
    const double cols = by_n ? double(std::min(N, share)) : double(N);
    constexpr double kPack = 8.0;
    return rows * cols * double(K) + kPack * double(K) * (rows + (b_in_place ? 0.0 : cols));
  };
  const bool split_n = threads <= 1 ? nt_tiles >= mt : split_cost(true) <= split_cost(false);
  const int64_t units = split_n ? nt_tiles : mt;
  const int nt = int(std::min<int64_t>(threads, units));

  auto body = [&](int t, int T) {
    const int64_t u0 = units * t / T, u1 = units * (t + 1) / T;
    const int64_t m0 = split_n ? 0 : std::min(M, u0 * MU), m1 = split_n ? M : std::min(M, u1 * MU);
    const int64_t n0 = split_n ? std::min(N, u0 * NU) : 0, n1 = split_n ? std::min(N, u1 * NU) : N;
    bool ok = false;
#if defined(ET_GEMM_AVX512)
    if constexpr (std::is_same<TB, bf16_t>::value)
      if (amx) ok = amx_rect(p, bf16_pieces, m0, m1, n0, n1);
    if constexpr (std::is_same<TB, float>::value)
      if (amx) ok = amxf32_rect(p, m0, m1, n0, n1);
#endif
    if (!ok) ok = gemm_rect(p, m0, m1, n0, n1);
    if (!ok) {
      // This rectangle only.
      Problem<TB> q = p;
      q.N = n1 - n0;
      q.b = p.b + n0 * p.csb;
      q.c = p.c + n0;
      if (q.N > 0) gemm_naive(q, m0, m1);
    }
  };
  if (nt <= 1)
    body(0, 1);
  else
    parallel_run(nt, body);
}

}  // namespace

bool gemm_f32_amx_wrows(int mode, int64_t M, const float* a, int64_t lda, const WeightRows& w, float* c,
                        int64_t ldc, int threads, bool all_products) {
#if defined(ET_GEMM_AVX512)
  return amx_gemm_wrows(mode, M, a, lda, w, c, ldc, threads, all_products);
#else
  (void)mode, (void)M, (void)a, (void)lda, (void)w, (void)c, (void)ldc, (void)threads, (void)all_products;
  return false;
#endif
}

void gemm_f32(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t rsa, int64_t csa,
              const float* b, int64_t rsb, int64_t csb, float beta, float* c, int64_t ldc, int threads) {
  gemm_any(M, N, K, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc, threads);
}

void gemm_f32_f16b(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t rsa, int64_t csa,
                   const uint16_t* b, int64_t rsb, int64_t csb, float beta, float* c, int64_t ldc, int threads) {
  gemm_any(M, N, K, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc, threads);
}

void gemm_f32_bf16b(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t rsa, int64_t csa,
                    const bf16_t* b, int64_t rsb, int64_t csb, float beta, float* c, int64_t ldc, int threads) {
  gemm_any(M, N, K, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc, threads, 3);
}

void gemm_f32_bf16b_round_a(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t rsa,
                            int64_t csa, const bf16_t* b, int64_t rsb, int64_t csb, float beta, float* c,
                            int64_t ldc, int threads) {
  gemm_any(M, N, K, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc, threads, 1);
}

}  // namespace ET_ISA
}  // namespace et

// Skinny matmuls (gemm_skinny.h). Two loop nests, written for the compiler to vectorise in every
// ISA copy:
//   narrow: C has at most 16 columns. B is packed once into [K][NP] (NP = 8 or 16, zero padded:
//     K x NP floats, small next to A), then each pass keeps a 4 x NP block of C in registers while
//     it streams 4 rows of A. M <= 16 is the same loop on the transposed problem
//     (Cᵀ = Bᵀ Aᵀ: the large B streams, A is packed, C is written with its strides swapped).
//   short K: K <= 16. Each row of C is a sum of K rows of B (packed row-major when B is not),
//     scaled by that row of A, 16 columns at a time in a register: one pass over C.
#include "gemm_skinny.h"

#include <algorithm>
#include <vector>

#include "../threadpool.h"

// the vector helpers below are inlined; their by-value vector ABI never crosses a call
#pragma GCC diagnostic ignored "-Wpsabi"

namespace et {
namespace ET_ISA {
namespace {

constexpr int64_t kSmall = 16;
// Rows of C per narrow pass: 8 independent accumulator chains hide the FMA latency (4 cycles,
// 2 per cycle) with NP = 8; with NP = 16 each row is already two ymm chains on AVX2.
template <int NP>
constexpr int rows_per_pass() { return NP == 8 ? 8 : 4; }

// NP floats as one GCC/Clang vector: a ymm or zmm (or two xmm / NEON q registers) per ISA copy,
// so the 4 x NP block of C stays in registers.
template <int NP>
struct Vec {
  typedef float type __attribute__((vector_size(NP * sizeof(float))));
};

template <int NP>
__attribute__((always_inline)) inline typename Vec<NP>::type load_v(const float* p) {
  typename Vec<NP>::type v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

// Rows [i, i + R) of C[., n] = A . Bp + beta C; Bp is [K][NP]; C (i, j) at c[i*rsc + j*csc].
template <int NP, int R>
inline void narrow_block(int64_t i, int64_t n, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* bp,
                         float beta, float* c, int64_t rsc, int64_t csc) {
  typedef typename Vec<NP>::type V;
  V acc[R];
  for (int r = 0; r < R; ++r) acc[r] = V{};
  const float* ar[R];
  for (int r = 0; r < R; ++r) ar[r] = a + (i + r) * rsa;
  for (int64_t k = 0; k < K; ++k) {
    const V bk = load_v<NP>(bp + k * NP);
    for (int r = 0; r < R; ++r) acc[r] += ar[r][k * csa] * bk;
  }
  for (int r = 0; r < R; ++r) {
    float out[NP];
    __builtin_memcpy(out, &acc[r], sizeof(out));
    float* cr = c + (i + r) * rsc;
    if (beta == 0.f)
      for (int64_t j = 0; j < n; ++j) cr[j * csc] = out[j];
    else
      for (int64_t j = 0; j < n; ++j) cr[j * csc] = out[j] + beta * cr[j * csc];
  }
}

template <int NP>
void narrow(int64_t M, int64_t n, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* bp, float beta,
            float* c, int64_t rsc, int64_t csc, int threads) {
  constexpr int RB = rows_per_pass<NP>();
  const int64_t blocks = (M + RB - 1) / RB;
  auto rows = [&](int64_t b0, int64_t b1) {
    for (int64_t bi = b0; bi < b1; ++bi) {
      const int64_t i = bi * RB;
      if (i + RB <= M)
        narrow_block<NP, RB>(i, n, K, a, rsa, csa, bp, beta, c, rsc, csc);
      else
        for (int64_t t = i; t < M; ++t) narrow_block<NP, 1>(t, n, K, a, rsa, csa, bp, beta, c, rsc, csc);
    }
  };
  // ~16K multiply-adds per piece at least: below that a thread hand-off costs more than it saves
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, K * NP * RB));
  if (threads > 1) parallel_for(blocks, grain, rows);
  else rows(0, blocks);
}

// Packs B (k, j) = b[k*rsb + j*csb] for j < n into dst [K][NP], zero padded.
void pack_narrow(int64_t K, int64_t n, int NP, const float* b, int64_t rsb, int64_t csb, float* dst) {
  for (int64_t k = 0; k < K; ++k) {
    float* d = dst + k * NP;
    for (int64_t j = 0; j < n; ++j) d[j] = b[k * rsb + j * csb];
    for (int64_t j = n; j < NP; ++j) d[j] = 0.f;
  }
}

void narrow_any(int64_t M, int64_t n, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t rsb,
                int64_t csb, float beta, float* c, int64_t rsc, int64_t csc, int threads) {
  const int NP = n <= 8 ? 8 : 16;
  std::vector<float> bp(size_t(K) * size_t(NP));
  pack_narrow(K, n, NP, b, rsb, csb, bp.data());
  if (NP == 8) narrow<8>(M, n, K, a, rsa, csa, bp.data(), beta, c, rsc, csc, threads);
  else narrow<16>(M, n, K, a, rsa, csa, bp.data(), beta, c, rsc, csc, threads);
}

// C[M, N] = A[M, K<=16] . Bp + beta C with Bp row-major (k, j) at bp[k*ldb + j]: per row of C,
// 16 columns at a time in one register, summed over the K rows of Bp (which stay in L1).
void short_k(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* bp, int64_t ldb,
             float beta, float* c, int64_t ldc, int threads) {
  typedef Vec<16>::type V;
  auto rows = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float ak[kSmall];
      for (int64_t k = 0; k < K; ++k) ak[k] = a[i * rsa + k * csa];
      float* ci = c + i * ldc;
      int64_t j = 0;
      for (; j + 16 <= N; j += 16) {
        V acc = beta == 0.f ? V{} : beta * load_v<16>(ci + j);
        for (int64_t k = 0; k < K; ++k) acc += ak[k] * load_v<16>(bp + k * ldb + j);
        __builtin_memcpy(ci + j, &acc, sizeof(acc));
      }
      for (; j < N; ++j) {
        float s = beta == 0.f ? 0.f : beta * ci[j];
        for (int64_t k = 0; k < K; ++k) s += ak[k] * bp[k * ldb + j];
        ci[j] = s;
      }
    }
  };
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, N * K));
  if (threads > 1) parallel_for(M, grain, rows);
  else rows(0, M);
}

}  // namespace

bool gemm_skinny_f32(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* b,
                     int64_t rsb, int64_t csb, float beta, float* c, int64_t ldc, int threads) {
  if (M <= 0 || N <= 0 || K <= 0) return false;
  if (K <= kSmall && M >= 32 && N >= 32) {
    if (csb == 1) {
      short_k(M, N, K, a, rsa, csa, b, rsb, beta, c, ldc, threads);
    } else {
      std::vector<float> bp(size_t(K) * size_t(N));
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < N; ++j) bp[size_t(k * N + j)] = b[k * rsb + j * csb];
      short_k(M, N, K, a, rsa, csa, bp.data(), N, beta, c, ldc, threads);
    }
    return true;
  }
  if (N <= kSmall && M >= 32 && K >= 32) {
    narrow_any(M, N, K, a, rsa, csa, b, rsb, csb, beta, c, ldc, 1, threads);
    return true;
  }
  if (M <= kSmall && N >= 32 && K >= 32) {
    // Cᵀ [N, M] = Bᵀ [N, K] . Aᵀ [K, M]: Bᵀ (j, k) = b[k*rsb + j*csb], Aᵀ (k, i) = a[i*rsa + k*csa]
    narrow_any(N, M, K, b, csb, rsb, a, csa, rsa, beta, c, 1, ldc, threads);
    return true;
  }
  return false;
}

}  // namespace ET_ISA
}  // namespace et

// Single-precision GEMM used by the matmul kernel (and by attention for its tiles), with float or
// f16 B.
#pragma once
#include <cstdint>

#ifndef ET_ISA
#define ET_ISA isa_generic
#endif

namespace et {
namespace ET_ISA {

// C[M,N] = alpha * A[M,K] . B[K,N] + beta * C.
// A element (i,k) is at a[i*rsa + k*csa]; B element (k,j) at b[k*rsb + j*csb]; C (i,j) at c[i*ldc + j].
// Either stride of A (and of B) may be 1, so transposed operands need no copy. beta == 0 means C is
// not read (it may hold garbage). `threads` <= 1 runs on the calling thread only; otherwise the
// work is split over the et thread pool.
void gemm_f32(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t rsa, int64_t csa,
              const float* b, int64_t rsb, int64_t csb, float beta, float* c, int64_t ldc, int threads);

// The same with B in f16 (IEEE half bits): B is widened to float while packed or streamed, never
// copied whole, so a frozen f16 weight is used in place at half the memory traffic.
void gemm_f32_f16b(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t rsa, int64_t csa,
                   const uint16_t* b, int64_t rsb, int64_t csb, float beta, float* c, int64_t ldc, int threads);

}  // namespace ET_ISA
}  // namespace et

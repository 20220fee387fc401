// Matmuls with one dimension of at most 16: the LoRA adapter's products (x Aᵀ with N = r, the
// update u Bᵀ with K = r, the weight gradients gᵀ x with M = r). The blocked GEMM (gemm.h) would
// pack a large operand to multiply it by a tiny one; these loops stream the large operands once.
#pragma once
#include <cstdint>

#ifndef ET_ISA
#define ET_ISA isa_generic
#endif

namespace et {
namespace ET_ISA {

// C[M,N] = A[M,K] . B[K,N] + beta * C with gemm_f32's operand layout (A (i,k) at a[i*rsa + k*csa],
// B (k,j) at b[k*rsb + j*csb], C (i,j) at c[i*ldc + j]; beta 0: C is not read). Returns false,
// having done nothing, unless the shape is one it handles (one of M, N, K at most 16 and the
// product large enough for the loops to beat the blocked GEMM).
bool gemm_skinny_f32(int64_t M, int64_t N, int64_t K, const float* a, int64_t rsa, int64_t csa, const float* b,
                     int64_t rsb, int64_t csb, float beta, float* c, int64_t ldc, int threads);

}  // namespace ET_ISA
}  // namespace et

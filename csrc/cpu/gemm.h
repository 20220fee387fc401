// Single-precision GEMM used by the matmul kernel (and by attention for its tiles), with float,
// f16 or bf16 B.
#pragma once
#include <cstdint>

#ifndef ET_ISA
#define ET_ISA isa_generic
#endif

namespace et {

// bfloat16 bits, as a distinct element type so the GEMM's per-element overloads (ld, cvt_row) do
// not collide with f16, which is also stored as uint16_t.
struct bf16_t {
  uint16_t bits;
};
static_assert(sizeof(bf16_t) == 2, "bf16_t must be 2 bytes so arrays of it alias bf16 storage");

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

// The same with B in bf16: widening is exact (bits << 16), so results match a float B holding the
// same values (to f32 summation order). Where AMX-BF16 is usable (gemm_amx.h) the product runs on
// AMX tiles with A split exactly into three bf16 parts; subnormal inputs then count as zero.
void gemm_f32_bf16b(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t rsa, int64_t csa,
                    const bf16_t* b, int64_t rsb, int64_t csb, float beta, float* c, int64_t ldc, int threads);

// Faster, less exact bf16-B product: A is rounded to bf16 (nearest even) as well, as PyTorch's bf16
// matmul does, so each A element carries up to 2^-9 relative error (sums accumulate in f32). On
// AMX (AVX-512 copy, tier with AVX512_BF16, CPU with AMX-BF16) that makes one tile product per k
// step instead of gemm_f32_bf16b's three (its A split into three exact bf16 parts); without AMX
// (CPU or shape) A is rounded into a copy first, so results are those of the rounded values on
// every CPU. On AMX both treat subnormal inputs as zero and flush subnormal results.
void gemm_f32_bf16b_round_a(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t rsa,
                            int64_t csa, const bf16_t* b, int64_t rsb, int64_t csb, float beta, float* c,
                            int64_t ldc, int threads);

// A weight W [rows, cols] whose rows are produced as floats on demand (quant.cpp's block
// dequantizers): fill writes W[row, c0 : c0 + len] to dst. c0 is a multiple of `align`, and so is
// len unless it ends the row. bparts: truncated bf16 parts each value needs (2 when every value has
// at most 16 significant bits, e.g. a 4- or 5-bit integer times an f16 scale; 3 for any float).
struct WeightRows {
  void (*fill)(const void* ctx, int64_t row, int64_t c0, int64_t len, float* dst);
  const void* ctx;
  int64_t rows, cols, align;
  int bparts;
};

// mode 0: C[M, rows] = A[M, cols] . W^T; mode 1: C[M, cols] = A[M, rows] . W (A rows at a + i*lda,
// unit column stride; C written, not read). On AMX tiles (gemm_amx_wrows.h: A in three bf16 parts,
// W in bparts, f32-level accuracy) where the AVX-512 copy's tier has AVX512_BF16 and the CPU AMX;
// returns false otherwise (M or the output width below 16 too), or when A or W holds an Inf or NaN:
// C may then hold partial results and the caller computes it on its f32 path instead.
// all_products: every part pair (exact operands) rather than those above 2^-21 relative.
bool gemm_f32_amx_wrows(int mode, int64_t M, const float* a, int64_t lda, const WeightRows& w, float* c,
                        int64_t ldc, int threads, bool all_products = false);

}  // namespace ET_ISA
}  // namespace et

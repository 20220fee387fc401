// Prompt-time (many rows of x) matmuls of block-quantized weights with activations rounded to 8
// bits as the decode path rounds them (quant_dot.h: blocks of 32, one float scale each): an
// integer GEMM. Each thread unpacks a panel of 32 weight rows into 8-bit codes, interleaved four
// bytes per row so that one vector holds four K values of 8 or 16 rows, with a float scale and a
// float offset per group of 32 K values (16 for Q6_K); the panel is then reused against every row
// of x, and each 4-byte group of x is broadcast against it (vpdpbusd / vpmaddubsw on x86, sdot on
// arm64). Per group g of weight row n and x row m the contribution is
//   dx[m,g] * (s[n,g] * sum_k code[n,k] * qx[m,k]  -  o[n,g] * sum_k qx[m,k]),
// i.e. W[n,k] = s * code - o: Q4_0's -8, Q6_K's -32, the K-quants' mins, and for the signed
// formats (Q8_0, NF4) the +128 that makes their codes unsigned for vpdpbusd.
#pragma once
#include <cstdint>

namespace et {
namespace ET_ISA {

/** True where gemm_q8 handles `type` in this build and on this CPU tier. */
bool has_gemm_q8(int type);
/**
 * y[m * ldy + n] = sum over k of x8[m, k] * W[n, k] for m < M, n < N: W is N rows of rowBytes
 * (K / block blocks of `type`), x8 M rows of K as quantize_row_q8 leaves them (qx M x K, dx
 * M x K / 32, sx M x K / 16). Splits the weight rows between the pool's threads.
 */
void gemm_q8(int type, const uint8_t* w, int64_t rowBytes, int64_t N, int64_t K, const int8_t* qx, const float* dx, const int32_t* sx, int64_t M, float* y,
             int64_t ldy);

}  // namespace ET_ISA
}  // namespace et

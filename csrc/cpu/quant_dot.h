// Decode-time dot products of block-quantized weight rows with activations rounded to 8 bits
// (blocks of 32, one float scale each, as llama.cpp's quantized matmuls do): integer multiply-adds
// on the blocks as stored. matmulQ's forward uses them for one to four rows of x under inference,
// on AVX2 (vpdpbusd with AVX-VNNI / AVX512_VNNI) and arm64 NEON, for the types most GGUF models hold (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) and
// NF4 / NF4_DQ (levels as int8); the other types and the generic x86 build keep the float path.
// The rounding moves results by about 1e-3 of their scale. Prompts (more rows) take the integer
// GEMM of quant_gemm.h with the same rounding.
#pragma once
#include <cstdint>

namespace et {
namespace ET_ISA {

/**
 * NF4's levels as int8 (round(127 x kNF4)): the integer paths multiply these, so NF4 weights move
 * by up to 0.5/127 of their block scale on top of the activation rounding.
 */
alignas(16) inline constexpr int8_t kNF4I8[16] = {-127, -88, -67, -50, -36, -23, -12, 0, 10, 20, 31, 43, 56, 71, 92, 127};

/** x (n floats, n a multiple of 32) as int8 blocks of 32: q, d per block, sums per 16 values. */
struct Q8Row {
  const int8_t* q;
  const float* d;
  const int32_t* sum16;
};

/** True where dot_q8 handles `type` in this build. */
bool has_dot_q8(int type);
/** Rounds n floats of x into the buffers of `out` (n / 32 scales, n / 16 sums). */
void quantize_row_q8(const float* x, int64_t n, int8_t* q, float* d, int32_t* sum16);
/** Dot of one weight row (nb blocks of `type`) with a Q8Row over the same K. */
float dot_q8(int type, const uint8_t* w, int64_t K, const Q8Row& x);
/**
 * y[m * ldy + n] = dot of weight row n (N rows of rowBytes, K / block blocks of `type`) with row m
 * of x8 (M <= 4 rows as quantize_row_q8 leaves them: qx M x K, dx M x K / 32, sx M x K / 16).
 * The decode matmul: splits the weight rows between the pool's threads. has_dot_q8(type) must hold.
 */
void gemv_q8(int type, const uint8_t* w, int64_t rowBytes, int64_t N, int64_t K, const int8_t* qx, const float* dx, const int32_t* sx, int64_t M, float* y,
             int64_t ldy);

}  // namespace ET_ISA
}  // namespace et

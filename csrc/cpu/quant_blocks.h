// ggml block formats: dequantization, bit-exact with llama.cpp's reference `to_float`
// (lib/quant/dequant.ts is the same code in TypeScript; test/quant-native.test.ts checks both
// against llama.cpp's values). Ids and block sizes come from ../quant_types.h; NF4 and NF4_DQ are
// edgetrain's own 4-bit NormalFloat formats (QLoRA's codebook):
//   NF4     36/64:  absmax f32, qs u8[32] (lo nibbles = 0..31, hi = 32..63)   y = NF4[q] * absmax
//   NF4_DQ 134/256: d f16, sc u8[4], qs u8[4][32]: 4 NF4 sub-blocks of 64    y = NF4[q] * (d * sc)
#pragma once
#include <cstdint>

#include "../dtype.h"
#include "../quant_types.h"
#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace et {

/** Elements and bytes per block of QType T as constants (the kernels' block strides). */
template <int T>
constexpr int kBlockElems = qinfo(T).block;
template <int T>
constexpr int kBlockBytes = qinfo(T).bytes;
static_assert(kBlockBytes<Q8_0> == 34 && kBlockElems<Q4_K> == 256, "quant_types.h: the kernels' block layouts");

/** The 16 NF4 levels: quantiles of N(0, 1) scaled to [-1, 1], with an exact 0 (QLoRA, Dettmers et al. 2023). */
constexpr float kNF4[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f, -0.18477343022823334f,
                            -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
                            0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
/** Midpoints between consecutive levels: a value above kNF4Mid[k] is nearer kNF4[k + 1]. */
constexpr float kNF4Mid[15] = {
    (kNF4[0] + kNF4[1]) / 2,   (kNF4[1] + kNF4[2]) / 2,   (kNF4[2] + kNF4[3]) / 2,   (kNF4[3] + kNF4[4]) / 2,   (kNF4[4] + kNF4[5]) / 2,
    (kNF4[5] + kNF4[6]) / 2,   (kNF4[6] + kNF4[7]) / 2,   (kNF4[7] + kNF4[8]) / 2,   (kNF4[8] + kNF4[9]) / 2,   (kNF4[9] + kNF4[10]) / 2,
    (kNF4[10] + kNF4[11]) / 2, (kNF4[11] + kNF4[12]) / 2, (kNF4[12] + kNF4[13]) / 2, (kNF4[13] + kNF4[14]) / 2, (kNF4[14] + kNF4[15]) / 2};

/** The little-endian f16 at p, as float (exact; one instruction with F16C). */
inline float load_f16(const uint8_t* p) {
#if defined(__F16C__)
  return _cvtsh_ss(uint16_t(p[0] | (p[1] << 8)));
#else
  return f16_to_f32(uint16_t(p[0] | (p[1] << 8)));
#endif
}

/** The 6-bit scale and min of sub-block j (0..7) from a Q4_K / Q5_K block's 12 scale bytes. */
inline void k_scale_min(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

namespace ET_ISA {
/** Dequantizes `nblocks` whole blocks at `src` into `dst` (nblocks * block floats). */
void dequant_blocks(int type, const uint8_t* src, int64_t nblocks, float* dst);
}  // namespace ET_ISA

}  // namespace et

// ggml block formats: sizes and dequantization, bit-exact with llama.cpp's reference `to_float`
// (lib/quant/dequant.ts is the same code in TypeScript; test/quant-native.test.ts checks both
// against llama.cpp's values). Type ids are ggml's.
#pragma once
#include <cstdint>

namespace et {

enum QType : int { Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q4_K = 12, Q5_K = 13, Q6_K = 14 };

/** Elements and bytes per block; {0, 0} for a type that is not a supported block format. */
struct QInfo {
  int block;
  int bytes;
};
inline QInfo qinfo(int type) {
  switch (type) {
    case Q8_0: return {32, 34};
    case Q4_0: return {32, 18};
    case Q4_1: return {32, 20};
    case Q5_0: return {32, 22};
    case Q5_1: return {32, 24};
    case Q4_K: return {256, 144};
    case Q5_K: return {256, 176};
    case Q6_K: return {256, 210};
    default: return {0, 0};
  }
}

namespace ET_ISA {
/** Dequantizes `nblocks` whole blocks at `src` into `dst` (nblocks * block floats). */
void dequant_blocks(int type, const uint8_t* src, int64_t nblocks, float* dst);
}  // namespace ET_ISA

}  // namespace et

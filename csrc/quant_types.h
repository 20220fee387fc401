// The tensor types a GGUF file can name, with their block geometry: ggml's ids and sizes (ggml.c
// type_traits), and edgetrain's own 4-bit NormalFloat formats numbered above ggml's range. This is
// the one table of block sizes: the CPU kernels take theirs from it (csrc/cpu/quant_blocks.h), the
// addon exports it (bindings/quant.cpp, `quantTypes()`), and lib/quant-types.ts hands it to the
// TypeScript side (GGUF reader and writer, lib/quant, lib/ops/quant.ts).
#pragma once

namespace et {

/** The block formats the CPU kernels read and write (dequantize, matmulQ, quantize). */
enum QType : int { Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q4_K = 12, Q5_K = 13, Q6_K = 14, NF4 = 1024, NF4_DQ = 1025 };

struct QuantTypeInfo {
  int id;
  const char* name;
  int block_elems;  // elements per block (1 for plain types)
  int block_bytes;
  bool kernels;  // one of the QTypes above
};

inline constexpr QuantTypeInfo kQuantTypes[] = {
    {0, "F32", 1, 4, false},
    {1, "F16", 1, 2, false},
    {Q4_0, "Q4_0", 32, 18, true},
    {Q4_1, "Q4_1", 32, 20, true},
    {Q5_0, "Q5_0", 32, 22, true},
    {Q5_1, "Q5_1", 32, 24, true},
    {Q8_0, "Q8_0", 32, 34, true},
    {9, "Q8_1", 32, 36, false},
    {10, "Q2_K", 256, 84, false},
    {11, "Q3_K", 256, 110, false},
    {Q4_K, "Q4_K", 256, 144, true},
    {Q5_K, "Q5_K", 256, 176, true},
    {Q6_K, "Q6_K", 256, 210, true},
    {15, "Q8_K", 256, 292, false},
    {16, "IQ2_XXS", 256, 66, false},
    {17, "IQ2_XS", 256, 74, false},
    {18, "IQ3_XXS", 256, 98, false},
    {19, "IQ1_S", 256, 50, false},
    {20, "IQ4_NL", 32, 18, false},
    {21, "IQ3_S", 256, 110, false},
    {22, "IQ2_S", 256, 82, false},
    {23, "IQ4_XS", 256, 136, false},
    {24, "I8", 1, 1, false},
    {25, "I16", 1, 2, false},
    {26, "I32", 1, 4, false},
    {27, "I64", 1, 8, false},
    {28, "F64", 1, 8, false},
    {29, "IQ1_M", 256, 56, false},
    {30, "BF16", 1, 2, false},
    {34, "TQ1_0", 256, 54, false},
    {35, "TQ2_0", 256, 66, false},
    {39, "MXFP4", 32, 17, false},
    // files holding these open in edgetrain only
    {NF4, "NF4", 64, 36, true},
    {NF4_DQ, "NF4_DQ", 256, 134, true},
};

/** Elements and bytes per block of a QType; {0, 0} for any other type. */
struct QInfo {
  int block;
  int bytes;
};
constexpr QInfo qinfo(int type) {
  for (const QuantTypeInfo& t : kQuantTypes)
    if (t.id == type && t.kernels) return {t.block_elems, t.block_bytes};
  return {0, 0};
}

}  // namespace et

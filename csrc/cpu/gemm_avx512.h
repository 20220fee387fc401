// AVX-512 f32 micro-kernel of gemm.cpp (included there, inside namespace et::ET_ISA::<anon>, only
// when the copy is compiled with AVX-512 F/BW/VL/DQ).
//
// Register tile 14 x 32: 28 zmm accumulators (two 16-float vectors per row of C), 2 zmm for the
// k-th row of the B panel, 2 for A broadcasts = all 32 registers. One k step: 2 B loads + 14
// broadcasts feed 28 FMAs (14 cycles at 2 zmm FMA/cycle), so loads stay near one per cycle.
// The k loop is asm so the 28 accumulators are pinned (zmm0..27); they are stored to a 1.75 KiB
// stack tile afterwards and merged into C with alpha / beta and lane masks, which serves full
// and ragged tiles alike.
// Measured on a 2-core Sapphire Rapids VM: this loop runs at ~85% of the register-only zmm FMA
// rate with A and B in L1; 12x32, 8x48, 6x64 and 9x48 tiles were within +-4% of it there, and
// 9x48 was no faster in whole GEMMs.
#pragma once

constexpr int MR = 14;
constexpr int NR = 32;

// Row I of the tile for one k: broadcast A(I, k) into zmm T, then C(I, 0:16) and C(I, 16:32).
// (Broadcasting straight from memory in each FMA, {1to16}, measured 7% slower: twice the loads.)
#define ET_ZROW(OFF, T, C0, C1)                        \
  "vbroadcastss " OFF "(%[a]), %%zmm" #T "\n\t"        \
  "vfmadd231ps %%zmm28, %%zmm" #T ", %%zmm" #C0 "\n\t" \
  "vfmadd231ps %%zmm29, %%zmm" #T ", %%zmm" #C1 "\n\t"
// One k step: U is the step within the unrolled group (A at a + 56 U bytes), B0 its B row.
#define ET_ZSTEP(U, B0)                                                                          \
  "vmovups " B0 ", %%zmm28\n\t"                                                                  \
  "vmovups 64" B0 ", %%zmm29\n\t"                                                                \
  ET_ZROW(#U "*56+0", 30, 0, 1) ET_ZROW(#U "*56+4", 31, 2, 3) ET_ZROW(#U "*56+8", 30, 4, 5)       \
  ET_ZROW(#U "*56+12", 31, 6, 7) ET_ZROW(#U "*56+16", 30, 8, 9) ET_ZROW(#U "*56+20", 31, 10, 11)  \
  ET_ZROW(#U "*56+24", 30, 12, 13) ET_ZROW(#U "*56+28", 31, 14, 15)                              \
  ET_ZROW(#U "*56+32", 30, 16, 17) ET_ZROW(#U "*56+36", 31, 18, 19)                              \
  ET_ZROW(#U "*56+40", 30, 20, 21) ET_ZROW(#U "*56+44", 31, 22, 23)                              \
  ET_ZROW(#U "*56+48", 30, 24, 25) ET_ZROW(#U "*56+52", 31, 26, 27)
#define ET_ZSTORE(R) "vmovups %%zmm" #R ", " #R "*64(%[t])\n\t"

// t[MR x NR] (row-major, 32 floats a row) = A panel (MR floats per k) . B panel (32 floats per k at
// stride ldb floats), over kc steps. The last (up to) 14 k steps each prefetch one row of the C
// tile at c (stride ldc floats): the merge that follows then hits L1. Prefetching C only at the
// start loses it again: rows of C 4 KiB apart share one L1 set, which holds 12 lines.
inline void ukernel_tile(int64_t kc, const float* a, const float* b, int64_t ldb, float* t, const float* c,
                         int64_t ldc) {
  int64_t kt = std::min<int64_t>(kc, MR), k4 = (kc - kt) >> 2, kr = (kc - kt) & 3, ldb3;
  const int64_t ldbb = ldb * int64_t(sizeof(float)), ldcb = ldc * int64_t(sizeof(float));
  __asm__ volatile(
      "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm1, %%zmm1, %%zmm1\n\t"
      "vpxord %%zmm2, %%zmm2, %%zmm2\n\t"
      "vpxord %%zmm3, %%zmm3, %%zmm3\n\t"
      "vpxord %%zmm4, %%zmm4, %%zmm4\n\t"
      "vpxord %%zmm5, %%zmm5, %%zmm5\n\t"
      "vpxord %%zmm6, %%zmm6, %%zmm6\n\t"
      "vpxord %%zmm7, %%zmm7, %%zmm7\n\t"
      "vpxord %%zmm8, %%zmm8, %%zmm8\n\t"
      "vpxord %%zmm9, %%zmm9, %%zmm9\n\t"
      "vpxord %%zmm10, %%zmm10, %%zmm10\n\t"
      "vpxord %%zmm11, %%zmm11, %%zmm11\n\t"
      "vpxord %%zmm12, %%zmm12, %%zmm12\n\t"
      "vpxord %%zmm13, %%zmm13, %%zmm13\n\t"
      "vpxord %%zmm14, %%zmm14, %%zmm14\n\t"
      "vpxord %%zmm15, %%zmm15, %%zmm15\n\t"
      "vpxord %%zmm16, %%zmm16, %%zmm16\n\t"
      "vpxord %%zmm17, %%zmm17, %%zmm17\n\t"
      "vpxord %%zmm18, %%zmm18, %%zmm18\n\t"
      "vpxord %%zmm19, %%zmm19, %%zmm19\n\t"
      "vpxord %%zmm20, %%zmm20, %%zmm20\n\t"
      "vpxord %%zmm21, %%zmm21, %%zmm21\n\t"
      "vpxord %%zmm22, %%zmm22, %%zmm22\n\t"
      "vpxord %%zmm23, %%zmm23, %%zmm23\n\t"
      "vpxord %%zmm24, %%zmm24, %%zmm24\n\t"
      "vpxord %%zmm25, %%zmm25, %%zmm25\n\t"
      "vpxord %%zmm26, %%zmm26, %%zmm26\n\t"
      "vpxord %%zmm27, %%zmm27, %%zmm27\n\t"
      "lea (%[ldb], %[ldb], 2), %[ldb3]\n\t"
      "test %[k4], %[k4]\n\t"
      "jz 2f\n\t"
      ".p2align 5\n\t"
      "1:\n\t"
      "prefetcht0 640(%[a])\n\t"
      ET_ZSTEP(0, "(%[b])")
      ET_ZSTEP(1, "(%[b], %[ldb])")
      "prefetcht0 704(%[a])\n\t"
      ET_ZSTEP(2, "(%[b], %[ldb], 2)")
      "prefetcht0 768(%[a])\n\t"
      ET_ZSTEP(3, "(%[b], %[ldb3])")
      "add $224, %[a]\n\t"
      "lea (%[b], %[ldb], 4), %[b]\n\t"
      "dec %[k4]\n\t"
      "jnz 1b\n\t"
      "2:\n\t"
      "test %[kr], %[kr]\n\t"
      "jz 4f\n\t"
      "3:\n\t"
      ET_ZSTEP(0, "(%[b])")
      "add $56, %[a]\n\t"
      "add %[ldb], %[b]\n\t"
      "dec %[kr]\n\t"
      "jnz 3b\n\t"
      "4:\n\t"
      "test %[kt], %[kt]\n\t"
      "jz 6f\n\t"
      "5:\n\t"
      "prefetcht0 (%[c])\n\t"
      "prefetcht0 64(%[c])\n\t"
      "prefetcht0 124(%[c])\n\t"
      ET_ZSTEP(0, "(%[b])")
      "add $56, %[a]\n\t"
      "add %[ldb], %[b]\n\t"
      "add %[ldc], %[c]\n\t"
      "dec %[kt]\n\t"
      "jnz 5b\n\t"
      "6:\n\t"
      ET_ZSTORE(0) ET_ZSTORE(1) ET_ZSTORE(2) ET_ZSTORE(3) ET_ZSTORE(4) ET_ZSTORE(5) ET_ZSTORE(6)
      ET_ZSTORE(7) ET_ZSTORE(8) ET_ZSTORE(9) ET_ZSTORE(10) ET_ZSTORE(11) ET_ZSTORE(12) ET_ZSTORE(13)
      ET_ZSTORE(14) ET_ZSTORE(15) ET_ZSTORE(16) ET_ZSTORE(17) ET_ZSTORE(18) ET_ZSTORE(19) ET_ZSTORE(20)
      ET_ZSTORE(21) ET_ZSTORE(22) ET_ZSTORE(23) ET_ZSTORE(24) ET_ZSTORE(25) ET_ZSTORE(26) ET_ZSTORE(27)
      : [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [k4] "+r"(k4), [kr] "+r"(kr), [kt] "+r"(kt), [ldb3] "=&r"(ldb3)
      : [ldb] "r"(ldbb), [ldc] "r"(ldcb), [t] "r"(t)
      : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
        "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20",
        "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}
#undef ET_ZROW
#undef ET_ZSTEP
#undef ET_ZSTORE

// C[0:mr, 0:nr] = alpha * t + beta * C (beta == 0: C not read); t as ukernel_tile leaves it.
inline void merge_tile(const float* t, float* c, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta) {
  const __mmask16 m0 = nr >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? __mmask16(0xFFFF) : nr <= 16 ? __mmask16(0) : __mmask16((1u << (nr - 16)) - 1);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int64_t i = 0; i < mr; ++i) {
    float* ci = c + i * ldc;
    __m512 r0 = _mm512_mul_ps(va, _mm512_load_ps(t + i * NR));
    __m512 r1 = _mm512_mul_ps(va, _mm512_load_ps(t + i * NR + 16));
    if (beta != 0.0f) {
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), r1);
    }
    _mm512_mask_storeu_ps(ci, m0, r0);
    _mm512_mask_storeu_ps(ci + 16, m1, r1);
  }
}

inline void ukernel(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t ldb,
                    float* __restrict c, int64_t ldc, float alpha, float beta) {
  alignas(64) float t[MR * NR];
  ukernel_tile(kc, a, b, ldb, t, c, ldc);
  merge_tile(t, c, ldc, MR, NR, alpha, beta);
}

inline void edge_tile(int64_t kc, const float* ap, const float* bp, int64_t ldb, float* c, int64_t ldc,
                      int64_t mr, int64_t nr, float alpha, float beta) {
  alignas(64) float t[MR * NR];
  ukernel_tile(kc, ap, bp, ldb, t, c, ldc);  // (prefetching rows past mr cannot fault)
  merge_tile(t, c, ldc, mr, nr, alpha, beta);
}

// What the running CPU can execute, and the kernel tier chosen from it (see kernels.h).
#pragma once
#include <string>

namespace et {

// Instruction-set extensions the kernels use, as detected (CPU and OS both support them).
struct CpuFeatures {
  // x86-64
  bool avx2_fma = false;     // AVX2 + FMA + F16C, OS saves ymm
  bool avx512 = false;       // AVX-512 F/BW/VL/DQ, OS saves zmm and opmasks
  bool avx512_vnni = false;  // vpdpbusd on zmm
  bool avx512_bf16 = false;  // vdpbf16ps, vcvtne2ps2bf16
  bool avx_vnni = false;     // vpdpbusd on ymm without AVX-512 (VEX encoding)
  bool amx_bf16 = false;     // AMX-TILE + AMX-BF16 (tdpbf16ps), OS saves tile state (the process
                             // still asks Linux for tile data before use: gemm_amx.h)
  // arm64
  bool neon = false;
  bool dotprod = false;  // sdot/udot (ARMv8.2 FEAT_DotProd)
  bool i8mm = false;     // smmla/usmmla (ARMv8.6 FEAT_I8MM)
  bool bf16 = false;     // bfmmla/bfdot (FEAT_BF16)
};

// Detected once; never changes.
const CpuFeatures& cpu_detected();

// Kernel tiers in increasing order. Each names one compiled copy of csrc/cpu (avx2 / avx512 /
// dotprod / i8mm) plus the optional extensions its kernels may use at run time.
//   x86-64: generic < avx2 < avx2vnni < avx512 < avx512vnni < avx512bf16
//   arm64:  neon < dotprod < i8mm        (i8mm needs FEAT_BF16 as well)
enum class CpuTier { generic, avx2, avx2vnni, avx512, avx512vnni, avx512bf16, neon, dotprod, i8mm };
const char* cpu_tier_name(CpuTier t);

// The tier in use: the best the CPU has, or EDGETRAIN_CPU_ISA's when set. `error` is "" unless
// EDGETRAIN_CPU_ISA names no tier of this architecture or one this CPU cannot run; then the best
// tier is used and the error says why (the addon raises it at import).
struct CpuTierChoice {
  CpuTier tier = CpuTier::generic;
  CpuFeatures active;  // the detected features capped at the tier: what kernels may use
  std::string error;
};
const CpuTierChoice& cpu_tier();

// Shorthand for kernels: the extensions they may use now (capped by EDGETRAIN_CPU_ISA).
inline const CpuFeatures& cpu_features() { return cpu_tier().active; }

// Every detected extension by name, e.g. "avx2 fma f16c avx512f avx512bw ... avx512_bf16".
std::string cpu_feature_list();

// Measured core clock in GHz (0 where it cannot be measured).
double cpu_clock_ghz();

}  // namespace et

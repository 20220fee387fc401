// Shared declarations for CPU kernel families.
//
// Every kernel file is compiled once per instruction set (CMake: et_cpu_generic; on x86-64
// et_cpu_avx2 with -mavx2 -mfma -mf16c and et_cpu_avx512 adding -mavx512f/bw/vl/dq; on arm64
// et_cpu_dotprod and et_cpu_i8mm); ET_ISA names the namespace each copy lives in, and the CPU
// backend picks a table at start-up from the tier (cpuid.h, EDGETRAIN_CPU_ISA). Kernels use plain
// loops the compiler vectorises, or intrinsics guarded by __AVX512F__ / __AVX2__ / __ARM_NEON /
// __ARM_FEATURE_DOTPROD / __ARM_FEATURE_MATMUL_INT8 with a scalar #else. Extensions without a copy
// of their own (AVX-VNNI, AVX512_VNNI, AVX512_BF16) live in functions with target attributes,
// called only when cpu_features() says so.
#pragma once
#include <string>

#include "../backend.h"
#include "../threadpool.h"

#ifndef ET_ISA
#define ET_ISA isa_generic
#endif

namespace et {

// Returns "" on success, else an error message naming the op and the offending values.
using KernelFn = std::string (*)(const Call&);

namespace ET_ISA {
// One registration function per kernel family file; each fills its ops' slots.
void register_elementwise(KernelFn* table);  // elementwise.cpp: fill, copy, unary, binary, compare, where
void register_random(KernelFn* table);       // random.cpp: randUniform, randNormal (philox.h)
void register_dropout(KernelFn* table);      // dropout.cpp: dropout (philox.h)
void register_reduce(KernelFn* table);       // reduce.cpp: sum, max
void register_softmax(KernelFn* table);      // softmax.cpp: softmax, logSoftmax, crossEntropy (+bwd)
void register_embedding(KernelFn* table);    // embedding.cpp
void register_matmul(KernelFn* table);       // matmul.cpp (uses gemm.h)
void register_norm(KernelFn* table);         // norm.cpp: rmsNorm, layerNorm (+bwd)
void register_rope(KernelFn* table);         // rope.cpp: rope (+bwd)
void register_swiglu(KernelFn* table);       // swiglu.cpp: swiglu (+bwd)
void register_attention(KernelFn* table);    // attention.cpp: sdpa (+bwd)
void register_optim(KernelFn* table);        // optim.cpp: adamw, sgd
void register_quant(KernelFn* table);        // quant.cpp: dequantize, matmulQ (block formats)
void register_quantize(KernelFn* table);     // quantize.cpp: float rows to block formats

inline void register_all(KernelFn* t) {
  register_elementwise(t);
  register_random(t);
  register_dropout(t);
  register_reduce(t);
  register_softmax(t);
  register_embedding(t);
  register_matmul(t);
  register_norm(t);
  register_rope(t);
  register_swiglu(t);
  register_attention(t);
  register_optim(t);
  register_quant(t);
  register_quantize(t);
}
}  // namespace ET_ISA

// Calls fn(linear_index, element_offset) for every element of `shape` walked in row-major order,
// where element_offset follows `strides`. Used by kernels on non-contiguous views.
template <class F>
inline void for_each_strided(int ndim, const int64_t* shape, const int64_t* strides, int64_t begin,
                             int64_t end, F&& fn) {
  if (begin >= end) return;
  int64_t idx[kMaxDims];
  int64_t rem = begin, off = 0;
  for (int d = ndim - 1; d >= 0; --d) {
    idx[d] = shape[d] ? rem % shape[d] : 0;
    rem = shape[d] ? rem / shape[d] : 0;
    off += idx[d] * strides[d];
  }
  for (int64_t i = begin; i < end; ++i) {
    fn(i, off);
    for (int d = ndim - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= (shape[d] - 1) * strides[d];
      idx[d] = 0;
    }
  }
}

}  // namespace et

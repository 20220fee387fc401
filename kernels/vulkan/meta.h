// Per-dispatch parameter block shared by the Vulkan host code (csrc/vulkan) and the shaders.
// Plain #defines only: this file is included from both C++ and GLSL.
//
// Every dispatch gets a block of META_INTS int32 words in a uniform buffer (binding 0, std140
// ivec4[], read through mi(k)); floats are stored as their bit patterns. Tensors are storage
// buffers at bindings 1.. (one per call argument, up to et::kMaxArgs); the strided frame
// (copy, elementwise, reduce, matmul) has 4 tensor slots: 0 = output, 1..3 = inputs (bindings 1..4).
#ifndef ET_VULKAN_META_H
#define ET_VULKAN_META_H

#define META_INTS 128
#define META_BYTES 512

#define META_OP 0      // shader-local op code (below)
#define META_N 1       // elements (or rows / batches) to process
#define META_NDIM 2    // dims in META_SHAPE
#define META_MODE 3    // elementwise: MODE_*; reduce: REDUCE_*
#define META_I 4       // 8 extra ints (op-specific)
#define META_P 12      // 4 float params
#define META_BITS 16   // fill: output element bit pattern
#define META_DT 20     // 4 dtypes, one per slot
#define META_OFF 24    // 4 element offsets, one per slot
#define META_SHAPE 32  // 8 dims
#define META_ST 40     // 4 x 8 strides: META_ST + slot*8 + d
#define META_X 72      // 16 more op-specific ints

// dtypes (csrc/dtype.h)
#define DT_F32 0
#define DT_F16 1
#define DT_BF16 2
#define DT_I32 3
#define DT_U8 4

// elementwise output modes
#define MODE_SCATTER 0  // one element per invocation, strided output (sub-word stores via atomics)
#define MODE_PACKED 1   // contiguous sub-word output: one 32-bit output word per invocation

// Shader-local op codes (CP_*, EW_*), generated from schema/ops.json.
#include "opcodes.h"

// elementwise.comp code ranges: unary ops below EW_BINARY_FIRST, then binary ops, then
// comparisons from EW_CMP_FIRST up to EW_WHERE (scripts/gen-ops.mjs keeps the codes there).
#define EW_BINARY_FIRST 20
#define EW_CMP_FIRST 40

// reduce.comp modes: META_I+0 = reduced element count, META_I+1 = leading dims in META_SHAPE
#define REDUCE_ROW_PER_THREAD 0
#define REDUCE_ROW_PER_GROUP 1

// matmul.comp: META_I+0..3 = M, N, K, first batch; META_X+0..5 = strides a_m, a_k, b_k, b_n, c_m, c_n;
// META_SHAPE/META_ST hold the (broadcast) batch dims, slots 0 = c, 1 = a, 2 = b.
#define MM_TILE 64

// swiglu.comp: bindings 1.. = the call's arguments in order (a, b, y / a, b, dy, da, db), all
// contiguous float32; META_N = elements, META_X + i = argument i's element offset.

#endif

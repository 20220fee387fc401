// Meta block layout of attention_fwd.comp and attention_bwd.comp (host: csrc/vulkan/attention.cpp).
// Plain #defines only: included from both C++ and GLSL.
//
// Each tensor operand X has 4 ints at ATT_X: element offset, then the element strides of dims
// 0..2 (the last dim has unit stride); the mask has 5 (offset, strides of its 4 dims, 0 where
// broadcast). Bindings: 1 q, 2 k, 3 v, 4 mask (a dummy when absent), 5 o, 6 lse, and for the
// backward 7 do, 8 out1, 9 out2 (pass 0: dk, dv; pass 1: dq).
#ifndef ET_VULKAN_ATTENTION_H
#define ET_VULKAN_ATTENTION_H

#define ATT_PASS 4     // backward pass: 0 = dk/dv per key block, 1 = dq per query block
#define ATT_B 5
#define ATT_HQ 6
#define ATT_HKV 7
#define ATT_T 8
#define ATT_S 9
#define ATT_D 10
#define ATT_DV 11
#define ATT_SCALE 12   // float bits
#define ATT_CAUSAL 13  // 1: key j visible to query i iff j <= i + ATT_SHIFT
#define ATT_HASMASK 14
#define ATT_Y0 15      // first (batch, head) pair of this dispatch: workgroup y + ATT_Y0 (<= 65535 per dispatch)
#define ATT_Q 16
#define ATT_K 20
#define ATT_V 24
#define ATT_O 28
#define ATT_LSE 32
#define ATT_DO 36
#define ATT_OUT1 40
#define ATT_OUT2 44
#define ATT_MASK 48    // 5 ints
#define ATT_SHIFT 53   // causal: key j visible to query i iff j <= i + shift (S - T; a windowed chunk
                       // of query rows [t0, t0 + T) of the call's Tall: S - Tall + t0)

// Tile geometry: 16 query rows x 16 keys per tile, 256 invocations; head dims pass through
// shared memory 64 at a time; a workgroup owns ATT_COLS output columns (8 per invocation), more
// columns take more workgroups along z (each recomputing the scores).
#define ATT_BR 16
#define ATT_BC 16
#define ATT_CH 64
#define ATT_COLS 128

#endif

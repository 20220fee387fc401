// The op table: the single list of kernels every backend implements (or reports as unsupported).
// lib/native/ops.ts mirrors the names and ids; test/native.test.ts checks that the two agree.
//
// Conventions for every kernel call (et::Call):
//   - inputs come first, then outputs; all live on one device.
//   - a view is (buffer, dtype, offset, shape, strides) in elements; inputs may be strided
//     (broadcast dims have stride 0) unless the op says "contiguous"; outputs are freshly
//     allocated and contiguous unless the op says otherwise.
//   - p[i] are the op's scalar parameters, as listed below.
#pragma once

namespace et {

// X(ENUM, "js name", inputs, outputs)
#define ET_OP_LIST(X)                                                                                   \
  /* creation: out = value (any dtype) */                                                               \
  X(FILL, "fill", 0, 1)               /* p0 value */                                                    \
  /* strided copy with dtype conversion; out may be a strided view (cat writes into slices) */          \
  X(COPY, "copy", 1, 1)                                                                                 \
  /* counter-based Philox4x32-10: element i depends only on (key, i); the exact stream is specified \
     at the top of csrc/cpu/random.cpp */                       \
  X(RAND_UNIFORM, "randUniform", 0, 1) /* p0 seed (<2^53), p1 low, p2 high; out f32 */                  \
  X(RAND_NORMAL, "randNormal", 0, 1)   /* p0 seed, p1 mean, p2 std; out f32 */                          \
  X(DROPOUT, "dropout", 1, 1)          /* x -> x*keep/(1-p); p0 seed, p1 p. Same seed = same mask */    \
  /* unary, f32, x strided -> out contiguous of x's shape */                                            \
  X(AFFINE, "affine", 1, 1)            /* y = x*p0 + p1 */                                              \
  X(EXP, "exp", 1, 1)                                                                                   \
  X(LOG, "log", 1, 1)                                                                                   \
  X(SQRT, "sqrt", 1, 1)                                                                                 \
  X(RSQRT, "rsqrt", 1, 1)                                                                               \
  X(ABS, "abs", 1, 1)                                                                                   \
  X(SIGN, "sign", 1, 1)                                                                                 \
  X(RELU, "relu", 1, 1)                                                                                 \
  X(GELU_TANH, "geluTanh", 1, 1)                                                                        \
  X(GELU_ERF, "geluErf", 1, 1)                                                                          \
  X(SILU, "silu", 1, 1)                                                                                 \
  X(SIGMOID, "sigmoid", 1, 1)                                                                           \
  X(TANH, "tanh", 1, 1)                                                                                 \
  X(POW_SCALAR, "powScalar", 1, 1)     /* y = x^p0 */                                                   \
  /* binary, f32: inputs already broadcast to out's shape (stride 0 on broadcast dims) */               \
  X(ADD, "add", 2, 1)                                                                                   \
  X(SUB, "sub", 2, 1)                                                                                   \
  X(MUL, "mul", 2, 1)                                                                                   \
  X(DIV, "div", 2, 1)                                                                                   \
  X(MAXIMUM, "maximum", 2, 1)                                                                           \
  X(MINIMUM, "minimum", 2, 1)                                                                           \
  X(RELU_BWD, "reluBwd", 2, 1)         /* (x, dy) -> dy * (x > 0) */                                    \
  X(GELU_TANH_BWD, "geluTanhBwd", 2, 1) /* (x, dy) -> dx */                                             \
  X(GELU_ERF_BWD, "geluErfBwd", 2, 1)  /* (x, dy) -> dx */                                              \
  X(SILU_BWD, "siluBwd", 2, 1)         /* (x, dy) -> dx */                                              \
  /* comparisons, f32 inputs broadcast like binary ops -> out u8 (0/1) */                               \
  X(GT, "gt", 2, 1)                                                                                     \
  X(GE, "ge", 2, 1)                                                                                     \
  X(LT, "lt", 2, 1)                                                                                     \
  X(LE, "le", 2, 1)                                                                                     \
  X(EQ, "eq", 2, 1)                                                                                     \
  X(NE, "ne", 2, 1)                                                                                     \
  X(WHERE, "where", 3, 1)              /* (cond u8, a f32, b f32), all broadcast to out */              \
  /* reductions: x is strided with the p0 reduced dims moved last; out contiguous = leading dims */    \
  X(SUM, "sum", 1, 1)                  /* p0 number of trailing dims reduced */                         \
  X(MAX, "max", 1, 2)                  /* p0 as SUM; outs (values f32, argmax i32 = flat index in the   \
                                          reduced dims, first maximum wins; NaN counts as maximum) */   \
  /* row ops over the last dim; x contiguous [N, C] */                                                  \
  X(SOFTMAX, "softmax", 1, 1)                                                                           \
  X(SOFTMAX_BWD, "softmaxBwd", 2, 1)   /* (y, dy) -> dx */                                              \
  X(LOG_SOFTMAX, "logSoftmax", 1, 1)                                                                    \
  X(LOG_SOFTMAX_BWD, "logSoftmaxBwd", 2, 1) /* (y, dy) -> dx */                                         \
  X(CROSS_ENTROPY, "crossEntropy", 2, 2) /* (logits [N,C], target i32 [N]) -> (loss [N], lse [N]);      \
                                            p0 ignore index: those rows get loss 0. Target outside      \
                                            [0,C) and != ignore index is an error */                    \
  X(CROSS_ENTROPY_BWD, "crossEntropyBwd", 4, 1) /* (logits, target, lse, dloss [N]) -> dlogits; p0 */   \
  X(EMBEDDING, "embedding", 2, 1)      /* (weight [V,D], idx i32 [N]) -> [N,D]; idx outside [0,V) errs */ \
  X(EMBEDDING_BWD, "embeddingBwd", 2, 1) /* (dy [N,D], idx [N]) -> dweight [V,D] (scatter-add) */       \
  /* a [..., M, K] and b [..., K, N], each with unit stride in one of its last two dims (so          \
     transposed operands need no copy); batch dims broadcast to out's (stride 0). out [..., M, N] */   \
  X(MATMUL, "matmul", 2, 1)                                                                             \
  X(RMS_NORM, "rmsNorm", 2, 2)         /* (x [N,C], w [C]) -> (y, rstd [N]); p0 eps */                   \
  X(RMS_NORM_BWD, "rmsNormBwd", 4, 2)  /* (x, w, rstd, dy) -> (dx, dw [C]) */                           \
  X(LAYER_NORM, "layerNorm", 3, 3)     /* (x [N,C], w [C], b [C]) -> (y, mean [N], rstd [N]); p0 eps */ \
  X(LAYER_NORM_BWD, "layerNormBwd", 5, 3) /* (x, w, mean, rstd, dy) -> (dx, dw, db) */                  \
  /* x [B, T, H, D] contiguous, pos i32 [T]; p0 base, p1 mode (0 neox half-split, 1 interleaved),     \
     p2 direction (+1 rotate, -1 inverse for backward), p3 rotary dims (<= D, even), p4 freq scale */  \
  X(ROPE, "rope", 2, 1)                                                                                 \
  X(SWIGLU, "swiglu", 2, 1)            /* (a, b) -> silu(a)*b, contiguous, same shape */                \
  X(SWIGLU_BWD, "swigluBwd", 3, 2)     /* (a, b, dy) -> (da, db) */                                     \
  /* q [B,Hq,T,D], k [B,Hkv,S,D], v [B,Hkv,S,Dv] with unit last stride, Hq % Hkv == 0,                \
     optional additive mask f32 broadcast to [B,Hq,T,S]; -> (o [B,Hq,T,Dv], lse [B,Hq,T]).            \
     p0 scale, p1 causal (key j visible to query i iff j <= i + S - T), p2 has mask */                \
  X(SDPA, "sdpa", 4, 2)                                                                                 \
  X(SDPA_BWD, "sdpaBwd", 7, 3)         /* (q, k, v, o, lse, do, [mask]) -> (dq, dk, dv); p as SDPA */   \
  /* optimizer updates, in place on contiguous f32 (no outputs) */                                      \
  X(ADAMW, "adamw", 4, 0)              /* (param, grad, m, v); p0 lr, p1 beta1, p2 beta2, p3 eps,       \
                                          p4 weight decay, p5 step (1-based), p6 grad scale */          \
  X(SGD, "sgd", 3, 0)                  /* (param, grad, momentum buf); p0 lr, p1 momentum, p2 dampening, \
                                          p3 weight decay, p4 nesterov, p5 first step, p6 grad scale */ \
  /* block-quantized weights (ggml formats, csrc/cpu/quant_blocks.h): w uint8 [N, K/block*bytes]   \
     contiguous; p0 ggml type id, p1 K (elements per row) */                                         \
  X(DEQUANTIZE, "dequantize", 1, 1)    /* w -> f32 [N, K], bit-exact with llama.cpp */                 \
  X(MATMUL_Q, "matmulQ", 2, 1)         /* (x f32 [M, Kin], w) -> p2 0: x.W^T [M, N]; 1: x.W [M, K];   \
                                          p3 1: 8-bit x allowed for decode */                           \
  X(QUANTIZE, "quantize", 1, 1)        /* x f32 [N, K] -> w; as llama.cpp's reference quantizer */

enum Op : int {
#define ET_OP_ENUM(name, js, nin, nout) OP_##name,
  ET_OP_LIST(ET_OP_ENUM)
#undef ET_OP_ENUM
  OP_COUNT
};

constexpr int kOpCountExpected = 61;  // bump with the list; lib/native/ops.ts must match
static_assert(OP_COUNT == kOpCountExpected, "op list changed: update kOpCountExpected and lib/native/ops.ts");

const char* op_name(int op);
int op_inputs(int op);
int op_outputs(int op);

}  // namespace et

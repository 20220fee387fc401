#version 450
// Unary, binary, comparison and where ops on strided views (inputs broadcast with stride 0),
// computed in f32. The op is the specialization constant SPEC_OP where the host builds a pipeline
// per op (csrc/vulkan/pipelines.h: "elementwise#<code>"), else META_OP: with a constant the
// compiler drops every other op's code, which a CPU device (lavapipe) otherwise runs masked.
// Contiguous float32 operands take elementwise_f32.comp instead (the same math: ew_math.glsl).
#include "strided.glsl"
#include "ew_math.glsl"

layout(constant_id = 0) const int SPEC_OP = 0;

uint element_bits(int o1, int o2, int o3) {
  int op = SPEC_OP != 0 ? SPEC_OP : mi(META_OP);
  int d0 = mi(META_DT);
  float r;
  if (op == EW_WHERE) {
    bool c = load1(mi(META_DT + 1), o1) != 0u;
    return c ? float_to_bits(d0, bits_to_float(mi(META_DT + 2), load2(mi(META_DT + 2), o2)))
             : float_to_bits(d0, bits_to_float(mi(META_DT + 3), load3(mi(META_DT + 3), o3)));
  }
  float a = bits_to_float(mi(META_DT + 1), load1(mi(META_DT + 1), o1));
  if (op < EW_BINARY_FIRST) return float_to_bits(d0, unary(op, a));
  float b = bits_to_float(mi(META_DT + 2), load2(mi(META_DT + 2), o2));
  if (op < EW_CMP_FIRST) return float_to_bits(d0, binary(op, a, b));
  return compare(op, a, b) ? float_to_bits(d0, 1.0) : 0u;
}

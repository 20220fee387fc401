#version 450
// The float32 fast path of elementwise.comp: unary and binary EW_* ops (not comparisons or
// where: their operands are not all float32) on a contiguous float32 output of META_N elements,
// each input contiguous with it or one element broadcast to all (a scalar). The math is
// ew_math.glsl's, so the bits equal the general shader's.
// Each invocation computes 4 consecutive elements (flat id gl_GlobalInvocationID.y *
// gl_NumWorkGroups.x * 256 + gl_GlobalInvocationID.x): with vec4 loads and stores when
// META_MODE = 1 (every non-scalar operand's offset is a multiple of 4, so its 4 elements are one
// aligned vec4), else with 4 scalar loads (META_MODE = 0).
// Meta: META_OP = EW_*, META_N, META_OFF + t = element offset of slot t (0 out, 1..2 inputs),
// META_I + t = 1 if slot t is a broadcast scalar, META_P = the op's float params.
// Bindings: 1 out, 2 and 3 the inputs (each also read as vec4[]).
#extension GL_GOOGLE_include_directive : require
#include "meta.h"

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
float mf(int k) { return intBitsToFloat(mi(k)); }
layout(std430, binding = 1) writeonly buffer Out { float o1[]; };
layout(std430, binding = 1) writeonly buffer Out4 { vec4 o4[]; };
layout(std430, binding = 2) readonly buffer A { float a1[]; };
layout(std430, binding = 2) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 3) readonly buffer B { float b1[]; };
layout(std430, binding = 3) readonly buffer B4 { vec4 b4[]; };

#include "ew_math.glsl"

// the op: a specialization constant where the host builds a pipeline per op (see elementwise.comp)
layout(constant_id = 0) const int SPEC_OP = 0;

float apply(int op, float a, float b) { return op < EW_BINARY_FIRST ? unary(op, a) : binary(op, a, b); }

void main() {
  int gid = int(gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x);
  int n = mi(META_N), op = SPEC_OP != 0 ? SPEC_OP : mi(META_OP);
  int e0 = gid * 4;
  if (e0 >= n) return;
  int oo = mi(META_OFF), oa = mi(META_OFF + 1), ob = mi(META_OFF + 2);
  bool sa = mi(META_I + 1) != 0, sb = mi(META_I + 2) != 0;
  bool binop = op >= EW_BINARY_FIRST;
  if (mi(META_MODE) == 1 && e0 + 4 <= n) {
    vec4 a = sa ? vec4(a1[oa]) : a4[(oa + e0) >> 2];
    vec4 b = !binop ? vec4(0.0) : sb ? vec4(b1[ob]) : b4[(ob + e0) >> 2];
    o4[(oo + e0) >> 2] = vec4(apply(op, a.x, b.x), apply(op, a.y, b.y), apply(op, a.z, b.z), apply(op, a.w, b.w));
    return;
  }
  int sta = sa ? 0 : 1, stb = sb ? 0 : 1;
  for (int e = e0; e < min(e0 + 4, n); ++e) {
    float a = a1[oa + e * sta];
    float b = binop ? b1[ob + e * stb] : 0.0;
    o1[oo + e] = apply(op, a, b);
  }
}

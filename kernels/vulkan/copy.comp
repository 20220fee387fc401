#version 450
// FILL (out = constant bit pattern) and COPY (strided -> strided with dtype conversion).
#include "strided.glsl"

uint element_bits(int o1, int o2, int o3) {
  if (mi(META_OP) == CP_FILL) return uint(mi(META_BITS));
  int s = mi(META_DT + 1), d = mi(META_DT);
  uint raw = load1(s, o1);
  if (s == d) return raw;
  return float_to_bits(d, bits_to_float(s, raw));  // through float, like the CPU backend
}

// randNormal's Box-Muller math, the twin of csrc/cpu/normal_math.h operation for operation (see
// there for the algorithms and their accuracy), so that the normals equal the CPU's bit for bit:
// only float +, -, * (correctly rounded in Vulkan), int <-> float conversions, comparisons and bit
// manipulation; no fma (it may or may not fuse) and every float variable `precise` (no contraction
// of a * b + c, no reassociation). Vulkan's sqrt is not correctly rounded: sqrt_rn corrects it with
// exact integer comparisons (exact_rn.glsl). Constants are bit patterns: no rounding through the
// compiler's parser. Needs GL_EXT_control_flow_attributes.

#include "exact_rn.glsl"

#define NM_K(b) uintBitsToFloat(b)

void nm_two_sum(float a, float b, out float s, out float e) {
  precise float t = a + b;
  precise float bb = t - a;
  precise float err = (a - (t - bb)) + (b - bb);
  s = t;
  e = err;
}
void nm_fast_two_sum(float a, float b, out float s, out float e) {  // a == 0 or |a| >= |b|
  precise float t = a + b;
  precise float err = b - (t - a);
  s = t;
  e = err;
}
void nm_split(float a, out float hi, out float lo) {  // Veltkamp: 12 + 12 bits
  precise float c = 4097.0 * a;
  precise float h = c - (c - a);
  precise float l = a - h;
  hi = h;
  lo = l;
}
void nm_two_prod(float a, float b, out float p, out float e) {
  float ah, al, bh, bl;
  nm_split(a, ah, al);
  nm_split(b, bh, bl);
  precise float t = a * b;
  precise float err = (((ah * bh - t) + ah * bl) + al * bh) + al * bl;
  p = t;
  e = err;
}

// ln(m 2^-24), m in [1, 2^24]
float nm_ln_unit(uint m) {
  uint b = floatBitsToUint(float(m));  // exact
  uint mant = b & 0x7fffffu;
  int e = int(b >> 23) - 151;
  uint fb = mant | 0x3f800000u;
  if (mant > 0x3504f3u) {
    fb = mant | 0x3f000000u;
    e += 1;
  }
  precise float x = uintBitsToFloat(fb) - 1.0;  // exact
  float ph, pl;
  nm_two_prod(x, x, ph, pl);
  precise float hh = -0.5 * ph;
  precise float hl = -0.5 * pl;
  float sh, se;
  nm_fast_two_sum(x, hh, sh, se);
  precise float r = NM_K(0x3eaaaaabu) +
      x * (NM_K(0xbe7ffffau) +
      x * (NM_K(0x3e4cccdbu) +
      x * (NM_K(0xbe2aae25u) +
      x * (NM_K(0x3e1249bau) +
      x * (NM_K(0xbdfefc2cu) +
      x * (NM_K(0x3de24333u) +
      x * (NM_K(0xbdda4a07u) + x * (NM_K(0x3dd68623u) + x * NM_K(0xbd7a13a6u)))))))));
  precise float tail = se + (hl + (x * ph) * r);
  precise float fe = float(e);
  precise float eh = fe * NM_K(0x3f317180u);  // ln2_hi: exact
  float h, he;
  nm_fast_two_sum(eh, sh, h, he);
  precise float res = h + (he + (fe * NM_K(0x3717f7d2u) + tail));
  return res;
}

// (sin, cos) of 2 pi k 2^-24, k in [0, 2^24)
vec2 nm_sincos_turn(uint k) {
  uint q = (k + 0x200000u) >> 22;
  precise float t = float(int(k) - int(q << 22)) * NM_K(0x33800000u);  // 2^-24: exact
  float rh, rl0;
  nm_two_prod(t, NM_K(0x40c90fdbu), rh, rl0);
  precise float rl = rl0 + t * NM_K(0xb43bbd2eu);
  float zh, zl;
  nm_two_prod(rh, rh, zh, zl);
  precise float ps = NM_K(0xbe2aaaabu) + zh * (NM_K(0x3c088889u) + zh * (NM_K(0xb9500d01u) + zh * (NM_K(0x3638ef1du) + zh * NM_K(0xb2d7322bu))));
  precise float sn = rh + ((rh * zh) * ps + rl * (1.0 - 0.5 * zh));
  precise float pc = NM_K(0x3d2aaaabu) + zh * (NM_K(0xbab60b61u) + zh * (NM_K(0x37d00d01u) + zh * (NM_K(0xb493f27eu) + zh * NM_K(0x310f76c7u))));
  precise float mhz = -0.5 * zh;
  float ch, ce;
  nm_fast_two_sum(1.0, mhz, ch, ce);
  precise float cs = ch + (ce + ((-0.5 * zl - rh * rl) + (zh * zh) * pc));
  uint qd = q & 3u;
  if (qd == 0u) return vec2(sn, cs);
  if (qd == 1u) return vec2(cs, -sn);
  if (qd == 2u) return vec2(-sn, -cs);
  return vec2(-cs, sn);
}

// sqrt rounded to nearest, a normal and positive: the device's root moved by exact comparisons of
// a with the squares of the midpoints to its neighbours (a root is never a midpoint).
// the Box-Muller pair (rho cos th, rho sin th) of the Philox words (a, b)
vec2 nm_box_muller(uint a, uint b) {
  precise float v = -2.0 * nm_ln_unit(0x1000000u - (a >> 8));
  float rho = v > 0.0 ? sqrt_rn(v) : 0.0;  // v in [2^-23, 34) where positive: normal
  vec2 sc = nm_sincos_turn(b >> 8);
  precise float z0 = rho * sc.y;
  precise float z1 = rho * sc.x;
  return vec2(z0, z1);
}

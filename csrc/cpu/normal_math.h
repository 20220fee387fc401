// randNormal's Box-Muller math in edgetrain's own float functions, so that every backend, libm and
// instruction set gives the same bits: kernels/vulkan/normal_math.glsl is this file's twin,
// operation for operation. Only operations that IEEE 754 and Vulkan both round correctly are used
// (float +, -, *, int <-> float conversions, comparisons, bit manipulation) plus one square root,
// rounded to nearest here and corrected to it by exact integer comparisons on Vulkan. No fused
// multiply-add: the including file is compiled with contraction off (fp_exact.h), and every
// expression below is written in the order the shader evaluates it. Accuracy (exhaustive over the
// 2^24 inputs each): ln and sin/cos within 1 ulp of the true value; the square root is exact.
//   ln_unit(m)       ln(m 2^-24) for m in [1, 2^24] (the 1 - u of a 24-bit uniform):
//                    m 2^-24 = 2^e (1 + x), 1 + x in (sqrt(1/2), sqrt(2)], x exact;
//                    ln(1 + x) = x - x^2 / 2 + x^3 R(x), R a degree-9 minimax fit, x - x^2 / 2
//                    and e ln 2 carried as pairs of floats, rounded once at the end.
//   sincos_turn(k)   sin and cos of 2 pi k 2^-24 for k in [0, 2^24) (a 24-bit uniform turn):
//                    k = q 2^22 + j with |j| <= 2^21 (integers, exact), r = 2 pi j 2^-24 as a pair
//                    of floats (|r| <= pi / 4), Taylor series to r^11 / r^12, quadrant from q.
//   box_muller(a, b) the pair (rho cos th, rho sin th), rho = sqrt(-2 ln(1 - u(a))), th = 2 pi u(b),
//                    u(w) = (w >> 8) 2^-24; rho = 0 where 1 - u(a) = 1.
// No intermediate is subnormal, so devices that flush subnormals agree too.
#pragma once
#include "fp_exact.h"  // also first in the including file, so its own arithmetic is not contracted either

#include <cmath>
#include <cstdint>
#include <cstring>

namespace et {
namespace ET_ISA {
namespace {
namespace nm {

inline float bits_f(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
inline uint32_t f_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// Error-free transforms (Knuth, Dekker): a + b = s + e, a * b = p + e exactly.
inline void two_sum(float a, float b, float& s, float& e) {
  s = a + b;
  const float bb = s - a;
  e = (a - (s - bb)) + (b - bb);
}
inline void fast_two_sum(float a, float b, float& s, float& e) {  // a == 0 or |a| >= |b|
  s = a + b;
  e = b - (s - a);
}
inline void split(float a, float& hi, float& lo) {  // Veltkamp: 12 + 12 bits
  const float c = 4097.f * a;
  hi = c - (c - a);
  lo = a - hi;
}
inline void two_prod(float a, float b, float& p, float& e) {
  float ah, al, bh, bl;
  split(a, ah, al);
  split(b, bh, bl);
  p = a * b;
  e = (((ah * bh - p) + ah * bl) + al * bh) + al * bl;
}

inline float ln_unit(uint32_t m) {
  const uint32_t b = f_bits(float(m));  // exact: m <= 2^24
  const uint32_t mant = b & 0x7fffffu;
  int e = int(b >> 23) - 151;  // m 2^-24 = 2^e 1.mant
  uint32_t fb = mant | 0x3f800000u;
  if (mant > 0x3504f3u) {  // 1.mant > sqrt(2): halve it
    fb = mant | 0x3f000000u;
    e += 1;
  }
  const float x = bits_f(fb) - 1.f;  // exact
  float ph, pl;
  two_prod(x, x, ph, pl);
  const float hh = -0.5f * ph, hl = -0.5f * pl;
  float sh, se;
  fast_two_sum(x, hh, sh, se);  // x - x^2 / 2 = sh + se + hl
  const float r = 0x1.555556p-2f +
                  x * (-0x1.fffff4p-3f +
                       x * (0x1.9999b6p-3f +
                            x * (-0x1.555c4ap-3f +
                                 x * (0x1.249374p-3f +
                                      x * (-0x1.fdf858p-4f +
                                           x * (0x1.c48666p-4f +
                                                x * (-0x1.b4940ep-4f + x * (0x1.ad0c46p-4f + x * -0x1.f4274cp-5f))))))));
  const float tail = se + (hl + (x * ph) * r);
  const float fe = float(e);
  float h, he;
  fast_two_sum(fe * 0x1.62e3p-1f, sh, h, he);  // e ln2_hi exact (17-bit ln2_hi, |e| <= 24)
  return h + (he + (fe * 0x1.2fefa4p-17f + tail));
}

inline void sincos_turn(uint32_t k, float& s, float& c) {
  const uint32_t q = (k + 0x200000u) >> 22;  // nearest quarter turn, 0..4
  const float t = float(int(k) - int(q << 22)) * 0x1p-24f;  // exact, |t| <= 1/8 turn
  float rh, rl0;
  two_prod(t, 0x1.921fb6p+2f, rh, rl0);
  const float rl = rl0 + t * -0x1.777a5cp-23f;  // r = 2 pi t = rh + rl
  float zh, zl;
  two_prod(rh, rh, zh, zl);
  const float ps = -0x1.555556p-3f + zh * (0x1.111112p-7f + zh * (-0x1.a01a02p-13f + zh * (0x1.71de3ap-19f + zh * -0x1.ae6456p-26f)));
  const float sn = rh + ((rh * zh) * ps + rl * (1.f - 0.5f * zh));
  const float pc = 0x1.555556p-5f + zh * (-0x1.6c16c2p-10f + zh * (0x1.a01a02p-16f + zh * (-0x1.27e4fcp-22f + zh * 0x1.1eed8ep-29f)));
  float ch, ce;
  fast_two_sum(1.f, -0.5f * zh, ch, ce);
  const float cs = ch + (ce + ((-0.5f * zl - rh * rl) + (zh * zh) * pc));
  switch (q & 3u) {
    case 0: s = sn, c = cs; break;
    case 1: s = cs, c = -sn; break;
    case 2: s = -sn, c = -cs; break;
    default: s = -cs, c = sn; break;
  }
}

inline void box_muller(uint32_t a, uint32_t b, float& z0, float& z1) {
  const float v = -2.f * ln_unit(0x1000000u - (a >> 8));
  const float rho = v > 0.f ? std::sqrt(v) : 0.f;
  float s, c;
  sincos_turn(b >> 8, s, c);
  z0 = rho * c;
  z1 = rho * s;
}

}  // namespace nm
}  // namespace
}  // namespace ET_ISA
}  // namespace et

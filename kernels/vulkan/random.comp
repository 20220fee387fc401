#version 450
// Counter-based random numbers on the Philox stream of csrc/cpu/philox.h, bit for bit:
//   RN_RAND_UNIFORM  y = lo + span * u(w)                    (binding 1 = y, strided)
//   RN_RAND_NORMAL   y = mean + sd * Box-Muller(pair)        (binding 1 = y, strided)
//   RN_DROPOUT       y = x * ((w >> 8) >= th ? scale : 0)    (binding 1 = x strided, binding 2 = y contiguous)
// Element i (row-major linear index in the logical shape) takes word i % 4 of block i / 4, so one
// invocation makes one block (4 elements) in a grid-stride loop.
// Meta: META_N elements; META_NDIM/META_SHAPE/META_ST+d = the strided operand's merged dims and
// strides, META_OFF+0 its offset, META_OFF+1 dropout's y offset; META_I+0/1 = key words k0/k1,
// META_I+2 = dropout's threshold th = ceil(float(p) * 2^24); META_I+3 = the Philox block of the
// first element (nonzero in the later chunks of a windowed call, csrc/vulkan/window.h: they start
// on a block, so every element draws the bits it would in one dispatch); META_P+0/1 = (lo, span)
// or (mean, sd); META_P+2 = dropout's scale.
// Box-Muller takes log/sin/cos from the functions below, not the GLSL builtins (whose precision
// the spec leaves loose: 2^-11 absolute for sin/cos): nearly correctly rounded, so the normals
// equal cpu's bits but for ~2% of them (on glibc), which differ by an ulp where libm's float
// log/sin/cos are not correctly rounded or these miss: within randNormal's tolerance.
#extension GL_GOOGLE_include_directive : require
#include "meta.h"

layout(local_size_x = 256) in;
layout(std140, binding = 0) uniform MetaBuf { ivec4 mv[META_INTS / 4]; };
int mi(int k) { return mv[k >> 2][k & 3]; }
float mf(int k) { return intBitsToFloat(mi(k)); }
layout(std430, binding = 1) buffer T1 { float t1[]; };  // y (random) or x (dropout)
layout(std430, binding = 2) buffer T2 { float t2[]; };  // y (dropout)

uvec4 philox(uint g, uint k0, uint k1) {
  uvec4 c = uvec4(g, 0u, 0u, 0u);  // counter (g mod 2^32, g / 2^32 = 0: fewer than 2^31 elements)
  for (int r = 0; r < 10; ++r) {
    uint hi0, lo0, hi1, lo1;
    umulExtended(0xD2511F53u, c.x, hi0, lo0);
    umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
    c = uvec4(hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0);
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

float u01(uint w) { return float(w >> 8) * (1.0 / 16777216.0); }

// Error-free float transforms, with no fma (it may be unfused) and precise so that no
// contraction or reassociation touches them.
void two_sum(float a, float b, out float s, out float e) {
  precise float t = a + b;
  precise float bb = t - a;
  precise float err = (a - (t - bb)) + (b - bb);
  s = t;
  e = err;
}
void fast_two_sum(float a, float b, out float s, out float e) {  // |a| >= |b|
  precise float t = a + b;
  precise float err = b - (t - a);
  s = t;
  e = err;
}
void split(float a, out float hi, out float lo) {  // Veltkamp: a = hi + lo, 12 bits each
  precise float c = 4097.0 * a;
  precise float h = c - (c - a);
  precise float l = a - h;
  hi = h;
  lo = l;
}
void two_prod(float a, float b, out float p, out float e) {  // Dekker: a b = p + e
  float ah, al, bh, bl;
  split(a, ah, al);
  split(b, bh, bl);
  precise float t = a * b;
  precise float err = ((ah * bh - t) + ah * bl + al * bh) + al * bl;
  p = t;
  e = err;
}

// ln(x) for x in (0, 1], carried in two floats and rounded once, so that it is the correctly
// rounded logf in all but ~0.2% of cases (libm's logf itself is not correctly rounded always):
// x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s), s = f / (2 + f), f = m - 1 (exact).
float ln(float x) {
  int e;
  float m = frexp(x, e);  // m in [0.5, 1)
  if (m < 0.70710678) {
    m *= 2.0;
    e -= 1;
  }
  precise float f = m - 1.0;
  precise float dh = 2.0 + f;
  precise float dl = f - (dh - 2.0);
  precise float sh = f / dh;
  float ph, pl;
  two_prod(sh, dh, ph, pl);
  precise float r = ((f - ph) - pl) - sh * dl;  // f - sh (dh + dl), f - ph exact
  precise float sl = r / dh;  // s = sh + sl
  precise float s2 = sh * sh;
  precise float p = s2 * (2.0 / 3.0 + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0 + s2 * (2.0 / 9.0 + s2 * (2.0 / 11.0)))));
  precise float lo = 2.0 * sl + sh * p;
  precise float fe = float(e);
  float hs, he;
  two_sum(fe * 0.693145751953125, 2.0 * sh, hs, he);  // ln 2 = 0.693145751953125 + 1.42860682e-6
  precise float res = hs + (he + (fe * 1.42860682e-6 + lo));
  return res;
}

// sin and cos of x in [0, 2 pi] (as ln: two floats, one rounding): x = k pi/2 + r with
// |r| <= pi/4, pi/2 in four 20-bit parts (k P exact); Taylor series on r, quadrant from k.
vec2 sincos_(float x) {
  float k = floor(x * 0.636619772 + 0.5);
  precise float r1 = x - k * 1.5707969665527344;  // exact
  float rh, rl;
  two_sum(r1, -(k * -6.39757672615815e-07), rh, rl);
  precise float rl2 = rl - (k * -1.651400370616951e-13 + k * 8.333741273895185e-20);
  fast_two_sum(rh, rl2, rh, rl);
  float zh, zl;
  two_prod(rh, rh, zh, zl);
  // sin r = r + r^3 (-1/6 + q)
  precise float q = zh * (1.0 / 120.0 + zh * (-1.0 / 5040.0 + zh * (1.0 / 362880.0 + zh * (-1.0 / 39916800.0))));
  float ah, al;
  two_sum(-0.166666672, q, ah, al);  // -1/6 = -0.166666672 + 4.96705388e-9
  precise float al2 = al + 4.96705388e-9;
  float r3h, r3e;
  two_prod(rh, zh, r3h, r3e);
  precise float r3l = r3e + rh * zl;
  float bh, be;
  two_prod(r3h, ah, bh, be);
  precise float bl = be + r3h * al2 + r3l * ah;
  float ss, se;
  two_sum(rh, bh, ss, se);
  precise float sn = ss + (se + (bl + rl * (1.0 - 0.5 * zh)));
  // cos r = 1 - r^2 / 2 + r^4 C - rl sin rh
  precise float cz = zh * zh * (1.0 / 24.0 + zh * (-1.0 / 720.0 + zh * (1.0 / 40320.0 + zh * (-1.0 / 3628800.0 + zh * (1.0 / 479001600.0)))));
  float hh, he;
  two_sum(1.0, -0.5 * zh, hh, he);
  precise float cs = hh + (he + (-0.5 * zl + (cz - rl * rh)));
  int qd = int(k) & 3;
  if (qd == 0) return vec2(sn, cs);
  if (qd == 1) return vec2(cs, -sn);
  if (qd == 2) return vec2(-sn, -cs);
  return vec2(-cs, sn);
}

// sqrt(x), x >= 0, correctly rounded in nearly all cases even where the builtin is not: one
// Newton step on the exact residual x - r^2.
float sqrt_(float x) {
  float r = sqrt(x);
  if (r == 0.0 || isinf(r)) return r;
  float p, e;
  two_prod(r, r, p, e);
  precise float res = (x - p) - e;
  precise float out_ = r + (0.5 * res) / r;
  return out_;
}

// element offset of linear index i in the strided operand
int strided(int i) {
  int o = mi(META_OFF);
  for (int d = mi(META_NDIM) - 1; d >= 0; --d) {
    int s = mi(META_SHAPE + d);
    o += (i % s) * mi(META_ST + d);
    i /= s;
  }
  return o;
}

void main() {
  int n = mi(META_N), op = mi(META_OP);
  uint k0 = uint(mi(META_I)), k1 = uint(mi(META_I + 1));
  int blocks = n / 4 + ((n & 3) != 0 ? 1 : 0);  // n + 3 may overflow
  int step = int(gl_NumWorkGroups.x * gl_WorkGroupSize.x);
  for (int g = int(gl_GlobalInvocationID.x); g < blocks; g += step) {
    uvec4 w = philox(uint(g) + uint(mi(META_I + 3)), k0, k1);
    float v[4];
    if (op == RN_RAND_UNIFORM) {
      float lo = mf(META_P), span = mf(META_P + 1);
      for (int j = 0; j < 4; ++j) v[j] = lo + span * u01(w[j]);
    } else if (op == RN_RAND_NORMAL) {
      float mean = mf(META_P), sd = mf(META_P + 1);
      for (int j = 0; j < 4; j += 2) {
        float u1 = 1.0 - u01(w[j]);
        float th = 6.2831853071795865 * u01(w[j + 1]);
        float r = sqrt_(-2.0 * ln(u1));
        vec2 sc = sincos_(th);
        v[j] = mean + sd * (r * sc.y);
        v[j + 1] = mean + sd * (r * sc.x);
      }
    } else {  // RN_DROPOUT
      uint th = uint(mi(META_I + 2));
      float scale = mf(META_P + 2);
      for (int j = 0; j < 4; ++j) v[j] = (w[j] >> 8) >= th ? scale : 0.0;
    }
    int i0 = 4 * g, cnt = min(4, n - i0);
    if (op == RN_DROPOUT) {
      int oy = mi(META_OFF + 1);
      for (int j = 0; j < cnt; ++j) t2[oy + i0 + j] = t1[strided(i0 + j)] * v[j];
    } else {
      for (int j = 0; j < cnt; ++j) t1[strided(i0 + j)] = v[j];
    }
  }
}

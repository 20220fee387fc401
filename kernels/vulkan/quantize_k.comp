#version 450
// quantize, the K-quants: Q4_K, Q5_K (fit_scale_min: a weighted min/scale search per sub-block of
// 32) and Q6_K (fit_scale_sym per sub-block of 16), the loops of csrc/cpu/quantize.cpp (the meta
// layout, exactness and output words: quantize.glsl). A smaller local size: each invocation holds
// its block's 256 levels and scales in shared memory.
#define LS 16
#define OB_BYTES 212  // Q6_K's 210, whole words
#include "quantize.glsl"

shared uint s_L[LS][64];      // the 256 quant levels, one byte each
shared uint s_La[LS][8];      // fit_scale_min's trial levels (32)
shared float s_f[LS][16];     // sub-block scales
shared float s_g[LS][8];      // Q4_K / Q5_K: sub-block mins
shared int s_i[LS][16];       // quantized sub-block scales (Q6_K's int8; Q4_K / Q5_K's 6-bit)
shared int s_j[LS][8];        // Q4_K / Q5_K: quantized 6-bit mins

void setL(int i, uint v) {
  uint s = 8u * uint(i & 3);
  s_L[LID][i >> 2] = (s_L[LID][i >> 2] & ~(0xffu << s)) | ((v & 0xffu) << s);
}
uint getL(int i) { return (s_L[LID][i >> 2] >> (8 * (i & 3))) & 0xffu; }
void setA(int i, uint v) {
  uint s = 8u * uint(i & 3);
  s_La[LID][i >> 2] = (s_La[LID][i >> 2] & ~(0xffu << s)) | ((v & 0xffu) << s);
}
uint getA(int i) { return (s_La[LID][i >> 2] >> (8 * (i & 3))) & 0xffu; }

// ---- K-quants (csrc/cpu/quantize.cpp fit_scale_min / fit_scale_sym: the same loops) ----

// Q4_K / Q5_K sub-block of 32 at x index o (levels at s_L bytes lo..), weights av_x + |x|.
float fit_scale_min(int o, int lo, int nmax, float av_x, out float the_min, float rmin, float rdelta, int nstep) {
  precise float mn = X(o), mx = X(o);
  precise float sum_w = av_x + abs(X(o));
  precise float sum_x = sum_w * X(o);
  LOOP for (int i = 1; i < 32; ++i) {
    precise float xi = X(o + i);
    if (xi < mn) mn = xi;
    if (xi > mx) mx = xi;
    precise float wi = av_x + abs(xi);
    sum_w += wi;
    sum_x += wi * xi;
  }
  if (mn > 0.0) mn = 0.0;
  if (mx == mn) {
    LOOP for (int i = 0; i < 32; ++i) setL(lo + i, 0u);
    the_min = -mn;
    return 0.0;
  }
  precise float iscale = div_rn(float(nmax), mx - mn);
  precise float scale = div_rn(1.0, iscale);
  precise float best = 0.0;
  LOOP for (int i = 0; i < 32; ++i) {
    precise float xi = X(o + i);
    int l = nearest_int(iscale * (xi - mn));
    l = max(0, min(nmax, l));
    setL(lo + i, uint(l));
    precise float diff = scale * float(l) + mn - xi;
    precise float wi = av_x + abs(xi);
    best += wi * (diff * diff);
  }
  LOOP for (int is = 0; is <= nstep; ++is) {
    precise float num = rmin + rdelta * float(is) + float(nmax);
    iscale = div_rn(num, mx - mn);
    precise float sum_l = 0.0, sum_l2 = 0.0, sum_xl = 0.0;
    LOOP for (int i = 0; i < 32; ++i) {
      precise float xi = X(o + i);
      int l = nearest_int(iscale * (xi - mn));
      l = max(0, min(nmax, l));
      setA(i, uint(l));
      precise float wi = av_x + abs(xi);
      precise float fl = float(l);
      sum_l += wi * fl;
      sum_l2 += wi * fl * fl;
      sum_xl += wi * fl * xi;
    }
    precise float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0.0) {
      precise float ns = sum_w * sum_xl - sum_x * sum_l, nm = sum_l2 * sum_x - sum_l * sum_xl;
      precise float this_scale = div_rn(ns, D);
      precise float this_min = div_rn(nm, D);
      if (this_min > 0.0) {
        this_min = 0.0;
        this_scale = div_rn(sum_xl, sum_l2);
      }
      precise float err = 0.0;
      LOOP for (int i = 0; i < 32; ++i) {
        precise float xi = X(o + i);
        precise float diff = this_scale * float(getA(i)) + this_min - xi;
        precise float wi = av_x + abs(xi);
        err += wi * (diff * diff);
      }
      if (err < best) {
        LOOP for (int i = 0; i < 32; ++i) setL(lo + i, getA(i));
        best = err;
        scale = this_scale;
        mn = this_min;
      }
    }
  }
  the_min = -mn;
  return scale;
}

// Q4_K: d f16, dmin f16, scales u8[12], qs u8[128]; Q5_K: the same, qh u8[32], qs u8[128].
void qk45(bool five) {
  int nmax = five ? 31 : 15;
  precise float max_scale = 0.0, max_min = 0.0;
  LOOP for (int j = 0; j < 8; ++j) {
    precise float sum_x2 = 0.0;
    LOOP for (int l = 0; l < 32; ++l) sum_x2 += X(32 * j + l) * X(32 * j + l);
    precise float av_x = sqrt_rn(div_rn(sum_x2, 32.0));
    precise float m;
    precise float s = five ? fit_scale_min(32 * j, 32 * j, nmax, av_x, m, -0.5, F_0_1, 15)
                           : fit_scale_min(32 * j, 32 * j, nmax, av_x, m, -1.0, F_0_1, 20);
    s_f[LID][j] = s;
    s_g[LID][j] = m;
    if (s > max_scale) max_scale = s;
    if (m > max_min) max_min = m;
  }
  precise float inv_scale = max_scale > 0.0 ? div_rn(63.0, max_scale) : 0.0;
  precise float inv_min = max_min > 0.0 ? div_rn(63.0, max_min) : 0.0;
  LOOP for (int j = 0; j < 8; ++j) {
    precise float a = inv_scale * s_f[LID][j], b = inv_min * s_g[LID][j];
    s_i[LID][j] = min(63, nearest_int(a) & 0xff);
    s_j[LID][j] = min(63, nearest_int(b) & 0xff);
    if (j < 4) {
      pb(4 + j, uint(s_i[LID][j]));
      pb(8 + j, uint(s_j[LID][j]));
    } else {
      pb(8 + j, uint((s_i[LID][j] & 0xF) | ((s_j[LID][j] & 0xF) << 4)));
      pb(j, uint((s_i[LID][j] >> 4) << 6));
      pb(4 + j, uint((s_j[LID][j] >> 4) << 6));
    }
  }
  put16(0, div_rn(max_scale, 63.0));
  put16(2, div_rn(max_min, 63.0));
  precise float dd = load16(0), dm = load16(2);
  LOOP for (int j = 0; j < 8; ++j) {
    // the 6-bit scale and min as stored (s_i, s_j are below 64)
    precise float d = dd * float(s_i[LID][j]);
    if (d == 0.0) continue;
    precise float mm = dm * float(s_j[LID][j]);
    LOOP for (int i = 0; i < 32; ++i) {
      precise float y = div_rn(X(32 * j + i) + mm, d);
      setL(32 * j + i, uint(max(0, min(nmax, nearest_int(y)))));
    }
  }
  if (!five) {
    LOOP for (int j = 0, q = 16; j < 256; j += 64, q += 32)
      LOOP for (int l = 0; l < 32; ++l) pb(q + l, getL(j + l) | (getL(j + l + 32) << 4));
    return;
  }
  uint m1 = 1u, m2 = 2u;
  LOOP for (int n = 0, ql = 48; n < 256; n += 64, ql += 32) {
    LOOP for (int j = 0; j < 32; ++j) {
      uint l1 = getL(n + j), l2 = getL(n + j + 32);
      if (l1 > 15u) l1 -= 16u, pb(16 + j, m1);
      if (l2 > 15u) l2 -= 16u, pb(16 + j, m2);
      pb(ql + j, l1 | (l2 << 4));
    }
    m1 <<= 2;
    m2 <<= 2;
  }
}

// Q6_K sub-block of 16 at x index o: levels (l + 32) at s_L bytes o...
float fit_scale_sym(int o) {
  const int nmax = 32;
  precise float mx = 0.0, amax = 0.0;
  LOOP for (int i = 0; i < 16; ++i) {
    precise float ax = abs(X(o + i));
    if (ax > amax) amax = ax, mx = X(o + i);
  }
  if (amax < F_1E_15) {
    LOOP for (int i = 0; i < 16; ++i) setL(o + i, 0u);
    return 0.0;
  }
  precise float iscale = div_rn(float(-nmax), mx);
  precise float sumlx = 0.0, suml2 = 0.0;
  LOOP for (int i = 0; i < 16; ++i) {
    precise float xi = X(o + i);
    int l = max(-nmax, min(nmax - 1, nearest_int(iscale * xi)));
    setL(o + i, uint(l + nmax));
    precise float wi = xi * xi;
    precise float fl = float(l);
    sumlx += wi * xi * fl;
    suml2 += wi * fl * fl;
  }
  precise float scale = suml2 != 0.0 ? div_rn(sumlx, suml2) : 0.0;
  precise float best = scale * sumlx;
  LOOP for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    precise float num = -(float(nmax) + F_0_1 * float(is));
    iscale = div_rn(num, mx);
    sumlx = 0.0;
    suml2 = 0.0;
    LOOP for (int i = 0; i < 16; ++i) {
      precise float xi = X(o + i);
      int l = max(-nmax, min(nmax - 1, nearest_int(iscale * xi)));
      precise float wi = xi * xi;
      precise float fl = float(l);
      sumlx += wi * xi * fl;
      suml2 += wi * fl * fl;
    }
    if (suml2 > 0.0 && sumlx * sumlx > best * suml2) {
      LOOP for (int i = 0; i < 16; ++i) setL(o + i, uint(nmax + max(-nmax, min(nmax - 1, nearest_int(iscale * X(o + i))))));
      scale = div_rn(sumlx, suml2);
      best = scale * sumlx;
    }
  }
  return scale;
}

// Q6_K: ql u8[128], qh u8[64], scales i8[16], d f16 (at 208).
void q6_k() {
  precise float max_scale = 0.0, max_abs = 0.0;
  LOOP for (int ib = 0; ib < 16; ++ib) {
    precise float s = fit_scale_sym(16 * ib);
    s_f[LID][ib] = s;
    if (abs(s) > max_abs) max_abs = abs(s), max_scale = s;
  }
  if (max_abs < F_1E_15) return;  // all zero bytes
  precise float iscale = div_rn(-128.0, max_scale);
  put16(208, div_rn(1.0, iscale));
  LOOP for (int ib = 0; ib < 16; ++ib) {
    precise float a = iscale * s_f[LID][ib];
    s_i[LID][ib] = to_i8(float(min(127, nearest_int(a))));
    pb(192 + ib, uint(s_i[LID][ib]));
  }
  precise float dd = load16(208);
  LOOP for (int j = 0; j < 16; ++j) {
    precise float d = dd * float(s_i[LID][j]);
    if (d == 0.0) continue;
    LOOP for (int i = 0; i < 16; ++i) {
      precise float y = div_rn(X(16 * j + i), d);
      setL(16 * j + i, uint(max(-32, min(31, nearest_int(y))) + 32));
    }
  }
  LOOP for (int j = 0, ql = 0, qh = 128; j < 256; j += 128, ql += 64, qh += 32) {
    LOOP for (int l = 0; l < 32; ++l) {
      uint a = getL(j + l), c = getL(j + l + 32), e = getL(j + l + 64), g = getL(j + l + 96);
      pb(ql + l, (a & 0xFu) | ((e & 0xFu) << 4));
      pb(ql + l + 32, (c & 0xFu) | ((g & 0xFu) << 4));
      pb(qh + l, (a >> 4) | ((c >> 4) << 2) | ((e >> 4) << 4) | ((g >> 4) << 6));
    }
  }
}


void quantize_block(int type) {
  LOOP for (int i = 0; i < 64; ++i) s_L[LID][i] = 0u;
  if (type == T_Q4_K) qk45(false);
  else if (type == T_Q5_K) qk45(true);
  else if (type == T_Q6_K) q6_k();
}

#version 450
// quantize, the 32- and 64-element formats and NF4_DQ: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, NF4, NF4_DQ
// (the meta layout, exactness and output words: quantize.glsl; the K-quants: quantize_k.comp).
#define LS 64
#define OB_BYTES 136  // NF4_DQ's 134, whole words
#include "quantize.glsl"

shared float s_amax[LS][4];  // NF4_DQ: the sub-blocks' absmax

const uint NF4_MID[15] = uint[](0xbf591cd8u, 0xbf1c5270u, 0xbeeb8480u, 0xbeadea76u, 0xbe703cecu, 0xbe0d38bcu, 0xbd3a7871u, 0x3d22faffu,
                                0x3df64862u, 0x3e5067e0u, 0x3e9582d4u, 0x3ec753f9u, 0x3f006d04u, 0x3f248dafu, 0x3f5c89dau);

// std::roundf: halves away from zero (v - trunc(v) is exact).
float round_away(float v) {
  precise float t = trunc(v);
  precise float r = v - t;
  if (abs(r) >= 0.5) t = t + sign(v);
  return t;
}

// ---- 32-element formats ----

void q8_0() {
  precise float amax = 0.0;
  LOOP for (int j = 0; j < 32; ++j) amax = max(amax, abs(X(j)));
  precise float d = div_rn(amax, 127.0);
  precise float id = d != 0.0 ? div_rn(1.0, d) : 0.0;
  put16(0, d);
  LOOP for (int j = 0; j < 32; ++j) {
    precise float v = X(j) * id;
    pb(2 + j, uint(int(round_away(v))));
  }
}

void q45_0(bool five) {
  precise float amax = 0.0, mx = 0.0;
  LOOP for (int j = 0; j < 32; ++j)
    if (amax < abs(X(j))) {
      amax = abs(X(j));
      mx = X(j);
    }
  precise float d = div_rn(mx, five ? -16.0 : -8.0);
  precise float id = d != 0.0 ? div_rn(1.0, d) : 0.0;
  put16(0, d);
  int qs = five ? 6 : 2;
  precise float off = five ? 16.5 : 8.5;
  int top = five ? 31 : 15;
  uint qh = 0u;
  LOOP for (int j = 0; j < 16; ++j) {
    precise float x0 = X(j) * id, x1 = X(16 + j) * id;
    precise float y0 = x0 + off, y1 = x1 + off;
    int l0 = min(top, to_i8(y0));
    int l1 = min(top, to_i8(y1));
    pb(qs + j, uint((l0 & 0xF) | ((l1 & 0xF) << 4)));
    qh |= uint((l0 & 0x10) >> 4) << j;
    qh |= uint((l1 & 0x10) >> 4) << (j + 16);
  }
  if (five) s_ob[LID][0] |= qh << 16, s_ob[LID][1] |= qh >> 16;  // bytes 2..5
}

void q45_1(bool five) {
  precise float mn = X(0), mx = X(0);
  LOOP for (int j = 1; j < 32; ++j) {
    mn = X(j) < mn ? X(j) : mn;  // std::min(min, x): min unless x < min
    mx = mx < X(j) ? X(j) : mx;
  }
  precise float d = div_rn(mx - mn, five ? 31.0 : 15.0);
  precise float id = d != 0.0 ? div_rn(1.0, d) : 0.0;
  put16(0, d);
  put16(2, mn);
  int qs = five ? 8 : 4;
  uint qh = 0u;
  LOOP for (int j = 0; j < 16; ++j) {
    precise float x0 = (X(j) - mn) * id, x1 = (X(16 + j) - mn) * id;
    precise float y0 = x0 + 0.5, y1 = x1 + 0.5;
    int l0 = to_u8(y0), l1 = to_u8(y1);
    if (!five) l0 = min(15, l0), l1 = min(15, l1);
    pb(qs + j, uint((l0 & 0xF) | ((l1 & 0xF) << 4)));
    qh |= uint((l0 & 0x10) >> 4) << j;
    qh |= uint((l1 & 0x10) >> 4) << (j + 16);
  }
  if (five) s_ob[LID][1] |= qh;  // bytes 4..7
}

// ---- NF4 ----

int nf4_index(float v) {
  int i = 0;
  for (int k = 0; k < 15; ++k) i += v > uintBitsToFloat(NF4_MID[k]) ? 1 : 0;
  return i;
}

// 64 values at x index o -> 32 code bytes at ob byte q
void nf4_codes(int o, float scale, int q) {
  precise float inv = scale > 0.0 ? div_rn(1.0, scale) : 0.0;
  LOOP for (int j = 0; j < 32; ++j) {
    precise float a = X(o + j) * inv, b = X(o + j + 32) * inv;
    int lo = scale > 0.0 ? nf4_index(a) : 7;
    int hi = scale > 0.0 ? nf4_index(b) : 7;
    pb(q + j, uint(lo | (hi << 4)));
  }
}

void nf4() {
  precise float amax = 0.0;
  LOOP for (int j = 0; j < 64; ++j) amax = max(amax, abs(X(j)));
  s_ob[LID][0] = floatBitsToUint(amax);
  nf4_codes(0, amax, 4);
}

void nf4_dq() {
  precise float top = 0.0;
  LOOP for (int s = 0; s < 4; ++s) {
    precise float a = 0.0;
    LOOP for (int j = 0; j < 64; ++j) a = max(a, abs(X(64 * s + j)));
    s_amax[LID][s] = a;
    top = max(top, a);
  }
  put16(0, div_rn(top, 255.0));
  precise float d = load16(0);
  LOOP for (int s = 0; s < 4; ++s) {
    int q = d > 0.0 ? min(255, nearest_int(div_rn(s_amax[LID][s], d))) : 0;
    pb(2 + s, uint(q));
    precise float sc = d * float(q);
    nf4_codes(64 * s, sc, 6 + 32 * s);
  }
}

void quantize_block(int type) {
  if (type == T_Q8_0) q8_0();
  else if (type == T_Q4_0) q45_0(false);
  else if (type == T_Q5_0) q45_0(true);
  else if (type == T_Q4_1) q45_1(false);
  else if (type == T_Q5_1) q45_1(true);
  else if (type == T_NF4) nf4();
  else if (type == T_NF4_DQ) nf4_dq();
}

// Quantizers from float32 rows to the block formats of quant_blocks.h. The ggml types follow the
// algorithms of llama.cpp's reference quantizer (what llama-quantize runs without an importance
// matrix), in the same float32 operation order and without fused multiply-adds, so the same
// weights give the same bytes; test/quant-quantize.test.ts checks that against files written by
// llama-quantize. NF4 and NF4_DQ are edgetrain's own (QLoRA's NormalFloat-4 codebook).
#include "fp_exact.h"  // first: no contraction in this file

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "../dtype.h"
#include "kernels.h"
#include "quant_blocks.h"

namespace et {
namespace ET_ISA {

namespace {

inline void put16(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  p[0] = uint8_t(h & 0xff);
  p[1] = uint8_t(h >> 8);
}

// Round to nearest, ties to even, through the float mantissa (|v| < 2^22), as ggml's nearest_int.
inline int nearest_int(float v) {
  float f = v + 12582912.f;
  int32_t i;
  std::memcpy(&i, &f, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// ---- 32-element formats: one scale (and min) from the block's extremes ----

void q8_0(const float* x, uint8_t* b) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d != 0.f ? 1.0f / d : 0.0f;
  put16(b, d);
  for (int j = 0; j < 32; ++j) b[2 + j] = uint8_t(int8_t(std::roundf(x[j] * id)));
}

// Q4_0 / Q5_0: the value of largest magnitude, with its sign, maps to the end of the range (-8 / -16).
void q45_0(const float* x, uint8_t* b, bool five) {
  float amax = 0, max = 0;
  for (int j = 0; j < 32; ++j)
    if (amax < std::fabs(x[j])) amax = std::fabs(x[j]), max = x[j];
  const float d = max / (five ? -16.f : -8.f);
  const float id = d != 0.f ? 1.0f / d : 0.0f;
  put16(b, d);
  uint8_t* qs = b + (five ? 6 : 2);
  const float off = five ? 16.5f : 8.5f;
  const int top = five ? 31 : 15;
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    const float x0 = x[j] * id, x1 = x[16 + j] * id;
    const int l0 = std::min(top, int(int8_t(x0 + off)));
    const int l1 = std::min(top, int(int8_t(x1 + off)));
    qs[j] = uint8_t((l0 & 0xF) | ((l1 & 0xF) << 4));
    qh |= uint32_t((l0 & 0x10) >> 4) << j;
    qh |= uint32_t((l1 & 0x10) >> 4) << (j + 16);
  }
  if (five) std::memcpy(b + 2, &qh, 4);
}

// Q4_1 / Q5_1: min and range.
void q45_1(const float* x, uint8_t* b, bool five) {
  float min = x[0], max = x[0];
  for (int j = 1; j < 32; ++j) min = std::min(min, x[j]), max = std::max(max, x[j]);
  const float d = (max - min) / (five ? 31.f : 15.f);
  const float id = d != 0.f ? 1.0f / d : 0.0f;
  put16(b, d);
  put16(b + 2, min);
  uint8_t* qs = b + (five ? 8 : 4);
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    const float x0 = (x[j] - min) * id, x1 = (x[16 + j] - min) * id;
    int l0 = int(uint8_t(x0 + 0.5f)), l1 = int(uint8_t(x1 + 0.5f));
    if (!five) l0 = std::min(15, l0), l1 = std::min(15, l1);
    qs[j] = uint8_t((l0 & 0xF) | ((l1 & 0xF) << 4));
    qh |= uint32_t((l0 & 0x10) >> 4) << j;
    qh |= uint32_t((l1 & 0x10) >> 4) << (j + 16);
  }
  if (five) std::memcpy(b + 4, &qh, 4);
}

// ---- K-quants: 256-element super-blocks of sub-blocks, each with a quantized scale ----

// Fits x[i] ~ scale * L[i] - min (L in 0..nmax, min >= 0) for n values, weighting squared errors by
// w: starts from the range, then tries nstep + 1 slightly different inverse scales, solving the
// weighted least-squares scale and min for each one's rounding and keeping the best.
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float wi = w[i];
    sum_w += wi;
    sum_x += wi * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = uint8_t(std::max(0, std::min(nmax, l)));
    const float diff = scale * L[i] + min - x[i];
    best += w[i] * (diff * diff);
  }
  uint8_t Laux[32];
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = uint8_t(l);
      const float wi = w[i];
      sum_l += wi * l;
      sum_l2 += wi * l * l;
      sum_xl += wi * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float err = 0;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * Laux[i] + this_min - x[i];
        err += w[i] * (diff * diff);
      }
      if (err < best) {
        std::memcpy(L, Laux, size_t(n));
        best = err;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Q4_K / Q5_K: 8 sub-blocks of 32, each with a 6-bit scale and 6-bit min of the f16 d / dmin.
void qk45(const float* x, uint8_t* b, bool five) {
  const int nmax = five ? 31 : 15;
  uint8_t L[256];
  float w[32], mins[8], scales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(xs[l]);
    scales[j] = five ? fit_scale_min(32, nmax, xs, w, L + 32 * j, &mins[j], -0.5f, 0.1f, 15)
                     : fit_scale_min(32, nmax, xs, w, L + 32 * j, &mins[j], -1.f, 0.1f, 20);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  uint8_t* sc = b + 4;
  std::memset(sc, 0, 12);
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    const uint8_t ls = uint8_t(std::min(63, int(uint8_t(nearest_int(inv_scale * scales[j])))));
    const uint8_t lm = uint8_t(std::min(63, int(uint8_t(nearest_int(inv_min * mins[j])))));
    if (j < 4) {
      sc[j] = ls;
      sc[j + 4] = lm;
    } else {
      sc[j + 4] = uint8_t((ls & 0xF) | ((lm & 0xF) << 4));
      sc[j - 4] |= uint8_t((ls >> 4) << 6);
      sc[j] |= uint8_t((lm >> 4) << 6);
    }
  }
  put16(b, max_scale / 63.f);
  put16(b + 2, max_min / 63.f);
  const float dd = load_f16(b), dm = load_f16(b + 2);
  for (int j = 0; j < 8; ++j) {
    int s, m;
    k_scale_min(sc, j, &s, &m);
    const float d = dd * float(s);
    if (d == 0.f) continue;
    const float mm = dm * float(m);
    for (int i = 0; i < 32; ++i) L[32 * j + i] = uint8_t(std::max(0, std::min(nmax, nearest_int((x[32 * j + i] + mm) / d))));
  }
  if (!five) {
    uint8_t* q = b + 16;
    for (int j = 0; j < 256; j += 64, q += 32)
      for (int l = 0; l < 32; ++l) q[l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
    return;
  }
  uint8_t* qh = b + 16;
  uint8_t* ql = b + 48;
  std::memset(qh, 0, 32);
  uint8_t m1 = 1, m2 = 2;
  for (int n = 0; n < 256; n += 64, ql += 32) {
    for (int j = 0; j < 32; ++j) {
      int l1 = L[n + j], l2 = L[n + j + 32];
      if (l1 > 15) l1 -= 16, qh[j] |= m1;
      if (l2 > 15) l2 -= 16, qh[j] |= m2;
      ql[j] = uint8_t(l1 | (l2 << 4));
    }
    m1 = uint8_t(m1 << 2);
    m2 = uint8_t(m2 << 2);
  }
}

// Symmetric fit x[i] ~ scale * (L[i] - nmax) weighted by x^2, searching 19 inverse scales around
// the one that maps the largest-magnitude value to -nmax (Q6_K's sub-blocks of 16).
float fit_scale_sym(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) amax = ax, max = x[i];
  }
  if (amax < 1e-15f) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = int8_t(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 != 0.f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = int8_t(nmax + std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i]))));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Q6_K: 16 sub-blocks of 16, int8 scales of one f16 d; quants 0..63 (offset 32).
void q6_k(const float* x, uint8_t* b) {
  int8_t L[256];
  float scales[16];
  float max_scale = 0, max_abs = 0;
  for (int ib = 0; ib < 16; ++ib) {
    scales[ib] = fit_scale_sym(16, 32, x + 16 * ib, L + 16 * ib);
    if (std::fabs(scales[ib]) > max_abs) max_abs = std::fabs(scales[ib]), max_scale = scales[ib];
  }
  std::memset(b, 0, kBlockBytes<Q6_K>);
  if (max_abs < 1e-15f) return;
  const float iscale = -128.f / max_scale;
  put16(b + 208, 1 / iscale);
  int8_t* sc = reinterpret_cast<int8_t*>(b + 192);
  for (int ib = 0; ib < 16; ++ib) sc[ib] = int8_t(std::min(127, nearest_int(iscale * scales[ib])));
  const float dd = load_f16(b + 208);
  for (int j = 0; j < 16; ++j) {
    const float d = dd * float(sc[j]);
    if (d == 0.f) continue;
    for (int i = 0; i < 16; ++i) L[16 * j + i] = int8_t(std::max(-32, std::min(31, nearest_int(x[16 * j + i] / d))) + 32);
  }
  uint8_t* ql = b;
  uint8_t* qh = b + 128;
  for (int j = 0; j < 256; j += 128, ql += 64, qh += 32) {
    for (int l = 0; l < 32; ++l) {
      const int a = L[j + l], c = L[j + l + 32], e = L[j + l + 64], g = L[j + l + 96];
      ql[l] = uint8_t((a & 0xF) | ((e & 0xF) << 4));
      ql[l + 32] = uint8_t((c & 0xF) | ((g & 0xF) << 4));
      qh[l] = uint8_t((a >> 4) | ((c >> 4) << 2) | ((e >> 4) << 4) | ((g >> 4) << 6));
    }
  }
}

// ---- NF4: 16 levels at the quantiles of N(0, 1), scaled to [-1, 1], times a block absmax ----

// The nearest level of v in [-1, 1]: the number of midpoints between consecutive levels below v.
inline int nf4_index(float v) {
  int i = 0;
  for (int k = 0; k < 15; ++k) i += v > kNF4Mid[k];
  return i;
}

void nf4_codes(const float* x, float scale, uint8_t* qs) {
  const float inv = scale > 0 ? 1.0f / scale : 0.0f;
  for (int j = 0; j < 32; ++j) {
    const int lo = scale > 0 ? nf4_index(x[j] * inv) : 7;
    const int hi = scale > 0 ? nf4_index(x[j + 32] * inv) : 7;
    qs[j] = uint8_t(lo | (hi << 4));
  }
}

// NF4: 64 values, absmax as float32.
void nf4(const float* x, uint8_t* b) {
  float amax = 0;
  for (int j = 0; j < 64; ++j) amax = std::max(amax, std::fabs(x[j]));
  std::memcpy(b, &amax, 4);
  nf4_codes(x, amax, b + 4);
}

// NF4_DQ: 4 NF4 sub-blocks of 64 whose absmaxes are 8-bit multiples of one f16 scale.
void nf4_dq(const float* x, uint8_t* b) {
  float amax[4], top = 0;
  for (int s = 0; s < 4; ++s) {
    amax[s] = 0;
    for (int j = 0; j < 64; ++j) amax[s] = std::max(amax[s], std::fabs(x[64 * s + j]));
    top = std::max(top, amax[s]);
  }
  put16(b, top / 255.f);
  const float d = load_f16(b);
  for (int s = 0; s < 4; ++s) {
    const int q = d > 0 ? std::min(255, nearest_int(amax[s] / d)) : 0;
    b[2 + s] = uint8_t(q);
    nf4_codes(x + 64 * s, d * float(q), b + 6 + 32 * s);
  }
}

// A block holding NaN or +-Inf has no scale that represents it (and rounding NaN to an integer
// code is undefined): it becomes zero codes under a NaN scale, so it dequantizes to NaN and every
// product with it is NaN instead of silently finite.
bool nonfinite_block(int type, const float* x, uint8_t* b) {
  const QInfo q = qinfo(type);
  bool finite = true;
  for (int j = 0; j < q.block; ++j) finite &= std::fabs(x[j]) <= std::numeric_limits<float>::max();
  if (finite) return false;
  std::memset(b, 0, size_t(q.bytes));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  if (type == NF4) std::memcpy(b, &nan, 4);
  else put16(b + (type == Q6_K ? 208 : 0), nan);
  return true;
}

void quantize_block(int type, const float* x, uint8_t* b) {
  if (nonfinite_block(type, x, b)) return;
  switch (type) {
    case Q8_0: q8_0(x, b); break;
    case Q4_0: q45_0(x, b, false); break;
    case Q5_0: q45_0(x, b, true); break;
    case Q4_1: q45_1(x, b, false); break;
    case Q5_1: q45_1(x, b, true); break;
    case Q4_K: qk45(x, b, false); break;
    case Q5_K: qk45(x, b, true); break;
    case Q6_K: q6_k(x, b); break;
    case NF4: nf4(x, b); break;
    case NF4_DQ: nf4_dq(x, b); break;
    default: break;
  }
}

// (x f32 [N, K] contiguous) -> w uint8 [N, K/block*bytes]; p0 type, p1 K.
std::string k_quantize(const Call& c) {
  const View& x = c.in(0);
  const View& w = c.out(0);
  const int type = int(c.p[0]);
  const QInfo q = qinfo(type);
  if (q.block == 0) return "DTypeError: quantize: type " + std::to_string(type) + " is not a supported block format";
  if (x.dtype != ET_F32 || x.ndim != 2 || x.strides[1] != 1 || x.strides[0] != x.shape[1]) return "DTypeError: quantize: x must be contiguous f32 [N, K]";
  const int64_t N = x.shape[0], K = x.shape[1];
  if (K % q.block != 0) return "ShapeError: quantize: K " + std::to_string(K) + " is not a multiple of the block size " + std::to_string(q.block);
  const int64_t per = K / q.block;
  if (w.dtype != ET_U8 || w.ndim != 2 || w.shape[0] != N || w.shape[1] != per * q.bytes) return "ShapeError: quantize: output must be uint8 [N, K / block * bytes]";
  const float* src = x.data<const float>();
  uint8_t* dst = w.data<uint8_t>();
  parallel_for(N * per, 8, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i) quantize_block(type, src + i * q.block, dst + i * q.bytes);
  });
  return "";
}

}  // namespace

void register_quantize(KernelFn* t) { t[OP_QUANTIZE] = k_quantize; }

}  // namespace ET_ISA
}  // namespace et

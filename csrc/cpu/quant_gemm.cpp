// Integer GEMM of quantized weights with 8-bit activations (see quant_gemm.h): the weight rows
// unpacked a panel of 32 at a time into codes, scales and offsets, then the panel kernels (x86:
// quant_gemm_x86.inc, one copy per vector width and multiply instruction; arm64 with the dot
// product extension: sdot by lane, and with i8mm: smmla 2 x 2 blocks, below).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#include "quant_gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../dtype.h"
#include "cpuid.h"
#include "kernels.h"
#include "quant_blocks.h"
#include "quant_dot.h"

#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__ARM_FEATURE_DOTPROD) && defined(__aarch64__)
#include <arm_neon.h>
#endif

#if defined(__AVX2__) || (defined(__ARM_FEATURE_DOTPROD) && defined(__aarch64__))
#define ET_QGEMM 1
#endif
// arm64 with the int8 matrix multiply extension (the i8mm copy): smmla tiles instead of sdot
#if defined(ET_QGEMM) && defined(__aarch64__) && defined(__ARM_FEATURE_MATMUL_INT8)
#define ET_QG_MMLA 1
#endif

namespace et {
namespace ET_ISA {

#if defined(ET_QGEMM)

namespace {

constexpr int kPanel = 32;  // weight rows per panel

// One unpacked panel: codes [K / 4][kPanel][4] (four K values of each row in turn), scales and
// offsets [K / G][kPanel]; W[n, k] = s * code - o. sgn: the codes are signed bytes. f16: groups
// of four K values whose vpmaddubsw pair sums (each within 2 * 127 * the largest code) may be
// added in int16: 8 for codes below 16, 4 below 32, 2 below 64 (Q6_K); 0 for the signed codes.
struct Panel {
  const uint8_t* codes;
  const float* s;
  const float* o;
  int G;
  bool sgn;
  int f16;
};

inline int int16_groups(int type) {
  switch (type) {
    case Q4_0:
    case Q4_K: return 8;
    case Q5_K: return 4;
    case Q6_K: return 2;
    default: return 0;
  }
}

inline bool signed_codes(int type) { return type == Q8_0 || type == NF4 || type == NF4_DQ; }
inline int group_of(int type) { return type == Q6_K ? 16 : 32; }

// One weight row (K values of `type`) as K codes c (bytes), K / G scales s and offsets o. bias:
// the signed formats' codes get +128 (stored as unsigned bytes) and o their 128 s.
void unpack_row(int type, const uint8_t* w, int64_t K, bool bias, uint8_t* c, float* s, float* o) {
  const uint8_t flip = bias ? 0x80 : 0;
  switch (type) {
    case Q8_0:
      for (int64_t b = 0; b < K / 32; ++b, w += kBlockBytes<Q8_0>, c += 32) {
        s[b] = load_f16(w);
        o[b] = bias ? 128 * s[b] : 0.f;
        for (int j = 0; j < 32; ++j) c[j] = uint8_t(w[2 + j] ^ flip);
      }
      break;
    case Q4_0:
      for (int64_t b = 0; b < K / 32; ++b, w += kBlockBytes<Q4_0>, c += 32) {
        s[b] = load_f16(w);
        o[b] = 8 * s[b];
        for (int j = 0; j < 16; ++j) {
          c[j] = w[2 + j] & 0xF;
          c[j + 16] = w[2 + j] >> 4;
        }
      }
      break;
    case Q4_K:
    case Q5_K: {
      const bool five = type == Q5_K;
      for (int64_t b = 0; b < K / 256; ++b, w += five ? kBlockBytes<Q5_K> : kBlockBytes<Q4_K>) {
        const float d = load_f16(w), dmin = load_f16(w + 2);
        const uint8_t* qh = w + 16;
        const uint8_t* qs = w + 16 + (five ? 32 : 0);
        for (int j = 0; j < 4; ++j, c += 64, qs += 32) {
          for (int h = 0; h < 2; ++h) {
            int sc, m;
            k_scale_min(w + 4, 2 * j + h, &sc, &m);
            s[8 * b + 2 * j + h] = d * float(sc);
            o[8 * b + 2 * j + h] = dmin * float(m);
          }
          for (int l = 0; l < 32; ++l) {
            c[l] = qs[l] & 0xF;
            c[l + 32] = qs[l] >> 4;
          }
          if (five)
            for (int l = 0; l < 32; ++l) {
              c[l] |= uint8_t(((qh[l] >> (2 * j)) & 1) << 4);
              c[l + 32] |= uint8_t(((qh[l] >> (2 * j + 1)) & 1) << 4);
            }
        }
      }
      break;
    }
    case Q6_K:
      for (int64_t b = 0; b < K / 256; ++b, w += kBlockBytes<Q6_K>) {
        const float d = load_f16(w + 208);
        const int8_t* sc = reinterpret_cast<const int8_t*>(w + 192);
        // value v's scale is sc[v / 16]
        for (int g = 0; g < 16; ++g) {
          s[16 * b + g] = d * float(sc[g]);
          o[16 * b + g] = 32 * s[16 * b + g];
        }
        for (int n = 0; n < 2; ++n, c += 128) {
          const uint8_t* ql = w + 64 * n;
          const uint8_t* qh = w + 128 + 32 * n;
          for (int l = 0; l < 32; ++l) {
            c[l] = uint8_t((ql[l] & 0xF) | ((qh[l] & 3) << 4));
            c[l + 32] = uint8_t((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
            c[l + 64] = uint8_t((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
            c[l + 96] = uint8_t((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
          }
        }
      }
      break;
    case NF4:
    case NF4_DQ: {
      // NF4 blocks of 64 (lo nibbles values 0..31, hi 32..63) with the int8 levels decode uses
      const bool dq = type == NF4_DQ;
      const int64_t n64 = K / 64;
      for (int64_t i = 0; i < n64; ++i, c += 64) {
        const uint8_t* blk = dq ? w + (i / 4) * kBlockBytes<NF4_DQ> : w + i * kBlockBytes<NF4>;
        float sc;
        const uint8_t* qs;
        if (dq) {
          sc = load_f16(blk) * float(blk[2 + i % 4]) / 127;
          qs = blk + 6 + 32 * (i % 4);
        } else {
          float amax;
          std::memcpy(&amax, blk, 4);
          sc = amax / 127;
          qs = blk + 4;
        }
        s[2 * i] = s[2 * i + 1] = sc;
        o[2 * i] = o[2 * i + 1] = bias ? 128 * sc : 0.f;
        for (int l = 0; l < 32; ++l) {
          c[l] = uint8_t(kNF4I8[qs[l] & 0xF]) ^ flip;
          c[l + 32] = uint8_t(kNF4I8[qs[l] >> 4]) ^ flip;
        }
      }
      break;
    }
    default: break;
  }
}

// Weight rows [n0, n0 + nr) into the panel buffers (rows past nr: zero codes and scales): each
// row unpacked whole into rc ([kPanel][K]), then four rows at a time transposed by 4-byte words.
void pack_panel(int type, const uint8_t* w, int64_t rowBytes, int64_t n0, int nr, int64_t K, bool bias, uint8_t* codes, float* s, float* o,
                std::vector<uint8_t>& rc, std::vector<float>& rs) {
  const int G = group_of(type);
  const int64_t nG = K / G;
  rc.resize(size_t(kPanel * K));
  rs.resize(size_t(2 * nG));
  for (int r = 0; r < kPanel; ++r) {
    uint8_t* row = rc.data() + r * K;
    if (r < nr) {
      unpack_row(type, w + (n0 + r) * rowBytes, K, bias, row, rs.data(), rs.data() + nG);
    } else {
      std::memset(row, bias && signed_codes(type) ? 0x80 : 0, size_t(K));
      std::fill(rs.begin(), rs.end(), 0.f);
    }
    for (int64_t g = 0; g < nG; ++g) {
      s[g * kPanel + r] = rs[size_t(g)];
      o[g * kPanel + r] = rs[size_t(nG + g)];
    }
  }
#if defined(ET_QG_MMLA)
  // smmla layout [K / 8][kPanel / 2][2][8]: for each 8 K values, the rows in pairs, each pair's
  // two 8-byte runs side by side (one 2 x 8 operand of vmmlaq_s32)
  for (int r = 0; r < kPanel; r += 2)
    for (int64_t k = 0; k < K; k += 8) {
      uint8_t* dst = codes + ((k / 8) * (kPanel / 2) + r / 2) * 16;
      std::memcpy(dst, rc.data() + r * K + k, 8);
      std::memcpy(dst + 8, rc.data() + (r + 1) * K + k, 8);
    }
  return;
#endif
  for (int r = 0; r < kPanel; r += 4) {
    const uint8_t* a = rc.data() + r * K;
    uint8_t* dst = codes + 4 * r;
    int64_t k = 0;
#if defined(__AVX2__)
    // 16 bytes (four K groups) of four rows: a 4 x 4 transpose of 32-bit words
    for (; k + 16 <= K; k += 16, dst += 16 * kPanel) {
      const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + k)), r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + K + k));
      const __m128i r2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 2 * K + k)), r3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 3 * K + k));
      const __m128i t0 = _mm_unpacklo_epi32(r0, r1), t1 = _mm_unpackhi_epi32(r0, r1), t2 = _mm_unpacklo_epi32(r2, r3), t3 = _mm_unpackhi_epi32(r2, r3);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_unpacklo_epi64(t0, t2));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 4 * kPanel), _mm_unpackhi_epi64(t0, t2));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 8 * kPanel), _mm_unpacklo_epi64(t1, t3));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 12 * kPanel), _mm_unpackhi_epi64(t1, t3));
    }
#endif
    for (; k < K; k += 4, dst += 4 * kPanel)
      for (int i = 0; i < 4; ++i) std::memcpy(dst + 4 * i, a + i * K + k, 4);
  }
}

}  // namespace

#if defined(__AVX2__)

// One kernel source (quant_gemm_x86.inc), compiled plain and again with VNNI enabled: on zmm in the
// avx512 copy (AVX512_VNNI), on ymm in the avx2 copy (AVX-VNNI).
#if defined(__AVX512F__) && defined(__AVX512BW__)
#define QG_ZMM 1
#define QG_VNNI_TARGET "avx512vnni"
#define QG_HAVE_VNNI() (cpu_features().avx512_vnni)
#else
#define QG_ZMM 0
#define QG_VNNI_TARGET "avxvnni"
#define QG_HAVE_VNNI() (cpu_features().avx_vnni)
#endif
#define QG_VNNI 0
#define QG_NS qg_plain
namespace {
#include "quant_gemm_x86.inc"
}  // namespace
#undef QG_NS
#undef QG_VNNI
#pragma GCC push_options
#define QG_PRAGMA(x) _Pragma(#x)
#define QG_TARGET(t) QG_PRAGMA(GCC target(t))
QG_TARGET(QG_VNNI_TARGET)
#define QG_VNNI 1
#define QG_NS qg_vnni
namespace {
#include "quant_gemm_x86.inc"
}  // namespace
#undef QG_NS
#undef QG_VNNI
#pragma GCC pop_options

namespace {
inline bool use_vnni() { return QG_HAVE_VNNI(); }
void panel_rows(bool vnni, const Panel& p, int64_t K, const int8_t* qx, const float* xs, const float* xo, int64_t M, float* y, int64_t ldy, int nr) {
  if (vnni)
    qg_vnni::panel_rows(p, K, qx, xs, xo, M, y, ldy, nr);
  else
    qg_plain::panel_rows(p, K, qx, xs, xo, M, y, ldy, nr);
}
}  // namespace

#else  // arm64 with sdot

namespace {
inline bool use_vnni() { return false; }

// R rows of x (as in the x86 kernel) against panel rows [r0, r0 + 8): one int8x16 holds 4 bytes of 4 rows, and
// vdotq_laneq_s32 multiplies it by one 4-byte group of a 16-byte load of x.
template <int R, int G>
void tile(const Panel& p, int64_t K, const int8_t* qx, const float* xs, const float* xo, int r0, float* y, int64_t ldy, int nr) {
  float32x4_t acc[R][2];
  for (int i = 0; i < R; ++i) acc[i][0] = acc[i][1] = vdupq_n_f32(0.f);
  const int8_t* c = reinterpret_cast<const int8_t*>(p.codes) + 4 * r0;
  const int64_t nG = K / G;
  for (int64_t g = 0; g < nG; ++g) {
    int32x4_t P[R][2];
    for (int i = 0; i < R; ++i) P[i][0] = P[i][1] = vdupq_n_s32(0);
    for (int q = 0; q < G / 4; q += 4, c += 16 * kPanel) {
      int8x16_t xv[R];
      for (int i = 0; i < R; ++i) xv[i] = vld1q_s8(qx + i * K + g * G + 4 * q);
#define ET_QG_STEP(l)                                                   \
  {                                                                     \
    const int8x16_t w0 = vld1q_s8(c + (l) * 4 * kPanel), w1 = vld1q_s8(c + (l) * 4 * kPanel + 16); \
    for (int i = 0; i < R; ++i) {                                       \
      P[i][0] = vdotq_laneq_s32(P[i][0], w0, xv[i], l);                 \
      P[i][1] = vdotq_laneq_s32(P[i][1], w1, xv[i], l);                 \
    }                                                                   \
  }
      ET_QG_STEP(0) ET_QG_STEP(1) ET_QG_STEP(2) ET_QG_STEP(3)
#undef ET_QG_STEP
    }
    const float32x4_t s0 = vld1q_f32(p.s + g * kPanel + r0), s1 = vld1q_f32(p.s + g * kPanel + r0 + 4);
    const float32x4_t o0 = vld1q_f32(p.o + g * kPanel + r0), o1 = vld1q_f32(p.o + g * kPanel + r0 + 4);
    for (int i = 0; i < R; ++i) {
      const float d = xs[i * nG + g], dS = xo[i * nG + g];
      acc[i][0] = vfmsq_n_f32(vfmaq_n_f32(acc[i][0], vmulq_f32(vcvtq_f32_s32(P[i][0]), s0), d), o0, dS);
      acc[i][1] = vfmsq_n_f32(vfmaq_n_f32(acc[i][1], vmulq_f32(vcvtq_f32_s32(P[i][1]), s1), d), o1, dS);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < 2; ++v) {
      const int r = r0 + 4 * v;
      if (r + 4 <= nr) {
        vst1q_f32(y + i * ldy + r, acc[i][v]);
      } else if (r < nr) {
        float t[4];
        vst1q_f32(t, acc[i][v]);
        std::memcpy(y + i * ldy + r, t, sizeof(float) * size_t(nr - r));
      }
    }
}

template <int R>
void tile_g(const Panel& p, int64_t K, const int8_t* qx, const float* xs, const float* xo, int r0, float* y, int64_t ldy, int nr) {
  if (p.G == 16)
    tile<R, 16>(p, K, qx, xs, xo, r0, y, ldy, nr);
  else
    tile<R, 32>(p, K, qx, xs, xo, r0, y, ldy, nr);
}

#if defined(ET_QG_MMLA)
// smmla: vmmlaq_s32 multiplies a 2 x 8 block of x (two rows, 8 K values) by the transpose of a
// 2 x 8 block of weight codes (two panel rows), adding a 2 x 2 int32 block: 32 multiply-adds per
// instruction where sdot does 16. RP pairs of x rows (rows 2i, 2i + 1; a missing second row reads
// zeros) against panel rows [r0, r0 + 8) as four pairs. Lanes of P[i][w]: (x 2i, w 2w),
// (x 2i, w 2w + 1), (x 2i + 1, w 2w), (x 2i + 1, w 2w + 1). The float scaling repeats the sdot
// tile's operations in the same order, so both give the same results.
template <int RP, int G>
void tile_mm(const Panel& p, int64_t K, const int8_t* const* xr, const float* const* xsr, const float* const* xor_, int r0, float* const* yr, int rows, int nr) {
  float32x4_t acc[RP][4];
  for (int i = 0; i < RP; ++i)
    for (int w = 0; w < 4; ++w) acc[i][w] = vdupq_n_f32(0.f);
  const int8_t* codes = reinterpret_cast<const int8_t*>(p.codes);
  const int64_t nG = K / G;
  for (int64_t g = 0; g < nG; ++g) {
    int32x4_t P[RP][4];
    for (int i = 0; i < RP; ++i)
      for (int w = 0; w < 4; ++w) P[i][w] = vdupq_n_s32(0);
    for (int q = 0; q < G / 8; ++q) {
      const int64_t k = g * G + 8 * q;
      int8x16_t xv[RP];
      for (int i = 0; i < RP; ++i) xv[i] = vcombine_s8(vld1_s8(xr[2 * i] + k), vld1_s8(xr[2 * i + 1] + k));
      const int8_t* c = codes + ((k / 8) * (kPanel / 2) + r0 / 2) * 16;
      for (int w = 0; w < 4; ++w) {
        const int8x16_t wv = vld1q_s8(c + 16 * w);
        for (int i = 0; i < RP; ++i) P[i][w] = vmmlaq_s32(P[i][w], xv[i], wv);
      }
    }
    for (int w = 0; w < 4; ++w) {
      const float32x2_t s2 = vld1_f32(p.s + g * kPanel + r0 + 2 * w), o2 = vld1_f32(p.o + g * kPanel + r0 + 2 * w);
      const float32x4_t sv = vcombine_f32(s2, s2), ov = vcombine_f32(o2, o2);
      for (int i = 0; i < RP; ++i) {
        const float32x4_t d = vcombine_f32(vdup_n_f32(xsr[2 * i][g]), vdup_n_f32(xsr[2 * i + 1][g]));
        const float32x4_t dS = vcombine_f32(vdup_n_f32(xor_[2 * i][g]), vdup_n_f32(xor_[2 * i + 1][g]));
        acc[i][w] = vfmsq_f32(vfmaq_f32(acc[i][w], vmulq_f32(vcvtq_f32_s32(P[i][w]), sv), d), ov, dS);
      }
    }
  }
  for (int i = 0; i < RP; ++i)
    for (int w = 0; w < 4; ++w) {
      float t[4];
      vst1q_f32(t, acc[i][w]);
      for (int h = 0; h < 2; ++h) {
        if (2 * i + h >= rows) continue;
        for (int e = 0; e < 2; ++e) {
          const int col = r0 + 2 * w + e;
          if (col < nr) yr[2 * i + h][col] = t[2 * h + e];
        }
      }
    }
}

void panel_rows(bool, const Panel& p, int64_t K, const int8_t* qx, const float* xs, const float* xo, int64_t M, float* y, int64_t ldy, int nr) {
  // a zero row and zero scales stand in for the missing partner of an odd last row
  static thread_local std::vector<int8_t> zrow;
  static thread_local std::vector<float> zs;
  const int64_t nG = K / p.G;
  if (zrow.size() < size_t(K)) zrow.assign(size_t(K), 0);
  if (zs.size() < size_t(nG)) zs.assign(size_t(nG), 0.f);
  for (int64_t m = 0; m < M; m += 4) {
    const int rows = int(std::min<int64_t>(4, M - m));
    const int8_t* xr[4];
    const float* xsr[4];
    const float* xor_[4];
    float* yr[4];
    for (int i = 0; i < 4; ++i) {
      const bool have = i < rows;
      xr[i] = have ? qx + (m + i) * K : zrow.data();
      xsr[i] = have ? xs + (m + i) * nG : zs.data();
      xor_[i] = have ? xo + (m + i) * nG : zs.data();
      yr[i] = have ? y + (m + i) * ldy : nullptr;
    }
    for (int r0 = 0; r0 < nr; r0 += 8) {
      if (rows > 2) {
        if (p.G == 16) tile_mm<2, 16>(p, K, xr, xsr, xor_, r0, yr, rows, nr);
        else tile_mm<2, 32>(p, K, xr, xsr, xor_, r0, yr, rows, nr);
      } else {
        if (p.G == 16) tile_mm<1, 16>(p, K, xr, xsr, xor_, r0, yr, rows, nr);
        else tile_mm<1, 32>(p, K, xr, xsr, xor_, r0, yr, rows, nr);
      }
    }
  }
}
#else

void panel_rows(bool, const Panel& p, int64_t K, const int8_t* qx, const float* xs, const float* xo, int64_t M, float* y, int64_t ldy, int nr) {
  for (int64_t m = 0; m < M; m += 4) {
    const int R = int(std::min<int64_t>(4, M - m));
    const int8_t* q = qx + m * K;
    const float* d = xs + m * (K / p.G);
    const float* s = xo + m * (K / p.G);
    float* ym = y + m * ldy;
    for (int r0 = 0; r0 < nr; r0 += 8) {
      switch (R) {
        case 1: tile_g<1>(p, K, q, d, s, r0, ym, ldy, nr); break;
        case 2: tile_g<2>(p, K, q, d, s, r0, ym, ldy, nr); break;
        case 3: tile_g<3>(p, K, q, d, s, r0, ym, ldy, nr); break;
        default: tile_g<4>(p, K, q, d, s, r0, ym, ldy, nr); break;
      }
    }
  }
}
#endif  // ET_QG_MMLA
}  // namespace

#endif

bool has_gemm_q8(int type) { return type == Q8_0 || type == Q4_0 || type == Q4_K || type == Q5_K || type == Q6_K || type == NF4 || type == NF4_DQ; }

void gemm_q8(int type, const uint8_t* w, int64_t rowBytes, int64_t N, int64_t K, const int8_t* qx, const float* dx, const int32_t* sx, int64_t M, float* y,
             int64_t ldy) {
  const bool vnni = use_vnni();
  // vpdpbusd multiplies unsigned by signed bytes: the signed formats' codes biased to unsigned;
  // vpmaddubsw takes them signed (sign trick), sdot signed as they are
  const bool bias = vnni && signed_codes(type);
  const bool sgn = !vnni && signed_codes(type);
  const int G = group_of(type);
  // per row of x and group of G: its scale, and the scale times the codes' sum (for the offsets)
  const int64_t nG = K / G;
  static thread_local std::vector<float> tl_xso;
  tl_xso.resize(size_t(2 * M * nG));
  float* xs = tl_xso.data();
  float* xo = xs + M * nG;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t g = 0; g < nG; ++g) {
      const float d = dx[m * (K / 32) + g * G / 32];
      const int32_t* s16 = sx + m * (K / 16) + g * (G / 16);
      xs[m * nG + g] = d;
      xo[m * nG + g] = d * float(G == 32 ? s16[0] + s16[1] : s16[0]);
    }
  const int64_t panels = (N + kPanel - 1) / kPanel;
  parallel_for(panels, 1, [&](int64_t p0, int64_t p1) {
    static thread_local std::vector<uint8_t> t_codes, t_rc;
    static thread_local std::vector<float> t_so, t_rs;
    t_codes.resize(size_t(K * kPanel));
    t_so.resize(size_t(2 * (K / G) * kPanel));
    float* s = t_so.data();
    float* o = s + (K / G) * kPanel;
    for (int64_t pi = p0; pi < p1; ++pi) {
      const int64_t n0 = pi * kPanel;
      const int nr = int(std::min<int64_t>(kPanel, N - n0));
      pack_panel(type, w, rowBytes, n0, nr, K, bias, t_codes.data(), s, o, t_rc, t_rs);
      const Panel p{t_codes.data(), s, o, G, sgn, int16_groups(type)};
      panel_rows(vnni, p, K, qx, xs, xo, M, y + n0, ldy, nr);
    }
  });
}

#else

bool has_gemm_q8(int) { return false; }
void gemm_q8(int, const uint8_t*, int64_t, int64_t, int64_t, const int8_t*, const float*, const int32_t*, int64_t, float*, int64_t) {}  // never called

#endif

}  // namespace ET_ISA
}  // namespace et

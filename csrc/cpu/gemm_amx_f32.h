// f32 GEMM on AMX tiles (TDPBF16PS) with both operands split exactly into three bf16 parts; part
// of gemm.cpp's AVX-512 copy, included there after gemm_amx.h (whose AMX detection, tile
// configuration layout, transpose and merge helpers it reuses). gemm_any sends f32 products here
// when amx_usable() (tier with AVX512_BF16, CPU and OS with AMX tile data), the shape is large
// enough (f32_amx_shape) and EDGETRAIN_F32_AMX is not 0.
//
// Precision. a = a1 + a2 + a3 and b = b1 + b2 + b3 exactly (each part the next 8 significant bits,
// truncated: split3), so a*b is the sum of 9 part products, each exact in f32. The 6 with
// i + j <= 2 (a1b1, a2b1, a3b1, a1b2, a2b2, a1b3) are kept; the dropped a2b3, a3b2 and a3b3 are
// each below 2^-22 |ab| (|a2| < 2^-7 |a|; |a3| < 2^-15 |a|, |b3| < 2^-15 |b|), about one f32 ulp
// of the product, and accumulation is in f32 on the tiles, so results are f32-accurate (gemm_test
// checks them against f64 at the f32 path's tolerance, and wide-range inputs at 2^-18 of the
// terms' magnitude; measured worst 2^-20.5 there, 2^-20.6 for the AVX-512 FMA path).
// Tiles treat bf16 subnormals as zero and flush f32 subnormal results (DAZ / FTZ): inputs below
// 2^-126 in magnitude contribute nothing, and for inputs below about 2^-110 the low parts (and so
// some of the 24 bits) are lost; likewise part products below 2^-126. The FMA path keeps them.
// Inf / NaN: a zero part times an infinite part would add NaN where a*b is +-Inf, so a thread's
// rectangle whose rows of A or columns of B hold an Inf or NaN runs on the f32 path instead
// (amxf32_rect: scanned before C is written when beta != 0; found while packing when beta == 0,
// where the f32 path then rewrites the rectangle without reading C).
//
// Cost per 32 x 32 block of C and k step of 32: 6 part products x 4 tiles = 24 TDPBF16PS and 16
// tile loads (amxf32_block), against 12 and 8 for gemm_amx.h's three-part A with bf16 B. Both
// operands are packed (split and laid out for the tiles) once per thread rectangle.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// KC: k per packed block (multiple of 32); NC: columns of B per packed block (multiple of 32).
#ifndef ET_AMXF32_KC
#define ET_AMXF32_KC 128
#endif
#ifndef ET_AMXF32_NC
#define ET_AMXF32_NC 1536
#endif
constexpr int64_t AMXF32_KC = ET_AMXF32_KC;
constexpr int64_t AMXF32_NC = ET_AMXF32_NC;
// One k step of one 32-row A panel or 32-column B panel: 3 parts x 2 tiles x 512 bf16.
constexpr int64_t AMXF32_STEP = 3 * 1024;

// EDGETRAIN_F32_AMX=0 keeps f32 products on the AVX-512 FMA kernel (read once per process).
inline bool f32_amx_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("EDGETRAIN_F32_AMX");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on;
}

// Shapes where the tiles pay for packing both operands three ways (gemm_test --bench, 2-core
// Sapphire Rapids VM, FMA kernel -> tiles, GFLOP/s on one thread): 32x32 @ 32x32 86 -> 128,
// 256x16 @ 16x256 121 -> 148, 128x32 @ 32x128 118 -> 198; with M or N below 32 a 32 x 32 block is
// part empty and the FMA kernel is as fast or faster (16x64 @ 64x64 76 -> 72, 24x128 @ 128x128
// 119 -> 111, 20x256 @ 256x1024 116 -> 102).
inline bool f32_amx_shape(int64_t M, int64_t N, int64_t K) { return M >= 32 && N >= 32 && K >= 16; }

// True when x holds an Inf or NaN among R lines of L elements, element (r, l) at x[r*rs + l*es].
ET_AMX_TARGET inline bool f32_any_nonfinite(int64_t R, int64_t L, const float* x, int64_t rs, int64_t es) {
  if (es != 1 && rs == 1) {  // walk the contiguous direction
    std::swap(R, L);
    std::swap(rs, es);
  }
  const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF);
  if (es != 1) {
    for (int64_t r = 0; r < R; ++r)
      for (int64_t l = 0; l < L; ++l) {
        uint32_t u;
        std::memcpy(&u, x + r * rs + l * es, 4);
        if ((u & 0x7F800000u) == 0x7F800000u) return true;
      }
    return false;
  }
  // Largest |x| bit pattern: Inf and NaN are the patterns >= 0x7F800000.
  __m512i mx = _mm512_setzero_si512(), mx2 = _mm512_setzero_si512();
  const __mmask16 tail = __mmask16((1u << (L & 15)) - 1);
  for (int64_t r = 0; r < R; ++r) {
    const float* s = x + r * rs;
    int64_t l = 0;
    for (; l + 32 <= L; l += 32) {
      mx = _mm512_max_epu32(mx, _mm512_and_si512(_mm512_loadu_si512(s + l), abs_mask));
      mx2 = _mm512_max_epu32(mx2, _mm512_and_si512(_mm512_loadu_si512(s + l + 16), abs_mask));
    }
    if (l + 16 <= L) {
      mx = _mm512_max_epu32(mx, _mm512_and_si512(_mm512_loadu_si512(s + l), abs_mask));
      l += 16;
    }
    if (l < L) mx2 = _mm512_max_epu32(mx2, _mm512_and_si512(_mm512_maskz_loadu_epi32(tail, s + l), abs_mask));
    if ((r & 63) == 63 && _mm512_reduce_max_epu32(_mm512_max_epu32(mx, mx2)) >= 0x7F800000u) return true;
  }
  return _mm512_reduce_max_epu32(_mm512_max_epu32(mx, mx2)) >= 0x7F800000u;
}

// Packing also needs AVX512_BF16 (vcvtne2ps2bf16), which amx_usable() implies.
#define ET_AMXF32_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512bf16")))

// x = h + m + l exactly, each part the next 8 significant bits of x, truncated (so each is a bf16
// value held as f32). Where x is Inf or NaN, x - h is NaN: `bad` accumulates l * 0, which turns NaN
// there and stays 0 otherwise (l is finite and small for finite x).
ET_AMXF32_TARGET inline void split3(__m512 x, __m512* q, __m512& bad) {
  const __m512i hi = _mm512_set1_epi32(int(0xFFFF0000u));
  q[0] = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), hi));
  const __m512 r = _mm512_sub_ps(x, q[0]);  // exact
  q[1] = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(r), hi));
  q[2] = _mm512_sub_ps(r, q[1]);  // exact, at most 8 significant bits
  bad = _mm512_fmadd_ps(q[2], _mm512_setzero_ps(), bad);
}
ET_AMXF32_TARGET inline bool any_nan(__m512 bad) { return _mm512_cmp_ps_mask(bad, bad, _CMP_UNORD_Q) != 0; }

// One row of an A tile: 32 k (x0 = k 0-15, x1 = k 16-31) -> each part as 32 bf16 at d + part * 1024.
// The parts are bf16 values, so vcvtne2ps2bf16 converts them exactly (f32-subnormal low parts,
// below the tiles' range anyway, become zero).
ET_AMXF32_TARGET inline void amxf32_put_row(__m512 x0, __m512 x1, uint16_t* d, __m512& bad) {
  __m512 q0[3], q1[3];
  split3(x0, q0, bad);
  split3(x1, q1, bad);
  for (int part = 0; part < 3; ++part)
    _mm512_storeu_si512(d + part * 1024, (__m512i)_mm512_cvtne2ps_pbh(q1[part], q0[part]));
}

// One pair-row of a B tile: rows k (xe) and k + 1 (xo) of 16 columns -> per part, 16 lanes of
// (k in the low half, k + 1 in the high half) at d + part * 1024: the even row's bf16 shifted
// down, the odd row's kept in place.
ET_AMXF32_TARGET inline void amxf32_put_pair(__m512 xe, __m512 xo, uint16_t* d, __m512& bad) {
  __m512 qe[3], qo[3];
  split3(xe, qe, bad);
  split3(xo, qo, bad);
  for (int part = 0; part < 3; ++part)
    _mm512_storeu_si512(d + part * 1024,
                        _mm512_mask_blend_epi16(__mmask32(0xAAAAAAAAu), _mm512_srli_epi32(_mm512_castps_si512(qe[part]), 16),
                                                _mm512_castps_si512(qo[part])));
}

inline __mmask16 lanes16(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1); }

// A panel (mr <= 32 rows x kc, element (i,k) at a[i*rsa + k*csa]) -> per k step, per part, 32 rows
// x 32 bf16 (tiles: rows 0-15, 16-31). Rows past mr and k past kc are zero.
ET_AMXF32_TARGET inline void amxf32_pack_a(int64_t mr, int64_t kc, const float* a, int64_t rsa, int64_t csa,
                                           uint16_t* dst, __m512& bad) {
  const int64_t steps = ceil_div(kc, AMX_KSTEP);
  const bool at = rsa == 1 && csa != 1;  // A transposed in memory: rows i contiguous per k
  alignas(64) float blk[32 * 32];
  alignas(64) float row[32];
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t k0 = s * AMX_KSTEP, kn = std::min<int64_t>(AMX_KSTEP, kc - k0);
    const __mmask16 m0 = lanes16(kn), m1 = lanes16(kn - 16);
    uint16_t* sd = dst + s * AMXF32_STEP;
    if (at) {
      // Four 16 x 16 transposes into blk, row-major 32 rows x 32 k.
      for (int64_t ib = 0; ib < 2; ++ib) {
        const __mmask16 im = lanes16(mr - 16 * ib);
        for (int64_t kb = 0; kb < 2; ++kb) {
          __m512i r[16];
          for (int64_t l = 0; l < 16; ++l) {
            const int64_t k = 16 * kb + l;
            r[l] = k < kn && im ? _mm512_castps_si512(_mm512_maskz_loadu_ps(im, a + 16 * ib + (k0 + k) * csa))
                                : _mm512_setzero_si512();
          }
          transpose16_epi32(r);
          for (int64_t j = 0; j < 16; ++j) _mm512_store_si512(blk + (16 * ib + j) * 32 + 16 * kb, r[j]);
        }
      }
    }
    for (int64_t i = 0; i < 32; ++i) {
      __m512 x0 = _mm512_setzero_ps(), x1 = _mm512_setzero_ps();
      if (at) {
        x0 = _mm512_load_ps(blk + i * 32);
        x1 = _mm512_load_ps(blk + i * 32 + 16);
      } else if (i < mr) {
        const float* src = a + i * rsa + k0 * csa;
        if (csa == 1) {
          x0 = _mm512_maskz_loadu_ps(m0, src);
          x1 = _mm512_maskz_loadu_ps(m1, src + 16);
        } else {
          for (int64_t k = 0; k < 32; ++k) row[k] = k < kn ? src[k * csa] : 0.0f;
          x0 = _mm512_load_ps(row);
          x1 = _mm512_load_ps(row + 16);
        }
      }
      amxf32_put_row(x0, x1, sd + i * 32, bad);
    }
  }
}

// One k step of one 32-column B panel from rows of B: B(k, j) at src[k*rs + j] for k < kn, j < jn
// (zero elsewhere). d: per part, two tiles (columns 0-15, 16-31) of 16 pair-rows x 16 columns x
// (k even in the low half, k odd in the high half of each 32-bit lane).
ET_AMXF32_TARGET inline void amxf32_pack_b_rows(const float* src, int64_t rs, int64_t kn, int64_t jn, uint16_t* d,
                                                __m512& bad) {
  const __mmask16 m[2] = {lanes16(jn), lanes16(jn - 16)};
  for (int64_t kp = 0; kp < 16; ++kp) {
    const int64_t k = 2 * kp;
    for (int h = 0; h < 2; ++h) {
      const __m512 xe = k < kn ? _mm512_maskz_loadu_ps(m[h], src + k * rs + 16 * h) : _mm512_setzero_ps();
      const __m512 xo = k + 1 < kn ? _mm512_maskz_loadu_ps(m[h], src + (k + 1) * rs + 16 * h) : _mm512_setzero_ps();
      amxf32_put_pair(xe, xo, d + h * 512 + kp * 32, bad);
    }
  }
}

// The same step from columns of B (B transposed in memory, e.g. a Linear weight [N, K]): B(k, j)
// at src[j*cs + k]. Per 16 columns, two 16 x 16 f32 transposes turn 16 columns x 32 k into rows
// of k, which then go through the row path (transposing before the split: 2 transposes, not 3).
ET_AMXF32_TARGET inline void amxf32_pack_b_cols(const float* src, int64_t cs, int64_t kn, int64_t jn, uint16_t* d,
                                                __m512& bad) {
  const __mmask16 km[2] = {lanes16(kn), lanes16(kn - 16)};
  for (int64_t h = 0; h < 2; ++h) {
    __m512i r[2][16];
    for (int kb = 0; kb < 2; ++kb) {
      for (int64_t j = 0; j < 16; ++j) {
        const int64_t jj = 16 * h + j;
        r[kb][j] = jj < jn && km[kb] ? _mm512_castps_si512(_mm512_maskz_loadu_ps(km[kb], src + jj * cs + 16 * kb))
                                     : _mm512_setzero_si512();
      }
      transpose16_epi32(r[kb]);  // r[kb][l]: k = 16 kb + l, lanes = 16 columns
    }
    for (int64_t kp = 0; kp < 16; ++kp) {
      const int64_t k = 2 * kp;
      amxf32_put_pair(_mm512_castsi512_ps(r[k / 16][k % 16]), _mm512_castsi512_ps(r[k / 16][k % 16 + 1]),
                      d + h * 512 + kp * 32, bad);
    }
  }
}

// B block (kc x nc floats, element (k,j) at b[k*rsb + j*csb]) -> ceil(nc/32) panels, each per k
// step AMXF32_STEP bf16 (amxf32_pack_b_rows' layout). Rows past kc and columns past nc are zero.
ET_AMXF32_TARGET inline void amxf32_pack_b(int64_t kc, int64_t nc, const float* b, int64_t rsb, int64_t csb,
                                           uint16_t* dst, __m512& bad) {
  const int64_t steps = ceil_div(kc, AMX_KSTEP);
  alignas(64) float blk[32 * 32];
  for (int64_t j0 = 0; j0 < nc; j0 += 32) {
    const int64_t jn = std::min<int64_t>(32, nc - j0);
    uint16_t* pd = dst + j0 / 32 * steps * AMXF32_STEP;
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t k0 = s * AMX_KSTEP, kn = std::min<int64_t>(AMX_KSTEP, kc - k0);
      const float* src = b + k0 * rsb + j0 * csb;
      uint16_t* d = pd + s * AMXF32_STEP;
      if (csb == 1) {
        amxf32_pack_b_rows(src, rsb, kn, jn, d, bad);
      } else if (rsb == 1) {
        amxf32_pack_b_cols(src, csb, kn, jn, d, bad);
      } else {
        // General strides: gather the step into a row-major 32 x 32 block first.
        for (int64_t k = 0; k < 32; ++k)
          for (int64_t j = 0; j < 32; ++j) blk[k * 32 + j] = k < kn && j < jn ? src[k * rsb + j * csb] : 0.0f;
        amxf32_pack_b_rows(blk, 32, 32, 32, d, bad);
      }
    }
  }
}

// C block (32 x 32 floats at c, row stride ldc floats) = (load ? C : 0) + the six part products of
// an A panel and a B panel over `steps` k steps. A panel (amxf32_pack_a): per step,
// parts a1, a2, a3 of 32 rows x 32 bf16 (tiles: rows 0-15, 16-31). B panel: per step, parts b1,
// b2, b3 of two tiles (columns 0-15, 16-31). tmm0-3 hold C (2 x 2 tiles), tmm4-5 one A part,
// tmm6-7 one B part. Each part is loaded at most twice a step: 16 tile loads for 24 products.
#define ET_DP(C, A, B) _tile_dpbf16ps(C, A, B)
#define ET_LD(T, P) _tile_loadd(T, P, 64)
ET_AMX_TARGET inline void amxf32_block(int64_t steps, const uint16_t* ap, const uint16_t* bp, bool load, float* c,
                                       int64_t ldc) {
  const int64_t ldb = ldc * int64_t(sizeof(float));
  if (load) {
    _tile_loadd(0, c, ldb);
    _tile_loadd(1, c + 16, ldb);
    _tile_loadd(2, c + 16 * ldc, ldb);
    _tile_loadd(3, c + 16 * ldc + 16, ldb);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  // Each operand tile is reloaded as soon as the last product reading it has issued, so the load
  // overlaps the group's remaining products (measured against loading between groups: +15% for
  // 4-step L1-resident panels, +1-3% for whole products). Groups of four products, per step:
  // (a1, b1) (a2, b1) (a3, b1) (a2, b2) (a1, b2) (a1, b3).
  ET_LD(6, bp);
  ET_LD(7, bp + 512);
  ET_LD(4, ap);
  ET_LD(5, ap + 512);
  for (int64_t s = 0; s < steps; ++s) {
    const uint16_t *a = ap + s * AMXF32_STEP, *b = bp + s * AMXF32_STEP;
    // (a1, b1); next a2
    ET_DP(0, 4, 6); ET_DP(1, 4, 7); ET_LD(4, a + 1024);
    ET_DP(2, 5, 6); ET_DP(3, 5, 7); ET_LD(5, a + 1536);
    // (a2, b1); next a3
    ET_DP(0, 4, 6); ET_DP(1, 4, 7); ET_LD(4, a + 2048);
    ET_DP(2, 5, 6); ET_DP(3, 5, 7); ET_LD(5, a + 2560);
    // (a3, b1); next a2, b2
    ET_DP(0, 4, 6); ET_DP(1, 4, 7); ET_LD(4, a + 1024);
    ET_DP(2, 5, 6); ET_LD(6, b + 1024);
    ET_DP(3, 5, 7); ET_LD(5, a + 1536); ET_LD(7, b + 1536);
    // (a2, b2); next a1
    ET_DP(0, 4, 6); ET_DP(1, 4, 7); ET_LD(4, a);
    ET_DP(2, 5, 6); ET_DP(3, 5, 7); ET_LD(5, a + 512);
    // (a1, b2), B-major order; next b3
    ET_DP(0, 4, 6); ET_DP(2, 5, 6); ET_LD(6, b + 2048);
    ET_DP(1, 4, 7); ET_DP(3, 5, 7); ET_LD(7, b + 2560);
    // (a1, b3); next step's a1, b1
    if (s + 1 < steps) {
      const uint16_t *an = a + AMXF32_STEP, *bn = b + AMXF32_STEP;
      ET_DP(0, 4, 6); ET_DP(1, 4, 7); ET_LD(4, an);
      ET_DP(2, 5, 6); ET_LD(6, bn);
      ET_DP(3, 5, 7); ET_LD(5, an + 512); ET_LD(7, bn + 512);
    } else {
      ET_DP(0, 4, 6); ET_DP(1, 4, 7); ET_DP(2, 5, 6); ET_DP(3, 5, 7);
    }
  }
  _tile_stored(0, c, ldb);
  _tile_stored(1, c + 16, ldb);
  _tile_stored(2, c + 16 * ldc, ldb);
  _tile_stored(3, c + 16 * ldc + 16, ldb);
}
#undef ET_DP
#undef ET_LD

thread_local AlignedBuf tl_amxf32_a;
thread_local AlignedBuf tl_amxf32_b;

// Rows [m0, m1) x columns [n0, n1) of C on AMX. Returns false, C untouched, when scratch cannot be
// allocated or these rows of A or columns of B hold an Inf or NaN (the caller's f32 path then
// takes the whole rectangle).
//
// Loops: per k block (KC) and column block (NC), B is packed once (NC x KC x 3 parts, in L2); then
// one 32-row A panel at a time is packed (32 x KC x 3 parts = 24 KiB at KC = 128, kept in L1) and
// run against every B panel, so the 10 A tile loads of a step hit L1 and only the 6 B loads go
// to L2. Full blocks with alpha == 1 accumulate in C itself (tile load, products, tile store);
// ragged blocks and other alpha / beta go through a 32 x 32 bounce tile and merge_tile.
ET_AMXF32_TARGET inline bool amxf32_rect(const Problem<float>& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int64_t M = m1 - m0, N = n1 - n0, K = p.K;
  if (M <= 0 || N <= 0) return true;
  // Inf / NaN. beta != 0: C must stay as it was for the f32 path, so look before writing it.
  // beta == 0: the packing notices them (`bad`) and the f32 path rewrites the whole rectangle
  // without reading C, so the scan (about 7% of a 256 x 512 @ 512 x 512 product) is skipped.
  if (p.beta != 0.0f &&
      (f32_any_nonfinite(M, K, p.a + m0 * p.rsa, p.rsa, p.csa) || f32_any_nonfinite(K, N, p.b + n0 * p.csb, p.rsb, p.csb)))
    return false;
  __m512 bad = _mm512_setzero_ps();
  const int64_t kblocks = ceil_div(K, AMXF32_KC);
  const int64_t KC = round_up(ceil_div(K, kblocks), AMX_KSTEP);
  const int64_t steps_max = KC / AMX_KSTEP;
  const int64_t nblocks = ceil_div(N, AMXF32_NC);
  const int64_t NC = round_up(ceil_div(N, nblocks), 32);
  // Packed sizes in uint16 (AlignedBuf counts floats: two bf16 each).
  uint16_t* apack = reinterpret_cast<uint16_t*>(tl_amxf32_a.get(size_t(steps_max * AMXF32_STEP / 2)));
  uint16_t* bpack = reinterpret_cast<uint16_t*>(tl_amxf32_b.get(size_t(NC / 32 * steps_max * AMXF32_STEP / 2)));
  if (!apack || !bpack) return false;
  amx_begin();
  alignas(64) float t[32 * 32];
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc), steps = ceil_div(kc, AMX_KSTEP);
      const float beta = pc == 0 ? p.beta : 1.0f;
      // In place: C already holds the partial sum (later k blocks) or beta == 1; alpha must be 1.
      const bool direct = p.alpha == 1.0f && beta == 1.0f;
      const bool direct0 = p.alpha == 1.0f && beta == 0.0f;
      amxf32_pack_b(kc, nc, p.b + pc * p.rsb + (n0 + jc) * p.csb, p.rsb, p.csb, bpack, bad);
      for (int64_t ir = 0; ir < M; ir += 32) {
        const int64_t mr = std::min<int64_t>(32, M - ir);
        amxf32_pack_a(mr, kc, p.a + (m0 + ir) * p.rsa + pc * p.csa, p.rsa, p.csa, apack, bad);
        if (any_nan(bad)) {
          amx_end();
          return false;
        }
        for (int64_t jr = 0; jr < nc; jr += 32) {
          const int64_t nr = std::min<int64_t>(32, nc - jr);
          float* cb = p.c + (m0 + ir) * p.ldc + n0 + jc + jr;
          const uint16_t* bp = bpack + jr / 32 * steps * AMXF32_STEP;
          if (mr == 32 && nr == 32 && (direct || direct0)) {
            amxf32_block(steps, apack, bp, direct, cb, p.ldc);
          } else {
            amxf32_block(steps, apack, bp, false, t, 32);
            merge_tile(t, cb, p.ldc, mr, nr, p.alpha, beta);
          }
        }
      }
    }
  }
  amx_end();
  return true;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

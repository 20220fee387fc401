// AMX GEMM against a weight whose rows are produced as f32 on demand (gemm.h WeightRows: the block
// dequantizers of quant.cpp), part of gemm.cpp's AVX-512 copy after gemm_amx.h (same namespace).
//
// Each dequantized row segment is staged in a small f32 buffer (L1/L2) and packed straight into
// the AMX B-panel layout, so neither an f32 nor a bf16 copy of the weight is ever made.
//
// Precision: a dequantized value needs up to 24 significant bits (Q4_0 / Q5_0 at most 15: a small
// integer times an f16 scale), bf16 holds 8. So B is split like A (gemm_amx.h split_bf16) into
// `bparts` truncated bf16 parts, b = b1 + b2 (+ b3) exactly, and A into three, a = a1 + a2 + a3.
// Each part is at most 2^-7 of the one before, so the product a.b = sum of ai.bj has terms of
// size 2^-7(i+j) relative; those with i + j <= 2 (0-based) are computed (5 tile products per k step
// for two B parts, 6 for three) and the rest, each below 2^-21 |a b| and typically ~2^-25, dropped.
// With `all_products` every pair is computed (6 or 9): the exact operands, f32 accumulation.
// Tile products of bf16 pairs are exact in f32; accumulation is f32 as in the f32 GEMM. Subnormal
// parts count as zero (gemm_amx.h). Inf / NaN in A or W: the caller's f32 path (see gemm.h).
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// K block for this path: smaller than gemm_amx.h's 1024 because the B panel is two or three
// times as large (a 32-column panel at KC 512 and three parts is 96 KiB). Multiples of the weight's
// block alignment (up to 256) are used in mode 0.
#ifndef ET_AMX_WROWS_KC
#define ET_AMX_WROWS_KC 512
#endif
// Columns of C per packed B block: keeps NC x KC x bparts bf16 near 1 MiB of L2.
#ifndef ET_AMX_WROWS_NC
#define ET_AMX_WROWS_NC 512
#endif

// The (A part, B part) pairs to multiply, B part outer (one B tile pair load serves several A
// parts). 0-based indices; 3 A parts.
struct WrowsProducts {
  int n = 0;
  int8_t ai[9], bj[9];
};
inline WrowsProducts wrows_products(int bparts, bool all) {
  WrowsProducts p;
  for (int j = 0; j < bparts; ++j)
    for (int i = 0; i < 3; ++i)
      if (all || i + j <= 2) {
        p.ai[p.n] = int8_t(i);
        p.bj[p.n] = int8_t(j);
        ++p.n;
      }
  return p;
}

// t[32 x 32] = A panel . B panel over `steps` k steps: A panel per step 3 parts x 1024 bf16 (two
// 16-row tiles each), B panel per step `bparts` x 1024 (two 16-column tiles each).
ET_AMX_TARGET inline void amx_block_wrows(int64_t steps, int bparts, const WrowsProducts& pr, const uint16_t* ap,
                                          const uint16_t* bp, float* t) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t s = 0; s < steps; ++s) {
    int cur = -1;
    for (int q = 0; q < pr.n; ++q) {
      if (pr.bj[q] != cur) {
        cur = pr.bj[q];
        _tile_loadd(6, bp + cur * 1024, 64);
        _tile_loadd(7, bp + cur * 1024 + 512, 64);
      }
      const uint16_t* a = ap + pr.ai[q] * 1024;
      _tile_loadd(4, a, 64);
      _tile_loadd(5, a + 512, 64);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    ap += 3 * 1024;
    bp += bparts * 1024;
  }
  _tile_stored(0, t, 128);
  _tile_stored(1, t + 16, 128);
  _tile_stored(2, t + 16 * 32, 128);
  _tile_stored(3, t + 16 * 32 + 16, 128);
}

// Lanes of x whose exponent is all ones (Inf / NaN).
ET_AMX_TARGET inline __mmask16 nonfinite16(__m512 x) {
  const __m512i e = _mm512_set1_epi32(0x7F800000);
  return _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(x), e), e);
}

// Mode 0 (C = A . W^T): B column j is weight row n0 + j, contiguous in k. Columns [0, nc) over k
// [k0, k0 + kc) (kc a multiple of 32) -> ceil(nc/32) panels, per k step `bparts` x two tiles of 16
// pair-rows x 16 columns. Returns false on an Inf / NaN weight value.
ET_AMX_TARGET inline bool amx_pack_wrows_t(const WeightRows& w, int64_t n0, int64_t nc, int64_t k0, int64_t kc,
                                           float* stg, uint16_t* dst) {
  const int64_t steps = kc / AMX_KSTEP;
  const int bp = w.bparts;
  __mmask16 bad = 0;
  for (int64_t j0 = 0; j0 < round_up(nc, 32); j0 += 16) {  // zero tiles past nc too
    const int64_t jn = std::max<int64_t>(0, std::min<int64_t>(16, nc - j0));
    for (int64_t j = 0; j < jn; ++j) w.fill(w.ctx, n0 + j0 + j, k0, kc, stg + j * kc);
    uint16_t* pd = dst + j0 / 32 * steps * bp * 1024 + (j0 % 32 ? 512 : 0);
    for (int64_t s = 0; s < steps; ++s) {
      __m512i r[3][16];
      for (int64_t j = 0; j < 16; ++j) {
        if (j >= jn) {
          for (int p = 0; p < bp; ++p) r[p][j] = _mm512_setzero_si512();
          continue;
        }
        const float* src = stg + j * kc + s * AMX_KSTEP;
        const __m512 x0 = _mm512_loadu_ps(src), x1 = _mm512_loadu_ps(src + 16);
        bad |= nonfinite16(x0) | nonfinite16(x1);
        __m512i p0[3], p1[3];
        split_bf16(x0, 3, p0);
        split_bf16(x1, 3, p1);
        for (int p = 0; p < bp; ++p) r[p][j] = pack_hi16(p0[p], p1[p]);
      }
      uint16_t* d = pd + s * bp * 1024;
      for (int p = 0; p < bp; ++p) {
        transpose16_epi32(r[p]);
        for (int i = 0; i < 16; ++i) _mm512_storeu_si512(d + p * 1024 + i * 32, r[p][i]);
      }
    }
  }
  return bad == 0;
}

// Mode 1 (C = A . W): B row k is weight row k0 + k, over columns [c0, c0 + nc) of the weight.
// Rows [0, kc) -> ceil(nc/32) panels (layout as above); pair-rows past kc are zero. stg holds two
// rows of round_up(nc, 32) floats.
ET_AMX_TARGET inline bool amx_pack_wrows(const WeightRows& w, int64_t k0, int64_t kc, int64_t c0, int64_t nc,
                                         float* stg, uint16_t* dst) {
  const int64_t steps = ceil_div(kc, AMX_KSTEP);
  const int bp = w.bparts;
  const int64_t ncp = round_up(nc, 32);
  float* s0 = stg;
  float* s1 = stg + ncp;
  for (int64_t j = nc; j < ncp; ++j) s0[j] = s1[j] = 0.0f;
  const __m512i hi = _mm512_set1_epi32(int(0xFFFF0000u));
  __mmask16 bad = 0;
  for (int64_t kp = 0; kp < steps * 16; ++kp) {
    const int64_t k = 2 * kp;
    uint16_t* d = dst + (kp / 16) * bp * 1024 + (kp % 16) * 32;
    if (k >= kc) {
      for (int64_t g = 0; g < ncp / 16; ++g)
        for (int p = 0; p < bp; ++p) _mm512_storeu_si512(d + (g / 2) * steps * bp * 1024 + p * 1024 + (g % 2) * 512, _mm512_setzero_si512());
      continue;
    }
    w.fill(w.ctx, k0 + k, c0, nc, s0);
    if (k + 1 < kc)
      w.fill(w.ctx, k0 + k + 1, c0, nc, s1);
    else
      for (int64_t j = 0; j < nc; ++j) s1[j] = 0.0f;
    for (int64_t g = 0; g < ncp / 16; ++g) {
      const __m512 xe = _mm512_loadu_ps(s0 + 16 * g), xo = _mm512_loadu_ps(s1 + 16 * g);
      bad |= nonfinite16(xe) | nonfinite16(xo);
      __m512i pe[3], po[3];
      split_bf16(xe, 3, pe);
      split_bf16(xo, 3, po);
      uint16_t* dg = d + (g / 2) * steps * bp * 1024 + (g % 2) * 512;
      // a pair lane: the even row's bf16 in the low half, the odd row's in the high half
      for (int p = 0; p < bp; ++p)
        _mm512_storeu_si512(dg + p * 1024, _mm512_or_si512(_mm512_and_si512(po[p], hi), _mm512_srli_epi32(pe[p], 16)));
    }
  }
  return bad == 0;
}

// True when A[0:M, 0:K] (unit column stride) holds an Inf or NaN.
ET_AMX_TARGET inline bool f32_any_nonfinite(int64_t M, int64_t K, const float* a, int64_t lda) {
  __mmask16 hit = 0;
  for (int64_t i = 0; i < M; ++i) {
    const float* r = a + i * lda;
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) hit |= nonfinite16(_mm512_loadu_ps(r + k));
    if (k < K) hit |= nonfinite16(_mm512_maskz_loadu_ps(__mmask16((1u << (K - k)) - 1), r + k));
    if (hit) return true;
  }
  return false;
}

thread_local AlignedBuf tl_wrows_stg;

// Rows [m0, m1) x columns [n0, n1) of C (beta 0). mode 0: K = w.cols, C columns = weight rows;
// mode 1: K = w.rows, C columns = weight columns (n0 a multiple of w.align). False when scratch
// cannot be allocated or a weight value is not finite (C partly written).
ET_AMX_TARGET inline bool amx_rect_wrows(int mode, const float* a, int64_t lda, const WeightRows& w,
                                         const WrowsProducts& pr, float* c, int64_t ldc, int64_t m0, int64_t m1,
                                         int64_t n0, int64_t n1) {
  const int64_t M = m1 - m0, N = n1 - n0, K = mode == 0 ? w.cols : w.rows;
  if (M <= 0 || N <= 0) return true;
  const int bp = w.bparts;
  // mode 0: K blocks are whole weight blocks (w.align, a multiple of 32 there as K is)
  const int64_t kal = mode == 0 ? std::max<int64_t>(AMX_KSTEP, w.align) : AMX_KSTEP;
  const int64_t kblocks = ceil_div(K, ET_AMX_WROWS_KC);
  const int64_t KC = round_up(ceil_div(K, kblocks), kal);
  const int64_t steps_max = KC / AMX_KSTEP;
  const int64_t MC = std::min(round_up(M, 32), AMX_MC);
  // mode 1: column blocks are whole weight blocks
  const int64_t nal = mode == 1 ? std::max<int64_t>(32, w.align) : 32;
  const int64_t nblocks = ceil_div(N, ET_AMX_WROWS_NC);
  const int64_t NC = std::min(round_up(N, 32), round_up(ceil_div(N, nblocks), nal));
  uint16_t* apack = reinterpret_cast<uint16_t*>(tl_amx_a.get(size_t(MC / 32 * steps_max * 3 * 1024 / 2)));
  uint16_t* bpack = reinterpret_cast<uint16_t*>(tl_amx_b.get(size_t(round_up(NC, 32) / 32 * steps_max * bp * 1024 / 2)));
  float* stg = tl_wrows_stg.get(size_t(mode == 0 ? 16 * KC : 2 * round_up(NC, 32)));
  if (!apack || !bpack || !stg) return false;
  amx_begin();
  alignas(64) float t[32 * 32];
  bool ok = true;
  for (int64_t jc = 0; jc < N && ok; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K && ok; pc += KC) {
      const int64_t kc = std::min(KC, K - pc), steps = ceil_div(kc, AMX_KSTEP);
      const float beta = pc == 0 ? 0.0f : 1.0f;
      ok = mode == 0 ? amx_pack_wrows_t(w, n0 + jc, nc, pc, kc, stg, bpack)
                     : amx_pack_wrows(w, pc, kc, n0 + jc, nc, stg, bpack);
      if (!ok) break;
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        amx_pack_a(mc, kc, a + (m0 + ic) * lda + pc, lda, 1, 3, apack);
        for (int64_t jr = 0; jr < nc; jr += 32) {
          const int64_t nr = std::min<int64_t>(32, nc - jr);
          const uint16_t* bpj = bpack + jr / 32 * steps * bp * 1024;
          for (int64_t ir = 0; ir < mc; ir += 32) {
            const int64_t mr = std::min<int64_t>(32, mc - ir);
            amx_block_wrows(steps, bp, pr, apack + ir / 32 * steps * 3 * 1024, bpj, t);
            merge_tile(t, c + (m0 + ic + ir) * ldc + n0 + jc + jr, ldc, mr, nr, 1.0f, beta);
          }
        }
      }
    }
  }
  amx_end();
  return ok;
}

// The whole product over `threads` threads (gemm.h gemm_f32_amx_wrows).
inline bool amx_gemm_wrows(int mode, int64_t M, const float* a, int64_t lda, const WeightRows& w, float* c,
                           int64_t ldc, int threads, bool all_products) {
  const int64_t N = mode == 0 ? w.rows : w.cols, K = mode == 0 ? w.cols : w.rows;
  if (M < 16 || N < 16 || K < 32 || w.bparts < 1 || w.bparts > 3 || !amx_usable()) return false;
  if (mode == 0 && (K % AMX_KSTEP != 0 || w.align % AMX_KSTEP != 0)) return false;
  if (f32_any_nonfinite(M, K, a, lda)) return false;
  const WrowsProducts pr = wrows_products(w.bparts, all_products);
  threads = std::max(1, std::min(threads, threadpool_size()));
  // Disjoint rectangles of C, split along the dimension with more units (as gemm_any); mode 1
  // column units are whole weight blocks.
  const int64_t MU = 32, NU = mode == 1 ? std::max<int64_t>(32, w.align) : 32;
  const int64_t mt = ceil_div(M, MU), ntl = ceil_div(N, NU);
  const bool split_n = ntl >= mt;
  const int64_t units = split_n ? ntl : mt;
  const int nt = int(std::min<int64_t>(threads, units));
  std::atomic<bool> ok{true};
  auto body = [&](int t, int T) {
    const int64_t u0 = units * t / T, u1 = units * (t + 1) / T;
    const int64_t m0 = split_n ? 0 : std::min(M, u0 * MU), m1 = split_n ? M : std::min(M, u1 * MU);
    const int64_t n0 = split_n ? std::min(N, u0 * NU) : 0, n1 = split_n ? std::min(N, u1 * NU) : N;
    if (!amx_rect_wrows(mode, a, lda, w, pr, c, ldc, m0, m1, n0, n1)) ok = false;
  };
  if (nt <= 1)
    body(0, 1);
  else
    parallel_run(nt, body);
  return ok;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

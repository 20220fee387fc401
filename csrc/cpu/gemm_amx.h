// bf16-B GEMM on AMX tiles (TDPBF16PS), part of gemm.cpp's AVX-512 copy (included there inside
// namespace et::ET_ISA::<anon>). Used only where the tier allows AVX512_BF16
// (cpu_features().avx512_bf16) and the CPU has AMX-TILE + AMX-BF16 with the kernel's permission
// for tile data (arch_prctl); otherwise gemm_any keeps the f32 path.
//
// Why AMX and not AVX512_BF16's vdpbf16ps: on the Sapphire Rapids machine this was tuned on,
// vdpbf16ps zmm retires one every 2 cycles (16 MACs/cycle), half the rate of f32 zmm FMAs, so a
// vdpbf16ps kernel would make a bf16 weight slower than f32. TDPBF16PS does 16x16x32 MACs per
// instruction (about 16 cycles each).
//
// Precision: B is bf16 already (exact). A is split into `pieces` bf16 parts:
//   pieces = 3: a = a1 + a2 + a3 exactly (each part the next 8 significant bits, truncated), so
//     the product is an f32-accumulated product of the exact operands, like the f32 path (the
//     default, gemm_f32_bf16b);
//   pieces = 1: a rounded to bf16 (nearest even), PyTorch's bf16 matmul behaviour: relative error
//     up to 2^-9 per A element (gemm_f32_bf16b_round_a).
// Tiles treat bf16 subnormals as zero and flush f32 subnormal results (A or B below 2^-126 in
// magnitude, or parts of A below about 2^-110, contribute nothing). Inf and NaN propagate.
#pragma once
// (gemm.cpp includes <cpuid.h>, <sys/syscall.h>, <unistd.h> and cpuid.h for this file.)

// GCC 12 warns about the _mm512_undefined_* placeholders inside its own shuffle intrinsics when
// they are inlined into target-attribute functions (a false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define ET_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw")))

// Blocking: a 32 x 32 C block is the 2 x 2 tiles tmm0-3; tmm4-5 hold two 16-row A tiles, tmm6-7
// two 16-column B tiles. One k step is 32 k (16 bf16 pairs).
constexpr int64_t AMX_KSTEP = 32;
// KC = 1024 (B panel 32 x 1024 bf16 = 64 KiB, from L1/L2) and MC = 128 (A block 128 x 1024 x
// pieces x 2 B = 768 KiB at 3 pieces, in L2) measured best of KC 256-2048 x MC 64-512: a 32 x 32
// block's tile products are short, so fewer C merges (larger KC) pay, and a smaller A block
// leaves L2 room for the streamed B panels (MC 512 was 20% slower at N = 5632).
#ifndef ET_AMX_KC
#define ET_AMX_KC 1024
#endif
#ifndef ET_AMX_MC
#define ET_AMX_MC 128
#endif
constexpr int64_t AMX_KC = ET_AMX_KC;
constexpr int64_t AMX_MC = ET_AMX_MC;

// Process-wide: CPU has AMX-TILE/AMX-BF16, the OS enabled tile state, and this process was
// granted tile data (Linux 5.16+: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)).
inline bool amx_available() {
  static bool ok = [] {
#if defined(__linux__)
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, nullptr) < 7) return false;
    __cpuid_count(7, 0, a, b, c, d);
    if (!((d >> 22) & 1) || !((d >> 24) & 1)) return false;  // AMX-BF16, AMX-TILE
    __cpuid(1, a, b, c, d);
    if (!((c >> 27) & 1)) return false;  // OSXSAVE
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) return false;  // XTILECFG, XTILEDATA
    constexpr long ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return false;
#endif
  }();
  return ok;
}

inline bool amx_usable() { return cpu_features().avx512_bf16 && amx_available(); }

struct alignas(64) AmxConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Every tile used is 16 rows x 64 bytes. GCC 12 does not treat _tile_loadconfig as reading its
// operand, and where this is not inlined it dropped the colsb / rows stores (every tile 0 x 0:
// the first tile instruction faults); the empty asm reads cfg.
ET_AMX_TARGET inline void amx_begin() {
  AmxConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  __asm__ volatile("" : : "m"(cfg) : "memory");
  _tile_loadconfig(&cfg);
}
ET_AMX_TARGET inline void amx_end() { _tile_release(); }

// t[32 x 32] (row-major, 32 floats a row) = A panel . B panel over `steps` k steps. A panel: per
// step, per piece, 32 rows x 32 bf16 (two 1 KiB tiles); B panel: per step two 16 x 16-pair tiles.
ET_AMX_TARGET inline void amx_block(int64_t steps, int pieces, const uint16_t* ap, const uint16_t* bp, float* t) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t s = 0; s < steps; ++s) {
    _tile_loadd(6, bp, 64);
    _tile_loadd(7, bp + 512, 64);
    bp += 1024;
    for (int p = 0; p < pieces; ++p) {
      _tile_loadd(4, ap, 64);
      _tile_loadd(5, ap + 512, 64);
      ap += 1024;
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, t, 128);
  _tile_stored(1, t + 16, 128);
  _tile_stored(2, t + 16 * 32, 128);
  _tile_stored(3, t + 16 * 32 + 16, 128);
}

// 16 floats -> their bf16 parts (high halves of the returned vectors' 32-bit lanes).
// pieces == 1: nearest even (NaN kept quiet). pieces == 3: truncated parts with a = p0 + p1 + p2
// exactly; Inf / NaN go whole into p0 (NaN forced quiet so truncation cannot make it Inf).
ET_AMX_TARGET inline void split_bf16(__m512 x, int pieces, __m512i* p) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i hi_mask = _mm512_set1_epi32(int(0xFFFF0000u));
  const __mmask16 nonfinite =
      _mm512_cmpeq_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7F800000)), _mm512_set1_epi32(0x7F800000));
  const __mmask16 nan = _mm512_mask_cmpneq_epi32_mask(
      nonfinite, _mm512_and_si512(u, _mm512_set1_epi32(0x007FFFFF)), _mm512_setzero_si512());
  if (pieces == 1) {
    const __m512i lsb = _mm512_and_si512(_mm512_maskz_srli_epi32(__mmask16(0xFFFF), u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), lsb));
    r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x00400000));
    p[0] = r;
    return;
  }
  __m512i h = _mm512_and_si512(u, hi_mask);
  h = _mm512_mask_or_epi32(h, nan, h, _mm512_set1_epi32(0x00400000));
  const __m512 r = _mm512_sub_ps(x, _mm512_castsi512_ps(h));  // exact
  const __m512i m = _mm512_and_si512(_mm512_castps_si512(r), hi_mask);
  const __m512 l = _mm512_sub_ps(r, _mm512_castsi512_ps(m));  // exact, fits bf16
  p[0] = h;
  p[1] = _mm512_maskz_mov_epi32(~nonfinite, m);
  p[2] = _mm512_maskz_mov_epi32(~nonfinite, _mm512_castps_si512(l));
}

// High halves of two 16-lane vectors -> 32 bf16 (lo's lanes first).
ET_AMX_TARGET inline __m512i pack_hi16(__m512i lo, __m512i hi) {
  const __m512i idx = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27, 25,
                                       23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  return _mm512_permutex2var_epi16(lo, idx, hi);
}

// 16 x 16 transpose of 32-bit lanes: r[i] lane j -> r[j] lane i.
ET_AMX_TARGET inline void transpose16_epi32(__m512i* r) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // u[4i + q], 128-bit lane L: lines 4i..4i+3 of lane 4L + q.
  for (int q = 0; q < 4; ++q) {
    const __m512i w0 = _mm512_shuffle_i32x4(u[q], u[4 + q], 0x88), w1 = _mm512_shuffle_i32x4(u[q], u[4 + q], 0xDD);
    const __m512i x0 = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0x88),
                  x1 = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0xDD);
    r[q] = _mm512_shuffle_i32x4(w0, x0, 0x88);
    r[8 + q] = _mm512_shuffle_i32x4(w0, x0, 0xDD);
    r[4 + q] = _mm512_shuffle_i32x4(w1, x1, 0x88);
    r[12 + q] = _mm512_shuffle_i32x4(w1, x1, 0xDD);
  }
}

// A block (mc x kc, element (i,k) at a[i*rsa + k*csa]) -> ceil(mc/32) panels; panel layout per
// k step, per piece: 32 rows x 32 bf16. Rows past mc and k past kc are zero.
ET_AMX_TARGET inline void amx_pack_a(int64_t mc, int64_t kc, const float* a, int64_t rsa, int64_t csa, int pieces,
                                     uint16_t* dst) {
  const int64_t steps = ceil_div(kc, AMX_KSTEP);
  alignas(64) float row[32];
  alignas(64) float blk[32 * 32];
  for (int64_t i0 = 0; i0 < mc; i0 += 32) {
    uint16_t* pd = dst + i0 / 32 * steps * pieces * 1024;
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t k0 = s * AMX_KSTEP, kn = std::min<int64_t>(AMX_KSTEP, kc - k0);
      const __mmask16 m0 = kn >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << kn) - 1);
      const __mmask16 m1 = kn >= 32 ? __mmask16(0xFFFF) : kn <= 16 ? __mmask16(0) : __mmask16((1u << (kn - 16)) - 1);
      uint16_t* sd = pd + s * pieces * 1024;
      const bool at = rsa == 1 && csa != 1;
      if (at) {
        // A transposed in memory (column i contiguous): four 16 x 16 transposes into blk, row-major
        // 32 rows x 32 k.
        for (int64_t ib = 0; ib < 2; ++ib) {
          const int64_t in = std::max<int64_t>(0, std::min<int64_t>(16, mc - i0 - 16 * ib));
          const __mmask16 im = in >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << in) - 1);
          for (int64_t kb = 0; kb < 2; ++kb) {
            __m512i r[16];
            for (int64_t l = 0; l < 16; ++l) {
              const int64_t k = 16 * kb + l;
              r[l] = k < kn && in > 0
                         ? _mm512_castps_si512(_mm512_maskz_loadu_ps(im, a + (i0 + 16 * ib) + (k0 + k) * csa))
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
        } else if (i0 + i < mc) {
          const float* src = a + (i0 + i) * rsa + k0 * csa;
          if (csa == 1) {
            x0 = _mm512_maskz_loadu_ps(m0, src);
            x1 = _mm512_maskz_loadu_ps(m1, src + 16);
          } else {
            for (int64_t k = 0; k < 32; ++k) row[k] = k < kn ? src[k * csa] : 0.0f;
            x0 = _mm512_load_ps(row);
            x1 = _mm512_load_ps(row + 16);
          }
        }
        __m512i p0[3], p1[3];
        split_bf16(x0, pieces, p0);
        split_bf16(x1, pieces, p1);
        for (int p = 0; p < pieces; ++p) _mm512_storeu_si512(sd + p * 1024 + i * 32, pack_hi16(p0[p], p1[p]));
      }
    }
  }
}

// B transposed in memory (column j contiguous in k, e.g. a Linear weight [N, K]): a column's 16
// pairs of one k step are 64 contiguous bytes, so each 16-column tile is a 16 x 16 transpose of
// 32-bit pairs.
ET_AMX_TARGET inline void amx_pack_bt(int64_t kc, int64_t nc, const uint16_t* bb, int64_t csb, uint16_t* dst) {
  const int64_t steps = ceil_div(kc, AMX_KSTEP);
  for (int64_t j0 = 0; j0 < round_up(nc, 32); j0 += 16) {  // zero tiles past nc too
    const int64_t jn = std::max<int64_t>(0, std::min<int64_t>(16, nc - j0));
    uint16_t* pd = dst + j0 / 32 * steps * 1024 + (j0 % 32 ? 512 : 0);
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t k0 = s * AMX_KSTEP, kn = std::min<int64_t>(AMX_KSTEP, kc - k0);
      const __mmask32 km = kn >= 32 ? __mmask32(0xFFFFFFFFu) : __mmask32((1u << kn) - 1);
      __m512i r[16];
      for (int64_t j = 0; j < 16; ++j)
        r[j] = j < jn ? _mm512_maskz_loadu_epi16(km, bb + (j0 + j) * csb + k0) : _mm512_setzero_si512();
      transpose16_epi32(r);
      uint16_t* d = pd + s * 1024;
      for (int i = 0; i < 16; ++i) _mm512_storeu_si512(d + i * 32, r[i]);
    }
  }
}

// B block (kc x nc bf16, element (k,j) at b[k*rsb + j*csb]) -> ceil(nc/32) panels; panel layout
// per k step: two tiles (columns 0-15, 16-31) of 16 pair-rows x 16 columns x (k even, k odd).
ET_AMX_TARGET inline void amx_pack_b(int64_t kc, int64_t nc, const bf16_t* b, int64_t rsb, int64_t csb,
                                     uint16_t* dst) {
  const int64_t steps = ceil_div(kc, AMX_KSTEP);
  const uint16_t* bb = reinterpret_cast<const uint16_t*>(b);
  // Interleave two rows of 32 bf16: out0 = columns 0-15 as (even k, odd k) pairs, out1 = 16-31.
  const __m512i i0 = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37, 5,
                                      36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  const __m512i i1 = _mm512_set_epi16(63, 31, 62, 30, 61, 29, 60, 28, 59, 27, 58, 26, 57, 25, 56, 24, 55, 23, 54, 22,
                                      53, 21, 52, 20, 51, 19, 50, 18, 49, 17, 48, 16);
  if (rsb == 1 && csb != 1) {
    amx_pack_bt(kc, nc, bb, csb, dst);
    return;
  }
  for (int64_t j0 = 0; j0 < nc; j0 += 32) {
    const int64_t jn = std::min<int64_t>(32, nc - j0);
    uint16_t* pd = dst + j0 / 32 * steps * 1024;
    const __mmask32 jm = jn >= 32 ? __mmask32(0xFFFFFFFFu) : __mmask32((1u << jn) - 1);
    for (int64_t kp = 0; kp < steps * 16; ++kp) {
      const int64_t k = 2 * kp;
      uint16_t* d = pd + (kp / 16) * 1024 + (kp % 16) * 32;
      if (csb == 1) {
        const __m512i r0 = k < kc ? _mm512_maskz_loadu_epi16(jm, bb + k * rsb + j0) : _mm512_setzero_si512();
        const __m512i r1 = k + 1 < kc ? _mm512_maskz_loadu_epi16(jm, bb + (k + 1) * rsb + j0) : _mm512_setzero_si512();
        _mm512_storeu_si512(d, _mm512_permutex2var_epi16(r0, i0, r1));
        _mm512_storeu_si512(d + 512, _mm512_permutex2var_epi16(r0, i1, r1));
      } else {
        for (int64_t j = 0; j < 32; ++j) {
          uint16_t* o = d + (j / 16) * 512 + (j % 16) * 2;
          const bool in = j < jn;
          o[0] = in && k < kc ? bb[k * rsb + (j0 + j) * csb] : uint16_t(0);
          o[1] = in && k + 1 < kc ? bb[(k + 1) * rsb + (j0 + j) * csb] : uint16_t(0);
        }
      }
    }
  }
}

// True when B[0:K, 0:N] holds an Inf or NaN. The three-part split of A needs finite B: a part that
// is zero (a = 1.0 has two) times an infinite b would add NaN where a * b is +-Inf.
ET_AMX_TARGET inline bool bf16_any_nonfinite(int64_t K, int64_t N, const bf16_t* b, int64_t rsb, int64_t csb) {
  const uint16_t* bb = reinterpret_cast<const uint16_t*>(b);
  // Lines contiguous in memory: rows of B when csb == 1, columns when rsb == 1.
  int64_t lines = K, len = N, ls = rsb, es = csb;
  if (csb != 1 && rsb == 1) {
    lines = N;
    len = K;
    ls = csb;
    es = rsb;
  }
  const __m512i em = _mm512_set1_epi16(0x7F80);
  for (int64_t l = 0; l < lines; ++l) {
    const uint16_t* s = bb + l * ls;
    if (es == 1) {
      __mmask32 hit = 0;
      int64_t i = 0;
      for (; i + 32 <= len; i += 32)
        hit |= _mm512_cmpeq_epi16_mask(_mm512_and_si512(_mm512_loadu_si512(s + i), em), em);
      if (i < len) {
        const __mmask32 m = __mmask32((1u << (len - i)) - 1);
        hit |= _mm512_mask_cmpeq_epi16_mask(m, _mm512_and_si512(_mm512_maskz_loadu_epi16(m, s + i), em), em);
      }
      if (hit) return true;
    } else {
      for (int64_t i = 0; i < len; ++i)
        if ((s[i * es] & 0x7F80) == 0x7F80) return true;
    }
  }
  return false;
}

thread_local AlignedBuf tl_amx_a;
thread_local AlignedBuf tl_amx_b;

// Rows [m0, m1) x columns [n0, n1) of C on AMX. Returns false, C untouched, when scratch cannot be
// allocated or (three-part A) B has an Inf or NaN in these columns.
ET_AMX_TARGET inline bool amx_rect(const Problem<bf16_t>& p, int pieces, int64_t m0, int64_t m1, int64_t n0,
                                   int64_t n1) {
  const int64_t M = m1 - m0, N = n1 - n0, K = p.K;
  if (M <= 0 || N <= 0) return true;
  // Decided before C is touched, so the caller's f32 path can take the whole rectangle instead.
  if (pieces > 1 && bf16_any_nonfinite(K, N, p.b + n0 * p.csb, p.rsb, p.csb)) return false;
  const int64_t kblocks = ceil_div(K, AMX_KC);
  const int64_t KC = round_up(ceil_div(K, kblocks), AMX_KSTEP);
  const int64_t steps_max = KC / AMX_KSTEP;
  const int64_t MC = std::min(round_up(M, 32), AMX_MC);
  const int64_t NCp = round_up(N, 32);
  // Packed sizes in uint16 (AlignedBuf counts floats: two bf16 each).
  uint16_t* apack = reinterpret_cast<uint16_t*>(tl_amx_a.get(size_t(MC / 32 * steps_max * pieces * 1024 / 2)));
  uint16_t* bpack = reinterpret_cast<uint16_t*>(tl_amx_b.get(size_t(NCp / 32 * steps_max * 1024 / 2)));
  if (!apack || !bpack) return false;
  amx_begin();
  alignas(64) float t[32 * 32];
  for (int64_t pc = 0; pc < K; pc += KC) {
    const int64_t kc = std::min(KC, K - pc), steps = ceil_div(kc, AMX_KSTEP);
    const float beta = pc == 0 ? p.beta : 1.0f;
    amx_pack_b(kc, N, p.b + pc * p.rsb + n0 * p.csb, p.rsb, p.csb, bpack);
    for (int64_t ic = 0; ic < M; ic += MC) {
      const int64_t mc = std::min(MC, M - ic);
      amx_pack_a(mc, kc, p.a + (m0 + ic) * p.rsa + pc * p.csa, p.rsa, p.csa, pieces, apack);
      for (int64_t jr = 0; jr < N; jr += 32) {
        const int64_t nr = std::min<int64_t>(32, N - jr);
        const uint16_t* bp = bpack + jr / 32 * steps * 1024;
        for (int64_t ir = 0; ir < mc; ir += 32) {
          const int64_t mr = std::min<int64_t>(32, mc - ir);
          amx_block(steps, pieces, apack + ir / 32 * steps * pieces * 1024, bp, t);
          merge_tile(t, p.c + (m0 + ic + ir) * p.ldc + n0 + jr, p.ldc, mr, nr, p.alpha, beta);
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

// Standalone check and benchmark for gemm_f32 (scripts/gemm-check.sh builds it per ISA).
//   gemm_test           correctness sweep against a double-precision reference; exit 1 on mismatch
//   gemm_test --bench   GFLOP/s (median of runs) for square and LLM-sized shapes, 1 and 2 threads
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <vector>

#include "cpu/gemm.h"
#include "dtype.h"
#include "threadpool.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace {

#define STR2(x) #x
#define STR(x) STR2(x)

struct Case {
  int64_t M, N, K;
  bool ta, tb;  // operand stored transposed (K x M / N x K in memory)
  int64_t pad_a, pad_b, pad_c;  // extra leading-dimension slack
  float alpha, beta;
  int threads;
  bool gen_strides;  // neither stride of A / B is 1
};

// Element type B goes in as. F16 / BF16: values are rounded to that type first, so the float64
// reference sees the same B.
// B_BF16_RA: bf16 B through gemm_f32_bf16b_round_a (A rounded to bf16 too, where AMX runs it),
// checked against the unrounded float64 reference at bf16 tolerance.
enum BType { B_F32, B_F16, B_BF16, B_BF16_RA };
const char* btype_tag(BType bt) {
  return bt == B_F16 ? " (f16 B)" : bt == B_BF16 ? " (bf16 B)" : bt == B_BF16_RA ? " (bf16 B, A rounded)" : "";
}

// Largest err / sum|alpha products| + |beta c| seen over f32-B cases (printed: compare with
// EDGETRAIN_F32_AMX=0 for the AVX-512 FMA path).
double g_max_rel_f32 = 0.0, g_max_rel_range = 0.0;

// Runs one case; returns false (and prints) on mismatch. range > 0: elements of A and B are
// U(-1, 1) * 2^e, e uniform in [-range, range] (f32 B only), checked against the f64 reference
// relative to the sum of |products| without the absolute floor.
bool run_case(const Case& t, std::mt19937& rng, BType bt, int range = 0) {
  std::uniform_real_distribution<float> U(-1.0f, 1.0f);
  std::uniform_int_distribution<int> E(-range, range);
  const int64_t M = t.M, N = t.N, K = t.K;
  int64_t rsa, csa, rsb, csb;
  size_t asz, bsz;
  if (t.gen_strides) {
    // Element (i,k) at i*rsa + k*csa with both strides > 1 (e.g. a strided view).
    csa = 2;
    rsa = 2 * K + 3 + t.pad_a;
    csb = 3;
    rsb = 3 * N + 1 + t.pad_b;
    asz = size_t(std::max<int64_t>(1, M * rsa));
    bsz = size_t(std::max<int64_t>(1, K * rsb));
  } else {
    if (!t.ta) {
      rsa = K + t.pad_a;
      csa = 1;
      asz = size_t(std::max<int64_t>(1, M * rsa));
    } else {
      csa = M + t.pad_a;
      rsa = 1;
      asz = size_t(std::max<int64_t>(1, K * csa));
    }
    if (!t.tb) {
      rsb = N + t.pad_b;
      csb = 1;
      bsz = size_t(std::max<int64_t>(1, K * rsb));
    } else {
      csb = K + t.pad_b;
      rsb = 1;
      bsz = size_t(std::max<int64_t>(1, N * csb));
    }
  }
  const int64_t ldc = N + t.pad_c;
  std::vector<float> A(asz), B(bsz), C(size_t(std::max<int64_t>(1, M * ldc))), C0;
  for (auto& x : A) x = range ? std::ldexp(U(rng), E(rng)) : U(rng);
  for (auto& x : B) x = range ? std::ldexp(U(rng), E(rng)) : U(rng);
  std::vector<uint16_t> Bh(B.size());
  if (bt == B_F16)
    for (size_t i = 0; i < B.size(); ++i) {
      Bh[i] = et::f32_to_f16(B[i]);
      B[i] = et::f16_to_f32(Bh[i]);
    }
  std::vector<et::bf16_t> Bb(B.size());
  if (bt == B_BF16 || bt == B_BF16_RA)
    for (size_t i = 0; i < B.size(); ++i) {
      Bb[i].bits = et::f32_to_bf16(B[i]);
      B[i] = et::bf16_to_f32(Bb[i].bits);
    }
  for (auto& x : C) x = U(rng);
  if (t.beta == 0.0f) {
    // C must not be read: fill with NaN so any read poisons the result.
    for (auto& x : C) x = std::nanf("");
  }
  C0 = C;
  if (bt == B_F16)
    et::ET_ISA::gemm_f32_f16b(M, N, K, t.alpha, A.data(), rsa, csa, Bh.data(), rsb, csb, t.beta, C.data(), ldc,
                              t.threads);
  else if (bt == B_BF16_RA)
    et::ET_ISA::gemm_f32_bf16b_round_a(M, N, K, t.alpha, A.data(), rsa, csa, Bb.data(), rsb, csb, t.beta, C.data(),
                                       ldc, t.threads);
  else if (bt == B_BF16)
    et::ET_ISA::gemm_f32_bf16b(M, N, K, t.alpha, A.data(), rsa, csa, Bb.data(), rsb, csb, t.beta, C.data(), ldc,
                               t.threads);
  else
    et::ET_ISA::gemm_f32(M, N, K, t.alpha, A.data(), rsa, csa, B.data(), rsb, csb, t.beta, C.data(), ldc,
                         t.threads);
  // bf16-rounded A: each |a - bf16(a)| <= 2^-9 |a|, so the error is bounded by 2^-9 of the sum of
  // |products| plus f32 summation error; 2^-8 leaves room for the latter.
  const double tol = bt == B_BF16_RA ? std::ldexp(1.0, -8) : 1e-4 * std::sqrt(double(std::max<int64_t>(K, 1))) + 1e-6;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = C[size_t(i * ldc + j)];
      if (j >= N) {
        // Padding columns must be untouched (NaN compares via memcmp).
        if (std::memcmp(&got, &C0[size_t(i * ldc + j)], sizeof(float)) != 0) {
          std::printf("FAIL pad written M=%lld N=%lld K=%lld at (%lld,%lld)\n", (long long)M, (long long)N,
                      (long long)K, (long long)i, (long long)j);
          return false;
        }
        continue;
      }
      double s = 0.0, mag = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double p = double(A[size_t(i * rsa + k * csa)]) * double(B[size_t(k * rsb + j * csb)]);
        s += p;
        mag += std::fabs(p);
      }
      double ref = double(t.alpha) * s;
      double scale = std::fabs(double(t.alpha)) * mag;
      if (t.beta != 0.0f) {
        ref += double(t.beta) * double(C0[size_t(i * ldc + j)]);
        scale += std::fabs(double(t.beta) * double(C0[size_t(i * ldc + j)]));
      }
      const double err = std::fabs(double(got) - ref);
      if (bt == B_F32 && scale > 0.0) {
        g_max_rel_f32 = std::max(g_max_rel_f32, err / scale);
        if (range) g_max_rel_range = std::max(g_max_rel_range, err / scale);
      }
      // Wide-range cases also hold a bound near f32 rounding (2^-18 of the terms' magnitude; every
      // tier measured below 2^-20): a lost part product (the AMX split's a2 b1 is about 2^-9 of a
      // term) fails it, where the general tolerance above is too loose to notice.
      const double bound = range ? std::min(tol, std::ldexp(1.0, -18)) * scale : tol * std::max(1.0, scale);
      if (!(err <= bound)) {
        std::printf(
            "FAIL%s%s M=%lld N=%lld K=%lld ta=%d tb=%d gen=%d alpha=%g beta=%g threads=%d at (%lld,%lld): got %g "
            "want %g\n",
            btype_tag(bt), range ? " (wide range)" : "", (long long)M, (long long)N, (long long)K, int(t.ta), int(t.tb), int(t.gen_strides), double(t.alpha),
            double(t.beta), t.threads, (long long)i, (long long)j, double(got), ref);
        return false;
      }
    }
  }
  return true;
}

// Inf and NaN through bf16 B (the AMX path splits A into parts; a zero part times an infinite b
// must not turn +-Inf into NaN): NaN where the float64 reference is NaN, the same Inf where it is
// infinite, finite and close elsewhere. Large enough for the AMX path (M, N >= 16, K >= 32).
bool run_nonfinite(bool round_a, bool tb) {
  const int64_t M = 40, N = 36, K = 64;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> U(-1.0f, 1.0f);
  std::vector<float> A(size_t(M * K)), B(size_t(K * N));
  for (auto& x : A) x = U(rng);
  for (auto& x : B) x = et::bf16_to_f32(et::f32_to_bf16(U(rng)));
  const float inf = INFINITY;
  B[3 * N + 5] = inf;    // column 5 infinite except where an A row meets it with 0 / NaN / Inf
  B[10 * N + 8] = std::nanf("");
  A[2 * K + 7] = inf;    // row 2 infinite (or NaN where it meets b = 0 / -inf)
  A[4 * K + 3] = std::nanf("");
  A[6 * K + 3] = 1.0f;   // exact in bf16: its other parts are zero
  A[8 * K + 3] = 0.0f;   // 0 * inf = NaN
  B[7 * N + 9] = 0.0f;   // A(2, 7) = inf times 0: NaN in (2, 9)
  const int64_t rsb = tb ? 1 : N, csb = tb ? K : 1;
  std::vector<et::bf16_t> Bb(size_t(K * N));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < N; ++j) Bb[size_t(k * rsb + j * csb)].bits = et::f32_to_bf16(B[size_t(k * N + j)]);
  std::vector<float> C(size_t(M * N), 0.0f);
  if (round_a)
    et::ET_ISA::gemm_f32_bf16b_round_a(M, N, K, 1.0f, A.data(), K, 1, Bb.data(), rsb, csb, 0.0f, C.data(), N, 1);
  else
    et::ET_ISA::gemm_f32_bf16b(M, N, K, 1.0f, A.data(), K, 1, Bb.data(), rsb, csb, 0.0f, C.data(), N, 1);
  const double tol = round_a ? std::ldexp(1.0, -8) : 1e-4 * std::sqrt(double(K));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0.0, mag = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double pr = double(A[size_t(i * K + k)]) * double(B[size_t(k * N + j)]);
        s += pr;
        mag += std::fabs(pr);
      }
      const double got = C[size_t(i * N + j)];
      const bool ok = std::isnan(s) ? std::isnan(got) : std::isinf(s) ? got == s : std::fabs(got - s) <= tol * std::max(1.0, mag);
      if (!ok) {
        std::printf("FAIL non-finite bf16 B%s%s at (%lld,%lld): got %g want %g\n", round_a ? " (A rounded)" : "",
                    tb ? " Bt" : "", (long long)i, (long long)j, got, s);
        return false;
      }
    }
  return true;
}

// Inf and NaN through f32 A and B, sized for the f32 AMX path (gemm_amx_f32.h: its part split
// would turn a*Inf into NaN, so rectangles holding them must take the f32 path). beta == 0 and
// beta != 0 take different checks there (found while packing / scanned before C is written).
// late: only an Inf in the last row panel of A and a NaN in the last k block of B, met after C
// has been partly written (a check made only while packing would leave beta * C applied twice).
bool run_nonfinite_f32(bool ta, bool tb, float beta, int threads, bool late) {
  const int64_t M = 70, N = 68, K = 200;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> U(-1.0f, 1.0f);
  std::vector<float> A(size_t(M * K)), B(size_t(K * N)), C(size_t(M * N));
  for (auto& x : A) x = U(rng);
  for (auto& x : B) x = U(rng);
  for (auto& x : C) x = U(rng);
  const float inf = INFINITY;
  if (late) {
    A[65 * K + 190] = inf;
    B[197 * N + 66] = std::nanf("");
  } else {
    B[3 * N + 5] = inf;
    B[10 * N + 40] = std::nanf("");
    B[7 * N + 9] = 0.0f;
    A[2 * K + 7] = inf;   // row 2: Inf, NaN where it meets b = 0 (column 9) or the NaN
    A[4 * K + 3] = std::nanf("");
    A[6 * K + 3] = 1.0f;  // all low parts zero: 1 * Inf must stay Inf
    A[8 * K + 3] = 0.0f;  // 0 * Inf = NaN
    A[50 * K + 60] = -inf;
  }
  const int64_t rsa = ta ? 1 : K, csa = ta ? M : 1, rsb = tb ? 1 : N, csb = tb ? K : 1;
  std::vector<float> Am(A.size()), Bm(B.size());
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) Am[size_t(i * rsa + k * csa)] = A[size_t(i * K + k)];
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < N; ++j) Bm[size_t(k * rsb + j * csb)] = B[size_t(k * N + j)];
  const std::vector<float> C0 = C;
  et::ET_ISA::gemm_f32(M, N, K, 1.0f, Am.data(), rsa, csa, Bm.data(), rsb, csb, beta, C.data(), N, threads);
  const double tol = 1e-4 * std::sqrt(double(K));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0.0, mag = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double pr = double(A[size_t(i * K + k)]) * double(B[size_t(k * N + j)]);
        s += pr;
        mag += std::fabs(pr);
      }
      if (beta != 0.0f) {
        s += double(beta) * C0[size_t(i * N + j)];
        mag += std::fabs(double(beta) * C0[size_t(i * N + j)]);
      }
      const double got = C[size_t(i * N + j)];
      const bool ok = std::isnan(s) ? std::isnan(got) : std::isinf(s) ? got == s : std::fabs(got - s) <= tol * std::max(1.0, mag);
      if (!ok) {
        std::printf("FAIL non-finite f32%s ta=%d tb=%d beta=%g threads=%d at (%lld,%lld): got %g want %g\n",
                    late ? " (late)" : "", int(ta), int(tb), double(beta), threads, (long long)i, (long long)j, got, s);
        return false;
      }
    }
  return true;
}

int run_tests() {
  std::mt19937 rng(12345);
  int n = 0, fails = 0;
  auto go = [&](const Case& c) {
    for (BType bt : {B_F32, B_F16, B_BF16, B_BF16_RA}) {
      ++n;
      if (!run_case(c, rng, bt)) ++fails;
    }
  };
  const float alphas[] = {1.0f, -0.5f, 2.0f};
  const float betas[] = {0.0f, 1.0f, 0.75f};
  // Exhaustive small cube incl. 1 and odd sizes around the register tiles.
  const int64_t small[] = {1, 2, 3, 5, 6, 7, 8, 9, 12, 13, 16, 17, 23, 31, 33};
  int idx = 0;
  for (int64_t M : small)
    for (int64_t N : small)
      for (int64_t K : {int64_t(0), int64_t(1), int64_t(4), int64_t(17)}) {
        const int v = idx++;
        Case c{M, N, K, bool(v & 1), bool(v & 2), 0, 0, 0, alphas[v % 3], betas[(v / 3) % 3], 1 + (v & 4 ? 1 : 0),
               false};
        go(c);
      }
  // Random shapes 1..70 with every transpose combination, padding, alpha/beta, 1 and 2 threads.
  std::uniform_int_distribution<int> D(1, 70), P(0, 5);
  for (int r = 0; r < 400; ++r) {
    Case c{D(rng), D(rng), D(rng), bool(r & 1), bool(r & 2), P(rng), P(rng), P(rng), alphas[r % 3],
           betas[(r / 3) % 3], 1 + ((r >> 2) & 1), (r % 13) == 0};
    go(c);
  }
  // Larger shapes crossing the KC / MC / NC block edges, GEMV shapes and a zero alpha.
  const int64_t big[][3] = {{1, 1000, 700},   {1, 4099, 33},   {700, 1, 300},  {257, 263, 600},
                            {200, 300, 513},  {390, 4200, 40}, {1, 17, 2048}, {3, 5000, 129},
                            {24, 600, 300},   {25, 601, 301},  {13, 200, 1},   {500, 40, 260},
                            {4, 1, 9},        {1, 1, 5000},    {191, 193, 257},
                            {48, 40, 2100}};  // (several AMX k blocks, KC 1024)
  for (int r = 0; r < int(sizeof(big) / sizeof(big[0])); ++r)
    for (int tr = 0; tr < 4; ++tr)
      go(Case{big[r][0], big[r][1], big[r][2], bool(tr & 1), bool(tr & 2), 1, 2, 3, alphas[r % 3], betas[(r + tr) % 3],
              1 + (tr & 1), false});
  go(Case{64, 64, 64, false, false, 0, 0, 0, 0.0f, 0.5f, 2, false});
  go(Case{64, 64, 0, false, false, 0, 0, 0, 1.0f, 0.0f, 2, false});
  go(Case{40, 50, 60, false, false, 0, 0, 0, 1.0f, 0.5f, 2, true});
  go(Case{1, 50, 60, false, false, 0, 0, 0, 1.0f, 0.5f, 2, true});
  go(Case{50, 1, 60, false, false, 0, 0, 0, 1.0f, 0.0f, 2, true});
  for (int ra = 0; ra < 2; ++ra)
    for (int tb = 0; tb < 2; ++tb) {
      ++n;
      if (!run_nonfinite(ra != 0, tb != 0)) ++fails;
    }
  // f32 AMX path (gemm_amx_f32.h, M, N >= 32 and K >= 16): 32 x 32 blocks, k steps of 32 and k
  // blocks of 128, so sizes around those, every layout, general strides, alpha / beta (alpha 1
  // accumulates in C, others merge through a bounce tile), 1 and 2 threads, padding.
  const int64_t amx_mn[] = {32, 33, 47, 64, 95, 100, 161};
  const int64_t amx_k[] = {16, 17, 32, 33, 64, 65, 96, 100, 127, 128, 129, 200, 300, 513};
  int ai = 0;
  for (int64_t M : amx_mn)
    for (int64_t N : {int64_t(32), int64_t(63), int64_t(96), int64_t(130)})
      for (int64_t K : amx_k) {
        const int v = ai++;
        if (v % 3) continue;  // a third of the grid, spread by v
        Case c{M, N, K, bool(v & 1), bool(v & 2), v % 5 == 0 ? 3 : 0, v % 7 == 0 ? 2 : 0, v % 4 == 0 ? 5 : 0,
               alphas[(v / 3) % 3], betas[(v / 9) % 3], 1 + (v / 6) % 2, v % 11 == 0};
        ++n;
        if (!run_case(c, rng, B_F32)) ++fails;
      }
  for (int tr = 0; tr < 5; ++tr)
    for (float beta : {0.0f, 1.0f, 0.75f}) {
      Case c{96, 100, 300, bool(tr & 1), bool(tr & 2), 1, 2, 3, 1.0f, beta, 1 + (tr & 1), tr == 4};
      ++n;
      if (!run_case(c, rng, B_F32)) ++fails;
    }
  // Large dynamic range (2^-20 .. 2^20 per element): the low parts carry real bits.
  for (int tr = 0; tr < 4; ++tr)
    for (int64_t K : {int64_t(70), int64_t(256), int64_t(700)}) {
      Case c{64, 80, K, bool(tr & 1), bool(tr & 2), 0, 0, 0, 1.0f, tr == 3 ? 0.5f : 0.0f, 1 + (tr & 1), false};
      ++n;
      if (!run_case(c, rng, B_F32, 20)) ++fails;
    }
  for (int tr = 0; tr < 4; ++tr)
    for (float beta : {0.0f, 0.5f})
      for (int th = 1; th <= 2; ++th)
        for (bool late : {false, true}) {
          ++n;
          if (!run_nonfinite_f32(tr & 1, tr & 2, beta, th, late)) ++fails;
        }
  std::printf("f32 B: max |error| / sum |terms| vs float64 = %.3g (2^%.1f); wide-range cases %.3g (2^%.1f)\n",
              g_max_rel_f32, std::log2(std::max(g_max_rel_f32, 1e-300)), g_max_rel_range,
              std::log2(std::max(g_max_rel_range, 1e-300)));
  std::printf("gemm_test [%s]: %d cases, %d failures\n", STR(ET_ISA), n, fails);
  return fails ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Core clock from a dependent FMA chain (4-cycle latency on Zen 2-4 and Skylake-class cores).
double measure_ghz() {
#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
  __m256 x = _mm256_set1_ps(1.0f);
  const __m256 m = _mm256_set1_ps(0.999999f), ad = _mm256_set1_ps(1e-7f);
  const long n = 10000000;  // 20 short runs, best: some miss other load
  double best = 0;
  for (int r = 0; r < 20; ++r) {
    const double t0 = now();
    for (long i = 0; i < n; ++i) {
      x = _mm256_fmadd_ps(x, m, ad);
      __asm__ volatile("" : "+x"(x));
    }
    best = std::max(best, n * 4.0 / (now() - t0) / 1e9);
  }
  volatile float sink = _mm256_cvtss_f32(x);
  (void)sink;
  return best;
#else
  return 0.0;
#endif
}

// 64-byte aligned storage for the benchmark operands, as the CPU backend allocates tensors
// (posix_memalign 64): with C 16-byte aligned, the cache line of C rows that two threads' column
// ranges share made the 2-thread AMX f32 path 3x slower at 128 x 64 @ 64 x 128.
template <class T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <class U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(size_t n) {
    void* p = std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <class U>
  bool operator==(const Aligned64<U>&) const { return true; }
  template <class U>
  bool operator!=(const Aligned64<U>&) const { return false; }
};
template <class T>
using AVec = std::vector<T, Aligned64<T>>;

int run_bench(int argc, char** argv) {
  struct S {
    int64_t M, K, N;
    bool ta, tb;
  };
  std::vector<S> shapes;
  // Optional shape list: MxKxN with an optional "At" / "Bt" / "AtBt" suffix.
  for (int i = 0; i < argc; ++i) {
    long long m = 0, k = 0, n = 0;
    if (std::sscanf(argv[i], "%lldx%lldx%lld", &m, &k, &n) == 3)
      shapes.push_back({m, k, n, std::strstr(argv[i], "At") != nullptr, std::strstr(argv[i], "Bt") != nullptr});
  }
  if (shapes.empty()) {
  for (int64_t n : {256, 384, 512, 768, 1024, 1536, 2048}) shapes.push_back({n, n, n, false, false});
  shapes.push_back({512, 2048, 2048, false, false});
  shapes.push_back({512, 2048, 5632, false, false});
  shapes.push_back({512, 2048, 2048, true, false});
  shapes.push_back({512, 2048, 2048, false, true});
  shapes.push_back({512, 2048, 5632, false, true});
  shapes.push_back({512, 2048, 5632, true, true});
  shapes.push_back({1, 2048, 5632, false, false});
  shapes.push_back({1, 2048, 5632, false, true});
  shapes.push_back({16, 2048, 2048, false, true});
  }
  const double ghz = measure_ghz();
  const int cores = et::threadpool_size();
  // 2 FMA pipes x 8 (AVX2) or 16 (AVX-512) fp32 lanes x 2 flops per core per cycle.
#if defined(__AVX512F__)
  const double peak1 = 2 * 16 * 2 * ghz;
#else
  const double peak1 = 2 * 8 * 2 * ghz;
#endif
  std::printf("ISA %s, clock %.2f GHz (dependent-FMA chain), peak %.1f GFLOP/s/core, %.1f on 2 cores\n",
              STR(ET_ISA), ghz, peak1, 2 * peak1);
  // Medians; "best" is the fastest sample (the median is sensitive to other load on a 2-core
  // machine). EDGETRAIN_GEMM_BENCH_BF16=1 times gemm_f32_bf16b (B rounded to bf16) instead,
  // EDGETRAIN_GEMM_BENCH_BF16=round gemm_f32_bf16b_round_a.
  const char* bf16env = std::getenv("EDGETRAIN_GEMM_BENCH_BF16");
  const bool bf16b = bf16env != nullptr, round_a = bf16b && std::strcmp(bf16env, "round") == 0;
  if (bf16b) std::printf("B as bf16 (%s)\n", round_a ? "gemm_f32_bf16b_round_a" : "gemm_f32_bf16b");
  std::printf("%-28s %10s %10s %10s %10s %7s\n", "shape (MxKxN)", "1t median", "1t best", "2t median", "2t best",
              "%peak2");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> U(-1.0f, 1.0f);
  for (const S& s : shapes) {
    AVec<float> A(size_t(s.M * s.K)), B(size_t(s.K * s.N)), C(size_t(s.M * s.N));
    for (auto& x : A) x = U(rng);
    for (auto& x : B) x = U(rng);
    const int64_t rsa = s.ta ? 1 : s.K, csa = s.ta ? s.M : 1;
    const int64_t rsb = s.tb ? 1 : s.N, csb = s.tb ? s.K : 1;
    const double flops = 2.0 * double(s.M) * double(s.N) * double(s.K);
    AVec<et::bf16_t> Bb(B.size());
    for (size_t i = 0; i < B.size(); ++i) Bb[i].bits = et::f32_to_bf16(B[i]);
    double g[2] = {0, 0}, best[2] = {0, 0};
    for (int th = 1; th <= 2; ++th) {
      if (th > cores) break;
      auto call = [&] {
        if (round_a)
          et::ET_ISA::gemm_f32_bf16b_round_a(s.M, s.N, s.K, 1.0f, A.data(), rsa, csa, Bb.data(), rsb, csb, 0.0f,
                                             C.data(), s.N, th);
        else if (bf16b)
          et::ET_ISA::gemm_f32_bf16b(s.M, s.N, s.K, 1.0f, A.data(), rsa, csa, Bb.data(), rsb, csb, 0.0f, C.data(), s.N,
                                     th);
        else
          et::ET_ISA::gemm_f32(s.M, s.N, s.K, 1.0f, A.data(), rsa, csa, B.data(), rsb, csb, 0.0f, C.data(), s.N, th);
      };
      call();
      // Repeat each timed sample up to ~10 ms of work so small shapes are not timer-bound; many
      // short samples so some miss the other load on a shared machine.
      const int reps = std::max(1, int(1e9 / flops));
      std::vector<double> ts;
      for (int r = 0; r < 21; ++r) {
        const double t0 = now();
        for (int q = 0; q < reps; ++q) call();
        ts.push_back((now() - t0) / reps);
      }
      std::sort(ts.begin(), ts.end());
      g[th - 1] = flops / ts[ts.size() / 2] / 1e9;
      best[th - 1] = flops / ts[0] / 1e9;
    }
    char name[64];
    std::snprintf(name, sizeof name, "%lldx%lldx%lld%s%s", (long long)s.M, (long long)s.K, (long long)s.N,
                  s.ta ? " At" : "", s.tb ? " Bt" : "");
    std::printf("%-28s %10.1f %10.1f %10.1f %10.1f %6.0f%%\n", name, g[0], best[0], g[1], best[1],
                ghz > 0 ? 100.0 * g[1] / (2 * peak1) : 0.0);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--bench") == 0) return run_bench(argc - 2, argv + 2);
  return run_tests();
}

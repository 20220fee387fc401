// Quick GEMM timing for scripts/arm64-check.sh: a few shapes, one short timed run each, so it
// finishes in seconds under qemu-user (csrc/cpu/gemm_test.cpp --bench repeats every shape for
// ~0.1 s of work x 9 samples x 2 thread counts, minutes under emulation). Under qemu the numbers
// say only that the path runs and roughly how the variants compare; measure on a phone for real.
//   gemm_bench [MxKxN ...]   (default 64x64x64 128x128x128 256x256x256 1x1024x1024)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cpu/gemm.h"
#include "threadpool.h"

#define STR2(x) #x
#define STR(x) STR2(x)

int main(int argc, char** argv) {
  struct S {
    long long M, K, N;
  };
  std::vector<S> shapes;
  for (int i = 1; i < argc; ++i) {
    S s{};
    if (std::sscanf(argv[i], "%lldx%lldx%lld", &s.M, &s.K, &s.N) == 3) shapes.push_back(s);
  }
  if (shapes.empty()) shapes = {{64, 64, 64}, {128, 128, 128}, {256, 256, 256}, {1, 1024, 1024}};
  const int threads = std::getenv("BENCH_THREADS") ? std::atoi(std::getenv("BENCH_THREADS")) : 1;
#if defined(__ARM_NEON)
  const char* simd = "__ARM_NEON";
#else
  const char* simd = "no __ARM_NEON";
#endif
  std::printf("gemm_bench %s (%s), %d thread(s)\n", STR(ET_ISA), simd, threads);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> U(-1.0f, 1.0f);
  for (const S& s : shapes) {
    std::vector<float> A(size_t(s.M * s.K)), B(size_t(s.K * s.N)), C(size_t(s.M * s.N));
    for (auto& x : A) x = U(rng);
    for (auto& x : B) x = U(rng);
    auto call = [&] {
      et::ET_ISA::gemm_f32(s.M, s.N, s.K, 1.0f, A.data(), s.K, 1, B.data(), s.N, 1, 0.0f, C.data(), s.N, threads);
    };
    call();  // warm-up: packing buffers, thread pool
    const double flops = 2.0 * double(s.M) * double(s.N) * double(s.K);
    // about 5e7 flops per sample (a fraction of a second under qemu), at least one call
    const int reps = std::max(1, int(5e7 / flops));
    double best = 1e30;
    for (int r = 0; r < 3; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int q = 0; q < reps; ++q) call();
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
      best = t < best ? t : best;
    }
    std::printf("  %lldx%lldx%lld: %8.3f ms  %6.2f GFLOP/s\n", s.M, s.K, s.N, best * 1e3, flops / best / 1e9);
  }
  return 0;
}

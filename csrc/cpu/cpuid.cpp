#include "cpuid.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace et {

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
  if (!(fma && osxsave && avx && f16c)) return false;
  unsigned xlo, xhi;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  if ((xlo & 6) != 6) return false;  // OS saves xmm+ymm state
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  return b & (1u << 5);
#else
  return false;
#endif
}

}  // namespace et

#include <chrono>
#include <cstdint>

namespace et {

// A chain of dependent integer adds retires one add per cycle on every current core, so its
// rate is the clock the core actually runs at (boost included), which /proc/cpuinfo may not say.
double cpu_clock_ghz() {
  constexpr int64_t kIters = 20000000;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    uint64_t x = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < kIters; ++i) {
#if defined(__x86_64__) || defined(__i386__)
      __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                       "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
#elif defined(__aarch64__)
      __asm__ volatile("add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\t"
                       "add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1" : "+r"(x));
#else
      return 0;
#endif
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double ghz = 8.0 * double(kIters) / s / 1e9;
    if (ghz > best) best = ghz;
  }
  return best;
}

}  // namespace et

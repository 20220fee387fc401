// Standalone check of the arm64 integer GEMM (quant_gemm.cpp) against the decode dot products
// (quant_dot.cpp) of the same build, on random blocks of every type both handle: the two must
// agree to float rounding. Not part of the addon (CMake compiles csrc/cpu/*.cpp only). Run:
//   aarch64-linux-gnu-g++ -std=c++17 -O2 -march=armv8.2-a+fp16+dotprod -DET_ISA=isa_dotprod -Icsrc/cpu -static \
//     csrc/cpu/quant_gemm_check.cc csrc/cpu/quant_gemm.cpp csrc/cpu/quant_dot.cpp -o /tmp/qgc && qemu-aarch64-static -cpu max /tmp/qgc
// (or -march=armv8.6-a+fp16+dotprod+i8mm+bf16 -DET_ISA=isa_i8mm; natively with g++ -mavx2 -mfma -mf16c -DET_ISA=isa_avx2).
#include <cstdio>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <vector>
#include "quant_gemm.h"
#include "quant_dot.h"
#include "cpuid.h"
#include "quant_blocks.h"
namespace et {
// the pool and the tier, stubbed: two chunks on this thread; no VNNI
void parallel_for(int64_t n, int64_t, const std::function<void(int64_t, int64_t)>& fn) { fn(0, n / 2); fn(n / 2, n); }
const CpuTierChoice& cpu_tier() { static CpuTierChoice c; return c; }
}
using namespace et;
int main() {
  std::mt19937 rng(1);
  int bad = 0;
  // adv 1: every code at its largest and x all 1 (codes 127): the int16 sums at their bound
  for (int adv = 0; adv < 2; ++adv)
  for (int type : {Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, NF4, NF4_DQ}) {
    const QInfo q = qinfo(type);
    const int64_t K = 768, N = 45, M = 7;
    const int64_t rowBytes = K / q.block * q.bytes;
    std::vector<uint8_t> w(N * rowBytes);
    for (auto& b : w) b = adv ? 0xFF : uint8_t(rng());
    // sane f16 scales: overwrite each block's f16 fields with small values
    for (int64_t i = 0; i < N * K / q.block; ++i) {
      uint8_t* b = w.data() + i * q.bytes;
      if (type == Q6_K) { b[208] = 0x00; b[209] = 0x20; }
      else if (type == NF4) { float a = 0.5f; memcpy(b, &a, 4); }
      else { b[0] = 0x00; b[1] = 0x20; if (type == Q4_K || type == Q5_K) { b[2] = 0x00; b[3] = 0x1c; } }
    }
    std::vector<float> x(M * K);
    for (auto& v : x) v = adv ? 1.f : std::uniform_real_distribution<float>(-1, 1)(rng);
    std::vector<int8_t> qx(M * K); std::vector<float> dx(M * K / 32); std::vector<int32_t> sx(M * K / 16);
    for (int m = 0; m < M; ++m) ET_ISA::quantize_row_q8(x.data() + m * K, K, qx.data() + m * K, dx.data() + m * K / 32, sx.data() + m * K / 16);
    std::vector<float> y(M * N);
    ET_ISA::gemm_q8(type, w.data(), rowBytes, N, K, qx.data(), dx.data(), sx.data(), M, y.data(), N);
    double maxd = 0, scale = 0;
    for (int m = 0; m < M; ++m) for (int n = 0; n < N; ++n) {
      const float r = ET_ISA::dot_q8(type, w.data() + n * rowBytes, K, ET_ISA::Q8Row{qx.data() + m * K, dx.data() + m * K / 32, sx.data() + m * K / 16});
      maxd = std::fmax(maxd, std::fabs(r - y[m * N + n])); scale = std::fmax(scale, std::fabs(r));
    }
    printf("%s type %d: max diff %.3g of scale %.3g\n", adv ? "largest codes" : "random", type, maxd, scale);
    bad += !(maxd <= 1e-5 * scale) || !(scale > 0);
  }
  printf(bad ? "FAIL\n" : "OK\n");
  return bad;
}

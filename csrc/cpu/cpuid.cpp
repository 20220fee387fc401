#include "cpuid.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace et {

namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
  if (!(osxsave && avx)) return f;
  unsigned xlo, xhi;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const bool os_ymm = (xlo & 0x6) == 0x6;      // xmm + ymm state saved on context switch
  const bool os_zmm = (xlo & 0xe6) == 0xe6;    // + opmask, zmm0-15 upper halves, zmm16-31
  if (!os_ymm || __get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5);
  const bool f512 = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
  const bool vnni512 = c & (1u << 11);
  unsigned a1 = 0, b1, c1, d1;
  __cpuid_count(7, 1, a1, b1, c1, d1);
  f.avx2_fma = avx2 && fma && f16c;
  f.avx_vnni = f.avx2_fma && (a1 & (1u << 4));
  f.avx512 = f.avx2_fma && os_zmm && f512 && dq && bw && vl;
  f.avx512_vnni = f.avx512 && vnni512;
  f.avx512_bf16 = f.avx512 && (a1 & (1u << 5));
  const bool os_tiles = (xlo & (3u << 17)) == (3u << 17);  // XTILECFG + XTILEDATA
  f.amx_bf16 = f.avx512_bf16 && os_tiles && (d & (1u << 22)) && (d & (1u << 24));
#elif defined(__aarch64__)
  f.neon = true;  // Advanced SIMD is mandatory on AArch64
#if defined(__linux__)
  // HWCAP bits from the kernel's uapi (asm/hwcap.h), spelled out for old headers
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  f.dotprod = hw & (1ul << 20);   // HWCAP_ASIMDDP
  f.i8mm = hw2 & (1ul << 13);     // HWCAP2_I8MM
  f.bf16 = hw2 & (1ul << 14);     // HWCAP2_BF16
#endif
#endif
  return f;
}

struct TierInfo {
  CpuTier tier;
  const char* name;
};
#if defined(__aarch64__)
constexpr TierInfo kTiers[] = {{CpuTier::neon, "neon"}, {CpuTier::dotprod, "dotprod"}, {CpuTier::i8mm, "i8mm"}};
#elif defined(__x86_64__) || defined(__i386__)
constexpr TierInfo kTiers[] = {{CpuTier::generic, "generic"},   {CpuTier::avx2, "avx2"},
                               {CpuTier::avx2vnni, "avx2vnni"}, {CpuTier::avx512, "avx512"},
                               {CpuTier::avx512vnni, "avx512vnni"}, {CpuTier::avx512bf16, "avx512bf16"}};
#else
constexpr TierInfo kTiers[] = {{CpuTier::generic, "generic"}};
#endif

// Whether the CPU runs tier t; if not, `missing` names what it lacks.
bool can_run(const CpuFeatures& f, CpuTier t, const char** missing) {
  switch (t) {
    case CpuTier::avx2: *missing = "avx2+fma+f16c"; return f.avx2_fma;
    case CpuTier::avx2vnni: *missing = "avx-vnni"; return f.avx_vnni;
    case CpuTier::avx512: *missing = "avx512f/bw/vl/dq"; return f.avx512;
    case CpuTier::avx512vnni: *missing = "avx512_vnni"; return f.avx512_vnni;
    case CpuTier::avx512bf16: *missing = "avx512_bf16 with avx512_vnni"; return f.avx512_bf16 && f.avx512_vnni;
    case CpuTier::dotprod: *missing = "asimddp (dotprod)"; return f.dotprod;
    case CpuTier::i8mm: *missing = "i8mm with bf16"; return f.dotprod && f.i8mm && f.bf16;
    default: *missing = ""; return true;
  }
}

// The features a tier's kernels may use: everything up to it, nothing above.
CpuFeatures cap(const CpuFeatures& f, CpuTier t) {
  CpuFeatures a;
  const int r = int(t);
  if (r >= int(CpuTier::neon)) {
    a.neon = f.neon;
    a.dotprod = r >= int(CpuTier::dotprod) && f.dotprod;
    a.i8mm = r >= int(CpuTier::i8mm) && f.i8mm;
    a.bf16 = r >= int(CpuTier::i8mm) && f.bf16;
    return a;
  }
  a.avx2_fma = r >= int(CpuTier::avx2) && f.avx2_fma;
  a.avx_vnni = r >= int(CpuTier::avx2vnni) && f.avx_vnni;
  a.avx512 = r >= int(CpuTier::avx512) && f.avx512;
  a.avx512_vnni = r >= int(CpuTier::avx512vnni) && f.avx512_vnni;
  a.avx512_bf16 = r >= int(CpuTier::avx512bf16) && f.avx512_bf16;
  a.amx_bf16 = r >= int(CpuTier::avx512bf16) && f.amx_bf16;
  return a;
}

CpuTierChoice choose() {
  CpuTierChoice ch;
  const CpuFeatures& f = cpu_detected();
  const char* missing = "";
  CpuTier best = kTiers[0].tier;
  for (const TierInfo& t : kTiers)
    if (can_run(f, t.tier, &missing)) best = t.tier;
  ch.tier = best;
  const char* force = std::getenv("EDGETRAIN_CPU_ISA");
  if (force && *force) {
    const TierInfo* hit = nullptr;
    for (const TierInfo& t : kTiers)
      if (std::strcmp(t.name, force) == 0) hit = &t;
    if (!hit) {
      std::string names;
      for (const TierInfo& t : kTiers) names += std::string(names.empty() ? "" : ", ") + t.name;
      ch.error = std::string("EDGETRAIN_CPU_ISA=") + force + " names no CPU kernel tier of this build; tiers: " + names;
    } else if (!can_run(f, hit->tier, &missing)) {
      ch.error = std::string("EDGETRAIN_CPU_ISA=") + force + ": this CPU lacks " + missing +
                 " (it has: " + cpu_feature_list() + "; best tier " + cpu_tier_name(best) + ")";
    } else {
      ch.tier = hit->tier;
    }
  }
  ch.active = cap(f, ch.tier);
  return ch;
}

}  // namespace

const CpuFeatures& cpu_detected() {
  static const CpuFeatures f = detect();
  return f;
}

const CpuTierChoice& cpu_tier() {
  static const CpuTierChoice c = choose();
  return c;
}

const char* cpu_tier_name(CpuTier t) {
  switch (t) {
    case CpuTier::generic: return "generic";
    case CpuTier::avx2: return "avx2";
    case CpuTier::avx2vnni: return "avx2vnni";
    case CpuTier::avx512: return "avx512";
    case CpuTier::avx512vnni: return "avx512vnni";
    case CpuTier::avx512bf16: return "avx512bf16";
    case CpuTier::neon: return "neon";
    case CpuTier::dotprod: return "dotprod";
    case CpuTier::i8mm: return "i8mm";
  }
  return "?";
}

std::string cpu_feature_list() {
  const CpuFeatures& f = cpu_detected();
  std::string s;
  auto add = [&](bool on, const char* n) {
    if (on) s += std::string(s.empty() ? "" : " ") + n;
  };
  add(f.avx2_fma, "avx2 fma f16c");
  add(f.avx_vnni, "avx-vnni");
  add(f.avx512, "avx512f avx512bw avx512vl avx512dq");
  add(f.avx512_vnni, "avx512_vnni");
  add(f.avx512_bf16, "avx512_bf16");
  add(f.amx_bf16, "amx_bf16");
  add(f.neon, "neon");
  add(f.dotprod, "dotprod");
  add(f.i8mm, "i8mm");
  add(f.bf16, "bf16");
  return s.empty() ? "baseline only" : s;
}

}  // namespace et

#include <chrono>
#include <cstdint>

namespace et {

// A chain of dependent integer multiplies retires one multiply per 3 cycles on every current
// x86-64 core (imul r64 latency), so its rate is the clock the core actually runs at (boost
// included), which /proc/cpuinfo may not say. Chains of adds are not used on x86: recent Intel
// cores fold `add reg, imm` chains at rename and would read several times the clock. On arm64
// an add chain still runs at one per cycle.
double cpu_clock_ghz() {
  // many short runs (~5 ms each), the fastest counts: on a loaded machine some run unpreempted
#if defined(__x86_64__) || defined(__i386__)
  constexpr int64_t kIters = 700000;  // ~24 cycles each
#else
  constexpr int64_t kIters = 2000000;
#endif
  constexpr int kReps = 30;
  double best = 0;
  for (int rep = 0; rep < kReps; ++rep) {
    uint64_t x = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < kIters; ++i) {
#if defined(__x86_64__) || defined(__i386__)
      __asm__ volatile("imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0\n\t"
                       "imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0" : "+r"(x));
#elif defined(__aarch64__)
      __asm__ volatile("add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\t"
                       "add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1" : "+r"(x));
#else
      return 0;
#endif
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
#if defined(__x86_64__) || defined(__i386__)
    constexpr double kCyclesPerIter = 8 * 3;
#else
    constexpr double kCyclesPerIter = 8;
#endif
    double ghz = kCyclesPerIter * double(kIters) / s / 1e9;
    if (ghz > best) best = ghz;
  }
  return best;
}

}  // namespace et

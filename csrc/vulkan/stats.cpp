#include "stats.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace et {
namespace vk {

namespace {
Stats* g_stats = nullptr;  // never freed: streams torn down at exit may still count

void print_stats() {
  const Stats& s = *g_stats;
  std::fprintf(stderr,
               "edgetrain vulkan stats: %llu dispatches, %llu copies, %llu barriers (%llu read-after-write, "
               "%llu write-after-write, %llu write-after-read, %llu forced), %llu submits, "
               "%llu bytes uploaded, %llu bytes downloaded\n",
               (unsigned long long)s.dispatches.load(), (unsigned long long)s.copies.load(),
               (unsigned long long)s.barriers.load(), (unsigned long long)s.raw.load(),
               (unsigned long long)s.waw.load(), (unsigned long long)s.war.load(),
               (unsigned long long)s.forced.load(), (unsigned long long)s.submits.load(),
               (unsigned long long)s.uploaded.load(), (unsigned long long)s.downloaded.load());
}
}  // namespace

Stats& vk_stats() {
  static Stats* s = [] {
    g_stats = new Stats();
    const char* env = std::getenv("EDGETRAIN_VULKAN_STATS");
    if (env && std::strcmp(env, "1") == 0) std::atexit(print_stats);
    return g_stats;
  }();
  return *s;
}

}  // namespace vk
}  // namespace et

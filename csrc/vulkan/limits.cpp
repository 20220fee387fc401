#include "limits.h"

#include <cstdlib>
#include <cstring>

namespace et {
namespace vk {

namespace {

// A byte count: digits with an optional k/m/g suffix (powers of 1024), at least 1 KiB so the
// meta block and the small kernels still fit.
bool parse_bytes(const char* name, uint64_t* out, ForcedLimits* l) {
  const char* v = std::getenv(name);
  if (!v || !*v) return false;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v, &end, 10);
  uint64_t mul = 1;
  if (end && (*end == 'k' || *end == 'K')) mul = 1ull << 10, ++end;
  else if (end && (*end == 'm' || *end == 'M')) mul = 1ull << 20, ++end;
  else if (end && (*end == 'g' || *end == 'G')) mul = 1ull << 30, ++end;
  if (end == v || *end != '\0' || v[0] == '-' || n * mul < 1024) {
    if (l->error.empty())
      l->error = std::string(name) + "='" + v + "' is not a byte count of at least 1024 (digits, optionally k, m or g)";
    return false;
  }
  *out = n * mul;
  if (!l->text.empty()) l->text += ", ";
  l->text += std::string(name) + "=" + v;
  return true;
}

bool parse_flag(const char* name, ForcedLimits* l) {
  const char* v = std::getenv(name);
  if (!v || !*v || std::strcmp(v, "0") == 0) return false;
  if (std::strcmp(v, "1") != 0) {
    if (l->error.empty()) l->error = std::string(name) + "='" + v + "' must be 1 (or 0 / unset)";
    return false;
  }
  if (!l->text.empty()) l->text += ", ";
  l->text += std::string(name) + "=1";
  return true;
}

}  // namespace

ForcedLimits forced_limits() {
  ForcedLimits l;
  parse_bytes("EDGETRAIN_VULKAN_MAX_BUFFER", &l.max_buffer, &l);
  parse_bytes("EDGETRAIN_VULKAN_SHARED", &l.shared, &l);
  l.no_fp16 = parse_flag("EDGETRAIN_VULKAN_NO_FP16", &l);
  l.no_int8 = parse_flag("EDGETRAIN_VULKAN_NO_INT8", &l);
  l.no_subgroup = parse_flag("EDGETRAIN_VULKAN_NO_SUBGROUP", &l);
  return l;
}

}  // namespace vk
}  // namespace et

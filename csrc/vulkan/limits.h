// Device limits forced from the environment, so any device (lavapipe in CI) runs the paths a
// phone takes: EDGETRAIN_VULKAN_MAX_BUFFER=<bytes> clamps the largest storage buffer,
// EDGETRAIN_VULKAN_SHARED=<bytes> the shared memory per workgroup, EDGETRAIN_VULKAN_NO_FP16=1
// and EDGETRAIN_VULKAN_NO_INT8=1 hide float16 arithmetic / 16-bit storage and int8 dot products,
// EDGETRAIN_VULKAN_NO_SUBGROUP=1 subgroup operations (the plain shader variants run).
#pragma once
#include <cstdint>
#include <string>

namespace et {
namespace vk {

struct ForcedLimits {
  uint64_t max_buffer = 0;  // 0: not forced
  uint64_t shared = 0;      // 0: not forced
  bool no_fp16 = false;
  bool no_int8 = false;
  bool no_subgroup = false;
  std::string error;  // a variable that does not parse: the device is reported unavailable with it
  // "EDGETRAIN_VULKAN_MAX_BUFFER=1048576, EDGETRAIN_VULKAN_NO_FP16=1" or "" when nothing is forced
  std::string text;
};

// Read from the environment on each call (devices open once; tests spawn processes to vary them).
ForcedLimits forced_limits();

}  // namespace vk
}  // namespace et

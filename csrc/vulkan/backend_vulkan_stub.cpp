// Used when the build found no Vulkan headers or glslc.
#include "backend_vulkan.h"

namespace et {
std::unique_ptr<Backend> vulkan_backend_create(std::string* why) {
  *why = "this build of edgetrain has no Vulkan support (Vulkan headers, volk or glslc were missing when it was built)";
  return nullptr;
}
}  // namespace et

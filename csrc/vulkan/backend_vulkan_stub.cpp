// Used when the build found no Vulkan headers or glslc.
#include "backend_vulkan.h"

namespace et {
std::vector<OpenedDevice> vulkan_devices_open() {
  return device_unavailable("vulkan",
                            "this build of edgetrain has no Vulkan support (Vulkan headers, volk or glslc were missing "
                            "when it was built)");
}
}  // namespace et

#pragma once
#include <vector>

#include "../device.h"

namespace et {

// Loads libvulkan at run time (volk) and opens every physical device with a compute queue, best
// first (csrc/vulkan/context.h): "vulkan", "vulkan:1", ... A device that cannot be used is listed
// with the reason; when Vulkan is not built in, or the loader, a driver or any device is missing,
// one unavailable "vulkan" says why.
std::vector<OpenedDevice> vulkan_devices_open();

}  // namespace et

#pragma once
#include <memory>
#include <string>

#include "../backend.h"

namespace et {

// Loads libvulkan at run time (volk) and opens the first suitable device (EDGETRAIN_VULKAN_DEVICE
// picks by index). Returns nullptr with *why set when Vulkan is not built in, the loader or a
// driver is missing, or no device qualifies.
std::unique_ptr<Backend> vulkan_backend_create(std::string* why);

}  // namespace et

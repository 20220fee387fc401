#pragma once
#include <vector>

#include "../device.h"
#include "../plugin.h"

namespace et {

// CUDA kernels live in a plugin, edgetrain-cuda.so (csrc/plugin_abi.h), loaded only when the
// driver (libcuda.so.1) loads, so the addon itself never links against CUDA. Without a driver,
// or without the plugin among `plugins`, one unavailable "cuda" device says which is missing.
std::vector<OpenedDevice> cuda_devices_open(const std::vector<PluginFile>& plugins);

}  // namespace et

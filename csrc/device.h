// The registry of devices: which backends exist in this build, which started, and why not.
#pragma once
#include <string>
#include <vector>

#include "backend.h"

namespace et {

struct DeviceInfo {
  std::string name;         // "cpu", "vulkan", "cuda"
  bool available = false;
  std::string description;  // device details when available
  std::string reason;       // why not, when unavailable
  Backend* backend = nullptr;
};

// Starts backends on first use. Order is fixed: cpu, vulkan, cuda.
const std::vector<DeviceInfo>& devices();
// nullptr (and *why set) when the device is unknown or unavailable.
Backend* device_backend(const std::string& name, std::string* why);

}  // namespace et

// The registry of devices: every device each backend family found (cpu, each Vulkan physical
// device, CUDA and other plugins), which of them started, and why the others did not.
//
// Names: a family's first device is named after the family ("vulkan"), the next ones
// "<family>:<index>" ("vulkan:1"); "<family>:0" is accepted for the first. device_find() is the
// one place names are parsed.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"

namespace et {

// One entry of what devices() reports under `features`: a flag, a number or a text, by the key JS
// sees ("fp16", "subgroupSize", "isa").
struct DeviceFeature {
  enum Type { kBool, kNumber, kString };
  std::string key;
  Type type = kBool;
  double num = 0;  // kBool: 0 or 1
  std::string str;
};

// What a device is, beyond its name, for every device, available or not.
struct DeviceProps {
  std::string kind = "other";  // "cpu" | "discrete" | "integrated" | "virtual" | "other"
  uint64_t memory = 0;         // bytes it can hold: device-local heaps, or host RAM for the CPU
  std::vector<DeviceFeature> features;

  void flag(const char* key, bool v) { features.push_back({key, DeviceFeature::kBool, v ? 1.0 : 0.0, ""}); }
  void number(const char* key, double v) { features.push_back({key, DeviceFeature::kNumber, v, ""}); }
  void text(const char* key, std::string v) { features.push_back({key, DeviceFeature::kString, 0, std::move(v)}); }
};

struct DeviceInfo {
  std::string name;         // canonical: "cpu", "vulkan", "vulkan:1", "cuda"
  std::string family;       // "cpu", "vulkan", "cuda" or a plugin's name
  int index = 0;            // among the family's devices
  bool available = false;
  std::string description;  // device details when available
  std::string reason;       // why not, when unavailable
  std::string plugin;       // the plugin file it comes from, if any
  DeviceProps props;        // kind, memory, features (see device_props)
  Backend* backend = nullptr;
};

// What a backend family reports for one device while the registry starts: the backend when it
// opened, else the reason. Openers name their devices with device_name().
struct OpenedDevice {
  DeviceInfo info;
  std::unique_ptr<Backend> backend;
};

// "vulkan" for index 0, "vulkan:1" for index 1.
std::string device_name(const std::string& family, int index);
// A family that found nothing to start: one device named after it, with the reason.
std::vector<OpenedDevice> device_unavailable(const std::string& family, const std::string& reason);

// Starts backends on first use. Order: cpu, vulkan devices (best first), cuda, other plugins.
const std::vector<DeviceInfo>& devices();
// The entry a name denotes, or nullptr with *why: "unknown device 'vulkan:3': there is 1 vulkan
// device (known: cpu, vulkan, cuda)".
const DeviceInfo* device_find(const std::string& name, std::string* why);
// The backend of an available device, or nullptr with *why (unknown, or "device 'cuda' is not
// available: <reason>").
Backend* device_backend(const std::string& name, std::string* why);
// Kind, memory and features as devices() reports them now (the CPU's thread count can change).
DeviceProps device_props(const DeviceInfo& d);

}  // namespace et

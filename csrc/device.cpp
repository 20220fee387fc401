#include "device.h"

#include <memory>

#include "cpu/backend_cpu.h"
#include "cuda/backend_cuda.h"
#include "vulkan/backend_vulkan.h"

namespace et {

const std::vector<DeviceInfo>& devices() {
  static std::vector<DeviceInfo>* list = [] {
    auto* l = new std::vector<DeviceInfo>();
    // Backends live for the whole process: tensors may be finalised at exit in any order.
    static std::unique_ptr<Backend> cpu = cpu_backend_create();
    l->push_back({"cpu", true, cpu->description(), "", cpu.get()});

    DeviceInfo vk{"vulkan"};
    static std::unique_ptr<Backend> vkb;
    vkb = vulkan_backend_create(&vk.reason);
    if (vkb) {
      vk.available = true;
      vk.description = vkb->description();
      vk.backend = vkb.get();
    }
    l->push_back(vk);

    DeviceInfo cu{"cuda"};
    static std::unique_ptr<Backend> cub;
    cub = cuda_backend_create(&cu.reason);
    if (cub) {
      cu.available = true;
      cu.description = cub->description();
      cu.backend = cub.get();
    }
    l->push_back(cu);
    return l;
  }();
  return *list;
}

Backend* device_backend(const std::string& name, std::string* why) {
  for (const auto& d : devices()) {
    if (d.name != name) continue;
    if (!d.available) {
      *why = name + " is not available: " + d.reason;
      return nullptr;
    }
    return d.backend;
  }
  *why = "unknown device '" + name + "' (known: cpu, vulkan, cuda)";
  return nullptr;
}

}  // namespace et

// What devices() reports about a Vulkan physical device: kind, device-local memory, and the
// features the kernels choose variants by. Structs beyond Vulkan 1.1 are asked for only when
// the device lists their extension (the instance is created for 1.1).
#include <algorithm>
#include <string>

#include "context.h"
#include "limits.h"

namespace et {
namespace vk {

namespace {

const char* kind_of(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

}  // namespace

DeviceProps query_device_props(const Instance& inst, VkPhysicalDevice pd) {
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(pd, &p);
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(pd, &mem);
  std::vector<VkExtensionProperties> exts = device_extensions(pd);

  DeviceProps out;
  out.kind = kind_of(p.deviceType);
  for (uint32_t i = 0; i < mem.memoryHeapCount; ++i)
    if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) out.memory += mem.memoryHeaps[i].size;

  bool v11 = inst.api >= VK_API_VERSION_1_1 && p.apiVersion >= VK_API_VERSION_1_1 && vkGetPhysicalDeviceFeatures2 &&
             vkGetPhysicalDeviceProperties2;
  VkPhysicalDeviceShaderFloat16Int8Features f16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
  VkPhysicalDeviceShaderIntegerDotProductFeatures dot{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
  VkPhysicalDeviceSubgroupProperties sub{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceDriverProperties drv{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  bool have_driver = false;
  if (v11) {
    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    void** next = &f2.pNext;
    if (has_extension(exts, "VK_KHR_shader_float16_int8")) {
      *next = &f16;
      next = &f16.pNext;
    }
    if (has_extension(exts, "VK_KHR_shader_integer_dot_product")) {
      *next = &dot;
      next = &dot.pNext;
    }
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &sub;
    if (p.apiVersion >= VK_API_VERSION_1_2 || has_extension(exts, "VK_KHR_driver_properties")) {
      sub.pNext = &drv;
      have_driver = true;
    }
    vkGetPhysicalDeviceProperties2(pd, &p2);
  }
  const ForcedLimits forced = forced_limits();
  out.flag("fp16", f16.shaderFloat16 == VK_TRUE && !forced.no_fp16);
  out.flag("int8Dot", dot.shaderIntegerDotProduct == VK_TRUE && !forced.no_int8);
  if (sub.subgroupSize) out.number("subgroupSize", sub.subgroupSize);
  out.flag("cooperativeMatrix",
           has_extension(exts, "VK_KHR_cooperative_matrix") || has_extension(exts, "VK_NV_cooperative_matrix"));
  uint64_t max_buffer = std::min<uint64_t>(p.limits.maxStorageBufferRange, kMaxBufferCap);
  uint64_t shared = p.limits.maxComputeSharedMemorySize;
  if (forced.max_buffer) max_buffer = std::min(max_buffer, forced.max_buffer);
  if (forced.shared) shared = std::min(shared, forced.shared);
  out.number("maxBufferBytes", double(max_buffer));
  out.number("sharedMemoryBytes", double(shared));
  out.number("maxWorkgroupInvocations", p.limits.maxComputeWorkGroupInvocations);
  // driverVersion's encoding is the vendor's; the driver's own name and version text say more
  if (have_driver && drv.driverName[0])
    out.text("driver", std::string(drv.driverName) + (drv.driverInfo[0] ? std::string(" ") + drv.driverInfo : ""));
  else
    out.text("driver", "version " + std::to_string(p.driverVersion));
  out.text("apiVersion", version_text(p.apiVersion));
  if (!forced.text.empty()) out.text("forcedLimits", forced.text);
  return out;
}

}  // namespace vk
}  // namespace et

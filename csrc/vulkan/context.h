// Vulkan instance, the physical devices it lists, and per device a logical device with a
// compute queue.
#pragma once
#include <volk.h>

#include <memory>
#include <string>
#include <vector>

#include "../device.h"

namespace et {
namespace vk {

// Element indices stay within int32 in the shaders, so no tensor buffer is larger.
constexpr size_t kMaxBufferCap = size_t(0x7fff0000u);

// The process's instance, shared by every device's Context (destroyed after the last one).
struct Instance {
  VkInstance handle = VK_NULL_HANDLE;
  uint32_t api = VK_API_VERSION_1_0;  // the version it was created for
  Instance() = default;
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  ~Instance();
};

// A physical device and what devices() reports about it.
struct PhysicalDevice {
  VkPhysicalDevice handle = VK_NULL_HANDLE;
  uint32_t vk_index = 0;  // its place in vkEnumeratePhysicalDevices
  int queue_family = -1;  // a compute queue family; -1: none
  VkPhysicalDeviceProperties props{};
  DeviceProps info;
  std::string description;
};

struct Context {
  std::shared_ptr<Instance> inst;
  VkPhysicalDevice phys = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t queue_family = 0;
  VkPhysicalDeviceProperties props{};
  VkPhysicalDeviceMemoryProperties mem{};
  bool uma = false;             // integrated / CPU device: device-local memory is host-visible
  size_t max_buffer_bytes = 0;  // largest tensor buffer: maxStorageBufferRange, capped at kMaxBufferCap
                                // and at EDGETRAIN_VULKAN_MAX_BUFFER (limits.h)
  size_t max_alloc_bytes = 0;   // largest tensor buffer: maxMemoryAllocationSize (Vulkan 1.1), else the
                                // largest device-local heap; ops bind windows of at most max_buffer_bytes
  size_t shared_bytes = 0;      // shared memory per workgroup (EDGETRAIN_VULKAN_SHARED lowers it)
  bool fp16 = false;            // shaderFloat16 reported and not hidden by EDGETRAIN_VULKAN_NO_FP16
  bool int8_dot = false;        // shaderIntegerDotProduct, unless EDGETRAIN_VULKAN_NO_INT8: enabled on
                                // the device, so the "*_int8dot" shader variants may run
  bool subgroup_arith = false;  // subgroup arithmetic in compute (Vulkan 1.1), unless
                                // EDGETRAIN_VULKAN_NO_SUBGROUP: the "*_subgroup" variants may run
  uint32_t subgroup_size = 0;   // VkPhysicalDeviceSubgroupProperties::subgroupSize (0: not asked)
  bool memory_budget = false;   // VK_EXT_memory_budget: free device memory can be asked for
  uint64_t local_bytes = 0;     // the device-local heaps' total, summed once at open (memory.h)
  bool map_tensors = true;      // map host-visible tensor memory (EDGETRAIN_VULKAN_STAGING=1: never, to
                                // exercise the staging paths discrete GPUs take)
  bool nan_preserve = false;    // VK_KHR_shader_float_controls with shaderSignedZeroInfNanPreserveFloat32
                                // enabled: the shaders are built with SignedZeroInfNanPreserve 32, so
                                // NaN/Inf arithmetic and isnan() are IEEE (otherwise the driver may assume
                                // no NaN or Inf, Vulkan spec appendix A)
  bool meta_storage = false;    // the meta block (binding 0) is a read-only storage buffer rather than
                                // a uniform buffer: on lavapipe, which otherwise recompiles the shader
                                // at every dispatch (see create_context); EDGETRAIN_VULKAN_META=storage
                                // or =uniform forces either
  std::string description;

  Context() = default;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context();
};

// Loads libvulkan (volk), creates the instance and lists every physical device, best first:
// discrete > integrated > virtual > CPU, devices without a compute queue last.
// EDGETRAIN_VULKAN_DEVICE=<i> puts vkEnumeratePhysicalDevices' device i first. False with *why
// when there is no loader, driver or device.
bool list_devices(std::shared_ptr<Instance>* inst, std::vector<PhysicalDevice>* out, std::string* why);
// Opens a logical device with a compute queue on pd. Returns nullptr with *why on failure.
std::unique_ptr<Context> create_context(const std::shared_ptr<Instance>& inst, const PhysicalDevice& pd,
                                        std::string* why);
// devices()'s kind, memory and features of a physical device (device_props.cpp).
DeviceProps query_device_props(const Instance& inst, VkPhysicalDevice pd);

std::vector<VkExtensionProperties> device_extensions(VkPhysicalDevice pd);
bool has_extension(const std::vector<VkExtensionProperties>& exts, const char* name);
// "1.3.230"
std::string version_text(uint32_t v);

const char* result_name(VkResult r);
// "<what> failed: VK_ERROR_..." 
std::string vk_error(const char* what, VkResult r);

}  // namespace vk
}  // namespace et

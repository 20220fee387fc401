// Vulkan instance, physical device choice, logical device and compute queue.
#pragma once
#include <volk.h>

#include <memory>
#include <string>

namespace et {
namespace vk {

struct Context {
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice phys = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t queue_family = 0;
  VkPhysicalDeviceProperties props{};
  VkPhysicalDeviceMemoryProperties mem{};
  bool uma = false;             // integrated / CPU device: device-local memory is host-visible
  size_t max_buffer_bytes = 0;  // largest tensor buffer: maxStorageBufferRange, capped below 2 GiB
  bool map_tensors = true;      // map host-visible tensor memory (EDGETRAIN_VULKAN_STAGING=1: never, to
                                // exercise the staging paths discrete GPUs take)
  bool nan_preserve = false;    // VK_KHR_shader_float_controls with shaderSignedZeroInfNanPreserveFloat32
                                // enabled: the shaders are built with SignedZeroInfNanPreserve 32, so
                                // NaN/Inf arithmetic and isnan() are IEEE (otherwise the driver may assume
                                // no NaN or Inf, Vulkan spec appendix A)
  std::string description;

  Context() = default;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context();
};

// Loads libvulkan (volk), creates the instance and opens a device with a compute queue.
// EDGETRAIN_VULKAN_DEVICE=<index> picks a physical device; otherwise discrete > integrated >
// virtual > CPU. Returns nullptr with *why set on failure.
std::unique_ptr<Context> create_context(std::string* why);

const char* result_name(VkResult r);
// "<what> failed: VK_ERROR_..." 
std::string vk_error(const char* what, VkResult r);

}  // namespace vk
}  // namespace et

#include "context.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace et {
namespace vk {

const char* result_name(VkResult r) {
  switch (r) {
#define ET_VK_RESULT(x) case x: return #x;
    ET_VK_RESULT(VK_SUCCESS)
    ET_VK_RESULT(VK_NOT_READY)
    ET_VK_RESULT(VK_TIMEOUT)
    ET_VK_RESULT(VK_INCOMPLETE)
    ET_VK_RESULT(VK_ERROR_OUT_OF_HOST_MEMORY)
    ET_VK_RESULT(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    ET_VK_RESULT(VK_ERROR_INITIALIZATION_FAILED)
    ET_VK_RESULT(VK_ERROR_DEVICE_LOST)
    ET_VK_RESULT(VK_ERROR_MEMORY_MAP_FAILED)
    ET_VK_RESULT(VK_ERROR_LAYER_NOT_PRESENT)
    ET_VK_RESULT(VK_ERROR_EXTENSION_NOT_PRESENT)
    ET_VK_RESULT(VK_ERROR_FEATURE_NOT_PRESENT)
    ET_VK_RESULT(VK_ERROR_INCOMPATIBLE_DRIVER)
    ET_VK_RESULT(VK_ERROR_TOO_MANY_OBJECTS)
    ET_VK_RESULT(VK_ERROR_FORMAT_NOT_SUPPORTED)
    ET_VK_RESULT(VK_ERROR_FRAGMENTED_POOL)
    ET_VK_RESULT(VK_ERROR_OUT_OF_POOL_MEMORY)
#undef ET_VK_RESULT
    default: return "VK_ERROR_UNKNOWN";
  }
}

std::string vk_error(const char* what, VkResult r) {
  return std::string("vulkan: ") + what + " failed: " + result_name(r) + " (" + std::to_string(int(r)) + ")";
}

Context::~Context() {
  if (device) {
    vkDeviceWaitIdle(device);
    vkDestroyDevice(device, nullptr);
  }
  if (instance) vkDestroyInstance(instance, nullptr);
}

namespace {

const char* loader_name() {
#if defined(_WIN32)
  return "vulkan-1.dll";
#elif defined(__APPLE__)
  return "libvulkan.1.dylib";
#elif defined(__ANDROID__)
  return "libvulkan.so";
#else
  return "libvulkan.so.1";
#endif
}

const char* type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
  }
}

int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
    default: return 0;
  }
}

// Index of a queue family with compute (preferring one without graphics), or -1.
int compute_family(VkPhysicalDevice pd) {
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, nullptr);
  std::vector<VkQueueFamilyProperties> q(n);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q.data());
  int any = -1;
  for (uint32_t i = 0; i < n; ++i) {
    if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) || q[i].queueCount == 0) continue;
    if (!(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) return int(i);
    if (any < 0) any = int(i);
  }
  return any;
}

bool has_extension(const std::vector<VkExtensionProperties>& exts, const char* name) {
  for (const auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

}  // namespace

std::unique_ptr<Context> create_context(std::string* why) {
  static VkResult loaded = volkInitialize();
  if (loaded != VK_SUCCESS) {
    *why = std::string("Vulkan loader (") + loader_name() + ") not found";
    return nullptr;
  }
  std::unique_ptr<Context> c(new Context());

  uint32_t api = VK_API_VERSION_1_0;
  if (vkEnumerateInstanceVersion) {
    uint32_t v = 0;
    if (vkEnumerateInstanceVersion(&v) == VK_SUCCESS && v >= VK_API_VERSION_1_1) api = VK_API_VERSION_1_1;
  }
  uint32_t n_ext = 0;
  vkEnumerateInstanceExtensionProperties(nullptr, &n_ext, nullptr);
  std::vector<VkExtensionProperties> iexts(n_ext);
  vkEnumerateInstanceExtensionProperties(nullptr, &n_ext, iexts.data());
  std::vector<const char*> enable;
  VkInstanceCreateFlags iflags = 0;
  if (has_extension(iexts, "VK_KHR_portability_enumeration")) {  // MoltenVK
    enable.push_back("VK_KHR_portability_enumeration");
    iflags |= 0x00000001;  // VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR
  }

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "edgetrain";
  app.pEngineName = "edgetrain";
  app.apiVersion = api;
  VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ici.flags = iflags;
  ici.pApplicationInfo = &app;
  ici.enabledExtensionCount = uint32_t(enable.size());
  ici.ppEnabledExtensionNames = enable.data();
  VkResult r = vkCreateInstance(&ici, nullptr, &c->instance);
  if (r != VK_SUCCESS) {
    c->instance = VK_NULL_HANDLE;
    *why = r == VK_ERROR_INCOMPATIBLE_DRIVER
               ? "no Vulkan driver (ICD) found: vkCreateInstance returned VK_ERROR_INCOMPATIBLE_DRIVER"
               : std::string("no Vulkan instance: vkCreateInstance returned ") + result_name(r);
    return nullptr;
  }
  volkLoadInstanceOnly(c->instance);

  uint32_t n_dev = 0;
  r = vkEnumeratePhysicalDevices(c->instance, &n_dev, nullptr);
  if (r != VK_SUCCESS || n_dev == 0) {
    *why = "no Vulkan device found (a Vulkan loader is installed, but no driver reports a device)";
    return nullptr;
  }
  std::vector<VkPhysicalDevice> devs(n_dev);
  vkEnumeratePhysicalDevices(c->instance, &n_dev, devs.data());

  int pick = -1;
  if (const char* env = std::getenv("EDGETRAIN_VULKAN_DEVICE")) {
    char* end = nullptr;
    long i = std::strtol(env, &end, 10);
    if (!*env || *end || i < 0 || i >= long(n_dev)) {
      *why = std::string("EDGETRAIN_VULKAN_DEVICE=") + env + " is not a device index (found " +
             std::to_string(n_dev) + " device(s))";
      return nullptr;
    }
    if (compute_family(devs[size_t(i)]) < 0) {
      *why = "Vulkan device " + std::to_string(i) + " has no compute queue";
      return nullptr;
    }
    pick = int(i);
  } else {
    int best = -1;
    for (uint32_t i = 0; i < n_dev; ++i) {
      VkPhysicalDeviceProperties p;
      vkGetPhysicalDeviceProperties(devs[i], &p);
      if (p.apiVersion < VK_API_VERSION_1_0 || compute_family(devs[i]) < 0) continue;
      int rank = type_rank(p.deviceType);
      if (rank > best) {
        best = rank;
        pick = int(i);
      }
    }
    if (pick < 0) {
      *why = "no Vulkan device with a compute queue (" + std::to_string(n_dev) + " device(s) found)";
      return nullptr;
    }
  }
  c->phys = devs[size_t(pick)];
  c->queue_family = uint32_t(compute_family(c->phys));
  vkGetPhysicalDeviceProperties(c->phys, &c->props);
  vkGetPhysicalDeviceMemoryProperties(c->phys, &c->mem);
  c->uma = c->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
           c->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  if (const char* st = std::getenv("EDGETRAIN_VULKAN_STAGING")) c->map_tensors = std::strcmp(st, "1") != 0;
  size_t cap = size_t(0x7fff0000u);  // element indices stay within int32 in the shaders
  c->max_buffer_bytes = std::min(size_t(c->props.limits.maxStorageBufferRange), cap);

  uint32_t n_dext = 0;
  vkEnumerateDeviceExtensionProperties(c->phys, nullptr, &n_dext, nullptr);
  std::vector<VkExtensionProperties> dexts(n_dext);
  vkEnumerateDeviceExtensionProperties(c->phys, nullptr, &n_dext, dexts.data());
  std::vector<const char*> denable;
  if (has_extension(dexts, "VK_KHR_portability_subset")) denable.push_back("VK_KHR_portability_subset");
  // NaN must propagate through every kernel: ask for IEEE NaN/Inf semantics where the device has them
  // (properties2 is core from 1.1, the instance version asked for above).
  if (api >= VK_API_VERSION_1_1 && c->props.apiVersion >= VK_API_VERSION_1_1 && vkGetPhysicalDeviceProperties2 &&
      has_extension(dexts, "VK_KHR_shader_float_controls")) {
    VkPhysicalDeviceFloatControlsProperties fc{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FLOAT_CONTROLS_PROPERTIES};
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &fc;
    vkGetPhysicalDeviceProperties2(c->phys, &p2);
    if (fc.shaderSignedZeroInfNanPreserveFloat32) {
      denable.push_back("VK_KHR_shader_float_controls");
      const char* np = std::getenv("EDGETRAIN_VULKAN_NAN_PRESERVE");  // "0": build the shaders as compiled
      c->nan_preserve = !(np && std::strcmp(np, "0") == 0);
    }
  }

  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = c->queue_family;
  qci.queueCount = 1;
  qci.pQueuePriorities = &prio;
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = uint32_t(denable.size());
  dci.ppEnabledExtensionNames = denable.data();
  r = vkCreateDevice(c->phys, &dci, nullptr, &c->device);
  if (r != VK_SUCCESS) {
    c->device = VK_NULL_HANDLE;
    *why = std::string("could not open Vulkan device '") + c->props.deviceName + "': vkCreateDevice returned " +
           result_name(r);
    return nullptr;
  }
  volkLoadDevice(c->device);
  vkGetDeviceQueue(c->device, c->queue_family, 0, &c->queue);

  uint32_t v = c->props.apiVersion;
  c->description = std::string(c->props.deviceName) + " (" + type_name(c->props.deviceType) + ", Vulkan " +
                   std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) + "." +
                   std::to_string(VK_API_VERSION_PATCH(v)) + ", device " + std::to_string(pick) + " of " +
                   std::to_string(n_dev) + ")";
  return c;
}

}  // namespace vk
}  // namespace et

#include "context.h"
#include "limits.h"
#include "memory.h"

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
}

std::string version_text(uint32_t v) {
  return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) + "." +
         std::to_string(VK_API_VERSION_PATCH(v));
}

Instance::~Instance() {
  if (handle) vkDestroyInstance(handle, nullptr);
}

std::vector<VkExtensionProperties> device_extensions(VkPhysicalDevice pd) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, exts.data());
  exts.resize(n);
  return exts;
}

bool has_extension(const std::vector<VkExtensionProperties>& exts, const char* name) {
  for (const auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
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

// The instance, for Vulkan 1.1 where the loader has it (properties2 and features2 are core there).
std::shared_ptr<Instance> create_instance(std::string* why) {
  auto inst = std::make_shared<Instance>();
  if (vkEnumerateInstanceVersion) {
    uint32_t v = 0;
    if (vkEnumerateInstanceVersion(&v) == VK_SUCCESS && v >= VK_API_VERSION_1_1) inst->api = VK_API_VERSION_1_1;
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
  app.apiVersion = inst->api;
  VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ici.flags = iflags;
  ici.pApplicationInfo = &app;
  ici.enabledExtensionCount = uint32_t(enable.size());
  ici.ppEnabledExtensionNames = enable.data();
  VkResult r = vkCreateInstance(&ici, nullptr, &inst->handle);
  if (r != VK_SUCCESS) {
    inst->handle = VK_NULL_HANDLE;
    *why = r == VK_ERROR_INCOMPATIBLE_DRIVER
               ? "no Vulkan driver (ICD) found: vkCreateInstance returned VK_ERROR_INCOMPATIBLE_DRIVER"
               : std::string("no Vulkan instance: vkCreateInstance returned ") + result_name(r);
    return nullptr;
  }
  // device functions through the loader's per-device dispatch: several devices may be open
  // (backend_vulkan.cpp loads direct entry points when only one is)
  volkLoadInstance(inst->handle);
  return inst;
}

std::string describe(const VkPhysicalDeviceProperties& p, uint32_t vk_index, uint32_t n_dev) {
  return std::string(p.deviceName) + " (" + type_name(p.deviceType) + ", Vulkan " + version_text(p.apiVersion) +
         ", device " + std::to_string(vk_index) + " of " + std::to_string(n_dev) + ")";
}

}  // namespace

bool list_devices(std::shared_ptr<Instance>* inst_out, std::vector<PhysicalDevice>* out, std::string* why) {
  static VkResult loaded = volkInitialize();
  if (loaded != VK_SUCCESS) {
    *why = std::string("Vulkan loader (") + loader_name() + ") not found";
    return false;
  }
  std::shared_ptr<Instance> inst = create_instance(why);
  if (!inst) return false;

  uint32_t n_dev = 0;
  VkResult r = vkEnumeratePhysicalDevices(inst->handle, &n_dev, nullptr);
  if (r != VK_SUCCESS || n_dev == 0) {
    *why = "no Vulkan device found (a Vulkan loader is installed, but no driver reports a device)";
    return false;
  }
  std::vector<VkPhysicalDevice> handles(n_dev);
  vkEnumeratePhysicalDevices(inst->handle, &n_dev, handles.data());
  handles.resize(n_dev);

  long first = -1;
  if (const char* env = std::getenv("EDGETRAIN_VULKAN_DEVICE")) {
    char* end = nullptr;
    first = std::strtol(env, &end, 10);
    if (!*env || *end || first < 0 || first >= long(n_dev)) {
      *why = std::string("EDGETRAIN_VULKAN_DEVICE=") + env + " is not a device index (found " +
             std::to_string(n_dev) + " device(s))";
      return false;
    }
    if (compute_family(handles[size_t(first)]) < 0) {
      *why = "Vulkan device " + std::to_string(first) + " has no compute queue";
      return false;
    }
  }
  out->clear();
  for (uint32_t i = 0; i < n_dev; ++i) {
    PhysicalDevice pd;
    pd.handle = handles[i];
    pd.vk_index = i;
    pd.queue_family = compute_family(pd.handle);
    vkGetPhysicalDeviceProperties(pd.handle, &pd.props);
    pd.info = query_device_props(*inst, pd.handle);
    pd.description = describe(pd.props, i, n_dev);
    out->push_back(std::move(pd));
  }
  auto rank = [first](const PhysicalDevice& d) {
    if (long(d.vk_index) == first) return 10;
    return d.queue_family < 0 ? -1 : type_rank(d.props.deviceType);
  };
  std::stable_sort(out->begin(), out->end(),
                   [&](const PhysicalDevice& a, const PhysicalDevice& b) { return rank(a) > rank(b); });
  *inst_out = inst;
  return true;
}

std::unique_ptr<Context> create_context(const std::shared_ptr<Instance>& inst, const PhysicalDevice& pd,
                                        std::string* why) {
  if (pd.queue_family < 0) {
    *why = std::string("Vulkan device '") + pd.props.deviceName + "' has no compute queue";
    return nullptr;
  }
  std::unique_ptr<Context> c(new Context());
  c->inst = inst;
  c->phys = pd.handle;
  c->queue_family = uint32_t(pd.queue_family);
  c->props = pd.props;
  vkGetPhysicalDeviceMemoryProperties(c->phys, &c->mem);
  c->uma = c->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
           c->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  if (const char* st = std::getenv("EDGETRAIN_VULKAN_STAGING")) c->map_tensors = std::strcmp(st, "1") != 0;
  // lavapipe "inlines" uniform-buffer values that shaders branch or loop on (the op code, sizes):
  // at each vkCmdBindPipeline / vkCmdBindDescriptorSets of a compute pipeline it reads them from
  // the bound uniform buffer and compiles a specialised copy of the shader with LLVM, which Mesa
  // 22.x never frees before the device is destroyed (23.x keeps one per distinct set of values),
  // so every dispatch cost a compile and ~0.5 MB of process memory. It never inlines from
  // storage buffers.
  c->meta_storage = c->props.vendorID == 0x10005 /* VK_VENDOR_ID_MESA */ &&
                    c->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  if (const char* mt = std::getenv("EDGETRAIN_VULKAN_META")) {
    if (std::strcmp(mt, "storage") == 0) c->meta_storage = true;
    if (std::strcmp(mt, "uniform") == 0) c->meta_storage = false;
  }
  const ForcedLimits forced = forced_limits();
  if (!forced.error.empty()) {
    *why = forced.error;
    return nullptr;
  }
  c->max_buffer_bytes = std::min(size_t(c->props.limits.maxStorageBufferRange), kMaxBufferCap);
  if (forced.max_buffer) c->max_buffer_bytes = std::min<size_t>(c->max_buffer_bytes, forced.max_buffer);
  for (uint32_t i = 0; i < c->mem.memoryHeapCount; ++i)
    if (c->mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      c->max_alloc_bytes = std::max<size_t>(c->max_alloc_bytes, size_t(c->mem.memoryHeaps[i].size));
  if (inst->api >= VK_API_VERSION_1_1 && c->props.apiVersion >= VK_API_VERSION_1_1 && vkGetPhysicalDeviceProperties2) {
    VkPhysicalDeviceMaintenance3Properties m3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &m3;
    vkGetPhysicalDeviceProperties2(c->phys, &p2);
    if (m3.maxMemoryAllocationSize) c->max_alloc_bytes = size_t(m3.maxMemoryAllocationSize);
  }
  if (!c->max_alloc_bytes) c->max_alloc_bytes = c->max_buffer_bytes;
  c->shared_bytes = c->props.limits.maxComputeSharedMemorySize;
  if (forced.shared) c->shared_bytes = std::min<size_t>(c->shared_bytes, forced.shared);
  for (const DeviceFeature& f : pd.info.features) {
    if (f.key == "fp16") c->fp16 = f.num != 0;
    if (f.key == "int8Dot") c->int8_dot = f.num != 0;
  }

  std::vector<VkExtensionProperties> dexts = device_extensions(c->phys);
  c->memory_budget = inst->api >= VK_API_VERSION_1_1 && c->props.apiVersion >= VK_API_VERSION_1_1 &&
                     vkGetPhysicalDeviceMemoryProperties2 && has_extension(dexts, "VK_EXT_memory_budget");
  init_memory_info(*c);
  std::vector<const char*> denable;
  if (has_extension(dexts, "VK_KHR_portability_subset")) denable.push_back("VK_KHR_portability_subset");
  // NaN must propagate through every kernel: ask for IEEE NaN/Inf semantics where the device has them
  // (properties2 is core from 1.1, the instance version asked for above).
  if (inst->api >= VK_API_VERSION_1_1 && c->props.apiVersion >= VK_API_VERSION_1_1 && vkGetPhysicalDeviceProperties2 &&
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

  // subgroup arithmetic in compute shaders, for the "*_subgroup" shader variants
  const bool v11 = inst->api >= VK_API_VERSION_1_1 && c->props.apiVersion >= VK_API_VERSION_1_1 &&
                   vkGetPhysicalDeviceProperties2 && vkGetPhysicalDeviceFeatures2;
  if (v11) {
    VkPhysicalDeviceSubgroupProperties sub{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &sub;
    vkGetPhysicalDeviceProperties2(c->phys, &p2);
    const VkSubgroupFeatureFlags need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    c->subgroup_size = sub.subgroupSize;
    c->subgroup_arith = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) && (sub.supportedOperations & need) == need &&
                        sub.subgroupSize >= 1 && !forced.no_subgroup;
  }
  // int8 dot products (the "*_int8dot" variants) must be enabled to be used: core in 1.3, else the
  // extension
  VkPhysicalDeviceShaderIntegerDotProductFeatures dot{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
  c->int8_dot = c->int8_dot && v11 &&
                (c->props.apiVersion >= VK_API_VERSION_1_3 || has_extension(dexts, "VK_KHR_shader_integer_dot_product"));
  if (c->int8_dot) {
    dot.shaderIntegerDotProduct = VK_TRUE;
    if (has_extension(dexts, "VK_KHR_shader_integer_dot_product")) denable.push_back("VK_KHR_shader_integer_dot_product");
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
  if (c->int8_dot) {
    dot.pNext = const_cast<void*>(dci.pNext);
    dci.pNext = &dot;
  }
  VkResult r = vkCreateDevice(c->phys, &dci, nullptr, &c->device);
  if (r != VK_SUCCESS) {
    c->device = VK_NULL_HANDLE;
    *why = std::string("could not open Vulkan device '") + c->props.deviceName + "': vkCreateDevice returned " +
           result_name(r);
    return nullptr;
  }
  vkGetDeviceQueue(c->device, c->queue_family, 0, &c->queue);
  c->description = pd.description;
  return c;
}

}  // namespace vk
}  // namespace et

#include "memory.h"

#include <vector>

namespace et {
namespace vk {

namespace {

// Memory type indices allowed by `bits`, best first for `kind`.
std::vector<uint32_t> candidate_types(const Context& c, uint32_t bits, MemKind kind) {
  const VkMemoryPropertyFlags DL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                              HC = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, CA = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
  std::vector<VkMemoryPropertyFlags> prefs;
  if (kind == MemKind::Device) {
    if (c.uma) prefs = {DL | HV | HC, DL, HV | HC};
    else prefs = {DL, DL | HV | HC, HV | HC};
  } else {
    prefs = {HV | HC | CA, HV | HC};
  }
  std::vector<uint32_t> out;
  for (VkMemoryPropertyFlags want : prefs)
    for (uint32_t i = 0; i < c.mem.memoryTypeCount; ++i) {
      if (!(bits & (1u << i))) continue;
      if ((c.mem.memoryTypes[i].propertyFlags & want) != want) continue;
      bool seen = false;
      for (uint32_t j : out) seen = seen || j == i;
      if (!seen) out.push_back(i);
    }
  return out;
}

}  // namespace

DeviceBuffer* create_buffer(const Context& c, VkDeviceSize bytes, MemKind kind, std::string* err) {
  auto* b = new DeviceBuffer();
  b->size = bytes;
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = bytes;
  bci.usage = kind == MemKind::Device
                  ? VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT
                  : VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT |
                        VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;  // storage: the kernel error record
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkResult r = vkCreateBuffer(c.device, &bci, nullptr, &b->buffer);
  if (r != VK_SUCCESS) {
    *err = vk_error(("vkCreateBuffer of " + std::to_string(bytes) + " bytes").c_str(), r);
    delete b;
    return nullptr;
  }
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(c.device, b->buffer, &req);
  r = VK_ERROR_OUT_OF_DEVICE_MEMORY;
  for (uint32_t type : candidate_types(c, req.memoryTypeBits, kind)) {
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = type;
    r = vkAllocateMemory(c.device, &mai, nullptr, &b->memory);
    if (r != VK_SUCCESS) {
      b->memory = VK_NULL_HANDLE;
      continue;
    }
    VkMemoryPropertyFlags f = c.mem.memoryTypes[type].propertyFlags;
    bool map = kind == MemKind::Staging || c.map_tensors;
    if (map && (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) {
      if (vkMapMemory(c.device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped) != VK_SUCCESS) b->mapped = nullptr;
    }
    break;
  }
  if (!b->memory) {
    *err = vk_error(("allocating " + std::to_string(bytes) + " bytes of device memory").c_str(), r);
    vkDestroyBuffer(c.device, b->buffer, nullptr);
    delete b;
    return nullptr;
  }
  if (kind == MemKind::Staging && !b->mapped) {
    *err = "vulkan: could not map a staging buffer";
    destroy_buffer(c, b);
    return nullptr;
  }
  r = vkBindBufferMemory(c.device, b->buffer, b->memory, 0);
  if (r != VK_SUCCESS) {
    *err = vk_error("vkBindBufferMemory", r);
    destroy_buffer(c, b);
    return nullptr;
  }
  return b;
}

void destroy_buffer(const Context& c, DeviceBuffer* b) {
  if (!b) return;
  if (b->mapped) vkUnmapMemory(c.device, b->memory);
  if (b->buffer) vkDestroyBuffer(c.device, b->buffer, nullptr);
  if (b->memory) vkFreeMemory(c.device, b->memory, nullptr);
  delete b;
}

namespace {
// the device-local heaps' budget and usage summed; {0, 0} without VK_EXT_memory_budget
void budget_sums(const Context& c, uint64_t* allowed, uint64_t* used) {
  *allowed = *used = 0;
  if (!c.memory_budget) return;
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
  VkPhysicalDeviceMemoryProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
  p2.pNext = &budget;
  vkGetPhysicalDeviceMemoryProperties2(c.phys, &p2);
  for (uint32_t i = 0; i < c.mem.memoryHeapCount; ++i) {
    if (!(c.mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)) continue;
    *allowed += budget.heapBudget[i];
    *used += budget.heapUsage[i];
  }
}
}  // namespace

void init_memory_info(Context& c) {
  c.local_bytes = 0;
  for (uint32_t i = 0; i < c.mem.memoryHeapCount; ++i)
    if (c.mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) c.local_bytes += c.mem.memoryHeaps[i].size;
  uint64_t allowed, used;
  budget_sums(c, &allowed, &used);
  if (allowed == 0) c.memory_budget = false;
}

MemoryInfo memory_info(const Context& c, uint64_t held) {
  MemoryInfo m;
  m.total = c.local_bytes;
  uint64_t allowed, used;
  budget_sums(c, &allowed, &used);
  m.from_budget = allowed > 0;
  if (m.from_budget) m.free = allowed > used ? allowed - used : 0;
  else m.free = m.total > held ? m.total - held : 0;
  return m;
}

}  // namespace vk
}  // namespace et

// Vulkan buffers: one VkBuffer + VkDeviceMemory per allocation (the CachingAllocator above
// them makes re-allocation rare).
#pragma once
#include <cstdint>
#include <string>

#include "context.h"

namespace et {
namespace vk {

struct DeviceBuffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  void* mapped = nullptr;   // non-null when host-visible (coherent) and mapped
  VkDeviceSize size = 0;
  uint64_t last_use = 0;    // serial of the last batch that touches it (0 = never)
};

enum class MemKind {
  Device,   // storage buffers for tensors: device-local (host-visible too on UMA devices)
  Staging,  // host-visible coherent (cached when possible): transfers, the meta uniform blocks, the kernel error record
};

// Returns nullptr and sets *err on failure.
DeviceBuffer* create_buffer(const Context& c, VkDeviceSize bytes, MemKind kind, std::string* err);
void destroy_buffer(const Context& c, DeviceBuffer* b);

// Device-local memory: the heaps' total (c.local_bytes) and the bytes still free, from
// VK_EXT_memory_budget where the device has it, else the total less `held` (what this process's
// allocators hold). The budget is a driver query: it is asked for when an allocation fails (oom()
// names the free bytes), never on the allocation path itself.
struct MemoryInfo {
  uint64_t total = 0, free = 0;
  bool from_budget = false;
};
MemoryInfo memory_info(const Context& c, uint64_t held);
// At device open: sums c.local_bytes, and clears c.memory_budget where the driver reports no
// budget at all (the held-based figure is then the only one).
void init_memory_info(Context& c);

}  // namespace vk
}  // namespace et

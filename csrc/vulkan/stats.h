// Counters of the Vulkan command streams of this process (all devices together), printed to
// stderr at exit under EDGETRAIN_VULKAN_STATS=1: how many dispatches, copies, barriers and
// submits the work took and how many bytes crossed between host and device.
#pragma once
#include <atomic>
#include <cstdint>

namespace et {
namespace vk {

struct Stats {
  std::atomic<uint64_t> dispatches{0}, copies{0}, submits{0};
  std::atomic<uint64_t> barriers{0};  // device-side (compute/transfer -> compute/transfer) barriers
  // why each was recorded: a read after a write, else a write after a write, else a write after
  // a read (of one buffer, since the last barrier), else EDGETRAIN_VULKAN_BARRIER_ALL
  std::atomic<uint64_t> raw{0}, waw{0}, war{0}, forced{0};
  std::atomic<uint64_t> uploaded{0}, downloaded{0};  // bytes, mapped or staged
};

Stats& vk_stats();

}  // namespace vk
}  // namespace et

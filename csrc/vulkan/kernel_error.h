// The kernel error record of a Vulkan device: errors only running finds (an index read from
// device memory outside its range) are written by shaders into one small host-visible storage
// buffer (kernels/vulkan/kernel_error.glsl: the first error wins) and turned into the CPU twin's
// message when the backend next waits for the device: sync(), download(), and right after the
// checking dispatch under EDGETRAIN_SYNC=1. The message is reported once: taking it clears the
// record, and later dispatches record again.
#pragma once
#include <string>

#include "context.h"
#include "memory.h"

namespace et {
namespace vk {

class KernelErrorRecord {
 public:
  std::string init(const Context& c);  // allocates the record, cleared
  void destroy(const Context& c);
  DeviceBuffer* buffer() const { return buf_; }
  // Whether a shader has claimed the record. May be asked while dispatches run (false then can
  // mean "not yet"); the other words are complete only once the claiming dispatch has finished.
  bool claimed() const;
  // The recorded error as the CPU twin words it ("IndexError: embedding: index 4 at position 1 is
  // outside [0, 4)"), clearing the record; "" when none. Only once the dispatches that use the
  // record (buffer()->last_use) have finished.
  std::string take();

 private:
  DeviceBuffer* buf_ = nullptr;
};

}  // namespace vk
}  // namespace et

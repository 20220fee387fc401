// The kernel error record (kernel_error.h) and the VulkanBackend side of it: the index check
// dispatch (kernels/vulkan/index_check.comp) and taking a recorded error when the stream waits.
#include "kernel_error.h"

#include <cstring>

#include "../../kernels/vulkan/meta.h"
#include "op_util.h"
#include "vk_backend.h"

namespace et {
namespace vk {

namespace {
// kernels/vulkan/kernel_error.glsl
constexpr uint32_t kWords = 8;
constexpr uint32_t kIndexAtPosition = 1, kTargetAtRow = 2;
}  // namespace

std::string KernelErrorRecord::init(const Context& c) {
  std::string err;
  buf_ = create_buffer(c, kWords * 4, MemKind::Staging, &err);
  if (!buf_) return err;
  std::memset(buf_->mapped, 0, kWords * 4);
  return "";
}

void KernelErrorRecord::destroy(const Context& c) {
  destroy_buffer(c, buf_);
  buf_ = nullptr;
}

bool KernelErrorRecord::claimed() const {
  return buf_ && static_cast<const volatile uint32_t*>(buf_->mapped)[0] != 0;
}

std::string KernelErrorRecord::take() {
  if (!claimed()) return "";
  volatile uint32_t* w = static_cast<volatile uint32_t*>(buf_->mapped);
  const int op = int(w[1]), kind = int(w[2]);
  const int32_t pos = int32_t(w[3]), value = int32_t(w[4]), bound = int32_t(w[5]);
  for (uint32_t i = 0; i < kWords; ++i) w[i] = 0;
  const std::string name = op >= 0 && op < OP_COUNT ? op_name(op) : "kernel";
  const std::string range = " is outside [0, " + std::to_string(bound) + ")";
  // the CPU twins' texts: csrc/cpu/embedding.cpp check_ids, csrc/cpu/softmax.cpp check_targets
  if (kind == int(kIndexAtPosition))
    return "IndexError: " + name + ": index " + std::to_string(value) + " at position " + std::to_string(pos) + range;
  if (kind == int(kTargetAtRow))
    return "IndexError: " + name + ": target " + std::to_string(value) + " at row " + std::to_string(pos) + range;
  return "IndexError: " + name + ": value " + std::to_string(value) + " at " + std::to_string(pos) + range;
}

std::string VulkanBackend::check_indices(const Call& c, const View& ids, int64_t stride, int64_t bound, bool target,
                                         const int32_t* ignore) {
  const int64_t n = ids.numel();
  if (n == 0) return "";
  Meta mt;
  mt.m[META_N] = int32_t(n);
  mt.m[META_I] = int32_t(bound);
  mt.m[META_I + 1] = ignore ? 1 : 0;
  mt.m[META_I + 2] = ignore ? *ignore : 0;
  mt.m[META_I + 3] = c.op;
  mt.m[META_I + 4] = int32_t(target ? kTargetAtRow : kIndexAtPosition);
  mt.m[META_X] = int32_t(ids.offset);
  mt.m[META_X + 1] = int32_t(stride);
  // a windowed chunk (window.cpp) of the ids: positions count from the call's first id
  if (win_) mt.m[META_I + 5] = int32_t(c.op == OP_EMBEDDING ? win_->start[1] : c.op == OP_EMBEDDING_BWD ? win_->start[1] : win_->start[0]);
  DeviceBuffer* bufs[2] = {dev(ids.buf), kerr_.buffer()};
  std::string err = run(c, "index_check", mt.m, bufs, 1, 1, 1);
  if (!err.empty() || !sync_errors_) return err;
  // EDGETRAIN_SYNC=1: the error belongs to this call, as on CPU
  err = stream_->wait(kerr_.buffer()->last_use);
  return err.empty() ? kerr_.take() : "DeviceError: " + err;
}

std::string VulkanBackend::kernel_error() {
  if (!kerr_.claimed()) return "";
  std::string err = stream_->wait(kerr_.buffer()->last_use);
  if (!err.empty()) return "DeviceError: " + err;
  return kerr_.take();
}

}  // namespace vk
}  // namespace et

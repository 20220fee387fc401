// The Vulkan Backend: buffers on the device, ops recorded into the command stream.
// backend_vulkan.cpp holds memory, transfers and sync; ops.cpp turns Calls into dispatches.
#pragma once
#include <memory>
#include <mutex>
#include <string>

#include "../allocator.h"
#include "../backend.h"
#include "context.h"
#include "kernel_error.h"
#include "memory.h"
#include "pipelines.h"
#include "stream.h"

namespace et {
namespace vk {

struct WindowPlan;  // window.h

class VulkanBackend : public Backend {
 public:
  VulkanBackend(std::string name, std::unique_ptr<Context> ctx);
  ~VulkanBackend() override;
  std::string init();

  const char* name() const override { return name_.c_str(); }
  std::string description() const override { return ctx_->description; }
  // The on-disk pipeline cache's file and state, for devices() (pipeline_cache.h).
  const std::string& pipeline_cache() const { return pipes_->cache_text(); }
  Buffer* alloc(size_t bytes, std::string* err) override;
  void free(Buffer* b) override;
  std::string upload(Buffer* b, size_t offset, const void* src, size_t bytes) override;
  std::string download(Buffer* b, size_t offset, void* dst, size_t bytes) override;
  bool supports_op(int op) const override;
  bool supports(const Call& c) const override;
  std::string exec(const Call& c) override;
  std::string sync() override;
  void empty_cache() override;
  MemStats stats() const override { return alloc_.stats(); }
  // Waits for the device and saves the pipeline cache.
  void at_exit() override;
  // No: the registry's destructor runs among the static destructors, after those of the objects
  // made later, and the driver was loaded (and lavapipe's LLVM made its static objects) after the
  // registry: tearing the device down then, or letting its queue thread compile a shader then,
  // ran on destroyed LLVM state (hangs in MCJIT, "free(): invalid size", double frees). Work is
  // finished at the JS 'exit' event (at_exit()), before any static destructor; the device, its
  // memory and its threads go with the process.
  bool delete_at_exit() const override { return false; }

 private:
  // ops.cpp
  std::string exec_locked(const Call& c);  // exec under mu_
  std::string exec_fill_copy(const Call& c);
  std::string exec_elementwise(const Call& c);
  std::string exec_sum(const Call& c);  // reduce_max.cpp
  std::string exec_matmul(const Call& c);
  std::string run(const Call& c, const char* shader, const int32_t* meta, Bufs bufs, uint32_t gx, uint32_t gy,
                  uint32_t gz);
  // one file per op family, named as its CPU twin in csrc/cpu and its shader in kernels/vulkan
  std::string exec_swiglu(const Call& c);         // swiglu.cpp
  std::string exec_max(const Call& c);            // reduce_max.cpp
  std::string exec_reduce(const Call& c, bool is_max);  // reduce_max.cpp: sum and max
  // A device buffer for one op's intermediate results, given back once the work queued so far
  // (the op's dispatches) has finished (reduce_max.cpp). Called with mu_ held.
  Buffer* scratch_alloc(size_t bytes, std::string* err);
  void scratch_release(Buffer* b);
  std::string exec_softmax(const Call& c);        // softmax.cpp
  std::string exec_cross_entropy(const Call& c);  // cross_entropy.cpp
  std::string exec_embedding(const Call& c);      // embedding.cpp
  std::string exec_norm(const Call& c);           // norm.cpp
  std::string exec_rope(const Call& c);           // rope.cpp
  std::string exec_random(const Call& c);         // random.cpp
  std::string exec_dropout(const Call& c);        // dropout.cpp
  std::string exec_optim(const Call& c);          // optim.cpp
  std::string exec_attention(const Call& c);      // attention.cpp
  std::string exec_quant(const Call& c);          // quant.cpp (dequantize, matmulQ)
  std::string exec_quantize(const Call& c);       // quantize.cpp

  // window.cpp: a call on buffers larger than one storage binding may span runs as chunks, each
  // binding a window of them (window.h); win_ is the chunk being recorded (nullptr: none).
  struct Window {
    const DeviceBuffer* b = nullptr;
    VkDeviceSize off = 0, range = 0;
  };
  struct WindowState {
    const Call* orig = nullptr;     // the call as exec got it
    int64_t start[kMaxDims] = {};   // per plan level, the first index of the chunk
    Window w[kMaxArgs];
    int n = 0;
    // a full sum / max cut into chunks (window_reduce_all): the chunk's first element index, or,
    // for the pass over the chunks' partials, their argmax indices
    int64_t index_base = 0;
    const Buffer* partial_idx = nullptr;
  };
  bool needs_windows(const Call& c) const;
  size_t window_align() const;
  std::string exec_windowed(const Call& c);
  std::string window_level(const WindowPlan& p, const Call& c, int level);
  std::string window_leaf(const Call& c);
  std::string window_accumulate(const WindowPlan& p, Call sub, int level);
  std::string window_reduce_all(const Call& c);
  WindowState* win_ = nullptr;

  std::string oom(size_t bytes, const std::string& why) const;
  // kernel_error.cpp: records index_check.comp over the int32 vector ids (element stride
  // `stride`): its first value outside [0, bound) (other than *ignore) becomes the kernel error
  // record's "index ... at position" (or, with target, "target ... at row") error.
  std::string check_indices(const Call& c, const View& ids, int64_t stride, int64_t bound, bool target,
                            const int32_t* ignore);
  // The recorded kernel error, after waiting for the dispatches that may have written it; "" if none.
  std::string kernel_error();

  static DeviceBuffer* dev(const Buffer* b) { return static_cast<DeviceBuffer*>(b->impl); }

  std::string name_;  // "vulkan", "vulkan:1"
  std::unique_ptr<Context> ctx_;
  std::unique_ptr<Pipelines> pipes_;
  CachingAllocator alloc_;    // tensor buffers
  CachingAllocator staging_;  // host-visible transfer buffers
  std::unique_ptr<Stream> stream_;
  KernelErrorRecord kerr_;
  bool sync_errors_ = false;  // EDGETRAIN_SYNC=1: a call's kernel error is returned by that call
  mutable std::mutex mu_;
};

}  // namespace vk
}  // namespace et

// The command stream: dispatches and copies are recorded into a ring of frames (command buffer
// + fence + descriptor pool + meta arena) and submitted in batches. Every recorded frame gets a
// serial; completed() is the newest serial whose fence has signalled, so buffers remember the
// serial of their last use and callers can wait for (or defer work until) exactly that point.
#pragma once
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "memory.h"
#include "pipelines.h"

namespace et {
namespace vk {

// The tensor buffers of one dispatch: p[i] is bound at binding 1 + i (nullptr: a dummy buffer).
// Made from an array (DeviceBuffer* bufs[3]) or a pointer and a count. off/range (bytes, when
// set: one per buffer) bind a window of each: off a multiple of minStorageBufferOffsetAlignment,
// range at most maxStorageBufferRange; unset, a buffer binds from 0 (window.h).
struct Bufs {
  DeviceBuffer* const* p = nullptr;
  uint32_t n = 0;
  const VkDeviceSize* off = nullptr;
  const VkDeviceSize* range = nullptr;
  Bufs() = default;
  Bufs(DeviceBuffer* const* p_, uint32_t n_) : p(p_), n(n_) {}
  template <size_t N>
  Bufs(DeviceBuffer* const (&a)[N]) : p(a), n(uint32_t(N)) {}
};

class Stream {
 public:
  static constexpr uint32_t kFrames = 4;
  static constexpr uint32_t kFrameDispatches = 64;        // submit after this many dispatches,
  static constexpr uint32_t kFrameCommands = 256;         // or this many commands,
  static constexpr VkDeviceSize kFrameCopyBytes = 256 << 20;  // or this many staged bytes

  Stream(const Context& c, const Pipelines& p) : c_(c), p_(p) {}
  ~Stream();
  std::string init();

  // Records a dispatch of pipe; meta holds META_INTS words. Writes the meta block and the
  // storage bindings the shader declares or bufs fills (those past bufs.n bind a dummy buffer;
  // the rest of the layout stays unwritten: the shader does not use it). Marks the buffers as
  // used by the recording frame. Dispatches and copies are ordered only where they touch a
  // common buffer and one of them writes it (order()).
  std::string dispatch(const Pipeline& pipe, const int32_t* meta, Bufs bufs, uint32_t gx, uint32_t gy, uint32_t gz);
  std::string copy(DeviceBuffer* src, VkDeviceSize src_off, DeviceBuffer* dst, VkDeviceSize dst_off,
                   VkDeviceSize bytes);
  // Submits the recording frame (if it has commands).
  std::string flush();
  // Submits as needed and blocks until all work up to `serial` has finished.
  std::string wait(uint64_t serial);
  std::string wait_all() { return wait(serial_); }
  // Retires frames whose fences have signalled (runs their deferred callbacks).
  void poll();
  // Runs fn once the work up to `serial` has finished (now, if it already has).
  void when_done(uint64_t serial, std::function<void()> fn);
  uint64_t completed() const { return completed_; }
  // "" while healthy; the first fatal Vulkan error (e.g. device lost) afterwards.
  const std::string& lost() const { return lost_; }

 private:
  enum class State { Idle, Recording, InFlight };
  struct Frame {
    VkCommandPool pool = VK_NULL_HANDLE;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    VkDescriptorPool dpool = VK_NULL_HANDLE;
    DeviceBuffer* meta = nullptr;
    // bound in place of a missing argument at a binding the shader may write: a slot per
    // dispatch, so unordered dispatches never share one (the shader does not use it)
    DeviceBuffer* sink = nullptr;
    uint32_t dispatches = 0, commands = 0;
    VkDeviceSize copy_bytes = 0;
    uint64_t serial = 0;
    State state = State::Idle;
    std::vector<std::function<void()>> on_done;
  };

  std::string begin();         // makes frames_[cur_] a recording frame
  std::string retire(Frame& f);  // after its fence: run callbacks, mark idle
  void barrier(VkCommandBuffer cmd);
  // Hazard tracking. A command of frame `serial` that reads (kRead) or writes (kWrite) buffers
  // b[0..n) first gets a barrier if it reads a buffer written, or writes one read or written
  // by unfinished work, since the last barrier (a read after a read needs none); then its
  // accesses join those since the barrier.
  enum : uint8_t { kRead = 1, kWrite = 2 };
  struct Access {
    uint8_t access = 0;   // kRead | kWrite since the last barrier
    uint64_t serial = 0;  // the frame of the newest of them
  };
  void order(VkCommandBuffer cmd, uint64_t serial, const VkBuffer* b, const uint8_t* access, uint32_t n);
  std::string fail(std::string msg);

  const Context& c_;
  const Pipelines& p_;
  uint64_t fail_after_ = 0, dispatched_ = 0;  // EDGETRAIN_VULKAN_FAIL_AFTER (0: never)
  Frame frames_[kFrames];
  uint32_t cur_ = 0;          // frame being recorded (when its state is Recording)
  uint64_t serial_ = 0;       // serial of the newest frame begun
  uint64_t completed_ = 0;
  VkDeviceSize meta_stride_ = 0, sink_stride_ = 0;
  DeviceBuffer* dummy_ = nullptr;  // bound in place of a missing argument the shader only reads
  std::string lost_;
  // per VkBuffer, the accesses since the last barrier (kept across frames: see order())
  std::unordered_map<VkBuffer, Access> since_barrier_;
  bool barrier_all_ = false;  // EDGETRAIN_VULKAN_BARRIER_ALL=1: a barrier before every command
};

}  // namespace vk
}  // namespace et

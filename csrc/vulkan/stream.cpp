#include "stream.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "../../kernels/vulkan/meta.h"
#include "stats.h"

namespace et {
namespace vk {

Stream::~Stream() {
  if (!c_.device) return;
  vkDeviceWaitIdle(c_.device);
  for (auto& f : frames_) {
    for (auto& fn : f.on_done) fn();
    f.on_done.clear();
    if (f.dpool) vkDestroyDescriptorPool(c_.device, f.dpool, nullptr);
    if (f.fence) vkDestroyFence(c_.device, f.fence, nullptr);
    if (f.pool) vkDestroyCommandPool(c_.device, f.pool, nullptr);
    destroy_buffer(c_, f.meta);
    destroy_buffer(c_, f.sink);
  }
  destroy_buffer(c_, dummy_);
}

std::string Stream::fail(std::string msg) {
  if (lost_.empty()) lost_ = msg + " (the Vulkan device is unusable from now on)";
  return lost_;
}

std::string Stream::init() {
  // a test hook: the device is "lost" after this many dispatches, as a driver reset or a GPU
  // that falls off the bus would leave it, so the trainer's recovery can be exercised anywhere
  if (const char* fa = std::getenv("EDGETRAIN_VULKAN_FAIL_AFTER")) fail_after_ = std::strtoull(fa, nullptr, 10);
  const char* ba = std::getenv("EDGETRAIN_VULKAN_BARRIER_ALL");
  barrier_all_ = ba && std::strcmp(ba, "1") == 0;
  VkDeviceSize align = std::max<VkDeviceSize>(
      c_.meta_storage ? c_.props.limits.minStorageBufferOffsetAlignment : c_.props.limits.minUniformBufferOffsetAlignment, 16);
  meta_stride_ = (META_BYTES + align - 1) / align * align;
  const VkDeviceSize salign = std::max<VkDeviceSize>(c_.props.limits.minStorageBufferOffsetAlignment, 256);
  sink_stride_ = (256 + salign - 1) / salign * salign;
  std::string err;
  dummy_ = create_buffer(c_, 256, MemKind::Device, &err);
  if (!dummy_) return err;
  for (auto& f : frames_) {
    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
    pci.queueFamilyIndex = c_.queue_family;
    VkResult r = vkCreateCommandPool(c_.device, &pci, nullptr, &f.pool);
    if (r != VK_SUCCESS) return vk_error("vkCreateCommandPool", r);
    VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    cai.commandPool = f.pool;
    cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cai.commandBufferCount = 1;
    r = vkAllocateCommandBuffers(c_.device, &cai, &f.cmd);
    if (r != VK_SUCCESS) return vk_error("vkAllocateCommandBuffers", r);
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    r = vkCreateFence(c_.device, &fci, nullptr, &f.fence);
    if (r != VK_SUCCESS) return vk_error("vkCreateFence", r);
    // every set holds the whole layout, written or not
    // (the meta block is a storage buffer too where c_.meta_storage)
    const uint32_t meta = c_.meta_storage ? 1 : 0;
    VkDescriptorPoolSize ps[2] = {{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kFrameDispatches * (p_.buffers() + meta)},
                                  {VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, kFrameDispatches}};
    VkDescriptorPoolCreateInfo dpi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    dpi.maxSets = kFrameDispatches;
    dpi.poolSizeCount = meta ? 1 : 2;
    dpi.pPoolSizes = ps;
    r = vkCreateDescriptorPool(c_.device, &dpi, nullptr, &f.dpool);
    if (r != VK_SUCCESS) return vk_error("vkCreateDescriptorPool", r);
    f.meta = create_buffer(c_, meta_stride_ * kFrameDispatches, MemKind::Staging, &err);
    if (!f.meta) return err;
    f.sink = create_buffer(c_, sink_stride_ * kFrameDispatches, MemKind::Device, &err);
    if (!f.sink) return err;
  }
  return "";
}

void Stream::barrier(VkCommandBuffer cmd) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                     VK_ACCESS_TRANSFER_WRITE_BIT;
  VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  vkCmdPipelineBarrier(cmd, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
  vk_stats().barriers++;
}

// The state is per VkBuffer: the caching allocator hands out whole buffers and tensors are
// views into them, so two tensors that share a buffer are ordered even when their bytes do not
// overlap (conservative, and cheap to look up). One full barrier (every compute and transfer
// write made visible to every compute and transfer access) clears all the state: it orders the
// command after it against everything before it, so no finer barrier is worth its bookkeeping.
//
// The state is kept across command buffers rather than reset with a barrier at each begin():
// a pipeline barrier's first scope is every command earlier in submission order on the queue,
// and submission order runs across command buffers and vkQueueSubmit calls (one queue here),
// so a barrier in a later frame orders it after an earlier frame's writes exactly as within one
// frame. Nothing else touches these buffers on the device: host writes (mapped uploads, the
// meta blocks, clearing the kernel error record) happen only to buffers whose frames have
// finished, before the submit that uses them, which vkQueueSubmit makes visible; host reads
// wait for the fence after flush()'s device->host barrier. A buffer destroyed meanwhile (only
// once its work has finished) leaves a stale entry: at worst a spare barrier if its handle is
// reused. A write after accesses whose frame has finished (a download's staging buffer, written
// again by the next download) needs no barrier; a read after such a write still does.
void Stream::order(VkCommandBuffer cmd, uint64_t serial, const VkBuffer* b, const uint8_t* access, uint32_t n) {
  bool raw = false, war = false, waw = false;
  for (uint32_t i = 0; i < n; ++i) {
    auto it = since_barrier_.find(b[i]);
    if (it == since_barrier_.end()) continue;
    raw |= (access[i] & kRead) && (it->second.access & kWrite);
    // a write needs only the earlier accesses finished and their writes available, which a
    // signalled fence gives: not so a read, which needs the earlier writes made visible too
    if (it->second.serial <= completed_) continue;
    waw |= (access[i] & kWrite) && (it->second.access & kWrite);
    war |= (access[i] & kWrite) && (it->second.access & kRead);
  }
  if (barrier_all_ || raw || war || waw) {
    barrier(cmd);
    since_barrier_.clear();
    Stats& st = vk_stats();
    (raw ? st.raw : waw ? st.waw : war ? st.war : st.forced)++;
  }
  if (barrier_all_) return;
  for (uint32_t i = 0; i < n; ++i) {
    Access& a = since_barrier_[b[i]];
    a.access |= access[i];
    a.serial = serial;
  }
}

std::string Stream::begin() {
  Frame& f = frames_[cur_];
  if (f.state == State::Recording) return "";
  if (f.state == State::InFlight) {  // ring is full: wait for the oldest frame
    std::string err = wait(f.serial);
    if (!err.empty()) return err;
  }
  VkResult r = vkResetCommandPool(c_.device, f.pool, 0);
  if (r == VK_SUCCESS) r = vkResetDescriptorPool(c_.device, f.dpool, 0);
  if (r != VK_SUCCESS) return fail(vk_error("resetting a command frame", r));
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  r = vkBeginCommandBuffer(f.cmd, &bi);
  if (r != VK_SUCCESS) return fail(vk_error("vkBeginCommandBuffer", r));
  f.dispatches = f.commands = 0;
  f.copy_bytes = 0;
  f.serial = ++serial_;
  f.state = State::Recording;
  return "";
}

std::string Stream::dispatch(const Pipeline& pipe, const int32_t* meta, Bufs bufs, uint32_t gx, uint32_t gy,
                             uint32_t gz) {
  if (!lost_.empty()) return lost_;
  if (fail_after_ && ++dispatched_ > fail_after_)
    return fail("VK_ERROR_DEVICE_LOST injected after " + std::to_string(fail_after_) +
                " dispatches (EDGETRAIN_VULKAN_FAIL_AFTER)");
  if (bufs.n > p_.buffers())
    return "a dispatch of " + std::to_string(bufs.n) + " buffers; " + c_.props.deviceName + " binds " +
           std::to_string(p_.buffers()) + " per shader stage";
  if (frames_[cur_].state == State::Recording &&
      (frames_[cur_].dispatches >= kFrameDispatches || frames_[cur_].commands >= kFrameCommands)) {
    std::string err = flush();
    if (!err.empty()) return err;
  }
  std::string err = begin();
  if (!err.empty()) return err;
  Frame& f = frames_[cur_];

  VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  VkDescriptorSetLayout sl = p_.set_layout();
  ai.descriptorPool = f.dpool;
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &sl;
  VkDescriptorSet set;
  VkResult r = vkAllocateDescriptorSets(c_.device, &ai, &set);
  if (r != VK_SUCCESS) return vk_error("vkAllocateDescriptorSets", r);

  VkDeviceSize moff = meta_stride_ * f.dispatches;
  std::memcpy(static_cast<char*>(f.meta->mapped) + moff, meta, META_BYTES);
  // binding 0 and the storage bindings 1..n the shader uses, not the whole layout
  const uint32_t n = std::max(bufs.n, pipe.buffers);
  VkDescriptorBufferInfo info[1 + kMaxArgs];
  info[0] = {f.meta->buffer, moff, META_BYTES};
  VkDeviceSize max_range = c_.props.limits.maxStorageBufferRange;
  VkBuffer touched[kMaxArgs];
  uint8_t access[kMaxArgs];
  uint32_t nt = 0;
  for (uint32_t i = 0; i < n; ++i) {
    DeviceBuffer* b = i < bufs.n && bufs.p[i] ? bufs.p[i] : dummy_;
    if (i < bufs.n && bufs.p[i] && bufs.off)
      info[i + 1] = {b->buffer, bufs.off[i], bufs.range[i]};
    else
      info[i + 1] = {b->buffer, 0, std::min(b->size, max_range)};
    b->last_use = f.serial;
    if (b == dummy_ && (pipe.written >> (i + 1)) & 1u) info[i + 1] = {f.sink->buffer, sink_stride_ * f.dispatches, sink_stride_};
    if (b != dummy_ && i < pipe.buffers) {  // the dummy and bindings past the shader's are not accessed
      touched[nt] = b->buffer;
      access[nt++] = uint8_t(kRead | ((pipe.written >> (i + 1)) & 1u ? kWrite : 0));
    }
  }
  VkWriteDescriptorSet w[1 + kMaxArgs];
  for (uint32_t i = 0; i <= n; ++i) {
    w[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    w[i].dstSet = set;
    w[i].dstBinding = i;
    w[i].descriptorCount = 1;
    w[i].descriptorType = i == 0 && !c_.meta_storage ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    w[i].pBufferInfo = &info[i];
  }
  vkUpdateDescriptorSets(c_.device, 1 + n, w, 0, nullptr);

  order(f.cmd, f.serial, touched, access, nt);
  vkCmdBindPipeline(f.cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe.handle);
  vkCmdBindDescriptorSets(f.cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p_.layout(), 0, 1, &set, 0, nullptr);
  vkCmdDispatch(f.cmd, gx, gy, gz);
  f.dispatches++;
  f.commands++;
  vk_stats().dispatches++;
  return "";
}

std::string Stream::copy(DeviceBuffer* src, VkDeviceSize src_off, DeviceBuffer* dst, VkDeviceSize dst_off,
                         VkDeviceSize bytes) {
  if (!lost_.empty()) return lost_;
  std::string err = begin();
  if (!err.empty()) return err;
  Frame& f = frames_[cur_];
  const VkBuffer touched[2] = {src->buffer, dst->buffer};
  const uint8_t access[2] = {kRead, kWrite};
  order(f.cmd, f.serial, touched, access, 2);
  VkBufferCopy region{src_off, dst_off, bytes};
  vkCmdCopyBuffer(f.cmd, src->buffer, dst->buffer, 1, &region);
  src->last_use = dst->last_use = f.serial;
  f.commands++;
  f.copy_bytes += bytes;
  vk_stats().copies++;
  // many uploads in a row: submit, so staging memory is recycled
  if (f.commands >= kFrameCommands || f.copy_bytes >= kFrameCopyBytes) return flush();
  return "";
}

std::string Stream::flush() {
  if (!lost_.empty()) return lost_;
  Frame& f = frames_[cur_];
  if (f.state != State::Recording) return "";
  // make the frame's writes visible to the host (downloads read mapped memory after the fence)
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(f.cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
  VkResult r = vkEndCommandBuffer(f.cmd);
  if (r != VK_SUCCESS) return fail(vk_error("vkEndCommandBuffer", r));
  r = vkResetFences(c_.device, 1, &f.fence);
  if (r != VK_SUCCESS) return fail(vk_error("vkResetFences", r));
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &f.cmd;
  r = vkQueueSubmit(c_.queue, 1, &si, f.fence);
  if (r != VK_SUCCESS) return fail(vk_error("vkQueueSubmit", r));
  f.state = State::InFlight;
  cur_ = (cur_ + 1) % kFrames;
  vk_stats().submits++;
  return "";
}

std::string Stream::retire(Frame& f) {
  f.state = State::Idle;
  completed_ = std::max(completed_, f.serial);
  std::vector<std::function<void()>> fns;
  fns.swap(f.on_done);
  for (auto& fn : fns) fn();
  return "";
}

std::string Stream::wait(uint64_t serial) {
  if (!lost_.empty()) return lost_;
  if (serial <= completed_) return "";
  Frame& rec = frames_[cur_];
  if (rec.state == State::Recording && rec.serial <= serial) {
    std::string err = flush();
    if (!err.empty()) return err;
  }
  // retire in submission order
  for (;;) {
    Frame* oldest = nullptr;
    for (auto& f : frames_)
      if (f.state == State::InFlight && (!oldest || f.serial < oldest->serial)) oldest = &f;
    if (!oldest || oldest->serial > serial) break;
    VkResult r = vkWaitForFences(c_.device, 1, &oldest->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS) return fail(vk_error("vkWaitForFences", r));
    retire(*oldest);
  }
  return "";
}

void Stream::poll() {
  if (!lost_.empty()) return;
  for (;;) {
    Frame* oldest = nullptr;
    for (auto& f : frames_)
      if (f.state == State::InFlight && (!oldest || f.serial < oldest->serial)) oldest = &f;
    if (!oldest) return;
    VkResult r = vkGetFenceStatus(c_.device, oldest->fence);
    if (r == VK_NOT_READY) return;
    if (r != VK_SUCCESS) {
      fail(vk_error("vkGetFenceStatus", r));
      return;
    }
    retire(*oldest);
  }
}

void Stream::when_done(uint64_t serial, std::function<void()> fn) {
  if (serial <= completed_) {
    fn();
    return;
  }
  for (auto& f : frames_)
    if (f.state != State::Idle && f.serial == serial) {
      f.on_done.push_back(std::move(fn));
      return;
    }
  // not found: the serial belongs to a frame already retired (cannot happen) - run now
  fn();
}

}  // namespace vk
}  // namespace et

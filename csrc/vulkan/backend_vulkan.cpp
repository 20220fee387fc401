// VulkanBackend: construction, buffers, transfers and synchronisation.
#include "backend_vulkan.h"

#include <cstdlib>
#include <cstring>

#include "op_table.h"
#include "stats.h"
#include "vk_backend.h"

namespace et {
namespace vk {

namespace {
Buffer* wrap(DeviceBuffer* db) {
  auto* b = new Buffer();
  b->impl = db;
  b->ptr = nullptr;
  return b;
}
}  // namespace

VulkanBackend::VulkanBackend(std::string name, std::unique_ptr<Context> ctx)
    : name_(std::move(name)),
      ctx_(std::move(ctx)),
      alloc_(
          [this](size_t cap, std::string* err) -> Buffer* {
            DeviceBuffer* db = create_buffer(*ctx_, cap, MemKind::Device, err);
            return db ? wrap(db) : nullptr;
          },
          [this](Buffer* b) {
            destroy_buffer(*ctx_, dev(b));
            delete b;
          }),
      staging_(
          [this](size_t cap, std::string* err) -> Buffer* {
            DeviceBuffer* db = create_buffer(*ctx_, cap, MemKind::Staging, err);
            return db ? wrap(db) : nullptr;
          },
          [this](Buffer* b) {
            destroy_buffer(*ctx_, dev(b));
            delete b;
          }) {}

VulkanBackend::~VulkanBackend() {
  stream_.reset();  // waits for the device, runs deferred frees
  kerr_.destroy(*ctx_);
  alloc_.empty_cache();
  staging_.empty_cache();
  pipes_.reset();
}

std::string VulkanBackend::init() {
  pipes_.reset(new Pipelines(*ctx_));
  std::string err = pipes_->init();
  if (!err.empty()) return err;
  stream_.reset(new Stream(*ctx_, *pipes_));
  err = stream_->init();
  if (!err.empty()) return err;
  err = kerr_.init(*ctx_);
  if (!err.empty()) return err;
  const char* sync_env = std::getenv("EDGETRAIN_SYNC");
  sync_errors_ = sync_env && std::strcmp(sync_env, "1") == 0;
  // Check every op's shader now so a broken one shows up as "unavailable"; its pipeline is built
  // at first use (building them all took most of a second on lavapipe), through the on-disk cache.
  for (int op = 0; op < OP_COUNT; ++op)
    if (supports_op(op) && !(err = pipes_->check(kOpShaders[op].shader)).empty()) return err;
  // the fast variants where the device has what they need; one that does not build leaves the
  // plain shaders in use
  if (ctx_->subgroup_arith && !pipes_->build_variants("_subgroup").empty()) ctx_->subgroup_arith = false;
  if (ctx_->int8_dot && !pipes_->build_variants("_int8dot").empty()) ctx_->int8_dot = false;
  return "";
}

// "<name>: cannot allocate N bytes on <device>: F bytes free of T ..." (the OutOfMemoryError text).
std::string VulkanBackend::oom(size_t bytes, const std::string& why) const {
  MemStats st = alloc_.stats();
  MemoryInfo m = memory_info(*ctx_, uint64_t(st.live_bytes + st.cached_bytes));
  std::string s = name_ + ": cannot allocate " + std::to_string(bytes) + " bytes on " + ctx_->props.deviceName + ": " +
                  std::to_string(m.free) + " bytes free of " + std::to_string(m.total) +
                  (m.from_budget ? " (memory budget)" : "") + ", " + std::to_string(st.live_bytes) +
                  " held by live tensors";
  return why.empty() ? s : s + "; " + why;
}

Buffer* VulkanBackend::alloc(size_t bytes, std::string* err) {
  std::lock_guard<std::mutex> lk(mu_);
  // what the device reports is honoured even where the driver would overcommit (lavapipe); the
  // total was summed at open and the budget is only asked for in oom(): without a budget the
  // free bytes are the total less what the allocators hold, known here without the driver
  const uint64_t total = ctx_->local_bytes;
  if (total && bytes > total) {
    *err = oom(bytes, "larger than the device's memory");
    return nullptr;
  }
  // larger than one storage binding is fine: ops bind windows of it (window.h)
  if (bytes > ctx_->max_alloc_bytes) {
    *err = oom(bytes, "a tensor buffer is limited to " + std::to_string(ctx_->max_alloc_bytes) +
                          " bytes (maxMemoryAllocationSize)");
    return nullptr;
  }
  auto held_free = [&](uint64_t held) { return total > held ? total - held : 0; };
  MemStats st = alloc_.stats();
  if (!ctx_->memory_budget && bytes > held_free(uint64_t(st.live_bytes + st.cached_bytes))) {
    stream_->wait_all();  // buffers freed while in use return to the cache, which is dropped
    stream_->poll();
    alloc_.empty_cache();
    if (bytes > held_free(uint64_t(alloc_.stats().live_bytes))) {
      *err = oom(bytes, "the device's memory is in use");
      return nullptr;
    }
  }
  stream_->poll();
  Buffer* b = alloc_.alloc(bytes, err);
  if (!b && stream_->lost().empty()) {
    // buffers freed while still in use come back once their work finishes
    err->clear();
    stream_->wait_all();
    b = alloc_.alloc(bytes, err);
  }
  if (!b) {
    *err = oom(bytes, *err);
    return nullptr;
  }
  b->backend = this;
  return b;
}

void VulkanBackend::free(Buffer* b) {
  if (!b) return;
  std::lock_guard<std::mutex> lk(mu_);
  stream_->poll();
  uint64_t last = dev(b)->last_use;
  if (last > stream_->completed() && stream_->lost().empty())
    stream_->when_done(last, [this, b] { alloc_.free(b); });
  else
    alloc_.free(b);
}

std::string VulkanBackend::upload(Buffer* b, size_t offset, const void* src, size_t bytes) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!stream_->lost().empty()) return "DeviceError: upload: " + stream_->lost();
  if (bytes == 0) return "";
  vk_stats().uploaded += bytes;
  DeviceBuffer* db = dev(b);
  stream_->poll();
  if (db->mapped && db->last_use <= stream_->completed()) {  // idle host-visible buffer: write directly
    std::memcpy(static_cast<char*>(db->mapped) + offset, src, bytes);
    return "";
  }
  // otherwise stage it and copy in stream order, after the work already queued on the buffer
  std::string err;
  Buffer* s = staging_.alloc(bytes, &err);
  if (!s) return "OutOfMemory: upload: staging " + std::to_string(bytes) + " bytes: " + err;
  std::memcpy(dev(s)->mapped, src, bytes);
  err = stream_->copy(dev(s), 0, db, offset, bytes);
  if (!err.empty()) {
    staging_.free(s);
    return "DeviceError: upload: " + err;
  }
  stream_->when_done(dev(s)->last_use, [this, s] { staging_.free(s); });
  return "";
}

std::string VulkanBackend::download(Buffer* b, size_t offset, void* dst, size_t bytes) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!stream_->lost().empty()) return "DeviceError: download: " + stream_->lost();
  if (bytes == 0) return "";
  vk_stats().downloaded += bytes;
  DeviceBuffer* db = dev(b);
  if (db->mapped) {
    std::string err = stream_->wait(db->last_use);
    if (!err.empty()) return "DeviceError: download: " + err;
    err = kernel_error();  // a kernel's error found on the device surfaces at the read, as on CPU
    if (!err.empty()) return err;
    std::memcpy(dst, static_cast<const char*>(db->mapped) + offset, bytes);
    return "";
  }
  std::string err;
  Buffer* s = staging_.alloc(bytes, &err);
  if (!s) return "OutOfMemory: download: staging " + std::to_string(bytes) + " bytes: " + err;
  err = stream_->copy(db, offset, dev(s), 0, bytes);
  if (err.empty()) err = stream_->wait(dev(s)->last_use);
  if (!err.empty()) {
    staging_.free(s);
    return "DeviceError: download: " + err;
  }
  err = kernel_error();
  if (err.empty()) std::memcpy(dst, dev(s)->mapped, bytes);
  staging_.free(s);
  return err;
}

std::string VulkanBackend::sync() {
  std::lock_guard<std::mutex> lk(mu_);
  std::string err = stream_->wait_all();
  return err.empty() ? kernel_error() : "DeviceError: sync: " + err;
}

void VulkanBackend::at_exit() {
  std::lock_guard<std::mutex> lk(mu_);
  // a stream marked lost (EDGETRAIN_VULKAN_FAIL_AFTER, or a real loss) waits no more: the device
  // still may, or says it is lost
  if (stream_->lost().empty()) stream_->wait_all();
  else vkDeviceWaitIdle(ctx_->device);
  stream_->poll();
  pipes_->save_cache();
}

void VulkanBackend::empty_cache() {
  std::lock_guard<std::mutex> lk(mu_);
  stream_->poll();
  alloc_.empty_cache();
  staging_.empty_cache();
}

}  // namespace vk

std::vector<OpenedDevice> vulkan_devices_open() {
  std::shared_ptr<vk::Instance> inst;
  std::vector<vk::PhysicalDevice> phys;
  std::string why;
  if (!vk::list_devices(&inst, &phys, &why)) return device_unavailable("vulkan", why);
  std::vector<OpenedDevice> out;
  int opened = 0;
  VkDevice only = VK_NULL_HANDLE;
  for (size_t i = 0; i < phys.size(); ++i) {
    OpenedDevice d;
    d.info.name = device_name("vulkan", int(i));
    d.info.family = "vulkan";
    d.info.index = int(i);
    d.info.props = phys[i].info;
    d.info.description = phys[i].description;
    std::unique_ptr<vk::Context> ctx = vk::create_context(inst, phys[i], &why);
    if (!ctx) {
      d.info.reason = why;
      out.push_back(std::move(d));
      continue;
    }
    VkDevice dev = ctx->device;
    std::unique_ptr<vk::VulkanBackend> be(new vk::VulkanBackend(d.info.name, std::move(ctx)));
    std::string err = be->init();
    if (err.empty()) {
      d.info.props.text("pipelineCache", be->pipeline_cache());
      d.backend.reset(be.release());
      ++opened;
      only = dev;
    } else {
      d.info.reason = std::string("Vulkan device '") + phys[i].props.deviceName + "' could not be set up: " + err;
    }
    out.push_back(std::move(d));
  }
  // With one device open, call it through direct entry points rather than the loader's
  // per-device dispatch (a little less work per call).
  if (opened == 1) volkLoadDevice(only);
  return out;
}

}  // namespace et

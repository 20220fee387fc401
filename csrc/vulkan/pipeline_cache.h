// The device's VkPipelineCache, kept on disk between processes so the driver need not compile
// every shader again at start-up.
//   folder: $EDGETRAIN_CACHE_DIR, else $XDG_CACHE_HOME/edgetrain, else ~/.cache/edgetrain
//   file:   vulkan-<vendorID>-<deviceID>-<driverVersion>-<pipelineCacheUUID>-<shaders>.bin (hex, 8 8 8 32 16 digits),
//           <shaders> a hash of the embedded SPIR-V and the pipeline layout, so another build or
//           driver never reads a stale file.
// The file is a 24-byte header ("ETPC", version 1, payload bytes, FNV-1a 64 of the payload) and
// the driver's cache data. A file whose header, checksum or VkPipelineCacheHeaderVersionOne fields
// (vendor, device, UUID) do not match is ignored and replaced at the next save; a missing or
// read-only folder only means no cache. EDGETRAIN_VULKAN_PIPELINE_CACHE=0 turns it off (no file
// is read or written).
#pragma once
#include <cstdint>
#include <string>

#include "context.h"

namespace et {
namespace vk {

class PipelineCache {
 public:
  PipelineCache() = default;
  PipelineCache(const PipelineCache&) = delete;
  PipelineCache& operator=(const PipelineCache&) = delete;
  // Reads the file for this device and `key` (the shaders' hash) and creates the cache from it.
  // Never fails: without a usable file the cache starts empty; without a cache handle() is null.
  void open(const Context& c, uint64_t key);
  // A pipeline was created through the cache: save() has something to write.
  void added() { dirty_ = true; }
  bool dirty() const { return dirty_; }
  // Writes the cache back (temp file in the same folder, fsync, rename) when pipelines were added
  // and its data differs from what was read; errors are ignored (no cache next time).
  void save();
  // Saves, then destroys the cache.
  void close();
  VkPipelineCache handle() const { return cache_; }
  // For devices(): "<path> (<state>)", or why there is none.
  const std::string& describe() const { return text_; }

 private:
  const Context* c_ = nullptr;
  VkPipelineCache cache_ = VK_NULL_HANDLE;
  std::string dir_, path_, text_;
  uint64_t loaded_hash_ = 0;  // FNV-1a 64 of the data read (0: none read)
  size_t loaded_bytes_ = 0;
  bool dirty_ = false;
};

}  // namespace vk
}  // namespace et

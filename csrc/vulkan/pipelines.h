// Compute pipelines built from the embedded SPIR-V (kernels/vulkan/*.comp), created on first use.
// All share one layout: set 0 = binding 0 meta block (uniform buffer) + bindings 1..buffers()
// tensor storage buffers, one per call argument (kMaxArgs), fewer where the device allows fewer
// storage buffers per shader stage.
#pragma once
#include <chrono>
#include <map>
#include <string>

#include "../ops.h"
#include "context.h"
#include "pipeline_cache.h"

namespace et {
namespace vk {

// A pipeline and the storage bindings its shader declares: 1..buffers (from its SPIR-V).
// written: bit b set when binding b may be written by the shader (its variable, or one of its
// block's members, lacks the NonWritable decoration: GLSL `readonly`); the stream orders
// dispatches by it (stream.h).
struct Pipeline {
  VkPipeline handle = VK_NULL_HANDLE;
  uint32_t buffers = 0;
  uint32_t written = 0;
};

class Pipelines {
 public:
  explicit Pipelines(const Context& c) : c_(c) {}
  ~Pipelines();
  // Creates the layouts and opens the on-disk pipeline cache (pipeline_cache.h).
  std::string init();
  // Checks shader `name` as get() would (SPIR-V parses, bindings and shared memory fit, the
  // driver takes its module) without building its pipeline: "" or why not.
  std::string check(const std::string& name);
  // The pipeline for shader `name` (file name without .comp; "<shader>#<k>" sets its
  // specialization constant 0 to k, one pipeline per k); nullptr and *err on failure (also
  // when its shader binds more storage buffers than the layout holds). Stable while this lives.
  const Pipeline* get(const std::string& name, std::string* err);
  // Checks every shader variant named "*<suffix>" ("_subgroup": cmake/vulkan.cmake) as check()
  // does (their pipelines are built at first use); "" or the first failure.
  std::string build_variants(const char* suffix);
  VkDescriptorSetLayout set_layout() const { return set_layout_; }
  VkPipelineLayout layout() const { return layout_; }
  // Storage bindings in the layout (1..buffers()): kMaxArgs, or the device's per-stage limit.
  uint32_t buffers() const { return buffers_; }
  // Writes the pipeline cache back when pipelines were added to it.
  void save_cache() { cache_.save(); }
  const std::string& cache_text() const { return cache_.describe(); }

 private:
  const Context& c_;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  uint32_t buffers_ = 0;
  std::map<std::string, Pipeline> pipelines_;
  PipelineCache cache_;
  // When the last pipeline was built: the cache is saved at the first use of a built pipeline a
  // while after a batch of new ones (and at close), so a process that never exits cleanly keeps it.
  std::chrono::steady_clock::time_point last_new_;
  // The shader's module (patched for NaN preservation) and its last storage binding; "" or why not.
  std::string module(const std::string& name, VkShaderModule* mod, int* top, uint32_t* written = nullptr);
};

}  // namespace vk
}  // namespace et

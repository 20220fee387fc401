// Compute pipelines built from the embedded SPIR-V (kernels/vulkan/*.comp), created on first use.
// All share one layout: set 0 = binding 0 meta block (uniform buffer) + bindings 1..buffers()
// tensor storage buffers, one per call argument (kMaxArgs), fewer where the device allows fewer
// storage buffers per shader stage.
#pragma once
#include <map>
#include <string>

#include "../ops.h"
#include "context.h"

namespace et {
namespace vk {

// A pipeline and the storage bindings its shader declares: 1..buffers (from its SPIR-V).
struct Pipeline {
  VkPipeline handle = VK_NULL_HANDLE;
  uint32_t buffers = 0;
};

class Pipelines {
 public:
  explicit Pipelines(const Context& c) : c_(c) {}
  ~Pipelines();
  std::string init();
  // The pipeline for shader `name` (file name without .comp); nullptr and *err on failure (also
  // when its shader binds more storage buffers than the layout holds). Stable while this lives.
  const Pipeline* get(const std::string& name, std::string* err);
  // Builds every shader variant named "*<suffix>" ("_subgroup": cmake/vulkan.cmake); "" or the
  // first failure.
  std::string build_variants(const char* suffix);
  VkDescriptorSetLayout set_layout() const { return set_layout_; }
  VkPipelineLayout layout() const { return layout_; }
  // Storage bindings in the layout (1..buffers()): kMaxArgs, or the device's per-stage limit.
  uint32_t buffers() const { return buffers_; }

 private:
  const Context& c_;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  uint32_t buffers_ = 0;
  std::map<std::string, Pipeline> pipelines_;
};

}  // namespace vk
}  // namespace et

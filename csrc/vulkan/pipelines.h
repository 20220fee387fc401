// Compute pipelines built from the embedded SPIR-V (kernels/vulkan/*.comp), created on first use.
// All share one layout: set 0 = binding 0 meta block (uniform buffer) + bindings 1..4 tensor
// storage buffers.
#pragma once
#include <map>
#include <string>

#include "context.h"

namespace et {
namespace vk {

constexpr uint32_t kBindings = 5;

class Pipelines {
 public:
  explicit Pipelines(const Context& c) : c_(c) {}
  ~Pipelines();
  std::string init();
  // The pipeline for shader `name` (file name without .comp); VK_NULL_HANDLE and *err on failure.
  VkPipeline get(const std::string& name, std::string* err);
  VkDescriptorSetLayout set_layout() const { return set_layout_; }
  VkPipelineLayout layout() const { return layout_; }

 private:
  const Context& c_;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  std::map<std::string, VkPipeline> pipelines_;
};

}  // namespace vk
}  // namespace et

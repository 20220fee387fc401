#include "pipelines.h"

#include "vulkan_shaders.h"  // generated at build time by scripts/embed-shaders.mjs

namespace et {
namespace vk {

Pipelines::~Pipelines() {
  for (auto& kv : pipelines_) vkDestroyPipeline(c_.device, kv.second, nullptr);
  if (layout_) vkDestroyPipelineLayout(c_.device, layout_, nullptr);
  if (set_layout_) vkDestroyDescriptorSetLayout(c_.device, set_layout_, nullptr);
}

std::string Pipelines::init() {
  VkDescriptorSetLayoutBinding b[kBindings];
  for (uint32_t i = 0; i < kBindings; ++i) {
    b[i] = {};
    b[i].binding = i;
    b[i].descriptorType = i == 0 ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    b[i].descriptorCount = 1;
    b[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo dl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dl.bindingCount = kBindings;
  dl.pBindings = b;
  VkResult r = vkCreateDescriptorSetLayout(c_.device, &dl, nullptr, &set_layout_);
  if (r != VK_SUCCESS) return vk_error("vkCreateDescriptorSetLayout", r);
  VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &set_layout_;
  r = vkCreatePipelineLayout(c_.device, &pl, nullptr, &layout_);
  if (r != VK_SUCCESS) return vk_error("vkCreatePipelineLayout", r);
  return "";
}

VkPipeline Pipelines::get(const std::string& name, std::string* err) {
  auto it = pipelines_.find(name);
  if (it != pipelines_.end()) return it->second;
  const vk_shaders::Shader* sh = nullptr;
  for (const auto& s : vk_shaders::kShaders)
    if (name == s.name) sh = &s;
  if (!sh) {
    *err = "vulkan: no shader named '" + name + "' in this build";
    return VK_NULL_HANDLE;
  }
  VkShaderModuleCreateInfo mi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  mi.codeSize = sh->bytes;
  mi.pCode = sh->code;
  VkShaderModule mod;
  VkResult r = vkCreateShaderModule(c_.device, &mi, nullptr, &mod);
  if (r != VK_SUCCESS) {
    *err = vk_error(("vkCreateShaderModule(" + name + ")").c_str(), r);
    return VK_NULL_HANDLE;
  }
  VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = mod;
  ci.stage.pName = "main";
  ci.layout = layout_;
  VkPipeline p = VK_NULL_HANDLE;
  r = vkCreateComputePipelines(c_.device, VK_NULL_HANDLE, 1, &ci, nullptr, &p);
  vkDestroyShaderModule(c_.device, mod, nullptr);
  if (r != VK_SUCCESS) {
    *err = vk_error(("vkCreateComputePipelines(" + name + ")").c_str(), r);
    return VK_NULL_HANDLE;
  }
  pipelines_[name] = p;
  return p;
}

}  // namespace vk
}  // namespace et

#include "pipelines.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "vulkan_shaders.h"  // generated at build time by scripts/embed-shaders.mjs

namespace et {
namespace vk {

namespace {

// The SPIR-V module `code` (glslc output, SPIR-V 1.0) with SignedZeroInfNanPreserve for 32-bit
// floats on every entry point: OpCapability after the capabilities, OpExtension
// "SPV_KHR_float_controls" after them, OpExecutionMode after the entry points' execution modes,
// which is the order the module layout requires. Empty if the module does not parse.
std::vector<uint32_t> with_nan_preserve(const uint32_t* code, size_t words) {
  constexpr uint32_t kOpExtension = 10, kOpEntryPoint = 15, kOpExecutionMode = 16, kOpCapability = 17;
  constexpr uint32_t kCapSignedZeroInfNanPreserve = 4466, kModeSignedZeroInfNanPreserve = 4461;
  if (words < 5 || code[0] != 0x07230203u) return {};
  size_t after_caps = 0, after_modes = 0;
  std::vector<uint32_t> entries;
  for (size_t i = 5; i < words;) {
    const uint32_t op = code[i] & 0xffffu, len = code[i] >> 16;
    if (len == 0 || i + len > words) return {};
    if (op == kOpCapability) after_caps = i + len;
    if (op == kOpEntryPoint && len >= 3) entries.push_back(code[i + 2]);
    if (op == kOpEntryPoint || op == kOpExecutionMode) after_modes = i + len;
    i += len;
  }
  if (!after_caps || entries.empty()) return {};
  static const char kExt[] = "SPV_KHR_float_controls";
  const uint32_t ext_words = uint32_t((sizeof(kExt) + 3) / 4);  // with its NUL, padded to words
  std::vector<uint32_t> ext(1 + ext_words, 0);
  ext[0] = ((1 + ext_words) << 16) | kOpExtension;
  std::memcpy(ext.data() + 1, kExt, sizeof(kExt));
  std::vector<uint32_t> out(code, code + after_caps);
  out.push_back((2u << 16) | kOpCapability);
  out.push_back(kCapSignedZeroInfNanPreserve);
  out.insert(out.end(), ext.begin(), ext.end());
  out.insert(out.end(), code + after_caps, code + after_modes);
  for (uint32_t id : entries) out.insert(out.end(), {(4u << 16) | kOpExecutionMode, id, kModeSignedZeroInfNanPreserve, 32u});
  out.insert(out.end(), code + after_modes, code + words);
  return out;
}

// The SPIR-V module `code` with its binding-0 block (the meta block, `uniform MetaBuf`) made a
// read-only storage buffer: in SPIR-V 1.0 a Uniform-class variable whose struct is decorated
// BufferBlock rather than Block is a storage buffer; the std140 offsets and strides glslc wrote
// are valid std430 too. Its members get NonWritable. Empty if the module does not parse or has
// no such block.
std::vector<uint32_t> with_meta_storage(const std::vector<uint32_t>& code) {
  constexpr uint32_t kOpTypePointer = 32, kOpVariable = 59, kOpDecorate = 71, kOpMemberDecorate = 72,
                     kOpTypeStruct = 30;
  constexpr uint32_t kDecorationBlock = 2, kDecorationBufferBlock = 3, kDecorationNonWritable = 24,
                     kDecorationBinding = 33, kStorageUniform = 2;
  const size_t words = code.size();
  if (words < 5 || code[0] != 0x07230203u) return {};
  std::map<uint32_t, uint32_t> pointee, members;  // pointer type -> struct; struct -> member count
  std::set<uint32_t> binding0;
  std::vector<std::pair<uint32_t, uint32_t>> vars;  // (variable, pointer type) of the Uniform class
  size_t block_at = 0;
  std::map<uint32_t, size_t> block_decoration;  // struct -> index of its OpDecorate Block
  for (size_t i = 5; i < words;) {
    const uint32_t op = code[i] & 0xffffu, len = code[i] >> 16;
    if (len == 0 || i + len > words) return {};
    const uint32_t* a = code.data() + i + 1;
    if (op == kOpDecorate && len >= 4 && a[1] == kDecorationBinding && a[2] == 0) binding0.insert(a[0]);
    if (op == kOpDecorate && len == 3 && a[1] == kDecorationBlock) block_decoration[a[0]] = i;
    if (op == kOpTypeStruct) members[a[0]] = len - 2;
    if (op == kOpTypePointer && len >= 4 && a[1] == kStorageUniform) pointee[a[0]] = a[2];
    if (op == kOpVariable && len >= 4 && a[2] == kStorageUniform) vars.push_back({a[1], a[0]});
    i += len;
  }
  uint32_t st = 0;
  for (const auto& v : vars)
    if (binding0.count(v.first) && pointee.count(v.second)) st = pointee[v.second];
  if (!st || !block_decoration.count(st)) return {};
  block_at = block_decoration[st];
  std::vector<uint32_t> out(code.begin(), code.begin() + block_at);
  out.insert(out.end(), {(3u << 16) | kOpDecorate, st, kDecorationBufferBlock});
  for (uint32_t m = 0; m < members[st]; ++m)
    out.insert(out.end(), {(4u << 16) | kOpMemberDecorate, st, m, kDecorationNonWritable});
  out.insert(out.end(), code.begin() + block_at + 3, code.end());
  return out;
}

// The highest Binding decoration in a SPIR-V module (its last storage binding: binding 0 is the
// meta block); -1 if the module does not parse.
int max_binding(const uint32_t* code, size_t words) {
  constexpr uint32_t kOpDecorate = 71, kDecorationBinding = 33;
  if (words < 5 || code[0] != 0x07230203u) return -1;
  int top = 0;
  for (size_t i = 5; i < words;) {
    const uint32_t op = code[i] & 0xffffu, len = code[i] >> 16;
    if (len == 0 || i + len > words) return -1;
    if (op == kOpDecorate && len >= 4 && code[i + 2] == kDecorationBinding) top = std::max(top, int(code[i + 3]));
    i += len;
  }
  return top;
}

// The storage bindings (bit b: binding b, b >= 1) the module may write: every variable with a
// Binding decoration except those decorated NonWritable or whose block (through an array of
// blocks too) has every member NonWritable, which is how glslc writes `readonly`. Several
// variables on one binding (views of one buffer as float[] and vec4[]) write it if any does.
// Sets *ok = false if the module does not parse.
uint32_t written_bindings(const uint32_t* code, size_t words, bool* ok) {
  constexpr uint32_t kOpTypeArray = 28, kOpTypeRuntimeArray = 29, kOpTypeStruct = 30, kOpTypePointer = 32,
                     kOpVariable = 59, kOpDecorate = 71, kOpMemberDecorate = 72;
  constexpr uint32_t kDecorationNonWritable = 24, kDecorationBinding = 33;
  *ok = false;
  if (words < 5 || code[0] != 0x07230203u) return 0;
  std::map<uint32_t, uint32_t> binding, pointee, element, members;  // by id
  std::map<uint32_t, std::set<uint32_t>> nw_members;  // struct -> its NonWritable members
  std::map<uint32_t, bool> nw_var;
  std::vector<std::pair<uint32_t, uint32_t>> vars;  // (variable, its pointer type)
  for (size_t i = 5; i < words;) {
    const uint32_t op = code[i] & 0xffffu, len = code[i] >> 16;
    if (len == 0 || i + len > words) return 0;
    const uint32_t* a = code + i + 1;
    if (op == kOpDecorate && len >= 3) {
      if (a[1] == kDecorationBinding && len >= 4) binding[a[0]] = a[2];
      if (a[1] == kDecorationNonWritable) nw_var[a[0]] = true;
    } else if (op == kOpMemberDecorate && len >= 4 && a[2] == kDecorationNonWritable) {
      nw_members[a[0]].insert(a[1]);
    } else if (op == kOpTypeStruct) {
      members[a[0]] = len - 2;
    } else if ((op == kOpTypeArray || op == kOpTypeRuntimeArray) && len >= 3) {
      element[a[0]] = a[1];
    } else if (op == kOpTypePointer && len >= 4) {
      pointee[a[0]] = a[2];
    } else if (op == kOpVariable && len >= 4) {
      vars.push_back({a[1], a[0]});
    }
    i += len;
  }
  uint32_t mask = 0;
  for (const auto& v : vars) {
    auto b = binding.find(v.first);
    if (b == binding.end() || b->second == 0) continue;  // not a descriptor, or the meta block
    if (b->second >= 32) return 0;
    if (nw_var.count(v.first)) continue;
    uint32_t t = pointee.count(v.second) ? pointee[v.second] : 0;
    while (element.count(t)) t = element[t];
    const bool readonly = members.count(t) && members[t] > 0 && nw_members[t].size() >= members[t];
    if (!readonly) mask |= 1u << b->second;
  }
  *ok = true;
  return mask;
}

// Bytes of the module's Workgroup (shared) variables, their types' sizes summed without padding;
// -1 if the module does not parse. Checked against the device's (or the forced) limit so a
// shader too big for a phone fails with its name rather than at pipeline creation.
int64_t shared_bytes(const uint32_t* code, size_t words) {
  constexpr uint32_t kOpTypeBool = 20, kOpTypeInt = 21, kOpTypeFloat = 22, kOpTypeVector = 23, kOpTypeMatrix = 24,
                     kOpTypeArray = 28, kOpTypeStruct = 30, kOpTypePointer = 32, kOpConstant = 43, kOpVariable = 59;
  constexpr uint32_t kWorkgroup = 4;
  if (words < 5 || code[0] != 0x07230203u) return -1;
  std::map<uint32_t, int64_t> size, constant;
  std::map<uint32_t, uint32_t> pointee;  // Workgroup pointer type -> pointee
  int64_t total = 0;
  for (size_t i = 5; i < words;) {
    const uint32_t op = code[i] & 0xffffu, len = code[i] >> 16;
    if (len == 0 || i + len > words) return -1;
    const uint32_t* a = code + i + 1;
    switch (op) {
      case kOpTypeBool: size[a[0]] = 4; break;
      case kOpTypeInt:
      case kOpTypeFloat: size[a[0]] = a[1] / 8; break;
      case kOpTypeVector:
      case kOpTypeMatrix: size[a[0]] = size[a[1]] * a[2]; break;
      case kOpTypeArray: size[a[0]] = size[a[1]] * constant[a[2]]; break;
      case kOpTypeStruct: {
        int64_t s = 0;
        for (uint32_t k = 1; k + 1 < len; ++k) s += size[a[k]];
        size[a[0]] = s;
        break;
      }
      case kOpTypePointer:
        if (a[1] == kWorkgroup) pointee[a[0]] = a[2];
        break;
      case kOpConstant: constant[a[1]] = a[2]; break;
      case kOpVariable:
        if (len >= 4 && a[2] == kWorkgroup && pointee.count(a[0])) total += size[pointee[a[0]]];
        break;
      default: break;
    }
    i += len;
  }
  return total;
}

// Names every embedded shader and its code, and what else shapes a pipeline here, so a cache
// file made by another build is never read.
uint64_t shaders_hash(bool nan_preserve, bool meta_storage, uint32_t buffers) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](const void* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const unsigned char*>(p)[i]) * 0x100000001b3ull;
  };
  for (const auto& s : vk_shaders::kShaders) {
    mix(s.name, std::strlen(s.name) + 1);
    mix(s.code, s.bytes);
  }
  const uint32_t extra[3] = {nan_preserve ? 1u : 0u, buffers, meta_storage ? 1u : 0u};
  mix(extra, sizeof(extra));
  return h;
}

}  // namespace

Pipelines::~Pipelines() {
  cache_.close();
  for (auto& kv : pipelines_) vkDestroyPipeline(c_.device, kv.second.handle, nullptr);
  if (layout_) vkDestroyPipelineLayout(c_.device, layout_, nullptr);
  if (set_layout_) vkDestroyDescriptorSetLayout(c_.device, set_layout_, nullptr);
}

std::string Pipelines::init() {
  const VkPhysicalDeviceLimits& lim = c_.props.limits;
  const uint32_t meta = c_.meta_storage ? 1 : 0;  // the meta block takes a storage binding too
  buffers_ = std::min({uint32_t(kMaxArgs), lim.maxPerStageDescriptorStorageBuffers - meta,
                       lim.maxDescriptorSetStorageBuffers - meta, lim.maxPerStageResources - 1});
  VkDescriptorSetLayoutBinding b[1 + kMaxArgs];
  for (uint32_t i = 0; i <= buffers_; ++i) {
    b[i] = {};
    b[i].binding = i;
    b[i].descriptorType = i == 0 && !c_.meta_storage ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    b[i].descriptorCount = 1;
    b[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo dl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dl.bindingCount = 1 + buffers_;
  dl.pBindings = b;
  VkResult r = vkCreateDescriptorSetLayout(c_.device, &dl, nullptr, &set_layout_);
  if (r != VK_SUCCESS) return vk_error("vkCreateDescriptorSetLayout", r);
  VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &set_layout_;
  r = vkCreatePipelineLayout(c_.device, &pl, nullptr, &layout_);
  if (r != VK_SUCCESS) return vk_error("vkCreatePipelineLayout", r);
  cache_.open(c_, shaders_hash(c_.nan_preserve, c_.meta_storage, buffers_));
  return "";
}

std::string Pipelines::build_variants(const char* suffix) {
  const size_t n = std::strlen(suffix);
  std::string err;
  for (const auto& s : vk_shaders::kShaders) {
    const size_t len = std::strlen(s.name);
    if (len > n && std::strcmp(s.name + len - n, suffix) == 0 && !(err = check(s.name)).empty()) return err;
  }
  return "";
}

std::string Pipelines::check(const std::string& name) {
  if (pipelines_.count(name)) return "";
  VkShaderModule mod;
  int top;
  std::string err = module(name, &mod, &top);
  if (err.empty()) vkDestroyShaderModule(c_.device, mod, nullptr);
  return err;
}

std::string Pipelines::module(const std::string& name, VkShaderModule* mod, int* top_out, uint32_t* written_out) {
  const vk_shaders::Shader* sh = nullptr;
  for (const auto& s : vk_shaders::kShaders)
    if (name == s.name) sh = &s;
  if (!sh) return "vulkan: no shader named '" + name + "' in this build";
  const int top = max_binding(sh->code, sh->bytes / 4);
  if (top < 0) return "vulkan: shader '" + name + "' is not a SPIR-V module this build can read";
  if (uint32_t(top) > buffers_)
    return "vulkan: shader '" + name + "' binds " + std::to_string(top) + " storage buffers; " + c_.props.deviceName +
           " allows " + std::to_string(buffers_) + " per shader stage";
  bool parsed = false;
  const uint32_t written = written_bindings(sh->code, sh->bytes / 4, &parsed);
  if (!parsed) return "vulkan: shader '" + name + "' is not a SPIR-V module this build can read";
  const int64_t shared = shared_bytes(sh->code, sh->bytes / 4);
  if (shared > int64_t(c_.shared_bytes))
    return "vulkan: shader '" + name + "' needs " + std::to_string(shared) + " bytes of shared memory; " +
           c_.props.deviceName + " allows " + std::to_string(c_.shared_bytes) +
           (c_.shared_bytes < c_.props.limits.maxComputeSharedMemorySize ? " (EDGETRAIN_VULKAN_SHARED)" : "");
  VkShaderModuleCreateInfo mi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  mi.codeSize = sh->bytes;
  mi.pCode = sh->code;
  std::vector<uint32_t> patched;
  if (c_.nan_preserve) {
    patched = with_nan_preserve(sh->code, sh->bytes / 4);
    if (patched.empty()) return "vulkan: shader '" + name + "' is not a SPIR-V module this build can extend";
  }
  if (c_.meta_storage) {
    if (patched.empty()) patched.assign(sh->code, sh->code + sh->bytes / 4);
    patched = with_meta_storage(patched);
    if (patched.empty()) return "vulkan: shader '" + name + "' has no meta block at binding 0 this build can read";
  }
  if (!patched.empty()) {
    mi.codeSize = patched.size() * 4;
    mi.pCode = patched.data();
  }
  VkResult r = vkCreateShaderModule(c_.device, &mi, nullptr, mod);
  if (r != VK_SUCCESS) return vk_error(("vkCreateShaderModule(" + name + ")").c_str(), r);
  *top_out = top;
  if (written_out) *written_out = written;
  return "";
}

const Pipeline* Pipelines::get(const std::string& name, std::string* err) {
  auto it = pipelines_.find(name);
  if (it != pipelines_.end()) {
    if (cache_.dirty() && std::chrono::steady_clock::now() - last_new_ > std::chrono::seconds(2)) cache_.save();
    return &it->second;
  }
  // "<shader>#<k>": the shader with its specialization constant 0 set to k
  const size_t hash = name.find('#');
  const std::string base = name.substr(0, hash);
  int32_t spec = hash == std::string::npos ? 0 : int32_t(std::strtol(name.c_str() + hash + 1, nullptr, 10));
  VkSpecializationMapEntry entry{0, 0, sizeof(int32_t)};
  VkSpecializationInfo si{1, &entry, sizeof(int32_t), &spec};
  VkShaderModule mod;
  int top = 0;
  uint32_t written = 0;
  *err = module(base, &mod, &top, &written);
  if (!err->empty()) return nullptr;
  VkResult r;
  VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = mod;
  ci.stage.pName = "main";
  if (hash != std::string::npos) ci.stage.pSpecializationInfo = &si;
  ci.layout = layout_;
  VkPipeline p = VK_NULL_HANDLE;
  r = vkCreateComputePipelines(c_.device, cache_.handle(), 1, &ci, nullptr, &p);
  vkDestroyShaderModule(c_.device, mod, nullptr);
  if (r != VK_SUCCESS) {
    *err = vk_error(("vkCreateComputePipelines(" + name + ")").c_str(), r);
    return nullptr;
  }
  cache_.added();
  last_new_ = std::chrono::steady_clock::now();
  Pipeline& made = pipelines_[name];
  made = {p, uint32_t(top), written};
  return &made;
}

}  // namespace vk
}  // namespace et

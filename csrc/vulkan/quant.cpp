// Vulkan host code of the quant family: not built yet (the schema row has no "vulkan" shader,
// so supports_op() is false and exec never reaches here).
#include "op_util.h"
#include "vk_backend.h"

namespace et {
namespace vk {

std::string VulkanBackend::exec_quant(const Call& c) { return fail(c, kDevice, "not implemented on vulkan"); }

}  // namespace vk
}  // namespace et

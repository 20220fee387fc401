// Helpers shared by the Vulkan op families (ops.cpp, softmax.cpp, norm.cpp, ...): the error
// string every failure returns, the meta block, and grid sizing.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

#include "../../kernels/vulkan/meta.h"
#include "../backend.h"
#include "op_table.h"

namespace et {
namespace vk {

constexpr int64_t kI32Max = 0x7fffffff;

// "<ErrorClass>: <op>: <why> (vulkan: <signature>)"; lib/errors.ts maps the class prefix.
inline std::string fail(const Call& c, const char* cls, const std::string& why) {
  return std::string(cls) + ": " + op_name(c.op) + ": " + why + " (vulkan: " + call_signature(c) + ")";
}
constexpr const char* kShape = "ShapeError";
constexpr const char* kDType = "DTypeError";
constexpr const char* kValue = "ValueError";
constexpr const char* kIndex = "IndexError";
constexpr const char* kDevice = "DeviceError";

inline bool is_float(int dt) { return dt == ET_F32 || dt == ET_F16 || dt == ET_BF16; }

struct Meta {
  int32_t m[META_INTS] = {};
  void f(int k, float v) { std::memcpy(&m[k], &v, 4); }
};

// Workgroups for `invocations` at `per_group` each, as gx * gy with gx <= 65535 (shaders
// recover the flat group as gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x).
inline void grid_1d(int64_t invocations, int64_t per_group, uint32_t* gx, uint32_t* gy) {
  int64_t groups = (invocations + per_group - 1) / per_group;
  if (groups < 1) groups = 1;
  int64_t x = groups < 65535 ? groups : 65535;
  *gx = uint32_t(x);
  *gy = uint32_t((groups + x - 1) / x);
}

}  // namespace vk
}  // namespace et

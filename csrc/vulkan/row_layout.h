// Operand layouts of the Vulkan row ops (softmax.cpp, cross_entropy.cpp, embedding.cpp), checked
// as their CPU twins check them (csrc/cpu/softmax.cpp, embedding.cpp): [N, C] rows with unit
// stride along C (contiguous, or 2-D with any row stride), and length-N vectors (contiguous, or
// 1-D with any stride). The shaders index with int32, so the last element reached must fit.
#pragma once
#include <cstdint>
#include <string>

#include "../backend.h"
#include "op_util.h"

namespace et {
namespace vk {

struct RowLayout {
  int64_t N = 0, C = 0, rs = 0;  // rows, row length, elements between row starts
};

// "" or the CPU twin's reason (without the class and op).
inline std::string row_layout(const View& v, const char* name, RowLayout* r) {
  r->C = v.ndim ? v.shape[v.ndim - 1] : 1;
  r->N = 1;
  for (int d = 0; d + 1 < v.ndim; ++d) r->N *= v.shape[d];
  r->rs = r->C;
  if (!v.contiguous()) {
    if (v.ndim == 2 && (v.strides[1] == 1 || v.shape[1] <= 1)) r->rs = v.strides[0];
    else return std::string(name) + " must be contiguous (read as [N, C] rows)";
  }
  return "";
}

// Element stride of a length-N vector, -1 if it is not one.
inline int64_t vec_stride(const View& v, int64_t N) {
  if (v.numel() != N) return -1;
  if (v.contiguous()) return 1;
  if (v.ndim == 1) return v.strides[0];
  return -1;
}

// Whether every element of rows x cols at offset, row stride rs (unit column stride) or, for
// cols = 1, element stride rs, lies in [0, 2^31).
inline bool fits_i32(int64_t offset, int64_t rows, int64_t rs, int64_t cols) {
  if (rows <= 0 || cols <= 0) return offset >= 0 && offset <= kI32Max;
  if (offset < 0 || rs < 0) return false;
  return offset + (rows - 1) * rs + (cols - 1) <= kI32Max;
}

}  // namespace vk
}  // namespace et

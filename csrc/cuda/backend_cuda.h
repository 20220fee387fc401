#pragma once
#include <memory>
#include <string>

#include "../backend.h"

namespace et {

// CUDA kernels live in a separate plugin library loaded only when libcuda.so.1 loads, so the
// addon itself never links against CUDA.
std::unique_ptr<Backend> cuda_backend_create(std::string* why);

}  // namespace et

#pragma once
#include <memory>

#include "../backend.h"

namespace et {

// The CPU device: 64-byte aligned host memory, kernels chosen per instruction set at start-up.
std::unique_ptr<Backend> cpu_backend_create();
// "avx2" or "generic": the kernel table in use (EDGETRAIN_CPU_ISA=generic forces the fallback).
const char* cpu_isa();

}  // namespace et

// Read-only model files used in place: a file mapped copy-on-write into a CPU buffer, so tensors
// can view their bytes without copying (writes to such a tensor stay private to the process).
#pragma once
#include <string>

#include "backend.h"

namespace et {

// Maps the whole file; nullptr and *err on failure. The buffer is freed with backend->free().
Buffer* map_file(Backend* cpu, const std::string& path, std::string* err);

}  // namespace et

// CUDA plugin loader. The CUDA kernels themselves are not part of this release: the loader checks
// for a driver so `devices()` can say precisely why CUDA is unavailable.
#include "backend_cuda.h"

#include <dlfcn.h>

namespace et {

std::unique_ptr<Backend> cuda_backend_create(std::string* why) {
  void* h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!h) {
    *why = "no NVIDIA driver found (libcuda.so.1 did not load)";
    return nullptr;
  }
  dlclose(h);
  *why = "an NVIDIA driver is present, but this build of edgetrain has no CUDA kernels yet";
  return nullptr;
}

}  // namespace et

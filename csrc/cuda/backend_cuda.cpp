// CUDA through the plugin path: the driver first, then the edgetrain-cuda plugin, so devices()
// says precisely which of the two is missing.
#include "backend_cuda.h"

#include <dlfcn.h>

namespace et {

std::vector<OpenedDevice> cuda_devices_open(const std::vector<PluginFile>& plugins) {
  void* h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!h) return device_unavailable("cuda", "no NVIDIA driver found (libcuda.so.1 did not load)");
  dlclose(h);
  for (const PluginFile& f : plugins)
    if (f.family == "cuda") return plugin_open(f);
  std::string where;
  for (const std::string& p : plugin_search_path()) where += (where.empty() ? "" : ", ") + p;
  return device_unavailable("cuda", "an NVIDIA driver is present, but the edgetrain-cuda plugin was not found (looked in " +
                                        where + ")");
}

}  // namespace et

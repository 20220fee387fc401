// A plugin's device (csrc/plugin_abi.h) as an et::Backend: calls go through its C vtable,
// serialised per device; buffers are cached by the host's CachingAllocator.
#pragma once
#include <memory>
#include <string>

#include "backend.h"
#include "plugin_abi.h"

namespace et {

// dev: what the plugin's open() returned; name: the device's registry name ("cuda", "cuda:1").
std::unique_ptr<Backend> plugin_backend_create(const et_plugin* p, void* dev, const std::string& name,
                                               const std::string& description);

}  // namespace et

# Optional Vulkan backend: built only where Vulkan headers, volk and glslc exist. libvulkan is
# loaded at run time by volk, so the addon never links against it.
set(ET_VULKAN_SOURCES csrc/vulkan/backend_vulkan_stub.cpp)
set(ET_VULKAN_INCLUDES "")
set(ET_VULKAN_DEFS "")

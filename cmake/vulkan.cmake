# Optional Vulkan backend: built only where Vulkan headers, volk and glslc exist. libvulkan is
# loaded at run time by volk, so the addon never links against it.
#
# Shaders: every kernels/vulkan/*.comp is compiled by glslc at build time into SPIR-V (C
# initializer text), then scripts/embed-shaders.mjs gathers them into
# ${CMAKE_BINARY_DIR}/generated/vulkan_shaders.h. SPIR-V is never checked in.
set(ET_VULKAN_SOURCES csrc/vulkan/backend_vulkan_stub.cpp)
set(ET_VULKAN_INCLUDES "")
set(ET_VULKAN_DEFS "")

set(_et_vk_hint_inc "")
set(_et_vk_hint_bin "")
if(DEFINED ENV{VULKAN_SDK})
  list(APPEND _et_vk_hint_inc "$ENV{VULKAN_SDK}/include")
  list(APPEND _et_vk_hint_bin "$ENV{VULKAN_SDK}/bin")
endif()

find_path(ET_VULKAN_HEADERS vulkan/vulkan.h HINTS ${_et_vk_hint_inc})
find_path(ET_VOLK_INCLUDE volk.h HINTS ${_et_vk_hint_inc} PATH_SUFFIXES volk)
find_file(ET_VOLK_SOURCE volk.c HINTS ${ET_VOLK_INCLUDE} ${_et_vk_hint_inc}
          PATH_SUFFIXES volk)
find_program(ET_GLSLC glslc HINTS ${_et_vk_hint_bin})
find_program(ET_NODE node)

set(_et_vk_missing "")
if(NOT ET_VULKAN_HEADERS)
  list(APPEND _et_vk_missing "Vulkan headers (vulkan/vulkan.h)")
endif()
if(NOT ET_VOLK_INCLUDE OR NOT ET_VOLK_SOURCE)
  list(APPEND _et_vk_missing "volk (volk.h and volk.c)")
endif()
if(NOT ET_GLSLC)
  list(APPEND _et_vk_missing "glslc")
endif()
if(NOT ET_NODE)
  list(APPEND _et_vk_missing "node (to embed the shaders)")
endif()

if(_et_vk_missing)
  string(REPLACE ";" ", " _et_vk_missing "${_et_vk_missing}")
  message(STATUS "edgetrain: Vulkan backend skipped, not found: ${_et_vk_missing}")
else()
  set(_et_vk_gen "${CMAKE_BINARY_DIR}/generated")
  file(MAKE_DIRECTORY "${_et_vk_gen}")
  file(GLOB _et_vk_shaders CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/kernels/vulkan/*.comp")
  file(GLOB _et_vk_includes CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/kernels/vulkan/*.glsl" "${CMAKE_SOURCE_DIR}/kernels/vulkan/*.h")
  set(_et_vk_incs "")
  set(_et_vk_pairs "")
  foreach(_src ${_et_vk_shaders})
    get_filename_component(_name "${_src}" NAME_WE)
    set(_out "${_et_vk_gen}/${_name}.spv.inc")
    add_custom_command(
      OUTPUT "${_out}"
      COMMAND "${ET_GLSLC}" --target-env=vulkan1.0 -O -mfmt=c -I "${CMAKE_SOURCE_DIR}/kernels/vulkan"
              -o "${_out}" "${_src}"
      DEPENDS "${_src}" ${_et_vk_includes}
      COMMENT "glslc ${_name}.comp"
      VERBATIM)
    list(APPEND _et_vk_incs "${_out}")
    list(APPEND _et_vk_pairs "${_name}=${_out}")
  endforeach()
  set(_et_vk_header "${_et_vk_gen}/vulkan_shaders.h")
  add_custom_command(
    OUTPUT "${_et_vk_header}"
    COMMAND "${ET_NODE}" "${CMAKE_SOURCE_DIR}/scripts/embed-shaders.mjs" "${_et_vk_header}" ${_et_vk_pairs}
    DEPENDS ${_et_vk_incs} "${CMAKE_SOURCE_DIR}/scripts/embed-shaders.mjs"
    COMMENT "embedding Vulkan shaders"
    VERBATIM)

  file(GLOB ET_VULKAN_SOURCES CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/csrc/vulkan/*.cpp")
  list(FILTER ET_VULKAN_SOURCES EXCLUDE REGEX "backend_vulkan_stub\\.cpp$")
  list(APPEND ET_VULKAN_SOURCES "${ET_VOLK_SOURCE}" "${_et_vk_header}")
  set(ET_VULKAN_INCLUDES "${ET_VULKAN_HEADERS}" "${ET_VOLK_INCLUDE}" "${_et_vk_gen}")
  set(ET_VULKAN_DEFS ET_HAVE_VULKAN VK_NO_PROTOTYPES)
  message(STATUS "edgetrain: Vulkan backend enabled (glslc: ${ET_GLSLC}, volk: ${ET_VOLK_SOURCE})")
endif()

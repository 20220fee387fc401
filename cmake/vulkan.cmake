# Optional Vulkan backend: built only where Vulkan headers, volk and glslc exist. libvulkan is
# loaded at run time by volk, so the addon never links against it.
#
# Shaders: every kernels/vulkan/*.comp is compiled by glslc at build time into SPIR-V (C
# initializer text), then scripts/embed-shaders.mjs gathers them into
# ${CMAKE_BINARY_DIR}/generated/vulkan_shaders.h. SPIR-V is never checked in.
#
# Variants: a .comp whose header has a line
#   // variants: subgroup=ET_SUBGROUP int8dot=ET_INT8_DOT
# is also compiled once per `suffix=DEFINE[,DEFINE...]` with -DDEFINE=1 into the shader
# <name>_<suffix> (softmax_subgroup, ...), which the host asks for by name when the device has
# what it needs. Variants are built for --target-env=vulkan1.1 (SPIR-V 1.3: subgroup operations),
# the plain shader for vulkan1.0. The line is read when cmake configures: every .comp is a
# configure dependency, so editing it reconfigures.
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
  # one glslc run: shader <name> from <src> for target env <env> with extra flags (-D...)
  macro(_et_vk_compile name src env)
    set(_out "${_et_vk_gen}/${name}.spv.inc")
    add_custom_command(
      OUTPUT "${_out}"
      COMMAND "${ET_GLSLC}" --target-env=${env} -O -mfmt=c -I "${CMAKE_SOURCE_DIR}/kernels/vulkan"
              ${ARGN} -o "${_out}" "${src}"
      DEPENDS "${src}" ${_et_vk_includes}
      COMMENT "glslc ${name}"
      VERBATIM)
    list(APPEND _et_vk_incs "${_out}")
    list(APPEND _et_vk_pairs "${name}=${_out}")
  endmacro()
  foreach(_src ${_et_vk_shaders})
    get_filename_component(_name "${_src}" NAME_WE)
    _et_vk_compile("${_name}" "${_src}" vulkan1.0)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_src}")
    file(STRINGS "${_src}" _vline LIMIT_COUNT 1 REGEX "^// variants:")
    string(REGEX MATCHALL "[A-Za-z0-9_]+=[A-Za-z0-9_,]+" _variants "${_vline}")
    foreach(_v ${_variants})
      string(REGEX REPLACE "=.*" "" _suffix "${_v}")
      string(REGEX REPLACE "^[^=]*=" "" _defs "${_v}")
      string(REPLACE "," ";" _defs "${_defs}")
      set(_dflags "")
      foreach(_d ${_defs})
        list(APPEND _dflags "-D${_d}=1")
      endforeach()
      _et_vk_compile("${_name}_${_suffix}" "${_src}" vulkan1.1 ${_dflags})
    endforeach()
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

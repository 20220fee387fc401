# Cross toolchain: Linux/glibc aarch64 from an x86-64 Debian/Ubuntu host.
#   apt-get install g++-aarch64-linux-gnu qemu-user-static
#   npx cmake-js compile --out build-arm64 --arch arm64 \
#     --CDCMAKE_TOOLCHAIN_FILE=$PWD/cmake/toolchain-aarch64.cmake --CDEDGETRAIN_VULKAN=OFF
# scripts/arm64-check.sh drives this end to end (build, then run under qemu).
#
# -DET_AARCH64_CLANG=ON uses clang/clang++ --target=aarch64-linux-gnu (same GNU cross sysroot;
# closest to Termux's clang) instead of ${ET_AARCH64_PREFIX}gcc/g++ (default prefix
# aarch64-linux-gnu-); -DCMAKE_CXX_COMPILER=... overrides both. ET_AARCH64_SYSROOT (default
# /usr/aarch64-linux-gnu) is the target root searched for libraries and headers, and qemu's -L.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

if(NOT DEFINED ET_AARCH64_PREFIX)
  set(ET_AARCH64_PREFIX "aarch64-linux-gnu-")
endif()
if(NOT DEFINED ET_AARCH64_SYSROOT)
  set(ET_AARCH64_SYSROOT "/usr/aarch64-linux-gnu")
endif()
# try_compile projects re-read this file; pass the settings through.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES ET_AARCH64_PREFIX ET_AARCH64_SYSROOT ET_AARCH64_CLANG)

if(ET_AARCH64_CLANG)
  if(NOT CMAKE_C_COMPILER)
    set(CMAKE_C_COMPILER clang)
  endif()
  if(NOT CMAKE_CXX_COMPILER)
    set(CMAKE_CXX_COMPILER clang++)
  endif()
  set(CMAKE_C_COMPILER_TARGET aarch64-linux-gnu)
  set(CMAKE_CXX_COMPILER_TARGET aarch64-linux-gnu)  # Debian's clang finds gcc-cross and its ld
else()
  if(NOT CMAKE_C_COMPILER)
    set(CMAKE_C_COMPILER "${ET_AARCH64_PREFIX}gcc")
  endif()
  if(NOT CMAKE_CXX_COMPILER)
    set(CMAKE_CXX_COMPILER "${ET_AARCH64_PREFIX}g++")
  endif()
endif()

# Target libraries/headers come only from the target root; programs (node, glslc) from the host.
set(CMAKE_FIND_ROOT_PATH "${ET_AARCH64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# try_run / add_test commands run under user-mode qemu when it is installed.
find_program(ET_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(ET_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${ET_QEMU_AARCH64};-L;${ET_AARCH64_SYSROOT}")
endif()

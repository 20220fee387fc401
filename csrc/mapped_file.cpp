#include "mapped_file.h"

#include <cerrno>
#include <cstring>
#include <new>

#if defined(_WIN32)
#include <cstdio>
#include <cstdlib>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace et {

#if defined(_WIN32)
// No mmap here: read the file into memory instead (same interface, one copy).
Buffer* map_file(Backend* cpu, const std::string& path, std::string* err) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    *err = "cannot open " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  std::fseek(f, 0, SEEK_END);
  long n = std::ftell(f);
  if (n < 0) {
    std::fclose(f);
    *err = path + " is not a regular file, not a file to map";
    return nullptr;
  }
  std::fseek(f, 0, SEEK_SET);
  void* p = std::malloc(n > 0 ? size_t(n) : 1);
  if (!p || (n > 0 && std::fread(p, 1, size_t(n), f) != size_t(n))) {
    std::free(p);
    std::fclose(f);
    *err = "cannot read " + path;
    return nullptr;
  }
  std::fclose(f);
  auto* b = new Buffer();
  b->backend = cpu;
  b->ptr = p;
  b->bytes = b->capacity = size_t(n);
  b->release = [](Buffer* bb) {
    std::free(bb->ptr);
    delete bb;
  };
  return b;
}
#else
Buffer* map_file(Backend* cpu, const std::string& path, std::string* err) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below); no effect on
  // regular files
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    *err = "cannot open " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    *err = "cannot stat " + path + ": " + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    *err = path + (S_ISDIR(st.st_mode) ? " is a directory" : " is not a regular file") + ", not a file to map";
    ::close(fd);
    return nullptr;
  }
  size_t n = size_t(st.st_size);
  void* p = nullptr;
  if (n > 0) {
    // MAP_PRIVATE with write access: a tensor written in place gets private copies of its pages
    // instead of a fault, and the file never changes.
    p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      *err = "cannot map " + path + ": " + std::strerror(errno);
      ::close(fd);
      return nullptr;
    }
  }
  ::close(fd);  // the mapping keeps the file alive
  Buffer* b = new (std::nothrow) Buffer();
  if (!b) {
    if (p) ::munmap(p, n);
    *err = "out of memory mapping " + path;
    return nullptr;
  }
  b->backend = cpu;
  b->ptr = p;
  b->bytes = b->capacity = n;
  b->release = [](Buffer* bb) {
    if (bb->ptr) ::munmap(bb->ptr, bb->capacity);
    delete bb;
  };
  return b;
}
#endif

}  // namespace et

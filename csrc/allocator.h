// Caching allocator shared by backends: frees go to per-size-class free lists and are reused,
// so a training loop that allocates the same shapes every step stops calling the system allocator.
#pragma once
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "backend.h"

namespace et {

class CachingAllocator {
 public:
  // raw_alloc returns a Buffer with ptr/impl set for `capacity` bytes (or nullptr + err);
  // raw_free releases it for good.
  using RawAlloc = std::function<Buffer*(size_t capacity, std::string* err)>;
  using RawFree = std::function<void(Buffer*)>;

  CachingAllocator(RawAlloc a, RawFree f) : raw_alloc_(std::move(a)), raw_free_(std::move(f)) {}

  Buffer* alloc(size_t bytes, std::string* err);
  void free(Buffer* b);
  void empty_cache();
  MemStats stats() const;
  // Size class for a request: 256-byte granularity below 1 MiB, then 1/8 steps of the power of two.
  static size_t size_class(size_t bytes);

 private:
  RawAlloc raw_alloc_;
  RawFree raw_free_;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<Buffer*>> free_;
  MemStats stats_;
};

}  // namespace et

#include "allocator.h"

namespace et {

size_t CachingAllocator::size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= (1u << 20)) return (bytes + 255) & ~size_t(255);
  size_t p = 1;
  while (p * 2 <= bytes) p *= 2;
  size_t step = p / 8;
  return (bytes + step - 1) / step * step;
}

Buffer* CachingAllocator::alloc(size_t bytes, std::string* err) {
  size_t cap = size_class(bytes);
  std::unique_lock<std::mutex> lk(mu_);
  Buffer* b = nullptr;
  auto it = free_.find(cap);
  if (it != free_.end() && !it->second.empty()) {
    b = it->second.back();
    it->second.pop_back();
    stats_.cached_bytes -= int64_t(cap);
  } else {
    lk.unlock();
    b = raw_alloc_(cap, err);
    if (!b) {
      // out of memory: drop the cache and try once more
      empty_cache();
      err->clear();
      b = raw_alloc_(cap, err);
      if (!b) return nullptr;
    }
    lk.lock();
    b->capacity = cap;
  }
  b->bytes = bytes;
  stats_.live_bytes += int64_t(bytes);
  stats_.live_buffers += 1;
  if (stats_.live_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.live_bytes;
  return b;
}

void CachingAllocator::free(Buffer* b) {
  if (!b) return;
  std::lock_guard<std::mutex> lk(mu_);
  stats_.live_bytes -= int64_t(b->bytes);
  stats_.live_buffers -= 1;
  stats_.cached_bytes += int64_t(b->capacity);
  free_[b->capacity].push_back(b);
}

void CachingAllocator::empty_cache() {
  std::vector<Buffer*> drop;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& kv : free_)
      for (Buffer* b : kv.second) drop.push_back(b);
    free_.clear();
    stats_.cached_bytes = 0;
  }
  for (Buffer* b : drop) raw_free_(b);
}

MemStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

}  // namespace et

#include "pipeline_cache.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifdef _WIN32
#include <direct.h>
#include <io.h>
#include <windows.h>
#else
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace et {
namespace vk {

namespace {

constexpr uint32_t kVersion = 1;
constexpr size_t kHeader = 24;                  // magic, version, payload bytes (u64), FNV-1a 64 (u64)
constexpr size_t kMaxFile = size_t(512) << 20;  // larger is not a cache this build wrote

uint64_t fnv1a(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

std::string hex(uint64_t v, int digits) {
  static const char d[] = "0123456789abcdef";
  std::string s(size_t(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[size_t(i)] = d[v & 15];
  return s;
}

std::string env(const char* k) {
  const char* v = std::getenv(k);
  return v ? v : "";
}

std::string cache_dir() {
  std::string d = env("EDGETRAIN_CACHE_DIR");
  if (!d.empty()) return d;
  d = env("XDG_CACHE_HOME");
  if (!d.empty()) return d + "/edgetrain";
#ifdef _WIN32
  d = env("LOCALAPPDATA");
  if (!d.empty()) return d + "/edgetrain";
#endif
  d = env("HOME");
  return d.empty() ? "" : d + "/.cache/edgetrain";
}

bool make_dir(const std::string& d) {
#ifdef _WIN32
  return _mkdir(d.c_str()) == 0 || errno == EEXIST;
#else
  return ::mkdir(d.c_str(), 0755) == 0 || errno == EEXIST;
#endif
}

// mkdir -p
bool make_dirs(const std::string& d) {
  for (size_t i = 1; i <= d.size(); ++i)
    if (i == d.size() || d[i] == '/' || d[i] == '\\')
      if (!make_dir(d.substr(0, i))) return false;
  return true;
}

// The folder, or the nearest existing folder above it, accepts new files.
bool writable(std::string d) {
  while (!d.empty()) {
#ifdef _WIN32
    if (_access(d.c_str(), 0) == 0) return _access(d.c_str(), 2) == 0;
#else
    if (::access(d.c_str(), F_OK) == 0) return ::access(d.c_str(), W_OK | X_OK) == 0;
#endif
    size_t slash = d.find_last_of("/\\");
    if (slash == std::string::npos || slash == 0) break;
    d.resize(slash);
  }
  return false;
}

bool read_file(const std::string& path, std::vector<unsigned char>* out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char buf[1 << 16];
  size_t n;
  bool ok = true;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    out->insert(out->end(), buf, buf + n);
    if (out->size() > kMaxFile) {
      ok = false;
      break;
    }
  }
  ok = ok && !std::ferror(f);
  std::fclose(f);
  return ok;
}

uint32_t u32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t u64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// The driver's data in `file` when the file is whole and made for this device; else why not.
std::string check(const std::vector<unsigned char>& file, const VkPhysicalDeviceProperties& props, size_t* at,
                  size_t* bytes) {
  if (file.size() < kHeader || std::memcmp(file.data(), "ETPC", 4) != 0 || u32(&file[4]) != kVersion)
    return "not a cache file of this build";
  const uint64_t n = u64(&file[8]);
  if (n != file.size() - kHeader) return "truncated";
  const unsigned char* d = file.data() + kHeader;
  if (fnv1a(d, size_t(n)) != u64(&file[16])) return "checksum mismatch";
  // VkPipelineCacheHeaderVersionOne: headerSize, headerVersion, vendorID, deviceID, pipelineCacheUUID
  if (n < 32) return "no driver header";
  const uint32_t header_size = u32(d), version = u32(d + 4);
  if (header_size < 32 || header_size > n || version != VK_PIPELINE_CACHE_HEADER_VERSION_ONE)
    return "bad driver header";
  if (u32(d + 8) != props.vendorID || u32(d + 12) != props.deviceID ||
      std::memcmp(d + 16, props.pipelineCacheUUID, VK_UUID_SIZE) != 0)
    return "made by another device or driver";
  *at = kHeader;
  *bytes = size_t(n);
  return "";
}

bool write_all(FILE* f, const void* p, size_t n) { return std::fwrite(p, 1, n, f) == n; }

bool sync_file(FILE* f) {
  if (std::fflush(f) != 0) return false;
#ifdef _WIN32
  return _commit(_fileno(f)) == 0;
#else
  return ::fsync(fileno(f)) == 0;
#endif
}

bool replace(const std::string& from, const std::string& to) {
#ifdef _WIN32
  return MoveFileExA(from.c_str(), to.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH) != 0;
#else
  return std::rename(from.c_str(), to.c_str()) == 0;
#endif
}

}  // namespace

void PipelineCache::open(const Context& c, uint64_t key) {
  c_ = &c;
  const std::string setting = env("EDGETRAIN_VULKAN_PIPELINE_CACHE");
  if (setting == "0") {
    text_ = "off (EDGETRAIN_VULKAN_PIPELINE_CACHE=0)";
    return;
  }
  dir_ = cache_dir();
  std::vector<unsigned char> file;
  std::string state;
  size_t at = 0, bytes = 0;
  if (dir_.empty()) {
    state = "no cache folder ($HOME unset): in memory only";
  } else {
    const VkPhysicalDeviceProperties& p = c.props;
    std::string uuid;
    for (uint32_t i = 0; i < VK_UUID_SIZE; ++i) uuid += hex(p.pipelineCacheUUID[i], 2);
    path_ = dir_ + "/vulkan-" + hex(p.vendorID, 8) + "-" + hex(p.deviceID, 8) + "-" + hex(p.driverVersion, 8) + "-" +
            uuid + "-" + hex(key, 16) + ".bin";
    if (!read_file(path_, &file)) {
      file.clear();
      state = "empty, written after first use";
    } else {
      std::string why = check(file, p, &at, &bytes);
      state = why.empty() ? "read " + std::to_string(bytes) + " bytes" : "ignored the file (" + why + "), replaced after first use";
      if (!why.empty()) bytes = 0;
    }
    if (!writable(dir_)) state += "; folder not writable: not saved";
  }
  VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  ci.initialDataSize = bytes;
  ci.pInitialData = bytes ? file.data() + at : nullptr;
  VkResult r = vkCreatePipelineCache(c.device, &ci, nullptr, &cache_);
  if (r != VK_SUCCESS && bytes) {  // the driver refused the data: start empty
    ci.initialDataSize = 0;
    ci.pInitialData = nullptr;
    bytes = 0;
    state = "the driver refused the file, replaced after first use";
    r = vkCreatePipelineCache(c.device, &ci, nullptr, &cache_);
  }
  if (r != VK_SUCCESS) {
    cache_ = VK_NULL_HANDLE;
    path_.clear();
    text_ = "none (" + vk_error("vkCreatePipelineCache", r) + ")";
    return;
  }
  if (bytes) {
    loaded_bytes_ = bytes;
    loaded_hash_ = fnv1a(file.data() + at, bytes);
  }
  text_ = path_.empty() ? state : path_ + " (" + state + ")";
}

void PipelineCache::save() {
  if (!cache_ || path_.empty() || !dirty_) return;
  size_t n = 0;
  if (vkGetPipelineCacheData(c_->device, cache_, &n, nullptr) != VK_SUCCESS || n == 0) return;
  std::vector<unsigned char> data(n);
  VkResult r = vkGetPipelineCacheData(c_->device, cache_, &n, data.data());
  if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || n == 0) return;
  data.resize(n);
  const uint64_t h = fnv1a(data.data(), n);
  dirty_ = false;
  if (n == loaded_bytes_ && h == loaded_hash_) return;  // nothing new since it was read or written
  if (!make_dirs(dir_)) return;
#ifdef _WIN32
  const std::string tmp = path_ + ".tmp" + std::to_string(GetCurrentProcessId());
#else
  const std::string tmp = path_ + ".tmp" + std::to_string(::getpid());
#endif
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return;
  unsigned char head[kHeader];
  const uint32_t version = kVersion;
  const uint64_t bytes = n;
  std::memcpy(head, "ETPC", 4);
  std::memcpy(head + 4, &version, 4);
  std::memcpy(head + 8, &bytes, 8);
  std::memcpy(head + 16, &h, 8);
  bool ok = write_all(f, head, kHeader) && write_all(f, data.data(), n) && sync_file(f);
  ok = std::fclose(f) == 0 && ok;
  if (ok && replace(tmp, path_)) {
    loaded_bytes_ = n;
    loaded_hash_ = h;
  } else {
    std::remove(tmp.c_str());
  }
}

void PipelineCache::close() {
  if (!cache_) return;
  save();
  vkDestroyPipelineCache(c_->device, cache_, nullptr);
  cache_ = VK_NULL_HANDLE;
}

}  // namespace vk
}  // namespace et

#include "backend_cpu.h"

#include <cstdlib>
#include <cstring>
#if !defined(_WIN32)
#include <sys/mman.h>
#endif

#include "../allocator.h"
#include "cpuid.h"
#include "kernels.h"  // KernelFn

namespace et {

// Defined by csrc/cpu/register_all.cpp in each per-ISA build of the kernels.
namespace isa_generic {
void register_all_kernels(KernelFn* t);
}
#define ET_DECLARE_COPY(ns) \
  namespace ns {                \
  void register_all_kernels(KernelFn* t); \
  }
#if defined(ET_HAVE_AVX2)
ET_DECLARE_COPY(isa_avx2)
#endif
#if defined(ET_HAVE_AVX512)
ET_DECLARE_COPY(isa_avx512)
#endif
#if defined(ET_HAVE_DOTPROD)
ET_DECLARE_COPY(isa_dotprod)
#endif
#if defined(ET_HAVE_I8MM)
ET_DECLARE_COPY(isa_i8mm)
#endif
#undef ET_DECLARE_COPY

// The compiled copy of the kernels that serves a tier (kernels.h); tiers without a copy of their
// own (avx2vnni, avx512vnni, avx512bf16) use their base copy, whose kernels test cpu_features().
void (*copy_for(CpuTier t))(KernelFn*) {
  switch (t) {
#if defined(ET_HAVE_AVX2)
    case CpuTier::avx2: case CpuTier::avx2vnni: return isa_avx2::register_all_kernels;
#endif
#if defined(ET_HAVE_AVX512)
    case CpuTier::avx512: case CpuTier::avx512vnni: case CpuTier::avx512bf16: return isa_avx512::register_all_kernels;
#endif
#if defined(ET_HAVE_DOTPROD)
    case CpuTier::dotprod: return isa_dotprod::register_all_kernels;
#endif
#if defined(ET_HAVE_I8MM)
    case CpuTier::i8mm: return isa_i8mm::register_all_kernels;
#endif
    default: return isa_generic::register_all_kernels;
  }
}

namespace {

const char* g_isa = "generic";  // the tier in use (cpuid.h)
constexpr size_t kMapThreshold = size_t(1) << 20;
int kMappedTag = 0;

class CpuBackend : public Backend {
 public:
  CpuBackend()
      : alloc_(
            [](size_t cap, std::string* err) -> Buffer* {
              void* p = nullptr;
              bool mapped = false;
#if !defined(_WIN32)
              // large buffers come straight from the kernel: their pages are resident only once
              // written, and emptyCache() hands them back (malloc keeps freed heap memory)
              if (cap >= kMapThreshold) {
                p = ::mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (p == MAP_FAILED) p = nullptr;
                mapped = p != nullptr;
              }
#endif
              if (!p && posix_memalign(&p, 64, cap) != 0) p = nullptr;
              if (!p) {
                *err = "cpu: out of memory allocating " + std::to_string(cap) + " bytes";
                return nullptr;
              }
              auto* b = new Buffer();
              b->ptr = p;
              b->impl = mapped ? &kMappedTag : nullptr;
              return b;
            },
            [](Buffer* b) {
#if !defined(_WIN32)
              if (b->impl == &kMappedTag) ::munmap(b->ptr, b->capacity);
              else
#endif
                std::free(b->ptr);
              delete b;
            }) {
    for (auto& k : table_) k = nullptr;
    CpuTier t = cpu_tier().tier;
    copy_for(t)(table_);
    g_isa = cpu_tier_name(t);
  }
  ~CpuBackend() override { alloc_.empty_cache(); }

  const char* name() const override { return "cpu"; }
  std::string description() const override {
    return std::string("host CPU, ") + std::to_string(threadpool_size()) + " threads, " + g_isa + " kernels";
  }
  Buffer* alloc(size_t bytes, std::string* err) override {
    Buffer* b = alloc_.alloc(bytes, err);
    if (b) b->backend = this;
    return b;
  }
  void free(Buffer* b) override {
    if (b && b->release) return b->release(b);
    alloc_.free(b);
  }
  std::string upload(Buffer* b, size_t offset, const void* src, size_t bytes) override {
    std::memcpy(static_cast<char*>(b->ptr) + offset, src, bytes);
    return "";
  }
  std::string download(Buffer* b, size_t offset, void* dst, size_t bytes) override {
    std::memcpy(dst, static_cast<char*>(b->ptr) + offset, bytes);
    return "";
  }
  bool supports_op(int op) const override { return op >= 0 && op < OP_COUNT && table_[op] != nullptr; }
  std::string exec(const Call& c) override {
    KernelFn k = (c.op >= 0 && c.op < OP_COUNT) ? table_[c.op] : nullptr;
    if (!k) return std::string(op_name(c.op)) + ": not implemented on cpu";
    return k(c);
  }
  void empty_cache() override { alloc_.empty_cache(); }
  MemStats stats() const override { return alloc_.stats(); }

 private:
  CachingAllocator alloc_;
  KernelFn table_[OP_COUNT];
};

}  // namespace

std::unique_ptr<Backend> cpu_backend_create() { return std::unique_ptr<Backend>(new CpuBackend()); }
const char* cpu_isa() { return g_isa; }

}  // namespace et

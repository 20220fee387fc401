// Device/backend interface. Every backend (cpu, vulkan, cuda) implements Backend; kernels are
// looked up by op id (csrc/ops.h, generated from schema/ops.json). Errors are returned as
// strings, never thrown across N-API.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dtype.h"
#include "ops.h"

namespace et {

class Backend;

class Stream;

// A device allocation. `ptr` is host-addressable on CPU; other backends keep their handle in `impl`.
struct Buffer {
  Backend* backend = nullptr;
  void* ptr = nullptr;
  void* impl = nullptr;
  size_t bytes = 0;      // bytes requested
  size_t capacity = 0;   // bytes actually reserved (allocator size class)
  // Set for memory the allocator does not own (a mapped file): free() calls it instead.
  void (*release)(Buffer*) = nullptr;
  // The stream (csrc/stream.h) whose queued item `last_use` used it last. Kept across the
  // allocator's reuse, so a new owner knows what may still be reading or writing it.
  std::weak_ptr<Stream> stream;
  uint64_t last_use = 0;
};

// A strided view of a buffer. offset/strides are in elements.
struct View {
  Buffer* buf = nullptr;
  int dtype = ET_F32;
  int ndim = 0;
  int64_t offset = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  bool contiguous() const {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != s) return false;
      s *= shape[i];
    }
    return true;
  }
  // host pointer to element `offset` (CPU buffers only)
  template <class T>
  T* data() const { return reinterpret_cast<T*>(static_cast<char*>(buf->ptr) + offset * dtype_size(dtype)); }
};

// One kernel invocation: t[0..n_in) inputs, t[n_in..n_in+n_out) outputs.
struct Call {
  int op = 0;
  int n_in = 0;
  int n_out = 0;
  View t[kMaxArgs];
  double p[kMaxParams] = {};
  const View& in(int i) const { return t[i]; }
  const View& out(int i) const { return t[n_in + i]; }
};

// Arity and dtypes against the op schema: "" or "DTypeError: exp: input x must be float32, ...".
std::string op_check(const Call& c);
// "matmul(float32[4,8], float16[8,16] -> float32[4,16])", for error messages.
std::string call_signature(const Call& c);

struct MemStats {
  int64_t live_bytes = 0;
  int64_t peak_bytes = 0;
  int64_t live_buffers = 0;
  int64_t cached_bytes = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;          // "cpu", "vulkan", "cuda"
  virtual std::string description() const = 0;   // e.g. device name and driver
  // Returns nullptr and sets *err on failure (out of memory, device lost).
  virtual Buffer* alloc(size_t bytes, std::string* err) = 0;
  // Frees (or caches) the buffer; work already queued on it finishes first.
  virtual void free(Buffer* b) = 0;
  virtual std::string upload(Buffer* b, size_t offset, const void* src, size_t bytes) = 0;
  virtual std::string download(Buffer* b, size_t offset, void* dst, size_t bytes) = 0;
  // Whether the backend has a kernel for the op at all (devices() lists these).
  virtual bool supports_op(int op) const = 0;
  // Whether it can run this call: its dtypes, shapes and views. Checked before anything runs;
  // exec may still fail for what only running finds (an index out of range).
  virtual bool supports(const Call& c) const { return supports_op(c.op); }
  // Runs or enqueues the kernel. Returns "" on success, else a message naming the problem.
  virtual std::string exec(const Call& c) = 0;
  // Waits for queued work.
  virtual std::string sync() { return ""; }
  // Drops cached (free) allocations.
  virtual void empty_cache() {}
  virtual MemStats stats() const = 0;
  // The process is exiting (called at the JS 'exit' event, and again by the registry among the
  // static destructors): finish queued work and save what outlives the process. The backend stays
  // usable: finalizers may still free buffers afterwards.
  virtual void at_exit() {}
  // Whether the registry deletes the backend at exit; false leaves it, and the driver behind it,
  // to the end of the process.
  virtual bool delete_at_exit() const { return true; }
};

}  // namespace et

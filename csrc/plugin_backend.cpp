#include "plugin_backend.h"

#include <cstddef>
#include <cstring>
#include <mutex>

#include "allocator.h"

namespace et {

// et_view / et_call are et::View / et::Call with the plugin's buffer handle in place of Buffer*,
// so a call converts by copying it and swapping the handles in.
static_assert(ET_ABI_MAX_DIMS == kMaxDims && ET_ABI_MAX_ARGS == kMaxArgs && ET_ABI_MAX_PARAMS == kMaxParams,
              "plugin ABI limits differ from csrc/ops.h");
static_assert(ET_ABI_F32 == ET_F32 && ET_ABI_F16 == ET_F16 && ET_ABI_BF16 == ET_BF16 && ET_ABI_I32 == ET_I32 &&
                  ET_ABI_U8 == ET_U8,
              "plugin ABI dtypes differ from csrc/dtype.h");
static_assert(sizeof(et_view) == sizeof(View) && offsetof(et_view, dtype) == offsetof(View, dtype) &&
                  offsetof(et_view, ndim) == offsetof(View, ndim) && offsetof(et_view, offset) == offsetof(View, offset) &&
                  offsetof(et_view, shape) == offsetof(View, shape) && offsetof(et_view, strides) == offsetof(View, strides),
              "et_view must mirror et::View");
static_assert(sizeof(et_call) == sizeof(Call) && offsetof(et_call, n_in) == offsetof(Call, n_in) &&
                  offsetof(et_call, n_out) == offsetof(Call, n_out) && offsetof(et_call, t) == offsetof(Call, t) &&
                  offsetof(et_call, p) == offsetof(Call, p),
              "et_call must mirror et::Call");

namespace {

constexpr size_t kErrCap = 1024;

void to_abi(const Call& c, et_call* out) {
  std::memcpy(static_cast<void*>(out), &c, sizeof(et_call));
  out->reserved = 0;
  for (int i = 0; i < c.n_in + c.n_out && i < kMaxArgs; ++i) out->t[i].buf = c.t[i].buf ? c.t[i].buf->impl : nullptr;
}

class PluginBackend : public Backend {
 public:
  PluginBackend(const et_plugin* p, void* dev, std::string name, std::string description)
      : p_(p),
        dev_(dev),
        name_(std::move(name)),
        description_(std::move(description)),
        // the raw functions run with mu_ held by the public method that reached them
        alloc_(
            [this](size_t cap, std::string* err) -> Buffer* {
              char msg[kErrCap] = {};
              void* h = p_->alloc(dev_, cap, msg, kErrCap);
              if (!h) {
                *err = msg[0] ? msg : name_ + ": out of device memory allocating " + std::to_string(cap) + " bytes";
                return nullptr;
              }
              auto* b = new Buffer();
              b->impl = h;
              return b;
            },
            [this](Buffer* b) {
              p_->free(dev_, b->impl);
              delete b;
            }) {}

  const char* name() const override { return name_.c_str(); }
  std::string description() const override { return description_; }

  Buffer* alloc(size_t bytes, std::string* err) override {
    std::lock_guard<std::mutex> lk(mu_);
    Buffer* b = alloc_.alloc(bytes, err);
    if (b) b->backend = this;
    return b;
  }
  void free(Buffer* b) override {
    std::lock_guard<std::mutex> lk(mu_);
    alloc_.free(b);
  }
  std::string upload(Buffer* b, size_t offset, const void* src, size_t bytes) override {
    std::lock_guard<std::mutex> lk(mu_);
    char msg[kErrCap] = {};
    return p_->upload(dev_, b->impl, offset, src, bytes, msg, kErrCap) ? failed("upload", msg) : "";
  }
  std::string download(Buffer* b, size_t offset, void* dst, size_t bytes) override {
    std::lock_guard<std::mutex> lk(mu_);
    char msg[kErrCap] = {};
    return p_->download(dev_, b->impl, offset, dst, bytes, msg, kErrCap) ? failed("download", msg) : "";
  }
  bool supports_op(int op) const override {
    std::lock_guard<std::mutex> lk(mu_);
    return op >= 0 && op < OP_COUNT && p_->supports_op(dev_, op) != 0;
  }
  bool supports(const Call& c) const override {
    if (!supports_op(c.op)) return false;
    if (!p_->supports) return true;
    et_call a;
    to_abi(c, &a);
    std::lock_guard<std::mutex> lk(mu_);
    return p_->supports(dev_, &a) != 0;
  }
  std::string exec(const Call& c) override {
    et_call a;
    to_abi(c, &a);
    std::lock_guard<std::mutex> lk(mu_);
    char msg[kErrCap] = {};
    return p_->exec(dev_, &a, msg, kErrCap) ? failed(op_name(c.op), msg) : "";
  }
  std::string sync() override {
    if (!p_->sync) return "";
    std::lock_guard<std::mutex> lk(mu_);
    char msg[kErrCap] = {};
    return p_->sync(dev_, msg, kErrCap) ? failed("sync", msg) : "";
  }
  void empty_cache() override {
    std::lock_guard<std::mutex> lk(mu_);
    alloc_.empty_cache();
  }
  MemStats stats() const override { return alloc_.stats(); }

 private:
  // The plugin's message, or one naming what failed when it gave none.
  std::string failed(const char* what, const char* msg) const {
    if (msg[0]) return msg;
    return std::string("DeviceError: ") + what + ": the " + name_ + " plugin failed without saying why";
  }

  const et_plugin* p_;
  void* dev_;
  std::string name_;
  std::string description_;
  CachingAllocator alloc_;
  mutable std::mutex mu_;
};

}  // namespace

std::unique_ptr<Backend> plugin_backend_create(const et_plugin* p, void* dev, const std::string& name,
                                               const std::string& description) {
  return std::unique_ptr<Backend>(new PluginBackend(p, dev, name, description));
}

}  // namespace et

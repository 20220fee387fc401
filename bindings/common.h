// Shared pieces of the N-API glue. Nothing numeric lives in bindings/.
//
// Exception policy: node-addon-api is built with NAPI_DISABLE_CPP_EXCEPTIONS (its calls leave a
// pending JS exception instead of throwing), and every exported function is registered through
// export_fn(), whose entry catches any C++ exception (std::bad_alloc from a container,
// std::system_error from a thread, ...) and throws a JS Error naming the function instead, so
// nothing is ever thrown across N-API.
#pragma once
#include <napi.h>

#if defined(NAPI_CPP_EXCEPTIONS) || defined(NODE_ADDON_API_CPP_EXCEPTIONS)
#error "the bindings expect NAPI_DISABLE_CPP_EXCEPTIONS (see CMakeLists.txt): they check pending JS exceptions, and export_fn's guard is the only catch"
#endif

#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "../csrc/backend.h"
#include "../csrc/stream.h"

namespace etb {

// A live device allocation behind a JS handle.
struct BufferHandle {
  et::Buffer* buf = nullptr;  // null once freed
  et::Backend* backend = nullptr;
  size_t bytes = 0;
  bool counted = true;  // reported to V8 with napi_adjust_external_memory (mapped files are not)
};

// JS holds buffers as plain numbers, gen * 2^24 + slot, into a per-env table, not as externals:
// a finalizer-backed external per allocation queues its finalizer for a later turn of the event
// loop, so a loop that never yields (a generation loop awaits only promises) piled up every
// handle it had ever made. Lifetime is owned by JS (Storage in lib/tensor.ts frees explicitly,
// with a FinalizationRegistry as the safety net); the generation makes a freed handle detectable
// even after its slot is reused.
class HandleTable {
 public:
  static constexpr double kSlots = 16777216.0;  // 2^24 live buffers at most
  static constexpr uint32_t kMaxGen = 1u << 28;  // gen * 2^24 + slot stays below 2^52

  enum class Lookup { ok, freed, invalid };

  ~HandleTable();
  // Registers a buffer; returns its id, or -1 when the table is full.
  double add(const BufferHandle& h);
  BufferHandle* find(double id, Lookup* state);
  // Frees the device memory (idempotent for a freed id). False when id is not a handle.
  bool release(napi_env env, double id);

 private:
  struct Slot {
    BufferHandle h;
    uint32_t gen = 1;
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
};

// What one Node environment (the main thread, or one worker_thread) owns: its handles, the
// call description it shares with JS, and one stream per device it has used. Kept as napi
// instance data, so workers never share state.
struct EnvState {
  HandleTable handles;
  double* meta = nullptr;  // the Float64Array given to setMeta
  napi_ref meta_ref = nullptr;
  // shared: a pending async read keeps its stream alive past the env
  std::vector<std::shared_ptr<et::Stream>> streams;

  // The stream of a backend, started on first use.
  const std::shared_ptr<et::Stream>& stream(et::Backend* be);
  // Waits for the work queued on every stream (errors stay kept for the next sync).
  void drain();
  ~EnvState();
};

EnvState& env_state(napi_env env);
HandleTable& handle_table(napi_env env);
// Records that item `seq` of stream s uses b.
inline void mark_use(et::Buffer* b, const std::shared_ptr<et::Stream>& s, uint64_t seq) {
  if (b->stream.owner_before(s) || s.owner_before(b->stream)) b->stream = s;
  b->last_use = seq;
}
// The stream whose queued work on b has not all run yet, or null.
std::shared_ptr<et::Stream> pending_on(const et::Buffer* b);
// Whether b is still used by work queued on s. Work queued on another stream (another env's)
// cannot be ordered after: that is waited for here, and the answer is then false.
bool queued_on(const et::Buffer* b, const std::shared_ptr<et::Stream>& s);
// [off, off + bytes) within h's buffer, else a RangeError naming `what` is thrown and false returned.
bool check_range(const Napi::Env& env, BufferHandle* h, double off, double bytes, const char* what);
// Frees the device memory behind h now, or once the queued work that uses it has run.
void free_buffer(napi_env env, const BufferHandle& h);
// Waits for the queued work that uses h; false (with a JS error thrown) when queued work on its
// stream failed: that error, typed and naming its op, is what the caller sees.
bool wait_for(const Napi::Env& env, const BufferHandle& h);
// Throws the stream's kept error, if any, as a JS Error; true when there was none.
bool no_stream_error(const Napi::Env& env, et::Stream& s);
// "<what>: <err>", or err as it is when it already starts with its error class ("IndexError:
// embedding: ..."): a kernel's error a device finds only when a read or a sync waits for it keeps
// its class (lib/errors.ts types errors by that prefix).
std::string in_context(const char* what, const std::string& err);

// Returns the handle behind a JS value, or throws a JS error (TypeError when the value is not a
// handle, DisposedError when its buffer was freed) naming `what`, and returns nullptr.
BufferHandle* get_handle(const Napi::Env& env, const Napi::Value& v, const char* what);

// Argument checks that throw a JS TypeError/RangeError naming fn and return false.
bool arg_string(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what, std::string* out);
bool arg_number(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what, double* out);
// A non-negative integer below 2^53 (byte counts and offsets).
bool arg_index(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what, double* out);
// The backend named by argument 0, or nullptr after throwing a DeviceError (naming fn unless
// in_message is false: then the caller prefixes its own op).
et::Backend* backend_arg(const Napi::CallbackInfo& info, const char* fn, bool in_message = true);
// Shortest decimal form of a double for messages ("2.5", "1e+10", "NaN").
std::string fmt_num(double v);

using Entry = Napi::Value (*)(const Napi::CallbackInfo&);
namespace detail {
napi_value throw_cpp_exception(napi_env env, napi_callback_info cb, const char* what, bool oom);
template <Entry F>
napi_value guarded(napi_env env, napi_callback_info cb) {
  try {
    Napi::CallbackInfo info(env, cb);
    return F(info);
  } catch (const std::bad_alloc&) {
    return throw_cpp_exception(env, cb, "out of host memory (std::bad_alloc)", true);
  } catch (const std::exception& e) {
    return throw_cpp_exception(env, cb, e.what(), false);
  } catch (...) {
    return throw_cpp_exception(env, cb, "unknown C++ exception", false);
  }
}
void define(Napi::Env env, Napi::Object exports, const char* name, napi_callback cb);
}  // namespace detail

// exports[name] = F, with C++ exceptions turned into JS errors that name the function.
template <Entry F>
void export_fn(Napi::Env env, Napi::Object exports, const char* name) {
  detail::define(env, exports, name, &detail::guarded<F>);
}

void init_buffer(Napi::Env env, Napi::Object exports);
void init_exec(Napi::Env env, Napi::Object exports);
void init_devices(Napi::Env env, Napi::Object exports);
void init_quant(Napi::Env env, Napi::Object exports);
void init_stream(Napi::Env env, Napi::Object exports);

}  // namespace etb

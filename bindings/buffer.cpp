// Device buffers as numbered JS handles: alloc / free / upload / download / mapFile, and the
// argument and exception helpers every binding file uses.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "../csrc/device.h"
#include "../csrc/mapped_file.h"
#include "common.h"

namespace etb {

// ---- handle table -------------------------------------------------------------------------

HandleTable::~HandleTable() {
  // The env is going away (a worker exits, or the process does): free what JS still held.
  for (Slot& s : slots_)
    if (s.h.buf) s.h.backend->free(s.h.buf);
}

double HandleTable::add(const BufferHandle& h) {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    if (double(slots_.size()) >= kSlots) return -1;
    slots_.emplace_back();
    slot = uint32_t(slots_.size() - 1);
  }
  slots_[slot].h = h;
  return double(slots_[slot].gen) * kSlots + double(slot);
}

BufferHandle* HandleTable::find(double id, Lookup* state) {
  *state = Lookup::invalid;
  if (!(id >= 0) || id >= double(kMaxGen) * kSlots || id != std::floor(id)) return nullptr;
  double gen_d = std::floor(id / kSlots);
  uint64_t slot = uint64_t(id - gen_d * kSlots);
  uint32_t gen = uint32_t(gen_d);
  if (gen == 0 || slot >= slots_.size()) return nullptr;
  Slot& s = slots_[slot];
  if (s.gen == gen && s.h.buf) {
    *state = Lookup::ok;
    return &s.h;
  }
  // an id this slot handed out before it was freed (and maybe reused)
  if (gen < s.gen || (gen == s.gen && !s.h.buf)) *state = Lookup::freed;
  return nullptr;
}

bool HandleTable::release(napi_env env, double id) {
  Lookup st;
  BufferHandle* h = find(id, &st);
  if (st == Lookup::freed) return true;
  if (!h) return false;
  free_buffer(env, *h);
  h->buf = nullptr;
  if (h->counted) {
    int64_t change;
    napi_adjust_external_memory(env, -int64_t(h->bytes), &change);
  }
  auto slot = uint32_t(id - std::floor(id / kSlots) * kSlots);
  Slot& s = slots_[slot];
  // a slot whose generations are used up is retired rather than risk an id repeating
  if (++s.gen < kMaxGen) free_.push_back(slot);
  return true;
}

EnvState& env_state(napi_env env) { return *Napi::Env(env).GetInstanceData<EnvState>(); }
HandleTable& handle_table(napi_env env) { return env_state(env).handles; }

// ---- argument helpers ---------------------------------------------------------------------

std::string fmt_num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e21) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

namespace {

const char* type_name(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: return "a number";
    case napi_string: return "a string";
    case napi_symbol: return "a symbol";
    case napi_object: return "an object";
    case napi_function: return "a function";
    case napi_external: return "an external";
    case napi_bigint: return "a bigint";
  }
  return "an unknown value";
}

std::string describe(const Napi::Value& v) {
  if (v.IsString()) return "'" + v.As<Napi::String>().Utf8Value() + "'";
  return type_name(v);
}

}  // namespace

bool arg_string(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what, std::string* out) {
  Napi::Value v = info[i];
  if (!v.IsString()) {
    Napi::TypeError::New(info.Env(), std::string(fn) + ": " + what + " must be a string, got " + type_name(v))
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

bool arg_number(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what, double* out) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) {
    Napi::TypeError::New(info.Env(), std::string(fn) + ": " + what + " must be a number, got " + describe(v))
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = v.As<Napi::Number>().DoubleValue();
  return true;
}

bool arg_index(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what, double* out) {
  if (!arg_number(info, i, fn, what, out)) return false;
  double d = *out;
  if (!(d >= 0) || d > 9007199254740992.0 || d != std::floor(d)) {
    Napi::RangeError::New(info.Env(), std::string(fn) + ": " + what + " must be a non-negative integer, got " + fmt_num(d))
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

BufferHandle* get_handle(const Napi::Env& env, const Napi::Value& v, const char* what) {
  HandleTable::Lookup st = HandleTable::Lookup::invalid;
  BufferHandle* h = v.IsNumber() ? handle_table(env).find(v.As<Napi::Number>().DoubleValue(), &st) : nullptr;
  if (h) return h;
  if (st == HandleTable::Lookup::freed)
    Napi::Error::New(env, std::string("DisposedError: ") + what + ": buffer was freed").ThrowAsJavaScriptException();
  else
    Napi::TypeError::New(env, std::string(what) + ": expected a buffer handle, got " +
                                  (v.IsNumber() ? "the number " + fmt_num(v.As<Napi::Number>().DoubleValue())
                                                : std::string(type_name(v))))
        .ThrowAsJavaScriptException();
  return nullptr;
}

// ---- exception guard ----------------------------------------------------------------------

namespace detail {

napi_value throw_cpp_exception(napi_env env, napi_callback_info cb, const char* what, bool oom) {
  void* data = nullptr;
  napi_get_cb_info(env, cb, nullptr, nullptr, nullptr, &data);
  const char* fn = data ? static_cast<const char*>(data) : "edgetrain";
  // A fixed buffer: this may run because memory ran out.
  char msg[512];
  std::snprintf(msg, sizeof msg, "%s%s: %s%s", oom ? "OutOfMemory: " : "", fn, oom ? "" : "internal error: ", what);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
  napi_throw_error(env, nullptr, msg);
  return nullptr;
}

void define(Napi::Env env, Napi::Object exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_status s = napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, const_cast<char*>(name), &fn);
  if (s == napi_ok) s = napi_set_named_property(env, exports, name, fn);
  if (s != napi_ok) napi_throw_error(env, nullptr, (std::string("edgetrain: cannot export ") + name).c_str());
}

}  // namespace detail

bool check_range(const Napi::Env& env, BufferHandle* h, double off, double bytes, const char* what) {
  if (off + bytes > double(h->bytes)) {
    Napi::RangeError::New(env, std::string(what) + ": range [" + fmt_num(off) + ", " + fmt_num(off) + " + " +
                                   fmt_num(bytes) + ") outside buffer of " + std::to_string(h->bytes) + " bytes")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// ---- buffer functions ---------------------------------------------------------------------

namespace {

// alloc(device: string, bytes: number) -> handle
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dev;
  double bytes_d;
  if (!arg_string(info, 0, "alloc", "device", &dev) || !arg_index(info, 1, "alloc", "byte count", &bytes_d))
    return env.Undefined();
  std::string why;
  et::Backend* be = et::device_backend(dev, &why);
  if (!be) {
    Napi::Error::New(env, "DeviceError: alloc: " + why).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t bytes = size_t(bytes_d);
  et::Buffer* b = be->alloc(bytes, &why);
  if (!b) {
    Napi::Error::New(env, "OutOfMemory: alloc: " + why)
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // a buffer another env freed while its work was queued: this env's work is not ordered after it
  queued_on(b, env_state(env).stream(be));
  double id = handle_table(env).add(BufferHandle{b, be, bytes, true});
  if (id < 0) {
    be->free(b);
    Napi::Error::New(env, "OutOfMemory: alloc: more than " + fmt_num(HandleTable::kSlots) + " live buffers")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int64_t change;
  napi_adjust_external_memory(env, int64_t(bytes), &change);
  return Napi::Number::New(env, id);
}

// free(handle): freeing a freed handle does nothing.
Napi::Value Free(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value v = info[0];
  if (!v.IsNumber() || !handle_table(env).release(env, v.As<Napi::Number>().DoubleValue())) get_handle(env, v, "free");
  return env.Undefined();
}


// upload(handle, byteOffset, typedArray | DataView)
Napi::Value Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufferHandle* h = get_handle(env, info[0], "upload");
  double off;
  if (!h || !arg_index(info, 1, "upload", "byte offset", &off)) return env.Undefined();
  const char* src = nullptr;
  size_t n = 0;
  if (info[2].IsTypedArray()) {
    Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
    n = ta.ByteLength();
    if (n) src = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  } else if (info[2].IsDataView()) {
    Napi::DataView dv = info[2].As<Napi::DataView>();
    n = dv.ByteLength();
    if (n) src = static_cast<const char*>(dv.Data());
  } else {
    Napi::TypeError::New(env, std::string("upload: data must be a typed array or DataView, got ") + type_name(info[2]))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!check_range(env, h, off, double(n), "upload") || n == 0) return env.Undefined();
  const std::shared_ptr<et::Stream>& s = env_state(env).stream(h->backend);
  if (!queued_on(h->buf, s)) {  // nothing of this env's queue uses it (a fresh tensor): write it now
    std::string err = h->backend->upload(h->buf, size_t(off), src, n);
    if (!err.empty()) Napi::Error::New(env, "upload: " + err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // queued work still reads or writes the buffer: write a copy of the data after it
  auto copy = std::make_shared<std::vector<char>>(src, src + n);
  et::Backend* be = h->backend;
  et::Buffer* buf = h->buf;
  size_t at = size_t(off);
  mark_use(buf, s, s->run([be, buf, at, copy]() -> std::string {
    std::string err = be->upload(buf, at, copy->data(), copy->size());
    return err.empty() ? "" : "upload: " + err;
  }));
  return env.Undefined();
}

// download(handle, byteOffset, bytes) -> ArrayBuffer
Napi::Value Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufferHandle* h = get_handle(env, info[0], "download");
  double off, n;
  if (!h || !arg_index(info, 1, "download", "byte offset", &off) || !arg_index(info, 2, "download", "byte count", &n) ||
      !check_range(env, h, off, n, "download"))
    return env.Undefined();
  if (!wait_for(env, *h)) return env.Undefined();
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, size_t(n));
  if (env.IsExceptionPending()) return env.Undefined();
  if (n == 0) return ab;
  std::string err = h->backend->download(h->buf, size_t(off), ab.Data(), size_t(n));
  if (!err.empty()) {
    Napi::Error::New(env, in_context("download", err)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return ab;
}

// mapFile(path) -> { handle, bytes }: the file's bytes as a CPU buffer, mapped, not copied.
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!arg_string(info, 0, "mapFile", "path", &path)) return env.Undefined();
  std::string why;
  et::Backend* cpu = et::device_backend("cpu", &why);
  et::Buffer* b = cpu ? et::map_file(cpu, path, &why) : nullptr;
  if (!b) {
    Napi::Error::New(env, "FormatError: mapFile: " + why).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // File-backed pages: not reported to V8 as external memory (the OS can drop them at will).
  double id = handle_table(env).add(BufferHandle{b, cpu, b->bytes, false});
  if (id < 0) {
    cpu->free(b);
    Napi::Error::New(env, "OutOfMemory: mapFile: more than " + fmt_num(HandleTable::kSlots) + " live buffers")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", Napi::Number::New(env, id));
  o.Set("bytes", double(b->bytes));
  return o;
}

}  // namespace

void init_buffer(Napi::Env env, Napi::Object exports) {
  export_fn<Alloc>(env, exports, "alloc");
  export_fn<Free>(env, exports, "free");
  export_fn<Upload>(env, exports, "upload");
  export_fn<Download>(env, exports, "download");
  export_fn<MapFile>(env, exports, "mapFile");
}

}  // namespace etb

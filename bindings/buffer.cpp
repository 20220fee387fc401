// Device buffers as JS externals: alloc / free / upload / download.
#include <string>

#include "../csrc/device.h"
#include "../csrc/mapped_file.h"
#include "common.h"

namespace etb {

BufferHandle* get_handle(const Napi::Env& env, const Napi::Value& v, const char* what) {
  if (!v.IsExternal()) {
    Napi::TypeError::New(env, std::string(what) + ": expected a buffer handle").ThrowAsJavaScriptException();
    return nullptr;
  }
  return v.As<Napi::External<BufferHandle>>().Data();
}

void release_handle(napi_env env, BufferHandle* h) {
  if (!h->buf) return;
  h->backend->free(h->buf);
  h->buf = nullptr;
  if (!h->counted) return;
  int64_t change;
  napi_adjust_external_memory(env, -int64_t(h->bytes), &change);
}

namespace {

// alloc(device: string, bytes: number) -> handle
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dev = info[0].As<Napi::String>().Utf8Value();
  double bytes_d = info[1].As<Napi::Number>().DoubleValue();
  if (!(bytes_d >= 0) || bytes_d > 9.0e15) {
    Napi::RangeError::New(env, "alloc: invalid byte count " + std::to_string(bytes_d)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string why;
  et::Backend* be = et::device_backend(dev, &why);
  if (!be) {
    Napi::Error::New(env, "DeviceError: " + why).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t bytes = size_t(bytes_d);
  et::Buffer* b = be->alloc(bytes, &why);
  if (!b) {
    Napi::Error::New(env, "OutOfMemory: " + why).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* h = new BufferHandle{b, be, bytes};
  int64_t change;
  napi_adjust_external_memory(env, int64_t(bytes), &change);
  // The finaliser is the safety net for handles JS forgot; dispose() frees earlier.
  return Napi::External<BufferHandle>::New(env, h, [](Napi::Env e, BufferHandle* hh) {
    release_handle(e, hh);
    delete hh;
  });
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  BufferHandle* h = get_handle(info.Env(), info[0], "free");
  if (h) release_handle(info.Env(), h);
  return info.Env().Undefined();
}

bool check_range(const Napi::Env& env, BufferHandle* h, double off, size_t bytes, const char* what) {
  if (!h) return false;
  if (!h->buf) {
    Napi::Error::New(env, std::string("DisposedError: ") + what + ": buffer was freed").ThrowAsJavaScriptException();
    return false;
  }
  if (!(off >= 0) || off + double(bytes) > double(h->bytes)) {
    Napi::RangeError::New(env, std::string(what) + ": range [" + std::to_string(off) + ", +" + std::to_string(bytes) +
                                   ") outside buffer of " + std::to_string(h->bytes) + " bytes")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// upload(handle, byteOffset, typedArray)
Napi::Value Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufferHandle* h = get_handle(env, info[0], "upload");
  double off = info[1].As<Napi::Number>().DoubleValue();
  Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
  size_t n = ta.ByteLength();
  if (!check_range(env, h, off, n, "upload")) return env.Undefined();
  const char* src = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  std::string err = h->backend->upload(h->buf, size_t(off), src, n);
  if (!err.empty()) Napi::Error::New(env, err).ThrowAsJavaScriptException();
  return env.Undefined();
}

// download(handle, byteOffset, bytes) -> ArrayBuffer
Napi::Value Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BufferHandle* h = get_handle(env, info[0], "download");
  double off = info[1].As<Napi::Number>().DoubleValue();
  size_t n = size_t(info[2].As<Napi::Number>().DoubleValue());
  if (!check_range(env, h, off, n, "download")) return env.Undefined();
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n);
  std::string err = h->backend->download(h->buf, size_t(off), ab.Data(), n);
  if (!err.empty()) {
    Napi::Error::New(env, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return ab;
}

// mapFile(path) -> { handle, bytes }: the file's bytes as a CPU buffer, mapped, not copied.
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    Napi::TypeError::New(env, "mapFile: expected a path").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string why;
  et::Backend* cpu = et::device_backend("cpu", &why);
  et::Buffer* b = et::map_file(cpu, info[0].As<Napi::String>().Utf8Value(), &why);
  if (!b) {
    Napi::Error::New(env, "FormatError: " + why).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // File-backed pages: not reported to V8 as external memory (the OS can drop them at will).
  auto* h = new BufferHandle{b, cpu, b->bytes, false};
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", Napi::External<BufferHandle>::New(env, h, [](Napi::Env e, BufferHandle* hh) {
          release_handle(e, hh);
          delete hh;
        }));
  o.Set("bytes", double(b->bytes));
  return o;
}

}  // namespace

void init_buffer(Napi::Env env, Napi::Object exports) {
  exports.Set("alloc", Napi::Function::New(env, Alloc));
  exports.Set("free", Napi::Function::New(env, Free));
  exports.Set("upload", Napi::Function::New(env, Upload));
  exports.Set("download", Napi::Function::New(env, Download));
  exports.Set("mapFile", Napi::Function::New(env, MapFile));
}

}  // namespace etb

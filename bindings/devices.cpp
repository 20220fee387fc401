// devices(), memory(), thread count, cache and sync controls.
#include <string>

#include "../csrc/cpu/backend_cpu.h"
#include "../csrc/cpu/cpuid.h"
#include "../csrc/device.h"
#include "../csrc/threadpool.h"
#include "common.h"

namespace etb {
namespace {

Napi::Value Devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& ds = et::devices();
  Napi::Array a = Napi::Array::New(env, ds.size());
  for (size_t i = 0; i < ds.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", ds[i].name);
    o.Set("available", ds[i].available);
    if (ds[i].available) o.Set("description", ds[i].description);
    else o.Set("reason", ds[i].reason);
    a.Set(uint32_t(i), o);
  }
  return a;
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  for (const auto& d : et::devices()) {
    if (!d.available) continue;
    et::MemStats s = d.backend->stats();
    Napi::Object m = Napi::Object::New(env);
    m.Set("liveBytes", double(s.live_bytes));
    m.Set("peakBytes", double(s.peak_bytes));
    m.Set("liveBuffers", double(s.live_buffers));
    m.Set("cachedBytes", double(s.cached_bytes));
    o.Set(d.name, m);
  }
  return o;
}

et::Backend* backend_arg(const Napi::CallbackInfo& info) {
  std::string why;
  et::Backend* be = et::device_backend(info[0].As<Napi::String>().Utf8Value(), &why);
  if (!be) Napi::Error::New(info.Env(), "DeviceError: " + why).ThrowAsJavaScriptException();
  return be;
}


Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  if (et::Backend* be = backend_arg(info)) be->empty_cache();
  return info.Env().Undefined();
}

Napi::Value Sync(const Napi::CallbackInfo& info) {
  if (et::Backend* be = backend_arg(info)) {
    std::string err = be->sync();
    if (!err.empty()) Napi::Error::New(info.Env(), err).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), et::threadpool_size()); }

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  et::threadpool_set_size(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value CpuIsa(const Napi::CallbackInfo& info) {
  et::devices();  // the CPU backend picks its kernel table when it starts
  return Napi::String::New(info.Env(), et::cpu_isa());
}

Napi::Value CpuClockGhz(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), et::cpu_clock_ghz()); }

}  // namespace

void init_devices(Napi::Env env, Napi::Object exports) {
  exports.Set("devices", Napi::Function::New(env, Devices));
  exports.Set("memory", Napi::Function::New(env, Memory));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache));
  exports.Set("sync", Napi::Function::New(env, Sync));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("cpuIsa", Napi::Function::New(env, CpuIsa));
  exports.Set("cpuClockGhz", Napi::Function::New(env, CpuClockGhz));
}

}  // namespace etb

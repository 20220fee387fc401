// devices(), memory(), thread count, cache and sync controls.
#include <cmath>
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

et::Backend* backend_arg(const Napi::CallbackInfo& info, const char* fn) {
  std::string dev, why;
  if (!arg_string(info, 0, fn, "device", &dev)) return nullptr;
  et::Backend* be = et::device_backend(dev, &why);
  if (!be) Napi::Error::New(info.Env(), std::string("DeviceError: ") + fn + ": " + why).ThrowAsJavaScriptException();
  return be;
}


Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  if (et::Backend* be = backend_arg(info, "emptyCache")) be->empty_cache();
  return info.Env().Undefined();
}

Napi::Value Sync(const Napi::CallbackInfo& info) {
  if (et::Backend* be = backend_arg(info, "sync")) {
    std::string err = be->sync();
    if (!err.empty()) Napi::Error::New(info.Env(), "sync: " + err).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), et::threadpool_size()); }

// setThreads(n): n an integer in [1, threadpool_max_size()].
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int max = et::threadpool_max_size();
  const std::string range = "an integer in [1, " + std::to_string(max) + "]";
  Napi::Value v = info[0];
  if (!v.IsNumber()) {
    std::string got = v.IsString() ? "the string '" + v.As<Napi::String>().Utf8Value() + "'"
                                   : v.IsUndefined() ? std::string("undefined") : std::string("a non-number");
    Napi::Error::New(env, "ValueError: setThreads: thread count must be " + range + ", got " + got)
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double n = v.As<Napi::Number>().DoubleValue();
  if (!(n >= 1 && n <= max) || n != std::floor(n)) {
    Napi::Error::New(env, "ValueError: setThreads: thread count must be " + range + ", got " + fmt_num(n))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string err = et::threadpool_set_size(int(n));
  if (!err.empty()) Napi::Error::New(env, "setThreads: " + err).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value MaxThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), et::threadpool_max_size()); }

Napi::Value CpuIsa(const Napi::CallbackInfo& info) {
  et::devices();  // the CPU backend picks its kernel table when it starts
  return Napi::String::New(info.Env(), et::cpu_isa());
}

Napi::Value CpuClockGhz(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), et::cpu_clock_ghz()); }

}  // namespace

void init_devices(Napi::Env env, Napi::Object exports) {
  export_fn<Devices>(env, exports, "devices");
  export_fn<Memory>(env, exports, "memory");
  export_fn<EmptyCache>(env, exports, "emptyCache");
  export_fn<Sync>(env, exports, "sync");
  export_fn<GetThreads>(env, exports, "getThreads");
  export_fn<SetThreads>(env, exports, "setThreads");
  export_fn<MaxThreads>(env, exports, "maxThreads");
  export_fn<CpuIsa>(env, exports, "cpuIsa");
  export_fn<CpuClockGhz>(env, exports, "cpuClockGhz");
}

}  // namespace etb

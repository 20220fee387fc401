// devices(), memory(), thread count, cache and sync controls.
#include <cmath>
#include <string>

#include "../csrc/cpu/backend_cpu.h"
#include "../csrc/cpu/cpuid.h"
#include "../csrc/device.h"
#include "../csrc/threadpool.h"
#include "common.h"

namespace etb {

// The backend named by argument 0, or nullptr after throwing a DeviceError (naming fn unless
// in_message is false: then the caller prefixes its own op).
et::Backend* backend_arg(const Napi::CallbackInfo& info, const char* fn, bool in_message) {
  std::string dev, why;
  if (!arg_string(info, 0, fn, "device", &dev)) return nullptr;
  et::Backend* be = et::device_backend(dev, &why);
  if (!be)
    Napi::Error::New(info.Env(), std::string("DeviceError: ") + (in_message ? std::string(fn) + ": " : "") + why)
        .ThrowAsJavaScriptException();
  return be;
}

namespace {

Napi::Object feature_object(Napi::Env env, const et::DeviceProps& p) {
  Napi::Object f = Napi::Object::New(env);
  for (const auto& x : p.features) {
    if (x.type == et::DeviceFeature::kBool) f.Set(x.key, x.num != 0);
    else if (x.type == et::DeviceFeature::kNumber) f.Set(x.key, x.num);
    else f.Set(x.key, x.str);
  }
  return f;
}

// The kernel ops the device implements, in op id order.
Napi::Array op_list(Napi::Env env, const et::Backend* be) {
  Napi::Array a = Napi::Array::New(env);
  uint32_t n = 0;
  for (int op = 0; be && op < et::OP_COUNT; ++op)
    if (be->supports_op(op)) a.Set(n++, et::op_name(op));
  return a;
}

// devices() -> one object per device: lib/device.ts DeviceStatus.
Napi::Value Devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& ds = et::devices();
  Napi::Array a = Napi::Array::New(env, ds.size());
  for (size_t i = 0; i < ds.size(); ++i) {
    const et::DeviceInfo& d = ds[i];
    et::DeviceProps p = et::device_props(d);
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", d.name);
    o.Set("backend", d.family);
    o.Set("index", d.index);
    o.Set("available", d.available);
    if (d.available) o.Set("description", d.description);
    else o.Set("reason", d.reason);
    o.Set("kind", p.kind);
    o.Set("memory", double(p.memory));
    o.Set("features", feature_object(env, p));
    o.Set("ops", op_list(env, d.backend));
    if (!d.plugin.empty()) o.Set("plugin", d.plugin);
    a.Set(uint32_t(i), o);
  }
  return a;
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  env_state(env).drain();  // frees still queued count as freed once they have run
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


// resolveDevice(name) -> the canonical name of an available device ("vulkan:0" -> "vulkan"), or
// a DeviceError: unknown name or index (listing the devices), or unavailable (with the reason).
Napi::Value ResolveDevice(const Napi::CallbackInfo& info) {
  et::Backend* be = backend_arg(info, "resolveDevice", false);
  // a backend is named as its registry entry
  return be ? Napi::String::New(info.Env(), be->name()) : info.Env().Undefined();
}


Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  if (et::Backend* be = backend_arg(info, "emptyCache")) {
    env_state(info.Env()).stream(be)->wait_all();  // queued frees first, so their memory goes too
    be->empty_cache();
  }
  return info.Env().Undefined();
}

Napi::Value Sync(const Napi::CallbackInfo& info) {
  if (et::Backend* be = backend_arg(info, "sync")) {
    et::Stream& s = *env_state(info.Env()).stream(be);
    s.wait_all();
    if (!no_stream_error(info.Env(), s)) return info.Env().Undefined();
    std::string err = be->sync();
    if (!err.empty()) Napi::Error::New(info.Env(), in_context("sync", err)).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

// atExit(): the process is exiting (lib/native/addon.ts calls it at the 'exit' event): finishes
// this env's queued work, then every device's (Backend::at_exit), before the static destructors
// run: a driver's own exit-time teardown must not find work still running.
Napi::Value AtExit(const Napi::CallbackInfo& info) {
  env_state(info.Env()).drain();
  for (const auto& d : et::devices())
    if (d.available && d.backend) d.backend->at_exit();
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
  env_state(env).drain();  // no kernel of this env runs while the pool changes
  std::string err = et::threadpool_set_size(int(n));
  if (!err.empty()) Napi::Error::New(env, "setThreads: " + err).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value MaxThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), et::threadpool_max_size()); }

Napi::Value CpuIsa(const Napi::CallbackInfo& info) {
  et::devices();  // the CPU backend picks its kernel table when it starts
  return Napi::String::New(info.Env(), et::cpu_isa());
}

Napi::Value CpuIsaError(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), et::cpu_tier().error); }

Napi::Value CpuFeatures(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), et::cpu_feature_list()); }

Napi::Value CpuClockGhz(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), et::cpu_clock_ghz()); }

}  // namespace

void init_devices(Napi::Env env, Napi::Object exports) {
  export_fn<Devices>(env, exports, "devices");
  export_fn<ResolveDevice>(env, exports, "resolveDevice");
  export_fn<Memory>(env, exports, "memory");
  export_fn<EmptyCache>(env, exports, "emptyCache");
  export_fn<Sync>(env, exports, "sync");
  export_fn<AtExit>(env, exports, "atExit");
  export_fn<GetThreads>(env, exports, "getThreads");
  export_fn<SetThreads>(env, exports, "setThreads");
  export_fn<MaxThreads>(env, exports, "maxThreads");
  export_fn<CpuIsa>(env, exports, "cpuIsa");
  export_fn<CpuIsaError>(env, exports, "cpuIsaError");
  export_fn<CpuFeatures>(env, exports, "cpuFeatures");
  export_fn<CpuClockGhz>(env, exports, "cpuClockGhz");
}

}  // namespace etb

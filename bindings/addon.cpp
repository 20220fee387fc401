#include <napi.h>

#include "common.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  try {
    env.SetInstanceData(new etb::EnvState());
    etb::init_buffer(env, exports);
    etb::init_exec(env, exports);
    etb::init_devices(env, exports);
    etb::init_quant(env, exports);
    etb::init_stream(env, exports);
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, (std::string("edgetrain: cannot initialise the addon: ") + e.what()).c_str());
  }
  return exports;
}

NODE_API_MODULE(edgetrain, Init)

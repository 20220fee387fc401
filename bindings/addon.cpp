#include <napi.h>

#include "common.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  etb::init_buffer(env, exports);
  etb::init_exec(env, exports);
  etb::init_devices(env, exports);
  return exports;
}

NODE_API_MODULE(edgetrain, Init)

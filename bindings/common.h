// Shared pieces of the N-API glue. Nothing numeric lives in bindings/.
#pragma once
#include <napi.h>

#include "../csrc/backend.h"

namespace etb {

// What a JS buffer handle (a Napi::External) points to. `buf` is null once freed.
struct BufferHandle {
  et::Buffer* buf = nullptr;
  et::Backend* backend = nullptr;
  size_t bytes = 0;
  bool counted = true;  // reported to V8 with napi_adjust_external_memory (mapped files are not)
};

// Returns the handle behind a JS value, or throws a JS TypeError and returns nullptr.
BufferHandle* get_handle(const Napi::Env& env, const Napi::Value& v, const char* what);
// Frees the device memory of a handle (idempotent) and tells V8 the external memory is gone.
void release_handle(napi_env env, BufferHandle* h);

void init_buffer(Napi::Env env, Napi::Object exports);
void init_exec(Napi::Env env, Napi::Object exports);
void init_devices(Napi::Env env, Napi::Object exports);

}  // namespace etb

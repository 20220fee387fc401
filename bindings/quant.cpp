// quantTypes(): the table of tensor types and block sizes (csrc/quant_types.h) for lib/quant-types.ts.
#include "../csrc/quant_types.h"
#include "common.h"

namespace etb {
namespace {

// -> {name, ggmlType, blockElems, blockBytes, kernels}[] in table order
Napi::Value QuantTypes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  constexpr size_t n = sizeof(et::kQuantTypes) / sizeof(et::kQuantTypes[0]);
  Napi::Array a = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; ++i) {
    const et::QuantTypeInfo& t = et::kQuantTypes[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", t.name);
    o.Set("ggmlType", double(t.id));
    o.Set("blockElems", double(t.block_elems));
    o.Set("blockBytes", double(t.block_bytes));
    o.Set("kernels", t.kernels);
    a.Set(uint32_t(i), o);
  }
  return a;
}

}  // namespace

void init_quant(Napi::Env env, Napi::Object exports) { export_fn<QuantTypes>(env, exports, "quantTypes"); }

}  // namespace etb

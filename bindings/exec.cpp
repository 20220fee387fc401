// The one hot entry point: exec(...bufferHandles) runs the kernel described in the shared meta
// array (a Float64Array JS fills before each call; layout in lib/native/meta.ts). Passing shapes
// through shared memory instead of JS objects keeps a small op's call overhead to ~1 us.
#include <cmath>
#include <string>

#include "../csrc/device.h"
#include "common.h"

namespace etb {
namespace {

constexpr int kHeader = 4;   // op, n_in, n_out, unused
constexpr int kSlot = 20;    // dtype, ndim, offset, shape[8], strides[8], unused
constexpr int kParams = 248; // first of kMaxParams doubles
constexpr int kMetaSize = kParams + et::kMaxParams;
static_assert(kHeader + et::kMaxArgs * kSlot <= kParams, "meta layout overlaps");

double* g_meta = nullptr;
napi_ref g_meta_ref = nullptr;

Napi::Value SetMeta(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::Float64Array>().ElementLength() < size_t(kMetaSize)) {
    Napi::TypeError::New(env, "setMeta: expected a Float64Array of " + std::to_string(kMetaSize) + " elements")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (g_meta_ref) napi_delete_reference(env, g_meta_ref);
  napi_create_reference(env, info[0], 1, &g_meta_ref);
  g_meta = info[0].As<Napi::Float64Array>().Data();
  return Napi::Number::New(env, kMetaSize);
}

std::string check_view(const et::View& v, size_t buf_bytes, int i) {
  std::string where = "argument " + std::to_string(i);
  if (v.dtype < 0 || v.dtype >= et::ET_DTYPE_COUNT) return where + ": bad dtype";
  if (v.ndim < 0 || v.ndim > et::kMaxDims) return where + ": rank " + std::to_string(v.ndim) + " exceeds 8";
  int64_t lo = v.offset, hi = v.offset;
  for (int d = 0; d < v.ndim; ++d) {
    if (v.shape[d] < 0) return where + ": negative dimension";
    if (v.shape[d] == 0) return "";  // empty view touches nothing
    int64_t span = (v.shape[d] - 1) * v.strides[d];
    if (span < 0) lo += span; else hi += span;
  }
  int64_t elems = int64_t(buf_bytes / size_t(et::dtype_size(v.dtype)));
  if (lo < 0 || hi >= elems)
    return where + ": view reaches element " + std::to_string(lo < 0 ? lo : hi) + " of a buffer holding " +
           std::to_string(elems);
  return "";
}

Napi::Value Exec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!g_meta) {
    Napi::Error::New(env, "exec: setMeta was not called").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  et::Call c;
  c.op = int(g_meta[0]);
  c.n_in = int(g_meta[1]);
  c.n_out = int(g_meta[2]);
  const char* opn = et::op_name(c.op);
  int n = c.n_in + c.n_out;
  if (c.op < 0 || c.op >= et::OP_COUNT || c.n_in < 0 || c.n_out != et::op_outputs(c.op) ||
      c.n_in > et::op_inputs(c.op) || n > et::kMaxArgs || size_t(n) != info.Length()) {
    Napi::Error::New(env, std::string("exec: malformed call for op ") + opn).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  et::Backend* be = nullptr;
  for (int i = 0; i < n; ++i) {
    BufferHandle* h = get_handle(env, info[i], opn);
    if (!h) return env.Undefined();
    if (!h->buf) {
      Napi::Error::New(env, std::string("DisposedError: ") + opn + ": argument " + std::to_string(i) +
                                " was disposed")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (be && h->backend != be) {
      Napi::Error::New(env, std::string("DeviceError: ") + opn + ": arguments on different devices (" +
                                be->name() + ", " + h->backend->name() + ")")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    be = h->backend;
    et::View& v = c.t[i];
    const double* s = g_meta + kHeader + i * kSlot;
    v.buf = h->buf;
    v.dtype = int(s[0]);
    v.ndim = int(s[1]);
    v.offset = int64_t(s[2]);
    for (int d = 0; d < et::kMaxDims && d < v.ndim; ++d) {
      v.shape[d] = int64_t(s[3 + d]);
      v.strides[d] = int64_t(s[11 + d]);
    }
    std::string err = check_view(v, h->bytes, i);
    if (!err.empty()) {
      Napi::Error::New(env, std::string(opn) + ": " + err).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  if (!be) {  // ops with no arguments are not in the table
    Napi::Error::New(env, std::string(opn) + ": no tensors given").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  for (int i = 0; i < et::kMaxParams; ++i) c.p[i] = g_meta[kParams + i];
  if (!be->supports_op(c.op)) {
    Napi::Error::New(env, std::string("DeviceError: ") + opn + " is not implemented on " + be->name())
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string err = be->exec(c);
  if (!err.empty()) Napi::Error::New(env, err).ThrowAsJavaScriptException();
  return env.Undefined();
}

// supportsOp(device, op) -> boolean
Napi::Value SupportsOp(const Napi::CallbackInfo& info) {
  std::string why;
  et::Backend* be = et::device_backend(info[0].As<Napi::String>().Utf8Value(), &why);
  int op = info[1].As<Napi::Number>().Int32Value();
  return Napi::Boolean::New(info.Env(), be && be->supports_op(op));
}

// opNames() -> string[] in op id order (checked against lib/native/ops.ts by the tests)
Napi::Value OpNames(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env(), et::OP_COUNT);
  for (int i = 0; i < et::OP_COUNT; ++i) a.Set(uint32_t(i), Napi::String::New(info.Env(), et::op_name(i)));
  return a;
}

}  // namespace

void init_exec(Napi::Env env, Napi::Object exports) {
  exports.Set("setMeta", Napi::Function::New(env, SetMeta));
  exports.Set("exec", Napi::Function::New(env, Exec));
  exports.Set("supportsOp", Napi::Function::New(env, SupportsOp));
  exports.Set("opNames", Napi::Function::New(env, OpNames));
  exports.Set("metaSize", Napi::Number::New(env, kMetaSize));
}

}  // namespace etb

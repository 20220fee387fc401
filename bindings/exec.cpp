// The one hot entry point: exec(...bufferHandles) runs the kernel described in the shared meta
// array (a Float64Array JS fills before each call; its layout is csrc/ops.h's kCall*, exported as
// callLayout). Passing shapes through shared memory instead of JS objects keeps a small op's call
// overhead to ~1 us.
#include <cmath>
#include <string>

#include "../csrc/device.h"
#include "common.h"

namespace etb {
namespace {

constexpr int kHeader = et::kCallHeader;
constexpr int kSlot = et::kCallSlot;
constexpr int kParams = et::kCallParams;
constexpr int kMetaSize = et::kCallSize;
static_assert(kHeader + et::kMaxArgs * kSlot <= kParams && kParams + et::kMaxParams <= kMetaSize, "meta layout overlaps");
static_assert(kSlot >= 3 + 2 * et::kMaxDims, "a slot holds dtype, ndim, offset, shape and strides");

Napi::Value SetMeta(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::Float64Array>().ElementLength() < size_t(kMetaSize)) {
    Napi::TypeError::New(env, "setMeta: expected a Float64Array of " + std::to_string(kMetaSize) + " elements")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  EnvState& st = env_state(env);
  if (st.meta_ref) napi_delete_reference(env, st.meta_ref);
  napi_create_reference(env, info[0], 1, &st.meta_ref);
  st.meta = info[0].As<Napi::Float64Array>().Data();
  return Napi::Number::New(env, kMetaSize);
}

// Meta values are doubles written by JS; anything but an integer of modest size is malformed
// (and converting NaN or 1e300 to an integer type is undefined behaviour).
bool meta_int(double d, int64_t* out) {
  if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != std::floor(d)) return false;
  *out = int64_t(d);
  return true;
}

std::string check_view(const et::View& v, size_t buf_bytes, int i) {
  std::string where = "argument " + std::to_string(i);
  if (v.dtype < 0 || v.dtype >= et::ET_DTYPE_COUNT) return where + ": bad dtype";
  if (v.ndim < 0 || v.ndim > et::kMaxDims)
    return where + ": rank " + std::to_string(v.ndim) + " exceeds " + std::to_string(et::kMaxDims);
  for (int d = 0; d < v.ndim; ++d) {
    if (v.shape[d] < 0) return where + ": negative dimension";
    if (v.shape[d] == 0) return "";  // empty view touches nothing
  }
  int64_t elems = int64_t(buf_bytes / size_t(et::dtype_size(v.dtype)));
  // offset, shape and strides are within +-2^53 (meta_int) and each span is checked to be too,
  // so the sum of at most 8 spans and the offset stays far from int64 overflow
  constexpr int64_t kMax = int64_t(1) << 53;
  int64_t lo = v.offset, hi = v.offset;
  for (int d = 0; d < v.ndim; ++d) {
    int64_t n1 = v.shape[d] - 1, st = v.strides[d] < 0 ? -v.strides[d] : v.strides[d];
    if (n1 > 0 && st > 0 && n1 > kMax / st)
      return where + ": dimension " + std::to_string(d) + " (" + std::to_string(v.shape[d]) + " x stride " +
             std::to_string(v.strides[d]) + ") reaches past a buffer holding " + std::to_string(elems);
    int64_t span = n1 * v.strides[d];
    if (span < 0) lo += span; else hi += span;
  }
  if (lo < 0 || hi >= elems)
    return where + ": view reaches element " + std::to_string(lo < 0 ? lo : hi) + " of a buffer holding " +
           std::to_string(elems);
  return "";
}

Napi::Value Exec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnvState& st = env_state(env);
  const double* meta = st.meta;
  if (!meta) {
    Napi::Error::New(env, "exec: setMeta was not called").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  et::Call c;
  int64_t hdr[3];
  bool hdr_ok = meta_int(meta[0], &hdr[0]) && meta_int(meta[1], &hdr[1]) && meta_int(meta[2], &hdr[2]) &&
                hdr[0] >= 0 && hdr[0] < et::OP_COUNT && hdr[1] >= 0 && hdr[1] <= et::kMaxArgs && hdr[2] >= 0 &&
                hdr[2] <= et::kMaxArgs;
  c.op = hdr_ok ? int(hdr[0]) : -1;
  c.n_in = hdr_ok ? int(hdr[1]) : 0;
  c.n_out = hdr_ok ? int(hdr[2]) : 0;
  const char* opn = et::op_name(c.op);
  int n = c.n_in + c.n_out;
  if (!hdr_ok || n > et::kMaxArgs || size_t(n) != info.Length()) {
    Napi::Error::New(env, std::string("exec: malformed call for op ") + opn).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  et::Backend* be = nullptr;
  HandleTable& table = st.handles;
  BufferHandle* args[et::kMaxArgs] = {};
  for (int i = 0; i < n; ++i) {
    HandleTable::Lookup st = HandleTable::Lookup::invalid;
    BufferHandle* h = info[i].IsNumber() ? table.find(info[i].As<Napi::Number>().DoubleValue(), &st) : nullptr;
    if (!h) {
      if (st == HandleTable::Lookup::freed)
        Napi::Error::New(env, std::string("DisposedError: ") + opn + ": argument " + std::to_string(i) +
                                  " was disposed")
            .ThrowAsJavaScriptException();
      else
        get_handle(env, info[i], opn);  // throws the TypeError
      return env.Undefined();
    }
    if (be && h->backend != be) {
      Napi::Error::New(env, std::string("DeviceError: ") + opn + ": arguments on different devices (" +
                                be->name() + ", " + h->backend->name() + ")")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    be = h->backend;
    args[i] = h;
    et::View& v = c.t[i];
    const double* s = meta + kHeader + i * kSlot;
    v.buf = h->buf;
    int64_t dtype, ndim;
    bool ok = meta_int(s[0], &dtype) && meta_int(s[1], &ndim) && meta_int(s[2], &v.offset) && dtype >= 0 &&
              dtype < et::ET_DTYPE_COUNT && ndim >= 0 && ndim <= et::kMaxDims;
    v.dtype = ok ? int(dtype) : -1;
    v.ndim = ok ? int(ndim) : 0;
    for (int d = 0; ok && d < v.ndim; ++d)
      ok = meta_int(s[3 + d], &v.shape[d]) && meta_int(s[3 + et::kMaxDims + d], &v.strides[d]);
    std::string err = ok ? check_view(v, h->bytes, i) : "argument " + std::to_string(i) + ": malformed view description";
    if (!err.empty()) {
      Napi::Error::New(env, std::string(opn) + ": " + err).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  if (!be) {  // ops with no arguments are not in the table
    Napi::Error::New(env, std::string(opn) + ": no tensors given").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  for (int i = 0; i < et::kMaxParams; ++i) c.p[i] = meta[kParams + i];
  std::string bad = et::op_check(c);
  if (bad.empty() && !be->supports(c))
    bad = std::string("DeviceError: ") + opn + " is not implemented on " + be->name() + " for " + et::call_signature(c) +
          (std::string(be->name()) == "cpu" ? "" : "; move the tensors with .to('cpu')");
  if (!bad.empty()) {
    Napi::Error::New(env, bad).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // checked: queue it and return; what the kernel finds while running surfaces at the next sync
  const std::shared_ptr<et::Stream>& s = st.stream(be);
  uint64_t seq = s->exec(c);
  for (int i = 0; i < n; ++i) mark_use(args[i]->buf, s, seq);
  if (s->inline_exec()) no_stream_error(env, *s);
  return env.Undefined();
}

// supportsOp(device, op) -> boolean
Napi::Value SupportsOp(const Napi::CallbackInfo& info) {
  std::string dev, why;
  double op;
  if (!arg_string(info, 0, "supportsOp", "device", &dev) || !arg_number(info, 1, "supportsOp", "op", &op))
    return info.Env().Undefined();
  et::Backend* be = et::device_backend(dev, &why);
  return Napi::Boolean::New(info.Env(), be && op >= 0 && op < et::OP_COUNT && op == std::floor(op) && be->supports_op(int(op)));
}

// opNames() -> string[] in op id order (checked against lib/native/ops.ts by the tests)
Napi::Value OpNames(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env(), et::OP_COUNT);
  for (int i = 0; i < et::OP_COUNT; ++i) a.Set(uint32_t(i), Napi::String::New(info.Env(), et::op_name(i)));
  return a;
}

}  // namespace

void init_exec(Napi::Env env, Napi::Object exports) {
  export_fn<SetMeta>(env, exports, "setMeta");
  export_fn<Exec>(env, exports, "exec");
  export_fn<SupportsOp>(env, exports, "supportsOp");
  export_fn<OpNames>(env, exports, "opNames");
  exports.Set("metaSize", Napi::Number::New(env, kMetaSize));
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("header", Napi::Number::New(env, kHeader));
  layout.Set("slot", Napi::Number::New(env, kSlot));
  layout.Set("params", Napi::Number::New(env, kParams));
  layout.Set("size", Napi::Number::New(env, kMetaSize));
  layout.Set("maxDims", Napi::Number::New(env, et::kMaxDims));
  layout.Set("maxArgs", Napi::Number::New(env, et::kMaxArgs));
  layout.Set("maxParams", Napi::Number::New(env, et::kMaxParams));
  exports.Set("callLayout", layout);
}

}  // namespace etb

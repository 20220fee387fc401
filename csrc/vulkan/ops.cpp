// VulkanBackend::exec: checks a Call, packs its views into a meta block (kernels/vulkan/meta.h)
// and records the dispatch. Strided views are passed as shape/strides, broadcast and merged by
// csrc/broadcast.h first, so most calls run with one dim.
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "../broadcast.h"
#include "op_util.h"
#include "vk_backend.h"

namespace et {
namespace vk {

namespace {

// An iteration space (csrc/broadcast.h: the output's shape, operands broadcast to it, dims
// merged) with each operand's offset and dtype, as the meta block carries them.
struct Iter : Broadcast<4> {
  int64_t off[4] = {};
  int dt[4] = {};

  Iter() = default;
  Iter(int nd, const int64_t* shape) : Broadcast<4>(nd, shape) {}
  bool add_view(const View& v) {
    if (n < 4) {
      off[n] = v.offset;
      dt[n] = v.dtype;
    }
    return add(v);
  }
  // Writes dims/strides/offsets/dtypes into the meta block; false if a value exceeds int32.
  bool pack(Meta& mt, int first_dim = 0) const {
    for (int t = 0; t < n; ++t) {
      if (off[t] > kI32Max) return false;
      mt.m[META_OFF + t] = int32_t(off[t]);
      mt.m[META_DT + t] = dt[t];
    }
    for (int d = 0; d < ndim; ++d) {
      if (shape[d] > kI32Max) return false;
      mt.m[META_SHAPE + first_dim + d] = int32_t(shape[d]);
      for (int t = 0; t < n; ++t) {
        if (std::llabs(strides[t][d]) > kI32Max) return false;
        mt.m[META_ST + t * 8 + first_dim + d] = int32_t(strides[t][d]);
      }
    }
    return true;
  }
};

// The elementwise.comp code of an op (0: another shader runs it, or none).
int ew_code(int op) {
  if (op < 0 || op >= OP_COUNT || !kOpShaders[op].shader) return 0;
  return std::strcmp(kOpShaders[op].shader, "elementwise") == 0 ? kOpShaders[op].code : 0;
}

// Bit pattern of `v` stored as dtype dt.
uint32_t fill_bits(int dt, double v) {
  switch (dt) {
    case ET_F32: {
      float f = float(v);
      uint32_t u;
      std::memcpy(&u, &f, 4);
      return u;
    }
    case ET_F16: return f32_to_f16(float(v));
    case ET_BF16: return f32_to_bf16(float(v));
    case ET_I32: {  // exact beyond 2^24, saturating
      if (!(v == v)) return 0u;
      if (v >= 2147483647.0) return 0x7fffffffu;
      if (v <= -2147483648.0) return 0x80000000u;
      return uint32_t(int32_t(v));
    }
    default: {  // through float, low byte of the truncated value (as the CPU backend)
      float f = float(v);
      if (!(f == f) || std::fabs(f) >= 2147483648.f) return 0u;
      return uint32_t(int64_t(f)) & 0xffu;
    }
  }
}

// Elementwise frame (copy.comp / elementwise.comp): iteration over out's shape, output mode.
std::string prepare_strided(const Call& c, Iter& it, Meta& mt, uint32_t* gx, uint32_t* gy) {
  const View& out = c.out(0);
  const View* ins[kMaxArgs];
  for (int i = 0; i < c.n_in; ++i) ins[i] = &c.t[i];
  std::string err = broadcast_elementwise(out, ins, c.n_in, static_cast<Broadcast<4>*>(&it));
  if (!err.empty()) return err;
  for (int t = 0; t < it.n; ++t) {
    const View& v = t == 0 ? out : c.in(t - 1);
    it.off[t] = v.offset;
    it.dt[t] = v.dtype;
  }
  int64_t n = it.numel();
  if (n > kI32Max) return "too many elements for one dispatch";
  if (!it.pack(mt)) return "offsets or strides exceed the 32-bit index range";
  mt.m[META_N] = int32_t(n);
  mt.m[META_NDIM] = it.ndim;
  int esz = dtype_size(out.dtype);
  if (esz < 4 && it.contiguous(0)) {
    int per = 4 / esz;
    int64_t lead = out.offset % per;
    mt.m[META_MODE] = MODE_PACKED;
    grid_1d((n + lead + per - 1) / per, 256, gx, gy);
  } else {
    mt.m[META_MODE] = MODE_SCATTER;
    grid_1d(n, 256, gx, gy);
  }
  return "";
}

// Whether elementwise_f32.comp can run an iteration space: every operand float32, the output
// contiguous (one merged dim of unit stride), each input contiguous with it or a broadcast
// scalar (stride 0). If so, fills META_I + t (scalar flags) and META_MODE (1: every non-scalar
// operand starts at a multiple of 4 elements, so the shader moves aligned vec4s).
bool f32_fast_path(const Iter& it, Meta& mt) {
  if (it.ndim != 1 || it.strides[0][0] != 1) return false;
  bool aligned = true;
  for (int t = 0; t < it.n; ++t) {
    if (it.dt[t] != ET_F32) return false;
    const int64_t s = it.strides[t][0];
    if (s != 0 && s != 1) return false;
    mt.m[META_I + t] = s == 0;
    if (s == 1 && it.off[t] % 4 != 0) aligned = false;
  }
  mt.m[META_MODE] = aligned ? 1 : 0;
  return true;
}

}  // namespace

bool VulkanBackend::supports_op(int op) const {
  return op >= 0 && op < OP_COUNT && kOpShaders[op].shader != nullptr &&
         uint32_t(op_inputs(op) + op_outputs(op)) <= pipes_->buffers();  // one binding per argument
}

bool VulkanBackend::supports(const Call& c) const {
  if (!supports_op(c.op)) return false;
  return true;
}

// run: window.cpp (it binds the windows of a windowed call)

std::string VulkanBackend::exec(const Call& c) {
  std::lock_guard<std::mutex> lk(mu_);
  std::string err = exec_locked(c);
  // A kernel error of earlier work that has finished (seen by poll, or by a wait while this call
  // recorded): the engine's stream keeps it for the next read or sync, as a CPU kernel's error.
  if (err.empty() && kerr_.claimed() && kerr_.buffer()->last_use <= stream_->completed()) err = kerr_.take();
  return err;
}

std::string VulkanBackend::exec_locked(const Call& c) {
  if (!stream_->lost().empty()) return fail(c, kDevice, stream_->lost());
  if (!supports(c)) return fail(c, kDevice, "not implemented on vulkan");
  // optional inputs (sgd's buf, sdpa's mask) may be left out
  if (c.n_in < kOpSchema[c.op].n_in_min || c.n_in > op_inputs(c.op) || c.n_out != op_outputs(c.op))
    return fail(c, kShape, "wrong number of arguments");
  for (int i = 0; i < c.n_in + c.n_out; ++i) {
    const View& v = c.t[i];
    if (!v.buf || v.buf->backend != this) return fail(c, kDevice, "argument " + std::to_string(i) + " is not a vulkan buffer");
    if (v.ndim < 0 || v.ndim > kMaxDims) return fail(c, kShape, "bad rank");
  }
  stream_->poll();
  if (!win_ && needs_windows(c)) return exec_windowed(c);  // window.cpp
  if (c.op == OP_FILL || c.op == OP_COPY) return exec_fill_copy(c);
  if (c.op == OP_SUM) return exec_sum(c);
  if (c.op == OP_MATMUL) return exec_matmul(c);
  switch (c.op) {
    case OP_SWIGLU: case OP_SWIGLU_BWD: return exec_swiglu(c);
    case OP_MAX: return exec_max(c);
    case OP_SOFTMAX: case OP_SOFTMAX_BWD: case OP_LOG_SOFTMAX: case OP_LOG_SOFTMAX_BWD: return exec_softmax(c);
    case OP_CROSS_ENTROPY: case OP_CROSS_ENTROPY_BWD: return exec_cross_entropy(c);
    case OP_EMBEDDING: case OP_EMBEDDING_BWD: return exec_embedding(c);
    case OP_RMS_NORM: case OP_RMS_NORM_BWD: case OP_LAYER_NORM: case OP_LAYER_NORM_BWD: return exec_norm(c);
    case OP_ROPE: return exec_rope(c);
    case OP_RAND_UNIFORM: case OP_RAND_NORMAL: return exec_random(c);
    case OP_DROPOUT: return exec_dropout(c);
    case OP_ADAMW: case OP_SGD: return exec_optim(c);
    case OP_SDPA: case OP_SDPA_BWD: return exec_attention(c);
    case OP_DEQUANTIZE: case OP_MATMUL_Q: return exec_quant(c);
    case OP_QUANTIZE: return exec_quantize(c);
    default: return exec_elementwise(c);
  }
}

std::string VulkanBackend::exec_fill_copy(const Call& c) {
  if (c.out(0).numel() == 0) return "";
  if (c.op == OP_COPY) {
    const View& x = c.in(0);
    const View& out = c.out(0);
    bool same = x.ndim == out.ndim;
    for (int d = 0; same && d < x.ndim; ++d) same = x.shape[d] == out.shape[d];
    if (!same) return fail(c, kShape, "input and output shapes differ");
  }
  const View& out = c.out(0);
  Iter it;
  Meta mt;
  uint32_t gx, gy;
  std::string err = prepare_strided(c, it, mt, &gx, &gy);
  if (!err.empty()) return fail(c, kShape, err);
  mt.m[META_OP] = c.op == OP_FILL ? CP_FILL : CP_COPY;
  mt.m[META_BITS] = int32_t(fill_bits(out.dtype, c.p[0]));
  DeviceBuffer* bufs[4] = {dev(out.buf), c.n_in ? dev(c.in(0).buf) : nullptr, nullptr, nullptr};
  return run(c, "copy", mt.m, bufs, gx, gy, 1);
}

std::string VulkanBackend::exec_elementwise(const Call& c) {
  const View& out = c.out(0);
  int code = ew_code(c.op);
  bool cmp = code >= EW_CMP_FIRST && code < EW_WHERE;
  for (int i = (code == EW_WHERE ? 1 : 0); i < c.n_in; ++i)
    if (!is_float(c.in(i).dtype)) return fail(c, kDType, "expected floating-point inputs (float32, float16, bfloat16)");
  if (!cmp && !is_float(out.dtype)) return fail(c, kDType, "expected a floating-point output");
  if (code == EW_WHERE && is_float(c.in(0).dtype)) return fail(c, kDType, "the condition must be uint8 (or int32)");
  if (out.numel() == 0) return "";
  Iter it;
  Meta mt;
  uint32_t gx, gy;
  std::string err = prepare_strided(c, it, mt, &gx, &gy);
  if (!err.empty()) return fail(c, kShape, err);
  mt.m[META_OP] = code;
  mt.f(META_P, float(c.p[0]));
  mt.f(META_P + 1, float(c.p[1]));
  DeviceBuffer* bufs[4] = {dev(out.buf), nullptr, nullptr, nullptr};
  for (int i = 0; i < c.n_in; ++i) bufs[1 + i] = dev(c.in(i).buf);
  if (!cmp && code != EW_WHERE && f32_fast_path(it, mt)) {
    grid_1d((it.numel() + 3) / 4, 256, &gx, &gy);
    return run(c, ("elementwise_f32#" + std::to_string(code)).c_str(), mt.m, bufs, gx, gy, 1);
  }
  return run(c, ("elementwise#" + std::to_string(code)).c_str(), mt.m, bufs, gx, gy, 1);
}

// exec_sum: reduce_max.cpp (with max, whose multi-pass layout it shares)

std::string VulkanBackend::exec_matmul(const Call& c) {
  const View& a = c.in(0);
  const View& b = c.in(1);
  const View& o = c.out(0);
  // b may be a frozen half-size weight: matmul.comp widens f16 / bf16 bits as it loads them
  if (a.dtype != ET_F32 || o.dtype != ET_F32 || (b.dtype != ET_F32 && b.dtype != ET_F16 && b.dtype != ET_BF16))
    return fail(c, kDType, std::string("expected float32 a and float32, float16 or bfloat16 b, got ") +
                               dtype_name(a.dtype) + " and " + dtype_name(b.dtype));
  if (a.ndim < 2 || b.ndim < 2 || o.ndim < 2) return fail(c, kShape, "operands need at least 2 dims");
  int64_t M = o.shape[o.ndim - 2], N = o.shape[o.ndim - 1], K = a.shape[a.ndim - 1];
  if (a.shape[a.ndim - 2] != M || b.shape[b.ndim - 2] != K || b.shape[b.ndim - 1] != N)
    return fail(c, kShape, "shapes do not chain ([..., M, K] @ [..., K, N] -> [..., M, N])");
  Iter it(o.ndim - 2, o.shape);  // the batch dims
  View ab = a, bb = b, ob = o;
  ab.ndim -= 2;
  bb.ndim -= 2;
  ob.ndim -= 2;
  if (!it.add_view(ob) || !it.add_view(ab) || !it.add_view(bb))
    return fail(c, kShape, "batch dims do not broadcast to the output's");
  int64_t batch = it.numel();
  if (M == 0 || N == 0 || batch == 0) return "";
  // beta != 0 reads y and adds the product into it; y may be strided here (a window's columns),
  // each element read and written by the one invocation that owns it
  const float beta = float(c.p[0]);
  it.merge();
  Meta mt;
  if (!it.pack(mt)) return fail(c, kShape, "offsets or strides exceed the 32-bit index range");
  mt.f(META_P, beta);
  int64_t v[9] = {M, N, K, a.strides[a.ndim - 2], a.strides[a.ndim - 1], b.strides[b.ndim - 2],
                  b.strides[b.ndim - 1], o.strides[o.ndim - 2], o.strides[o.ndim - 1]};
  for (int64_t x : v)
    if (std::llabs(x) > kI32Max) return fail(c, kShape, "sizes or strides exceed the 32-bit index range");
  // CPU devices (lavapipe) run the tile without shared memory: their caches do its work, and
  // barriers cost them more than the loads they save
  const bool direct = ctx_->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU && !std::getenv("ET_MM_SHARED");
  const int64_t tile = direct ? 32 : MM_TILE;
  int64_t gx = (N + tile - 1) / tile, gy = (M + tile - 1) / tile;
  if (gx > 65535 || gy > 65535) return fail(c, kShape, "matrix too large for one dispatch");
  mt.m[META_NDIM] = it.ndim;
  mt.m[META_N] = int32_t(batch);
  mt.m[META_I] = int32_t(M);
  mt.m[META_I + 1] = int32_t(N);
  mt.m[META_I + 2] = int32_t(K);
  for (int i = 0; i < 6; ++i) mt.m[META_X + i] = int32_t(v[3 + i]);
  DeviceBuffer* bufs[3] = {dev(o.buf), dev(a.buf), dev(b.buf)};
  for (int64_t base = 0; base < batch; base += 65535) {
    mt.m[META_I + 3] = int32_t(base);
    int64_t gz = batch - base < 65535 ? batch - base : 65535;
    std::string err = run(c, direct ? "matmul_direct" : "matmul", mt.m, bufs, uint32_t(gx), uint32_t(gy), uint32_t(gz));
    if (!err.empty()) return err;
  }
  return "";
}

}  // namespace vk
}  // namespace et

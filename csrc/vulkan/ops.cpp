// VulkanBackend::exec: checks a Call, packs its views into a meta block (kernels/vulkan/meta.h)
// and records the dispatch. Strided views are passed as shape/strides; adjacent dims that are
// contiguous in every operand are merged first, so most calls run with one dim.
#include <cmath>
#include <cstring>

#include "../../kernels/vulkan/meta.h"
#include "op_table.h"
#include "vk_backend.h"

namespace et {
namespace vk {

namespace {

constexpr int64_t kI32Max = 0x7fffffff;

// "<ErrorClass>: <op>: <why> (vulkan: <signature>)"; lib/errors.ts maps the class prefix.
std::string fail(const Call& c, const char* cls, const std::string& why) {
  return std::string(cls) + ": " + op_name(c.op) + ": " + why + " (vulkan: " + call_signature(c) + ")";
}
const char* const kShape = "ShapeError";
const char* const kDType = "DTypeError";
const char* const kValue = "ValueError";
const char* const kDevice = "DeviceError";

bool is_float(int dt) { return dt == ET_F32 || dt == ET_F16 || dt == ET_BF16; }

struct Meta {
  int32_t m[META_INTS] = {};
  void f(int k, float v) { std::memcpy(&m[k], &v, 4); }
};

// An iteration space (the output's shape) with the strides of up to 4 operands.
struct Iter {
  int nd = 0;
  int nt = 0;
  int64_t shape[kMaxDims] = {};
  int64_t st[4][kMaxDims] = {};
  int64_t off[4] = {};
  int dt[4] = {};

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < nd; ++d) n *= shape[d];
    return n;
  }
  // Operand t is view v broadcast to the iteration shape (right-aligned; size-1 or missing dims
  // get stride 0). False if the shapes are incompatible.
  bool set(int t, const View& v) {
    if (v.ndim > nd) return false;
    off[t] = v.offset;
    dt[t] = v.dtype;
    int shift = nd - v.ndim;
    for (int d = 0; d < nd; ++d) {
      int vd = d - shift;
      if (vd < 0 || v.shape[vd] == 1) st[t][d] = 0;
      else if (v.shape[vd] == shape[d]) st[t][d] = v.strides[vd];
      else return false;
    }
    return true;
  }
  // Drops size-1 dims and merges neighbours that are contiguous in every operand.
  void coalesce() {
    int n = 0;
    for (int d = 0; d < nd; ++d) {
      if (shape[d] == 1) continue;
      bool merge = n > 0;
      for (int t = 0; t < nt && merge; ++t) merge = st[t][n - 1] == st[t][d] * shape[d];
      if (merge) {
        shape[n - 1] *= shape[d];
        for (int t = 0; t < nt; ++t) st[t][n - 1] = st[t][d];
      } else {
        shape[n] = shape[d];
        for (int t = 0; t < nt; ++t) st[t][n] = st[t][d];
        ++n;
      }
    }
    if (n == 0) {
      n = 1;
      shape[0] = 1;
      for (int t = 0; t < nt; ++t) st[t][0] = 0;
    }
    nd = n;
  }
  bool contiguous(int t) const {
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; --d) {
      if (shape[d] != 1 && st[t][d] != s) return false;
      s *= shape[d];
    }
    return true;
  }
  // Writes dims/strides/offsets/dtypes into the meta block; false if a value exceeds int32.
  bool pack(Meta& mt, int first_dim = 0) const {
    for (int t = 0; t < nt; ++t) {
      if (off[t] > kI32Max) return false;
      mt.m[META_OFF + t] = int32_t(off[t]);
      mt.m[META_DT + t] = dt[t];
    }
    for (int d = 0; d < nd; ++d) {
      if (shape[d] > kI32Max) return false;
      mt.m[META_SHAPE + first_dim + d] = int32_t(shape[d]);
      for (int t = 0; t < nt; ++t) {
        if (std::llabs(st[t][d]) > kI32Max) return false;
        mt.m[META_ST + t * 8 + first_dim + d] = int32_t(st[t][d]);
      }
    }
    return true;
  }
};

void grid_1d(int64_t invocations, int64_t per_group, uint32_t* gx, uint32_t* gy) {
  int64_t groups = (invocations + per_group - 1) / per_group;
  if (groups < 1) groups = 1;
  int64_t x = groups < 65535 ? groups : 65535;
  *gx = uint32_t(x);
  *gy = uint32_t((groups + x - 1) / x);
}

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
  it.nd = out.ndim;
  it.nt = 1 + c.n_in;
  for (int d = 0; d < out.ndim; ++d) it.shape[d] = out.shape[d];
  it.set(0, out);
  for (int i = 0; i < c.n_in; ++i)
    if (!it.set(1 + i, c.in(i))) return "input " + std::to_string(i) + " does not broadcast to the output shape";
  for (int d = 0; d < out.ndim; ++d)
    if (out.shape[d] != 1 && out.strides[d] == 0) return "output has a zero stride";
  int64_t n = it.numel();
  if (n > kI32Max) return "too many elements for one dispatch";
  it.coalesce();
  if (!it.pack(mt)) return "offsets or strides exceed the 32-bit index range";
  mt.m[META_N] = int32_t(n);
  mt.m[META_NDIM] = it.nd;
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

}  // namespace

bool VulkanBackend::supports_op(int op) const { return op >= 0 && op < OP_COUNT && kOpShaders[op].shader != nullptr; }

bool VulkanBackend::supports(const Call& c) const {
  if (!supports_op(c.op)) return false;
  if (c.op == OP_MATMUL) return c.in(1).dtype == ET_F32;  // matmul.comp reads float32 operands only
  return true;
}

std::string VulkanBackend::run(const Call& c, const char* shader, const int32_t* meta, DeviceBuffer* const bufs[4],
                               uint32_t gx, uint32_t gy, uint32_t gz) {
  std::string err;
  VkPipeline p = pipes_->get(shader, &err);
  if (!p) return fail(c, kDevice, err);
  err = stream_->dispatch(p, meta, bufs, gx, gy, gz);
  return err.empty() ? "" : fail(c, kDevice, err);
}

std::string VulkanBackend::exec(const Call& c) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!stream_->lost().empty()) return fail(c, kDevice, stream_->lost());
  if (!supports(c)) return fail(c, kDevice, "not implemented on vulkan");
  if (c.n_in != op_inputs(c.op) || c.n_out != op_outputs(c.op)) return fail(c, kShape, "wrong number of arguments");
  for (int i = 0; i < c.n_in + c.n_out; ++i) {
    const View& v = c.t[i];
    if (!v.buf || v.buf->backend != this) return fail(c, kDevice, "argument " + std::to_string(i) + " is not a vulkan buffer");
    if (v.ndim < 0 || v.ndim > kMaxDims) return fail(c, kShape, "bad rank");
  }
  stream_->poll();
  if (c.op == OP_FILL || c.op == OP_COPY) return exec_fill_copy(c);
  if (c.op == OP_SUM) return exec_sum(c);
  if (c.op == OP_MATMUL) return exec_matmul(c);
  return exec_elementwise(c);
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
  return run(c, "elementwise", mt.m, bufs, gx, gy, 1);
}

std::string VulkanBackend::exec_sum(const Call& c) {
  const View& x = c.in(0);
  const View& out = c.out(0);
  if (x.dtype != ET_F32 || out.dtype != ET_F32) return fail(c, kDType, "only float32 is supported");
  double p0 = c.p[0];
  if (!(p0 >= 0 && p0 <= x.ndim) || p0 != std::floor(p0))
    return fail(c, kValue, "p0 (reduced dims) must be an integer in [0, " + std::to_string(x.ndim) + "]");
  int lead_nd = x.ndim - int(p0);
  // leading dims (one output element each) and reduced dims, each merged where contiguous
  Iter lead, red;
  lead.nt = red.nt = 1;
  int64_t rows = 1, count = 1;
  for (int d = 0; d < x.ndim; ++d) {
    Iter& it = d < lead_nd ? lead : red;
    it.shape[it.nd] = x.shape[d];
    it.st[0][it.nd] = x.strides[d];
    it.nd++;
    (d < lead_nd ? rows : count) *= x.shape[d];
  }
  if (out.numel() != rows)
    return fail(c, kShape, "output must hold one element per leading index (" + std::to_string(rows) + ")");
  if (!out.contiguous()) return fail(c, kShape, "output must be contiguous");
  if (rows == 0) return "";
  if (rows > kI32Max || count > kI32Max) return fail(c, kShape, "too many elements for one dispatch");
  if (lead.nd) lead.coalesce();
  red.coalesce();  // no reduced dims -> [1]: every row sums one element
  Meta mt;
  mt.m[META_OFF] = int32_t(out.offset);
  mt.m[META_OFF + 1] = int32_t(x.offset);
  mt.m[META_DT] = out.dtype;
  mt.m[META_DT + 1] = x.dtype;
  int nd = 0;
  for (const Iter* it : {&lead, &red})
    for (int d = 0; d < it->nd; ++d, ++nd) {
      if (std::llabs(it->st[0][d]) > kI32Max) return fail(c, kShape, "strides exceed the 32-bit index range");
      mt.m[META_SHAPE + nd] = int32_t(it->shape[d]);
      mt.m[META_ST + 8 + nd] = int32_t(it->st[0][d]);
    }
  if (x.offset > kI32Max || out.offset > kI32Max) return fail(c, kShape, "offsets exceed the 32-bit index range");
  mt.m[META_N] = int32_t(rows);
  mt.m[META_NDIM] = nd;
  mt.m[META_I] = int32_t(count);
  mt.m[META_I + 1] = lead.nd;
  uint32_t gx, gy;
  if (count <= 64) {
    mt.m[META_MODE] = REDUCE_ROW_PER_THREAD;
    grid_1d(rows, 256, &gx, &gy);
  } else {
    mt.m[META_MODE] = REDUCE_ROW_PER_GROUP;
    grid_1d(rows, 1, &gx, &gy);
  }
  DeviceBuffer* bufs[4] = {dev(out.buf), dev(x.buf), nullptr, nullptr};
  return run(c, "reduce", mt.m, bufs, gx, gy, 1);
}

std::string VulkanBackend::exec_matmul(const Call& c) {
  const View& a = c.in(0);
  const View& b = c.in(1);
  const View& o = c.out(0);
  if (a.dtype != ET_F32 || b.dtype != ET_F32 || o.dtype != ET_F32) return fail(c, kDType, "only float32 is supported");
  if (a.ndim < 2 || b.ndim < 2 || o.ndim < 2) return fail(c, kShape, "operands need at least 2 dims");
  int64_t M = o.shape[o.ndim - 2], N = o.shape[o.ndim - 1], K = a.shape[a.ndim - 1];
  if (a.shape[a.ndim - 2] != M || b.shape[b.ndim - 2] != K || b.shape[b.ndim - 1] != N)
    return fail(c, kShape, "shapes do not chain ([..., M, K] @ [..., K, N] -> [..., M, N])");
  Iter it;
  it.nt = 3;
  it.nd = o.ndim - 2;
  for (int d = 0; d < it.nd; ++d) it.shape[d] = o.shape[d];
  View ab = a, bb = b, ob = o;  // batch parts
  ab.ndim -= 2;
  bb.ndim -= 2;
  ob.ndim -= 2;
  if (ab.ndim > it.nd || bb.ndim > it.nd || !it.set(0, ob) || !it.set(1, ab) || !it.set(2, bb))
    return fail(c, kShape, "batch dims do not broadcast to the output's");
  int64_t batch = it.numel();
  if (M == 0 || N == 0 || batch == 0) return "";
  it.coalesce();
  Meta mt;
  if (!it.pack(mt)) return fail(c, kShape, "offsets or strides exceed the 32-bit index range");
  int64_t v[9] = {M, N, K, a.strides[a.ndim - 2], a.strides[a.ndim - 1], b.strides[b.ndim - 2],
                  b.strides[b.ndim - 1], o.strides[o.ndim - 2], o.strides[o.ndim - 1]};
  for (int64_t x : v)
    if (std::llabs(x) > kI32Max) return fail(c, kShape, "sizes or strides exceed the 32-bit index range");
  int64_t gx = (N + MM_TILE - 1) / MM_TILE, gy = (M + MM_TILE - 1) / MM_TILE;
  if (gx > 65535 || gy > 65535) return fail(c, kShape, "matrix too large for one dispatch");
  mt.m[META_NDIM] = it.nd;
  mt.m[META_N] = int32_t(batch);
  mt.m[META_I] = int32_t(M);
  mt.m[META_I + 1] = int32_t(N);
  mt.m[META_I + 2] = int32_t(K);
  for (int i = 0; i < 6; ++i) mt.m[META_X + i] = int32_t(v[3 + i]);
  DeviceBuffer* bufs[4] = {dev(o.buf), dev(a.buf), dev(b.buf), nullptr};
  for (int64_t base = 0; base < batch; base += 65535) {
    mt.m[META_I + 3] = int32_t(base);
    int64_t gz = batch - base < 65535 ? batch - base : 65535;
    std::string err = run(c, "matmul", mt.m, bufs, uint32_t(gx), uint32_t(gy), uint32_t(gz));
    if (!err.empty()) return err;
  }
  return "";
}

}  // namespace vk
}  // namespace et

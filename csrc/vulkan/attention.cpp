// Vulkan host code of the attention family: sdpa (kernels/vulkan/attention_fwd.comp, one dispatch)
// and sdpaBwd (kernels/vulkan/attention_bwd.comp, two dispatches: dk/dv per key block, then dq
// per query block). The twin is csrc/cpu/attention.cpp: the same checks, the same math.
// Strides travel in the meta block (layout: kernels/vulkan/attention.h), so q, k, v, o, do and
// the mask may be any views with a unit last stride.
#include <algorithm>
#include <string>

#include "../../kernels/vulkan/attention.h"
#include "op_util.h"
#include "vk_backend.h"

namespace et {
namespace vk {
namespace {

std::string shape_str(const View& v) {
  std::string s = "[";
  for (int d = 0; d < v.ndim; ++d) s += (d ? ", " : "") + std::to_string(v.shape[d]);
  return s + "]";
}

// Whether every element index of v fits the shaders' int32 arithmetic.
bool fits_i32(const View& v) {
  int64_t hi = v.offset;
  for (int d = 0; d < v.ndim; ++d) {
    if (v.shape[d] == 0) return true;
    if (v.strides[d] < 0) return false;
    hi += (v.shape[d] - 1) * v.strides[d];
  }
  return v.offset >= 0 && hi <= kI32Max;
}

// offset and strides of dims 0..ndim-2 of a rank-4 or rank-3 view into meta[at..]
void put_view(Meta& m, int at, const View& v) {
  m.m[at] = int32_t(v.offset);
  for (int d = 0; d + 1 < v.ndim && d < 3; ++d) m.m[at + 1 + d] = int32_t(v.strides[d]);
}

}  // namespace

std::string VulkanBackend::exec_attention(const Call& c) {
  const bool bwd = c.op == OP_SDPA_BWD;
  const View& q = c.in(0);
  const View& k = c.in(1);
  const View& v = c.in(2);
  const std::string shapes = " (q " + shape_str(q) + ", k " + shape_str(k) + ", v " + shape_str(v) + ")";
  for (int i = 0; i < c.n_in + c.n_out; ++i) {
    if (c.t[i].dtype != ET_F32) return fail(c, kDType, "operands must be float32");
    if (!fits_i32(c.t[i])) return fail(c, kShape, "operand " + std::to_string(i) + " spans 2^31 elements or more");
  }
  if (q.ndim != 4 || k.ndim != 4 || v.ndim != 4) return fail(c, kShape, "q, k, v must be rank 4" + shapes);
  const int64_t B = q.shape[0], Hq = q.shape[1], T = q.shape[2], D = q.shape[3];
  const int64_t Hkv = k.shape[1], S = k.shape[2], Dv = v.shape[3];
  if (k.shape[0] != B || v.shape[0] != B || k.shape[3] != D || v.shape[1] != Hkv || v.shape[2] != S || Hkv == 0 ||
      Hq % Hkv != 0)
    return fail(c, kShape, "incompatible shapes" + shapes);
  if ((D > 1 && (q.strides[3] != 1 || k.strides[3] != 1)) || (Dv > 1 && v.strides[3] != 1))
    return fail(c, kValue, "q, k, v need unit stride in the last dim");

  Meta m;
  m.m[ATT_B] = int32_t(B);
  m.m[ATT_HQ] = int32_t(Hq);
  m.m[ATT_HKV] = int32_t(Hkv);
  m.m[ATT_T] = int32_t(T);
  m.m[ATT_S] = int32_t(S);
  m.m[ATT_D] = int32_t(D);
  m.m[ATT_DV] = int32_t(Dv);
  m.f(ATT_SCALE, float(c.p[0]));
  m.m[ATT_CAUSAL] = c.p[1] != 0;
  // a windowed chunk (window.cpp) holds query rows [start[2], start[2] + T) of the call's: the
  // call's causal alignment, keys being never cut
  const bool chunk = win_ && win_->orig->op == c.op;
  const int64_t shift = chunk ? S - win_->orig->in(0).shape[2] + win_->start[2] : S - T;
  m.m[ATT_SHIFT] = int32_t(shift);
  put_view(m, ATT_Q, q);
  put_view(m, ATT_K, k);
  put_view(m, ATT_V, v);

  const bool has_mask = c.p[2] != 0;
  const int mask_at = bwd ? 6 : 3;
  DeviceBuffer* mbuf = nullptr;
  if (has_mask) {
    if (c.n_in <= mask_at || !c.in(mask_at).buf) return fail(c, kValue, "has-mask flag set but no mask given");
    const View& mk = c.in(mask_at);
    if (mk.ndim != 4 || mk.shape[0] != B || mk.shape[1] != Hq || mk.shape[2] != T || mk.shape[3] != S)
      return fail(c, kShape, "mask " + shape_str(mk) + " must be broadcast to [B, Hq, T, S]" + shapes);
    m.m[ATT_HASMASK] = 1;
    m.m[ATT_MASK] = int32_t(mk.offset);
    for (int d = 0; d < 4; ++d) m.m[ATT_MASK + 1 + d] = int32_t(mk.strides[d]);
    mbuf = dev(mk.buf);
  }
  // workgroups: x = 16-row (or 16-key) blocks, y = (batch, head) pairs, z = 128-column passes
  const int64_t nqb = (T + ATT_BR - 1) / ATT_BR, nkb = (S + ATT_BC - 1) / ATT_BC;
  if (nqb > 65535 || nkb > 65535) return fail(c, kShape, "more than 65535 query or key blocks of 16" + shapes);
  auto passes = [](int64_t cols) { return uint32_t(std::max<int64_t>(1, (cols + ATT_COLS - 1) / ATT_COLS)); };
  // one dispatch per 65535 (batch, head) pairs
  auto dispatch = [&](const char* shader, Bufs bufs, int64_t blocks, int64_t pairs, uint32_t gz) -> std::string {
    for (int64_t y0 = 0; y0 < pairs; y0 += 65535) {
      m.m[ATT_Y0] = int32_t(y0);
      std::string e = run(c, shader, m.m, bufs, uint32_t(blocks), uint32_t(std::min<int64_t>(65535, pairs - y0)), gz);
      if (!e.empty()) return e;
    }
    return "";
  };

  if (!bwd) {
    const View& o = c.out(0);
    const View& lse = c.out(1);
    if (o.ndim != 4 || o.shape[0] != B || o.shape[1] != Hq || o.shape[2] != T || o.shape[3] != Dv ||
        (Dv > 1 && o.strides[3] != 1) || lse.numel() != B * Hq * T || !lse.contiguous())
      return fail(c, kShape, "o must be [B, Hq, T, Dv] with unit last stride, lse contiguous [B, Hq, T]" + shapes);
    if (B * Hq * T == 0) return "";
    put_view(m, ATT_O, o);
    m.m[ATT_LSE] = int32_t(lse.offset);
    m.m[ATT_LSE + 1] = int32_t(Hq * T);
    m.m[ATT_LSE + 2] = int32_t(T);
    m.m[ATT_LSE + 3] = 1;
    DeviceBuffer* bufs[6] = {dev(q.buf), dev(k.buf), dev(v.buf), mbuf, dev(o.buf), dev(lse.buf)};
    return dispatch("attention_fwd", {bufs, 6}, nqb, B * Hq, passes(Dv));
  }

  const View& o = c.in(3);
  const View& lse = c.in(4);
  const View& dov = c.in(5);
  for (const View* w : {&o, &dov}) {
    if (w->ndim != 4 || w->shape[0] != B || w->shape[1] != Hq || w->shape[2] != T || w->shape[3] != Dv)
      return fail(c, kShape, "o and do must be [B, Hq, T, Dv], got " + shape_str(*w));
    if (Dv > 1 && w->strides[3] != 1) return fail(c, kValue, "o and do need unit stride in the last dim");
  }
  if (lse.numel() != B * Hq * T || !lse.contiguous())
    return fail(c, kShape, "lse must be contiguous [B, Hq, T], got " + shape_str(lse));
  const View& dq = c.out(0);
  const View& dk = c.out(1);
  const View& dv = c.out(2);
  for (const View* w : {&dq, &dk, &dv})
    if (w->ndim != 4 || (w->shape[3] > 1 && w->strides[3] != 1))
      return fail(c, kShape, "dq, dk, dv must be rank 4 with unit last stride, got " + shape_str(*w));
  if (dq.numel() != q.numel() || dk.numel() != k.numel() || dv.numel() != v.numel())
    return fail(c, kShape, "dq, dk, dv must have the shapes of q, k, v" + shapes);
  put_view(m, ATT_O, o);
  put_view(m, ATT_DO, dov);
  m.m[ATT_LSE] = int32_t(lse.offset);
  m.m[ATT_LSE + 1] = int32_t(Hq * T);
  m.m[ATT_LSE + 2] = int32_t(T);
  m.m[ATT_LSE + 3] = 1;
  DeviceBuffer* bufs[9] = {dev(q.buf), dev(k.buf), dev(v.buf), mbuf, dev(o.buf), dev(lse.buf), dev(dov.buf),
                           nullptr, nullptr};
  if (B * Hkv * S > 0) {  // pass 0: dk, dv
    m.m[ATT_PASS] = 0;
    put_view(m, ATT_OUT1, dk);
    put_view(m, ATT_OUT2, dv);
    bufs[7] = dev(dk.buf);
    bufs[8] = dev(dv.buf);
    std::string e = dispatch("attention_bwd", {bufs, 9}, nkb, B * Hkv, passes(std::max(D, Dv)));
    if (!e.empty()) return e;
  }
  if (B * Hq * T > 0 && D > 0) {  // pass 1: dq
    m.m[ATT_PASS] = 1;
    put_view(m, ATT_OUT1, dq);
    put_view(m, ATT_OUT2, dq);
    bufs[7] = dev(dq.buf);
    bufs[8] = nullptr;
    return dispatch("attention_bwd", {bufs, 9}, nqb, B * Hq, passes(D));
  }
  return "";
}

}  // namespace vk
}  // namespace et

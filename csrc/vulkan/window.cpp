// Calls on tensor buffers larger than one storage binding may span (window.h): the split plan of
// each op that meets big tensors in LLM training, the chunk loop, and the windows a chunk binds.
// Ops without a plan still run when every view fits one window (a small view of a big buffer);
// otherwise, as when a single unit of a plan (one row, one column) is larger than the limit,
// the call fails with an OutOfMemoryError naming the bytes and the limit.
#include <algorithm>
#include <cstring>

#include "op_util.h"
#include "vk_backend.h"
#include "window.h"

namespace et {
namespace vk {

namespace {

bool is_elementwise(int op) {
  return op == OP_FILL || op == OP_COPY ||
         (op >= 0 && op < OP_COUNT && kOpShaders[op].shader && std::strcmp(kOpShaders[op].shader, "elementwise") == 0);
}

// Every argument in `args` contiguous with the same element count: one level over the flat range.
bool plan_flat(WindowPlan& p, int args) {
  Call& c = p.call;
  const int64_t n = c.t[0].numel();
  for (int i = 0; i < args; ++i)
    if (!c.t[i].contiguous() || c.t[i].numel() != n) return false;
  int l = p.add_level();
  for (int i = 0; i < args; ++i) {
    flatten(c.t[i], false);
    p.dim[l][i] = 0;
  }
  return true;
}

// Elementwise with strided or broadcast operands: one level per output dim, innermost first; an
// input's dim (aligned from the right) is cut with the output's unless it is broadcast there.
void plan_strided(WindowPlan& p) {
  Call& c = p.call;
  const View& out = c.out(0);
  const int oi = c.n_in;
  for (int d = out.ndim - 1; d >= 0; --d) {
    if (out.shape[d] <= 1) continue;
    int l = p.add_level();
    p.dim[l][oi] = d;
    for (int i = 0; i < c.n_in; ++i) {
      const int di = d - (out.ndim - c.t[i].ndim);
      if (di >= 0 && c.t[i].shape[di] == out.shape[d]) p.dim[l][i] = di;
    }
  }
}

// Rows: views as [N, C] (or length-N vectors), one level over N.
void plan_rows(WindowPlan& p, const bool* rows, int args) {
  int l = p.add_level();
  for (int i = 0; i < args; ++i) {
    flatten(p.call.t[i], rows[i]);
    p.dim[l][i] = 0;
  }
}

void make_plan(WindowPlan& p) {
  Call& c = p.call;
  const int op = c.op;
  const int args = c.n_in + c.n_out;
  if (is_elementwise(op) || op == OP_SWIGLU || op == OP_SWIGLU_BWD) {
    if (!plan_flat(p, args) && is_elementwise(op)) plan_strided(p);
    return;
  }
  switch (op) {
    case OP_ADAMW: case OP_SGD: {
      const int used = op == OP_ADAMW ? 4 : (c.p[1] != 0 ? 3 : 2);
      if (c.n_in >= used) plan_flat(p, used);
      return;
    }
    case OP_RAND_UNIFORM: case OP_RAND_NORMAL: case OP_DROPOUT:  // contiguous: Philox blocks of 4 elements
      if (plan_flat(p, args)) p.quantum[0] = 4;
      return;
    case OP_RMS_NORM: case OP_LAYER_NORM: {  // rows and their per-row statistics; weight and bias whole
      const char* roles = op == OP_RMS_NORM ? "rcrn" : "rccrnn";  // as norm.cpp
      if (args != int(std::strlen(roles))) return;
      int l = p.add_level();
      for (int i = 0; i < args; ++i) {
        if (roles[i] == 'c') continue;
        flatten(c.t[i], roles[i] == 'r');
        p.dim[l][i] = 0;
      }
      return;
    }
    case OP_RMS_NORM_BWD: case OP_LAYER_NORM_BWD: {
      // rows of x, dy, dx and their statistics; w whole; dw (and db) sum over the rows: accumulated
      const char* roles = op == OP_RMS_NORM_BWD ? "rcnrrc" : "rcnnrrcc";  // as norm.cpp
      if (args != int(std::strlen(roles))) return;
      int l = p.add_level();
      for (int i = 0; i < args; ++i) {
        if (roles[i] == 'c') {
          if (i >= c.n_in) p.acc[l] |= 1u << i;
          continue;
        }
        flatten(c.t[i], roles[i] == 'r');
        p.dim[l][i] = 0;
      }
      return;
    }
    case OP_ROPE: {  // (x [B, T, H, D], pos [T] -> y): batches, then positions (x, y contiguous)
      View& x = c.t[0];
      View& y = c.t[2];
      if (x.ndim != 4 || !x.contiguous() || !y.contiguous() || y.numel() != x.numel()) return;
      const View y0 = y;  // y as x's shape
      y = x;
      y.buf = y0.buf;
      y.dtype = y0.dtype;
      y.offset = y0.offset;
      int l = p.add_level();
      p.dim[l][0] = p.dim[l][2] = 0;
      l = p.add_level();
      p.dim[l][0] = p.dim[l][2] = 1;
      p.dim[l][1] = 0;
      return;
    }
    case OP_SDPA: case OP_SDPA_BWD: {
      // level 0 batches, level 1 query heads (kv heads in groups of Hq / Hkv), level 2 query rows
      // (attention.cpp reads the chunk's first row from start[2] for causal masking);
      // keys stay whole. The backward's dk, dv sum over a group's query heads and over query
      // rows: accumulated.
      const bool bwd = op == OP_SDPA_BWD;
      const int mask = bwd ? (c.n_in > 6 ? 6 : -1) : (c.n_in > 3 ? 3 : -1);
      const int lse = bwd ? 4 : c.n_in + 1;
      View& q = c.t[0];
      for (int i = 0; i < args; ++i)
        if (i != lse && c.t[i].ndim != 4 && (i != mask || c.t[i].buf)) return;
      const int64_t Hq = q.shape[1], Hkv = c.t[1].shape[1];
      if (Hkv <= 0 || Hq % Hkv != 0) return;
      View& l3 = c.t[lse];
      if (!l3.contiguous() || l3.numel() != q.shape[0] * Hq * q.shape[2]) return;
      l3.ndim = 3;
      l3.shape[0] = q.shape[0];
      l3.shape[1] = Hq;
      l3.shape[2] = q.shape[2];
      l3.strides[2] = 1;
      l3.strides[1] = q.shape[2];
      l3.strides[0] = Hq * q.shape[2];
      auto is_kv = [&](int i) { return i < c.n_in ? i == 1 || i == 2 : bwd && i > c.n_in; };  // k, v; dk, dv
      auto used = [&](int i) { return i != mask || c.t[i].buf; };
      int l = p.add_level();
      for (int i = 0; i < args; ++i)
        if (used(i)) p.dim[l][i] = 0;
      l = p.add_level();
      p.quantum[l] = Hq / Hkv;
      p.split[l] = true;
      p.acc_every[l] = Hq / Hkv;
      for (int i = 0; i < args; ++i) {
        if (!used(i)) continue;
        p.dim[l][i] = 1;
        if (is_kv(i)) p.group[l][i] = Hq / Hkv;
        if (is_kv(i) && i >= c.n_in) p.acc[l] |= 1u << i;
      }
      l = p.add_level();
      for (int i = 0; i < args; ++i) {
        if (!used(i)) continue;
        if (is_kv(i)) {
          if (i >= c.n_in) p.acc[l] |= 1u << i;
        } else {
          p.dim[l][i] = 2;
        }
      }
      return;
    }
    case OP_QUANTIZE: {  // (x [N, K] -> w [N, bytes]): rows
      int l = p.add_level();
      p.dim[l][0] = p.dim[l][1] = 0;
      return;
    }
    case OP_SOFTMAX: case OP_SOFTMAX_BWD: case OP_LOG_SOFTMAX: case OP_LOG_SOFTMAX_BWD: {
      const bool rows[3] = {true, true, true};
      plan_rows(p, rows, args);
      return;
    }
    case OP_CROSS_ENTROPY: case OP_CROSS_ENTROPY_BWD: {
      // (logits, target -> loss, lse) or (logits, target, lse, dloss -> dlogits)
      const bool rows[5] = {true, false, false, false, op == OP_CROSS_ENTROPY_BWD};
      plan_rows(p, rows, args);
      return;
    }
    case OP_EMBEDDING: {  // (weight, idx -> y): vocabulary rows, then positions
      if (c.in(0).ndim != 2) return;
      int l = p.add_level();
      p.dim[l][0] = 0;
      flatten(c.t[1], false);
      flatten(c.t[2], true);
      if (c.t[1].ndim != 1 || c.t[2].ndim != 2) return;
      l = p.add_level();
      p.dim[l][1] = p.dim[l][2] = 0;
      return;
    }
    case OP_EMBEDDING_BWD: {  // (dy, idx -> dweight): vocabulary rows, then positions
      if (c.out(0).ndim != 2) return;
      flatten(c.t[0], true);
      flatten(c.t[1], false);
      int l = p.add_level();
      p.dim[l][2] = 0;
      if (c.t[0].ndim != 2 || c.t[1].ndim != 1) return;
      l = p.add_level();  // then positions, each chunk's scatter-add summed into dweight
      p.dim[l][0] = p.dim[l][1] = 0;
      p.acc[l] = 1u << 2;
      return;
    }
    case OP_SUM: case OP_MAX: {  // leading rows; x contiguous: [rows, reduced] first
      View& x = c.t[0];
      const int lead = x.ndim - int(c.p[0]);
      if (lead < 1 || c.p[0] < 0 || x.shape[0] == 0) return;
      int64_t rows = 1;
      for (int d = 0; d < lead; ++d) rows *= x.shape[d];
      if (x.contiguous()) {
        const int64_t n = x.numel();
        x.ndim = 2;
        x.shape[0] = rows;
        x.shape[1] = rows ? n / rows : 0;
        x.strides[0] = x.shape[1];
        x.strides[1] = 1;
        c.p[0] = 1;
      }
      const int64_t outer = x.shape[0];
      int l = p.add_level();
      p.dim[l][0] = 0;
      for (int o = 1; o < args; ++o) {
        View& v = c.t[o];
        if (!v.contiguous() || v.numel() != rows) return;  // the op's own check reports it
        flatten(v, false);
        v.ndim = 2;
        v.shape[0] = outer;
        v.shape[1] = rows / outer;
        v.strides[0] = v.shape[1];
        v.strides[1] = 1;
        p.dim[l][o] = 0;
      }
      return;
    }
    case OP_MATMUL: {  // columns N of b and c, the contraction K of a and b (summed), rows M of a and c
      const int na = c.t[0].ndim, nb = c.t[1].ndim, no = c.t[2].ndim;
      if (na < 2 || nb < 2 || no < 2) return;
      int l = p.add_level();
      p.dim[l][1] = nb - 1;
      p.dim[l][2] = no - 1;
      l = p.add_level();
      p.dim[l][0] = na - 1;
      p.dim[l][1] = nb - 2;
      p.acc[l] = 1u << 2;
      l = p.add_level();
      p.dim[l][0] = na - 2;
      p.dim[l][2] = no - 2;
      return;
    }
    case OP_DEQUANTIZE: {  // weight rows N
      int l = p.add_level();
      p.dim[l][0] = p.dim[l][1] = 0;
      return;
    }
    case OP_MATMUL_Q: {  // (x, w -> y): y = x @ w^T cuts weight rows N (y's columns), then rows M
      if (c.t[0].ndim != 2 || c.t[1].ndim != 2 || c.t[2].ndim != 2) return;
      int l;
      if (int(c.p[2]) == 0) {
        l = p.add_level();
        p.dim[l][1] = 0;
        p.dim[l][2] = 1;
      } else {  // transposed (y = x @ w): the weight's rows (whole blocks) are the contraction, summed
        l = p.add_level();
        p.dim[l][0] = 1;
        p.dim[l][1] = 0;
        p.acc[l] = 1u << 2;
      }
      l = p.add_level();
      p.dim[l][0] = p.dim[l][2] = 0;
      return;
    }
    default: return;
  }
}

}  // namespace

size_t VulkanBackend::window_align() const {
  return std::max<size_t>(size_t(ctx_->props.limits.minStorageBufferOffsetAlignment), 16);
}

bool VulkanBackend::needs_windows(const Call& c) const {
  for (int i = 0; i < c.n_in + c.n_out; ++i)
    if (c.t[i].buf && dev(c.t[i].buf)->size > ctx_->max_buffer_bytes) return true;
  return false;
}

std::string VulkanBackend::exec_windowed(const Call& c) {
  if ((c.op == OP_SUM || c.op == OP_MAX) && c.n_in == 1 && c.t[0].ndim > 0 && c.p[0] == c.t[0].ndim)
    return window_reduce_all(c);
  WindowPlan p;
  p.call = c;
  make_plan(p);
  WindowState st;
  st.orig = &c;
  WindowState* outer = win_;  // a chunk's accumulation (window_level) runs its add here too
  win_ = &st;
  std::string err = window_level(p, p.call, 0);
  win_ = outer;
  return err;
}

// Chunk `sub` of a contraction level after the first: its accumulated outputs into scratch
// tensors, then added into those outputs.
std::string VulkanBackend::window_accumulate(const WindowPlan& p, Call sub, int level) {
  const int args = sub.n_in + sub.n_out;
  View orig[kMaxArgs];
  Buffer* scratch[kMaxArgs] = {};
  std::string err;
  for (int a = 0; a < args && err.empty(); ++a) {
    if (!(p.acc[level] >> a & 1u) || sub.t[a].numel() == 0) continue;
    const View o = sub.t[a];
    View t = o;
    int64_t st = 1;
    for (int d = o.ndim - 1; d >= 0; --d) {
      t.strides[d] = st;
      st *= o.shape[d];
    }
    t.offset = 0;
    const size_t bytes = size_t(o.numel()) * dtype_size(o.dtype);
    std::string why;
    Buffer* b = scratch_alloc(bytes, &why);
    if (!b) {
      err = fail(*win_->orig, "OutOfMemory", "scratch of " + std::to_string(bytes) + " bytes: " + why);
      break;
    }
    scratch[a] = t.buf = b;
    orig[a] = o;
    sub.t[a] = t;
  }
  // the scratch starts empty: matmul's beta (accumulate into y) applies to the first chunk only
  if (sub.op == OP_MATMUL) sub.p[0] = 0;
  if (err.empty()) err = window_level(p, sub, level + 1);
  for (int a = 0; a < args; ++a) {
    if (!scratch[a]) continue;
    if (err.empty()) {
      Call add;
      add.op = OP_ADD;
      add.n_in = 2;
      add.n_out = 1;
      add.t[0] = orig[a];
      add.t[1] = sub.t[a];
      add.t[2] = orig[a];
      err = exec_windowed(add);
    }
    scratch_release(scratch[a]);
  }
  return err;
}

// sum / max over every element of x (no leading dims), x larger than a window: per chunk of x's
// first dim (a sum's: its dim of the largest stride) a partial, the sum or the max with its first
// argmax made absolute by index_base, into scratch vectors of one element per chunk; then one
// reduction of those partials, max's from their indices. The partial sums change the summation
// order from the CPU's. A max over a view whose first dim cannot be cut fine enough (transposed)
// stays one window: its argmax is a row-major index that chunks of another dim cannot offset.
std::string VulkanBackend::window_reduce_all(const Call& c0) {
  Call c = c0;
  View& x = c.t[0];
  const bool is_max = c.op == OP_MAX;
  flatten(x, false);
  if (!is_max)  // a sum's dims in any order: the one of the largest stride first, so that it is cut
    for (int a = 1; a < x.ndim; ++a)
      for (int b = a; b > 0 && std::llabs(x.strides[b]) > std::llabs(x.strides[b - 1]); --b) {
        std::swap(x.shape[b], x.shape[b - 1]);
        std::swap(x.strides[b], x.strides[b - 1]);
      }
  c.p[0] = x.ndim;
  const int64_t units = x.shape[0];
  int64_t inner = 1;
  for (int d = 1; d < x.ndim; ++d) inner *= x.shape[d];
  const int64_t budget = int64_t(ctx_->max_buffer_bytes) - int64_t(window_align()) - 4;
  View u = x;
  narrow(u, 0, 0, 1);
  const ByteExtent e = view_extent(u);
  const int64_t rest = e.hi - e.lo, step = std::llabs(x.strides[0]) * dtype_size(x.dtype);
  int64_t k = units;
  if (rest > budget) k = 1;
  else if (step > 0) k = std::min(k, 1 + (budget - rest) / step);
  const int64_t nch = k > 0 ? (units + k - 1) / k : 0;
  WindowState st;
  st.orig = &c0;
  WindowState* outer = win_;
  win_ = &st;
  std::string err;
  if (nch <= 1 || x.numel() > kI32Max) {  // one window (or the op's own size error)
    err = window_leaf(c);
    win_ = outer;
    return err;
  }
  Buffer* part[2] = {};
  for (int o = 0; o < (is_max ? 2 : 1) && err.empty(); ++o) {
    std::string why;
    part[o] = scratch_alloc(size_t(nch) * 4, &why);
    if (!part[o]) err = fail(c0, "OutOfMemory", "scratch of " + std::to_string(nch * 4) + " bytes: " + why);
  }
  auto vec = [&](Buffer* b, int dtype, int64_t offset, int64_t n) {
    View v;
    v.buf = b;
    v.dtype = dtype;
    v.ndim = 1;
    v.shape[0] = n;
    v.strides[0] = 1;
    v.offset = offset;
    return v;
  };
  for (int64_t j = 0; j < nch && err.empty(); ++j) {
    Call sub = c;
    narrow(sub.t[0], 0, j * k, std::min(k, units - j * k));
    for (int o = 0; o < (is_max ? 2 : 1); ++o) sub.t[c.n_in + o] = vec(part[o], o ? ET_I32 : ET_F32, j, 1);
    st.index_base = j * k * inner;
    err = window_leaf(sub);
  }
  if (err.empty()) {
    Call fin = c0;
    fin.t[0] = vec(part[0], ET_F32, 0, nch);
    fin.p[0] = 1;
    st.index_base = 0;
    st.partial_idx = part[1];
    err = window_leaf(fin);
  }
  win_ = outer;
  for (Buffer* b : part) scratch_release(b);
  return err;
}

std::string VulkanBackend::window_level(const WindowPlan& p, const Call& c, int level) {
  if (level == p.levels) return window_leaf(c);
  const int args = c.n_in + c.n_out;
  const int* dim = p.dim[level];
  int64_t units = -1;
  for (int i = 0; i < args && units < 0; ++i)
    if (dim[i] >= 0 && p.group[level][i] == 1) units = c.t[i].shape[dim[i]];
  win_->start[level] = 0;
  if (units <= 0) return window_level(p, c, level + 1);
  // the most units per chunk that keep each cut argument inside one window
  const int64_t budget = int64_t(ctx_->max_buffer_bytes) - int64_t(window_align()) - 4;
  int64_t k = units;
  for (int i = 0; i < args; ++i) {
    if (dim[i] < 0) continue;
    // one unit with the dims later levels cut left whole, if that fits; else with them at one index
    View v = c.t[i];
    narrow(v, dim[i], 0, 1);
    ByteExtent e = view_extent(v);
    if (e.hi - e.lo > budget) {
      for (int l = level + 1; l < p.levels; ++l)
        if (p.dim[l][i] >= 0) narrow(v, p.dim[l][i], 0, 1);
      e = view_extent(v);
    }
    const int64_t rest = e.hi - e.lo;
    const int64_t step = std::llabs(c.t[i].strides[dim[i]]) * dtype_size(v.dtype);
    if (rest > budget) k = 1;  // one unit is too large: the first chunk reports it
    else if (step > 0) k = std::min(k, (1 + (budget - rest) / step) * p.group[level][i]);
  }
  const int64_t q = p.quantum[level];
  if (k < units && k >= q) k -= k % q;
  else if (k < units && !p.split[level]) k = q;
  else if (k < units)
    while (q % k != 0) --k;
  for (int64_t s = 0; s < units; s += k) {
    Call sub = c;
    for (int i = 0; i < args; ++i) {
      if (dim[i] < 0) continue;
      const int64_t g = p.group[level][i];
      narrow(sub.t[i], dim[i], s / g, (std::min(k, units - s) + g - 1) / g);
    }
    win_->start[level] = s;
    const bool acc = p.acc[level] && s > 0 && (p.acc_every[level] == 0 || s % p.acc_every[level] != 0);
    std::string err = acc ? window_accumulate(p, sub, level) : window_level(p, sub, level + 1);
    if (!err.empty()) return err;
  }
  return "";
}

std::string VulkanBackend::window_leaf(const Call& c0) {
  Call c = c0;
  const int args = c.n_in + c.n_out;
  const int64_t align = int64_t(window_align());
  int64_t lo[kMaxArgs], hi[kMaxArgs];
  WindowState& st = *win_;
  st.n = 0;
  for (int i = 0; i < args; ++i) {  // one window per buffer: the union of its views' extents
    const ByteExtent e = view_extent(c.t[i]);
    if (e.empty) continue;
    const DeviceBuffer* b = dev(c.t[i].buf);
    int w = 0;
    while (w < st.n && st.w[w].b != b) ++w;
    if (w == st.n) {
      st.w[st.n++].b = b;
      lo[w] = e.lo;
      hi[w] = e.hi;
    } else {
      lo[w] = std::min(lo[w], e.lo);
      hi[w] = std::max(hi[w], e.hi);
    }
  }
  for (int w = 0; w < st.n; ++w) {
    const int64_t base = lo[w] / align * align;
    int64_t range = (hi[w] - base + 3) / 4 * 4;
    range = std::min<int64_t>(range, int64_t(st.w[w].b->size) - base);
    if (range > int64_t(ctx_->max_buffer_bytes)) {
      int i = 0;
      while (!c.t[i].buf || dev(c.t[i].buf) != st.w[w].b) ++i;
      const bool forced = ctx_->max_buffer_bytes < ctx_->props.limits.maxStorageBufferRange;
      st.n = 0;
      return fail(*st.orig, "OutOfMemory",
                  "argument " + std::to_string(i) + " needs a window of " + std::to_string(range) +
                      " bytes of its buffer, more than the " + std::to_string(ctx_->max_buffer_bytes) +
                      " bytes one storage binding may span (" +
                      (forced ? "EDGETRAIN_VULKAN_MAX_BUFFER" : "maxStorageBufferRange") + "), and " +
                      op_name(c.op) + " cannot split it finer");
    }
    st.w[w].off = VkDeviceSize(base);
    st.w[w].range = VkDeviceSize(range);
  }
  for (int i = 0; i < args; ++i) {
    if (view_extent(c.t[i]).empty) continue;
    const DeviceBuffer* b = dev(c.t[i].buf);
    for (int w = 0; w < st.n; ++w)
      if (st.w[w].b == b) c.t[i].offset -= int64_t(st.w[w].off) / dtype_size(c.t[i].dtype);
  }
  std::string err = exec_locked(c);
  st.n = 0;
  return err;
}

std::string VulkanBackend::run(const Call& c, const char* shader, const int32_t* meta, Bufs bufs, uint32_t gx,
                               uint32_t gy, uint32_t gz) {
  std::string err;
  const Pipeline* p = pipes_->get(shader, &err);
  if (!p) return fail(c, kDevice, err);
  constexpr uint32_t kMaxBinds = 32;
  VkDeviceSize off[kMaxBinds], range[kMaxBinds];
  if (win_ && win_->n) {  // a windowed chunk: the windows of its views
    if (bufs.n > kMaxBinds) return fail(c, kDevice, "a windowed dispatch of " + std::to_string(bufs.n) + " buffers");
    const VkDeviceSize max_range = ctx_->props.limits.maxStorageBufferRange;
    for (uint32_t i = 0; i < bufs.n; ++i) {
      off[i] = 0;
      range[i] = bufs.p[i] ? std::min(bufs.p[i]->size, max_range) : 0;
      for (int w = 0; w < win_->n; ++w)
        if (bufs.p[i] == win_->w[w].b) {
          off[i] = win_->w[w].off;
          range[i] = win_->w[w].range;
        }
    }
    bufs.off = off;
    bufs.range = range;
  }
  err = stream_->dispatch(*p, meta, bufs, gx, gy, gz);
  return err.empty() ? "" : fail(c, kDevice, err);
}

}  // namespace vk
}  // namespace et

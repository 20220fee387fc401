// Vulkan host code of the reductions (kernels/vulkan/reduce.comp): sum and max (values + first
// argmax) over the trailing `dims` dims of a strided float32 view, one output element per
// leading index. Rows longer than kChunk are cut into chunks whose partial results (value, and
// for max the winning index) go to scratch buffers and are reduced again by the next dispatch,
// so one workgroup never walks more than kChunk elements. The twin: csrc/cpu/reduce.cpp.
#include <cmath>
#include <vector>

#include "../broadcast.h"
#include "op_util.h"
#include "vk_backend.h"

namespace et {
namespace vk {

namespace {

constexpr int64_t kChunk = 8192;  // elements per workgroup per pass: 32 per invocation

// One pass's input: leading dims then reduced dims (each merged), strides in elements.
struct Layout {
  Broadcast<1> lead, red;
  int64_t offset = 0;
};

// Meta of one pass; false if a stride or size exceeds int32.
bool pack(const Layout& l, int64_t rows, int64_t count, Meta& mt) {
  if (l.offset > kI32Max) return false;
  mt.m[META_OFF + 1] = int32_t(l.offset);
  mt.m[META_DT + 1] = ET_F32;
  int nd = 0;
  for (const Broadcast<1>* it : {&l.lead, &l.red})
    for (int d = 0; d < it->ndim; ++d, ++nd) {
      if (std::llabs(it->strides[0][d]) > kI32Max || it->shape[d] > kI32Max) return false;
      mt.m[META_SHAPE + nd] = int32_t(it->shape[d]);
      mt.m[META_ST + 8 + nd] = int32_t(it->strides[0][d]);
    }
  mt.m[META_N] = int32_t(rows);
  mt.m[META_NDIM] = nd;
  mt.m[META_I] = int32_t(count);
  mt.m[META_I + 1] = l.lead.ndim;
  return true;
}

}  // namespace

Buffer* VulkanBackend::scratch_alloc(size_t bytes, std::string* err) {
  Buffer* b = alloc_.alloc(bytes, err);
  if (!b && stream_->lost().empty()) {  // buffers freed while in use come back once their work ends
    err->clear();
    stream_->wait_all();
    b = alloc_.alloc(bytes, err);
  }
  if (b) b->backend = this;
  return b;
}

void VulkanBackend::scratch_release(Buffer* b) {
  if (!b) return;
  uint64_t last = dev(b)->last_use;
  if (last > stream_->completed() && stream_->lost().empty())
    stream_->when_done(last, [this, b] { alloc_.free(b); });
  else
    alloc_.free(b);
}

std::string VulkanBackend::exec_sum(const Call& c) { return exec_reduce(c, false); }
std::string VulkanBackend::exec_max(const Call& c) { return exec_reduce(c, true); }

std::string VulkanBackend::exec_reduce(const Call& c, bool is_max) {
  const View& x = c.in(0);
  const View& out = c.out(0);
  if (x.dtype != ET_F32 || out.dtype != ET_F32) return fail(c, kDType, "only float32 is supported");
  if (is_max && c.out(1).dtype != ET_I32) return fail(c, kDType, "argmax must be int32");
  double p0 = c.p[0];
  if (!(p0 >= 0 && p0 <= x.ndim) || p0 != std::floor(p0))
    return fail(c, kValue, "p0 (reduced dims) must be an integer in [0, " + std::to_string(x.ndim) + "]");
  int lead_nd = x.ndim - int(p0);
  Layout l;
  l.lead.n = l.red.n = 1;
  l.offset = x.offset;
  int64_t rows = 1, count = 1;
  for (int d = 0; d < x.ndim; ++d) {
    Broadcast<1>& it = d < lead_nd ? l.lead : l.red;
    it.shape[it.ndim] = x.shape[d];
    it.strides[0][it.ndim] = x.strides[d];
    it.ndim++;
    (d < lead_nd ? rows : count) *= x.shape[d];
  }
  if (is_max && count == 0) return fail(c, kShape, "cannot reduce an empty dimension");
  for (int o = 0; o < (is_max ? 2 : 1); ++o) {
    if (c.out(o).numel() != rows)
      return fail(c, kShape, "output must hold one element per leading index (" + std::to_string(rows) + ")");
    if (!c.out(o).contiguous()) return fail(c, kShape, "output must be contiguous");
    if (c.out(o).offset > kI32Max) return fail(c, kShape, "offsets exceed the 32-bit index range");
  }
  if (rows == 0) return "";
  if (rows > kI32Max || count > kI32Max) return fail(c, kShape, "too many elements for one dispatch");
  if (l.lead.ndim) l.lead.merge();
  l.red.merge();  // no reduced dims -> [1]: every row reduces one element

  std::vector<Buffer*> scratch;
  auto release = [&] {
    for (Buffer* b : scratch) scratch_release(b);
  };
  DeviceBuffer* in_v = dev(x.buf);
  // a chunk of a full reduction (window_reduce_all): its argmax indices count from index_base; or
  // x is the chunks' partials, their argmax indices in partial_idx
  DeviceBuffer* in_i = win_ && win_->partial_idx ? dev(win_->partial_idx) : nullptr;
  bool from_partial = is_max && in_i;
  const int64_t ibase = win_ ? win_->index_base : 0;
  if (ibase > kI32Max) return fail(c, kShape, "too many elements for one dispatch");
  std::string err;
  for (;;) {
    Meta mt;
    if (!pack(l, rows, count, mt)) {
      release();
      return fail(c, kShape, "offsets or strides exceed the 32-bit index range");
    }
    mt.m[META_OP] = kOpShaders[c.op].code;
    mt.m[META_DT] = ET_F32;
    mt.m[META_I + 4] = from_partial ? 1 : 0;
    mt.m[META_I + 5] = int32_t(ibase);
    const bool last = count <= kChunk;
    const int64_t chunks = last ? 1 : (count + kChunk - 1) / kChunk;
    if (rows * chunks > kI32Max) {
      release();
      return fail(c, kShape, "too many elements for one dispatch");
    }
    DeviceBuffer* out_v = dev(out.buf);
    DeviceBuffer* out_i = is_max ? dev(c.out(1).buf) : nullptr;
    if (last) {
      mt.m[META_OFF] = int32_t(out.offset);
      mt.m[META_OFF + 2] = is_max ? int32_t(c.out(1).offset) : 0;
    } else {  // partials: contiguous [rows, chunks] in scratch
      const size_t bytes = size_t(rows * chunks) * 4;
      for (int k = 0; k < (is_max ? 2 : 1); ++k) {
        Buffer* b = scratch_alloc(bytes, &err);
        if (!b) {
          release();
          return fail(c, "OutOfMemory", "scratch of " + std::to_string(bytes) + " bytes: " + err);
        }
        scratch.push_back(b);
        (k == 0 ? out_v : out_i) = dev(b);
      }
    }
    uint32_t gx, gy;
    if (last && count <= 64) {
      mt.m[META_MODE] = REDUCE_ROW_PER_THREAD;
      grid_1d(rows, 256, &gx, &gy);
    } else {
      mt.m[META_MODE] = REDUCE_ROW_PER_GROUP;
      mt.m[META_I + 2] = int32_t(chunks);
      mt.m[META_I + 3] = int32_t(last ? count : kChunk);
      grid_1d(rows * chunks, 1, &gx, &gy);
    }
    DeviceBuffer* bufs[4] = {out_v, in_v, out_i, in_i};
    err = run(c, ctx_->subgroup_arith ? "reduce_subgroup" : "reduce", mt.m, bufs, gx, gy, 1);
    if (!err.empty() || last) break;
    // the next pass reduces the partials: rows of `chunks` contiguous elements
    in_v = out_v;
    in_i = out_i;
    from_partial = is_max;
    l = Layout();
    l.lead.n = l.red.n = 1;
    l.lead.ndim = l.red.ndim = 1;
    l.lead.shape[0] = rows;
    l.lead.strides[0][0] = chunks;
    l.red.shape[0] = chunks;
    l.red.strides[0][0] = 1;
    count = chunks;
  }
  release();
  return err;
}

}  // namespace vk
}  // namespace et

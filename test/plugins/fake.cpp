// A minimal edgetrain plugin for test/plugin.test.ts: two "fake" devices in host memory with
// float32 fill, copy and add over strided views. Built with
//   g++ -shared -fPIC -I csrc -DFAKE_NAME='"fake"' test/plugins/fake.cpp -o edgetrain-fake.so
// FAKE_ABI overrides the ABI version it reports (to be refused).
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "plugin_abi.h"

#ifndef FAKE_NAME
#define FAKE_NAME "fake"
#endif
#ifndef FAKE_ABI
#define FAKE_ABI ET_PLUGIN_ABI_VERSION
#endif

namespace {

int op_fill = -1, op_copy = -1, op_add = -1;

struct Buf {
  float* p;
  uint64_t bytes;
};

int fail(char* err, size_t cap, const char* msg) {
  std::snprintf(err, cap, "%s", msg);
  return 1;
}

// Element i (row-major over shape) of view v, as a pointer.
float* at(const et_view& v, const int64_t* shape, int ndim, int64_t i) {
  int64_t off = v.offset;
  for (int d = ndim - 1; d >= 0; --d) {
    off += (i % shape[d]) * v.strides[d];
    i /= shape[d];
  }
  return static_cast<Buf*>(v.buf)->p + off;
}

void describe(int32_t index, et_device_desc* out) {
  out->description = index == 0 ? "fake host-memory device 0" : "fake host-memory device 1";
  out->kind = ET_KIND_VIRTUAL;
  out->memory_bytes = uint64_t(1) << 30;
  out->max_buffer_bytes = uint64_t(1) << 28;
  out->subgroup_size = 4;
}

void* open(int32_t index, char*, size_t) { return reinterpret_cast<void*>(intptr_t(index + 1)); }

void* alloc(void*, uint64_t bytes, char* err, size_t cap) {
  Buf* b = new Buf{static_cast<float*>(std::calloc(bytes / 4 + 1, 4)), bytes};
  if (!b->p) {
    delete b;
    fail(err, cap, "OutOfMemory: fake: calloc failed");
    return nullptr;
  }
  return b;
}

void release(void*, void* buf) {
  std::free(static_cast<Buf*>(buf)->p);
  delete static_cast<Buf*>(buf);
}

int upload(void*, void* buf, uint64_t off, const void* src, uint64_t n, char*, size_t) {
  std::memcpy(reinterpret_cast<char*>(static_cast<Buf*>(buf)->p) + off, src, n);
  return 0;
}

int download(void*, void* buf, uint64_t off, void* dst, uint64_t n, char*, size_t) {
  std::memcpy(dst, reinterpret_cast<char*>(static_cast<Buf*>(buf)->p) + off, n);
  return 0;
}

int supports_op(void*, int32_t op) { return op == op_fill || op == op_copy || op == op_add; }

int supports(void*, const et_call* c) {
  for (int i = 0; i < c->n_in + c->n_out; ++i)
    if (c->t[i].dtype != ET_ABI_F32) return 0;
  return 1;
}

int exec(void*, const et_call* c, char* err, size_t cap) {
  const et_view& y = c->t[c->n_in];
  int64_t n = 1;
  for (int d = 0; d < y.ndim; ++d) n *= y.shape[d];
  for (int i = 0; i < c->n_in; ++i)
    if (c->t[i].ndim != y.ndim) return fail(err, cap, "ShapeError: fake: operands must have the output's rank");
  for (int64_t i = 0; i < n; ++i) {
    float* o = at(y, y.shape, y.ndim, i);
    if (c->op == op_fill) *o = float(c->p[0]);
    else if (c->op == op_copy) *o = *at(c->t[0], y.shape, y.ndim, i);
    else *o = *at(c->t[0], y.shape, y.ndim, i) + *at(c->t[1], y.shape, y.ndim, i);
  }
  return 0;
}

const et_plugin kPlugin = {
    FAKE_ABI, FAKE_NAME, 2, nullptr, describe, open, alloc, release, upload, download, supports_op, supports, exec,
    nullptr,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const et_plugin* et_plugin_init(const et_host* host) {
  for (int i = 0; i < host->n_ops; ++i) {
    if (std::strcmp(host->op_names[i], "fill") == 0) op_fill = i;
    if (std::strcmp(host->op_names[i], "copy") == 0) op_copy = i;
    if (std::strcmp(host->op_names[i], "add") == 0) op_add = i;
  }
  return &kPlugin;
}

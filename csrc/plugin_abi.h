/* The C ABI of edgetrain backend plugins: shared libraries the addon loads with dlopen.
 *
 * A plugin is a file named edgetrain-<name>.so, found in the addon's folder or through
 * EDGETRAIN_PLUGIN_PATH (a colon-separated list of plugin files and folders). It exports one
 * function, ET_PLUGIN_ENTRY:
 *
 *   const et_plugin* et_plugin_init(const et_host* host);
 *
 * which returns a static descriptor (or NULL to refuse). The host first reads abi_version, the
 * descriptor's first member at every version, and refuses any other version than its own; only
 * then does it read the rest. Its devices are named <name>, <name>:1, ... ("<name>:0" is the
 * first too).
 *
 * Build one with a C or C++ compiler and nothing else from edgetrain (this header is
 * self-contained):
 *
 *   g++ -shared -fPIC -O2 -I<edgetrain>/csrc my_backend.cpp -o edgetrain-mine.so
 *
 * Rules for plugin code:
 *  - Calls on one device are serialised by the host; calls on different devices may overlap.
 *  - Nothing may throw or longjmp out of a plugin function.
 *  - Functions that can fail return 0 on success, else nonzero with a message in err[0..cap):
 *    "<ErrorClass>: <op>: <what>" where ErrorClass is ShapeError, DTypeError, IndexError,
 *    ValueError, DeviceError or OutOfMemory, as the built-in backends write them.
 *  - Op ids are the host's: host->op_names[id] is the op's name in schema/ops.json ("add"), so
 *    a plugin finds the ops it implements by name at init. Operand order, dtypes and parameters
 *    are those the schema documents for the op (csrc/ops.h has them as comments).
 */
#ifndef EDGETRAIN_PLUGIN_ABI_H
#define EDGETRAIN_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raised whenever any struct below changes layout or meaning. */
#define ET_PLUGIN_ABI_VERSION 1u
#define ET_PLUGIN_ENTRY "et_plugin_init"

#define ET_ABI_MAX_DIMS 8
#define ET_ABI_MAX_ARGS 12
#define ET_ABI_MAX_PARAMS 16

/* Element types (lib/dtype.ts order). */
enum { ET_ABI_F32 = 0, ET_ABI_F16 = 1, ET_ABI_BF16 = 2, ET_ABI_I32 = 3, ET_ABI_U8 = 4 };

/* Device kinds, as devices() reports them. */
enum { ET_KIND_CPU = 0, ET_KIND_DISCRETE = 1, ET_KIND_INTEGRATED = 2, ET_KIND_VIRTUAL = 3, ET_KIND_OTHER = 4 };

/* A strided view of one of the plugin's buffers; offset, shape and strides count elements, and
 * a stride is 0 on a broadcast dim. Same layout as et::View in csrc/backend.h, with buf the
 * plugin's own buffer handle (what alloc returned) in place of the host's Buffer*. */
typedef struct et_view {
  void* buf;
  int32_t dtype;
  int32_t ndim;
  int64_t offset;
  int64_t shape[ET_ABI_MAX_DIMS];
  int64_t strides[ET_ABI_MAX_DIMS];
} et_view;

/* One kernel call: t[0..n_in) inputs, then t[n_in..n_in + n_out) outputs; p the op's scalar
 * parameters in schema order. Same layout as et::Call. */
typedef struct et_call {
  int32_t op;
  int32_t n_in;
  int32_t n_out;
  int32_t reserved;
  et_view t[ET_ABI_MAX_ARGS];
  double p[ET_ABI_MAX_PARAMS];
} et_call;

/* What the host tells the plugin at init. */
typedef struct et_host {
  uint32_t abi_version;         /* ET_PLUGIN_ABI_VERSION of the host; always the first member */
  int32_t n_ops;
  const char* const* op_names;  /* op id -> name, n_ops entries */
} et_host;

/* What devices() shows about one device. Strings stay valid as long as the plugin is loaded. */
typedef struct et_device_desc {
  const char* description;   /* "<model> (<driver>)" */
  const char* unavailable;   /* NULL when the device can be opened, else why not */
  int32_t kind;              /* ET_KIND_* */
  int32_t subgroup_size;     /* 0: not applicable */
  uint64_t memory_bytes;
  uint64_t max_buffer_bytes; /* largest single allocation; 0: no limit beyond memory */
  int32_t fp16;              /* 1: native half-precision arithmetic */
  int32_t int8_dot;          /* 1: integer dot product instructions */
  int32_t cooperative_matrix;/* 1: matrix (tensor) cores */
  int32_t reserved;
} et_device_desc;

typedef struct et_plugin {
  uint32_t abi_version;  /* ET_PLUGIN_ABI_VERSION; always the first member */
  const char* name;      /* the <name> of edgetrain-<name>.so: lowercase letters, digits, '_' */
  int32_t n_devices;
  const char* unavailable; /* with n_devices 0: why there is none ("no CUDA device") */

  /* Fills *out for device index [0, n_devices). */
  void (*describe)(int32_t index, et_device_desc* out);
  /* Opens a device for use: an opaque context passed to everything below, or NULL + err. */
  void* (*open)(int32_t index, char* err, size_t cap);

  /* Buffers: alloc returns an opaque handle (NULL + err when out of memory); free may be
   * called while work queued on the buffer is pending and must let that work finish first. */
  void* (*alloc)(void* dev, uint64_t bytes, char* err, size_t cap);
  void (*free)(void* dev, void* buf);
  int (*upload)(void* dev, void* buf, uint64_t offset, const void* src, uint64_t bytes, char* err, size_t cap);
  /* Waits for queued work on buf, then copies out. */
  int (*download)(void* dev, void* buf, uint64_t offset, void* dst, uint64_t bytes, char* err, size_t cap);

  /* Whether the device has a kernel for op at all (devices() lists these). */
  int (*supports_op)(void* dev, int32_t op);
  /* Whether it runs this call (its dtypes, shapes, strides); NULL: supports_op decides. Asked
   * before every exec. */
  int (*supports)(void* dev, const et_call* c);
  /* Runs or enqueues the kernel. */
  int (*exec)(void* dev, const et_call* c, char* err, size_t cap);
  /* Waits for all queued work; NULL when exec runs synchronously. */
  int (*sync)(void* dev, char* err, size_t cap);
} et_plugin;

typedef const et_plugin* (*et_plugin_init_fn)(const et_host* host);

#ifdef __cplusplus
}
#endif

#endif /* EDGETRAIN_PLUGIN_ABI_H */

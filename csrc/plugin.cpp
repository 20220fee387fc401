// Loading a plugin (csrc/plugin_abi.h): dlopen, the entry point, the ABI version, the
// descriptor's name and functions, then one Backend per device that opens.
#include "plugin.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include "plugin_backend.h"

namespace et {
namespace {

constexpr size_t kErrCap = 1024;

const et_host* host_info() {
  static const char* names[OP_COUNT];
  static et_host host = [] {
    for (int i = 0; i < OP_COUNT; ++i) names[i] = op_name(i);
    return et_host{ET_PLUGIN_ABI_VERSION, OP_COUNT, names};
  }();
  return &host;
}

const char* kind_name(int32_t k) {
  switch (k) {
    case ET_KIND_CPU: return "cpu";
    case ET_KIND_DISCRETE: return "discrete";
    case ET_KIND_INTEGRATED: return "integrated";
    case ET_KIND_VIRTUAL: return "virtual";
    default: return "other";
  }
}

DeviceProps props_of(const et_device_desc& d) {
  DeviceProps p;
  p.kind = kind_name(d.kind);
  p.memory = d.memory_bytes;
  p.flag("fp16", d.fp16 != 0);
  p.flag("int8Dot", d.int8_dot != 0);
  if (d.subgroup_size > 0) p.number("subgroupSize", d.subgroup_size);
  p.flag("cooperativeMatrix", d.cooperative_matrix != 0);
  if (d.max_buffer_bytes > 0) p.number("maxBufferBytes", double(d.max_buffer_bytes));
  return p;
}

// The descriptor's missing function, or nullptr when it has every one the host calls.
const char* missing_function(const et_plugin* p) {
  if (!p->describe) return "describe";
  if (!p->open) return "open";
  if (!p->alloc) return "alloc";
  if (!p->free) return "free";
  if (!p->upload) return "upload";
  if (!p->download) return "download";
  if (!p->supports_op) return "supports_op";
  if (!p->exec) return "exec";
  return nullptr;
}

// The plugin's descriptor, or nullptr with *why. A library whose init ran stays loaded: it may
// have started threads or registered handlers that unloading would leave dangling.
const et_plugin* load(const PluginFile& f, std::string* why) {
  struct stat st;
  if (::stat(f.path.c_str(), &st) != 0) {
    *why = "plugin " + f.path + " not found";
    return nullptr;
  }
  dlerror();
  void* lib = dlopen(f.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    *why = "plugin " + f.path + " did not load: " + (e ? e : "dlopen failed");
    return nullptr;
  }
  auto init = reinterpret_cast<et_plugin_init_fn>(dlsym(lib, ET_PLUGIN_ENTRY));
  if (!init) {
    const char* e = dlerror();
    *why = "plugin " + f.path + " has no " ET_PLUGIN_ENTRY " entry point, so it is not an edgetrain plugin (" +
           (e ? e : "symbol not found") + ")";
    dlclose(lib);
    return nullptr;
  }
  const et_plugin* p = init(host_info());
  if (!p) {
    *why = "plugin " + f.path + " refused to start (" ET_PLUGIN_ENTRY " returned NULL)";
    return nullptr;
  }
  if (p->abi_version != ET_PLUGIN_ABI_VERSION) {
    *why = "plugin " + f.path + " implements plugin ABI version " + std::to_string(p->abi_version) +
           ", this edgetrain expects version " + std::to_string(ET_PLUGIN_ABI_VERSION) +
           " (rebuild it against this edgetrain's csrc/plugin_abi.h)";
    return nullptr;
  }
  if (!p->name || f.family != p->name) {
    *why = "plugin " + f.path + " calls itself '" + (p->name ? p->name : "") + "'; its file must be named edgetrain-" +
           (p->name ? p->name : "<name>") + ".so";
    return nullptr;
  }
  if (const char* fn = missing_function(p)) {
    *why = "plugin " + f.path + " has no '" + fn + "' function in its descriptor";
    return nullptr;
  }
  return p;
}

}  // namespace

std::vector<OpenedDevice> plugin_open(const PluginFile& f) {
  std::vector<OpenedDevice> out;
  std::string why;
  const et_plugin* p = load(f, &why);
  if (p && p->n_devices <= 0)
    why = std::string(p->unavailable ? p->unavailable : "it reports no device") + " (plugin " + f.path + ")";
  if (!p || p->n_devices <= 0) {
    out = device_unavailable(f.family, why);
    out[0].info.plugin = f.path;
    return out;
  }
  for (int32_t i = 0; i < p->n_devices; ++i) {
    et_device_desc desc = {};
    p->describe(i, &desc);
    OpenedDevice d;
    d.info.name = device_name(f.family, i);
    d.info.family = f.family;
    d.info.index = i;
    d.info.plugin = f.path;
    d.info.props = props_of(desc);
    std::string description = desc.description ? desc.description : f.family + " device " + std::to_string(i);
    char msg[kErrCap] = {};
    void* dev = nullptr;
    if (desc.unavailable) d.info.reason = desc.unavailable;
    else if (!(dev = p->open(i, msg, kErrCap)))
      d.info.reason = description + " did not open: " + (msg[0] ? msg : "no reason given");
    if (dev) d.backend = plugin_backend_create(p, dev, d.info.name, description);
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace et

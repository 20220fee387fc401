#include "device.h"

#include <unistd.h>

#include <set>

#include "cpu/backend_cpu.h"
#include "cpu/cpuid.h"
#include "cuda/backend_cuda.h"
#include "plugin.h"
#include "threadpool.h"
#include "vulkan/backend_vulkan.h"

namespace et {

std::string device_name(const std::string& family, int index) {
  return index == 0 ? family : family + ":" + std::to_string(index);
}

std::vector<OpenedDevice> device_unavailable(const std::string& family, const std::string& reason) {
  std::vector<OpenedDevice> out(1);
  out[0].info.name = family;
  out[0].info.family = family;
  out[0].info.reason = reason;
  return out;
}

namespace {

DeviceProps host_props() {
  DeviceProps p;
  p.kind = "cpu";
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) p.memory = uint64_t(pages) * uint64_t(page);
  p.text("isa", cpu_isa());
  p.text("cpuFeatures", cpu_feature_list());
  p.number("threads", threadpool_size());
  return p;
}

// Built-in backends are finished at exit, the last started first: at_exit() (Vulkan waits for its
// device there), then deleted unless delete_at_exit() says otherwise (Vulkan: see
// VulkanBackend::delete_at_exit). Plugin backends never are: their library's code may already be
// unloading by then.
struct Owned {
  std::vector<std::unique_ptr<Backend>> v;
  ~Owned() {
    while (!v.empty()) {
      v.back()->at_exit();
      if (!v.back()->delete_at_exit()) v.back().release();
      v.pop_back();
    }
  }
};
std::vector<std::unique_ptr<Backend>>& owned() {
  static Owned o;
  return o.v;
}

void add(std::vector<DeviceInfo>* list, OpenedDevice&& d) {
  DeviceInfo& info = d.info;
  if (d.backend) {
    info.available = true;
    info.reason.clear();
    info.description = d.backend->description();
    info.backend = d.backend.get();
    if (info.plugin.empty()) owned().push_back(std::move(d.backend));
    else d.backend.release();
  }
  list->push_back(info);
}

std::string known_names() {
  std::string s;
  for (const auto& d : devices()) s += (s.empty() ? "" : ", ") + d.name;
  return s;
}

}  // namespace

const std::vector<DeviceInfo>& devices() {
  static std::vector<DeviceInfo>* list = [] {
    auto* l = new std::vector<DeviceInfo>();
    OpenedDevice cpu;
    cpu.info.name = cpu.info.family = "cpu";
    cpu.backend = cpu_backend_create();
    add(l, std::move(cpu));
    for (OpenedDevice& d : vulkan_devices_open()) add(l, std::move(d));
    std::vector<PluginFile> plugins = plugin_files();
    for (OpenedDevice& d : cuda_devices_open(plugins)) add(l, std::move(d));
    const std::set<std::string> builtin = {"cpu", "vulkan", "cuda"};
    for (const PluginFile& f : plugins) {
      if (f.family == "cuda") continue;
      if (builtin.count(f.family)) {
        // its devices cannot take the built-in backend's names: list it under its file name
        std::string file = f.path.substr(f.path.rfind('/') + 1);
        for (OpenedDevice& d : device_unavailable(file, "a plugin may not take the name of the built-in '" + f.family +
                                                            "' backend (" + f.path + ")")) {
          d.info.plugin = f.path;
          add(l, std::move(d));
        }
        continue;
      }
      for (OpenedDevice& d : plugin_open(f)) add(l, std::move(d));
    }
    return l;
  }();
  return *list;
}

const DeviceInfo* device_find(const std::string& name, std::string* why) {
  const auto& ds = devices();
  for (const auto& d : ds)
    if (d.name == name) return &d;
  // "<family>:<index>", the index in decimal digits
  size_t colon = name.find(':');
  std::string family = name.substr(0, colon);
  bool known_family = false;
  for (const auto& d : ds) known_family = known_family || d.family == family;
  if (colon != std::string::npos && known_family) {
    std::string digits = name.substr(colon + 1);
    bool ok = !digits.empty() && digits.size() <= 4 && digits.find_first_not_of("0123456789") == std::string::npos;
    int index = ok ? std::stoi(digits) : -1;
    for (const auto& d : ds)
      if (d.family == family && d.index == index) return &d;
    *why = "unknown device '" + name + "': " + (ok ? family + " has no device " + digits : "the index must be a number") +
           " (known: " + known_names() + ")";
    return nullptr;
  }
  *why = "unknown device '" + name + "' (known: " + known_names() + ")";
  return nullptr;
}

Backend* device_backend(const std::string& name, std::string* why) {
  const DeviceInfo* d = device_find(name, why);
  if (!d) return nullptr;
  if (!d->available) {
    *why = "device '" + d->name + "' is not available: " + d->reason;
    return nullptr;
  }
  return d->backend;
}

DeviceProps device_props(const DeviceInfo& d) { return d.family == "cpu" ? host_props() : d.props; }

}  // namespace et

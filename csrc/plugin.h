// Backends built as separate shared libraries (the C ABI is csrc/plugin_abi.h): where they are
// looked for, and how one loads and opens its devices.
#pragma once
#include <string>
#include <vector>

#include "device.h"

namespace et {

struct PluginFile {
  std::string path;
  std::string family;  // the <name> of edgetrain-<name>.so: its devices' names
};

// Where plugins are looked for, in order: each entry of EDGETRAIN_PLUGIN_PATH (colon-separated
// plugin files and folders), then the folder the addon was loaded from.
std::vector<std::string> plugin_search_path();
// Every plugin on the search path, the first of each name: edgetrain-<name>.so files in the
// folders, and the files EDGETRAIN_PLUGIN_PATH names whatever they are called (a missing
// *.so among them too, which then reports that it is missing).
std::vector<PluginFile> plugin_files();
// Loads a plugin and opens its devices. Never fails: when the file is missing, does not load
// (dlerror's text), has no entry point, implements another ABI version or breaks the ABI's
// rules, the result is one unavailable device saying so.
std::vector<OpenedDevice> plugin_open(const PluginFile& f);

}  // namespace et

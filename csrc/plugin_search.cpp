// The plugin search path: EDGETRAIN_PLUGIN_PATH's entries, then the addon's own folder.
#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "plugin.h"

namespace et {
namespace {

constexpr const char* kPrefix = "edgetrain-";
constexpr const char* kSuffix = ".so";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "edgetrain-cuda.so" -> "cuda"; "" when the name does not follow the pattern.
std::string pattern_family(const std::string& file) {
  const std::string prefix = kPrefix;
  if (file.compare(0, prefix.size(), prefix) != 0 || !ends_with(file, kSuffix)) return "";
  std::string name = file.substr(prefix.size(), file.size() - prefix.size() - 3);
  if (name.empty() || !(name[0] >= 'a' && name[0] <= 'z')) return "";
  for (char ch : name)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) return "";
  return name;
}

// A file named explicitly: its pattern name, else its name up to the first dot.
std::string any_family(const std::string& file) {
  std::string f = pattern_family(file);
  return f.empty() ? file.substr(0, file.find('.')) : f;
}

bool exists(const std::string& p, bool* dir) {
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) return false;
  *dir = S_ISDIR(st.st_mode);
  return true;
}

std::string addon_dir() {
  Dl_info info;
  if (!dladdr(reinterpret_cast<void*>(&plugin_search_path), &info) || !info.dli_fname) return "";
  std::string p = info.dli_fname;
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

// edgetrain-<name>.so files of a folder, sorted by name (a missing folder has none).
std::vector<PluginFile> scan_dir(const std::string& dir) {
  std::vector<PluginFile> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string fam = pattern_family(e->d_name);
    if (!fam.empty()) out.push_back({dir + "/" + e->d_name, fam});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const PluginFile& a, const PluginFile& b) { return a.path < b.path; });
  return out;
}

}  // namespace

std::vector<std::string> plugin_search_path() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("EDGETRAIN_PLUGIN_PATH")) {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      size_t colon = s.find(':', start);
      if (colon == std::string::npos) colon = s.size();
      if (colon > start) out.push_back(s.substr(start, colon - start));
      start = colon + 1;
    }
  }
  std::string own = addon_dir();
  if (!own.empty()) out.push_back(own);
  return out;
}

std::vector<PluginFile> plugin_files() {
  std::vector<PluginFile> out;
  std::set<std::string> seen;
  auto keep = [&](const PluginFile& f) {
    if (seen.insert(f.family).second) out.push_back(f);
  };
  for (const std::string& entry : plugin_search_path()) {
    bool dir = false;
    if (!exists(entry, &dir)) {
      // a missing file reports itself; a missing folder holds no plugin
      if (entry.find(kSuffix) != std::string::npos) keep({entry, any_family(base_name(entry))});
    } else if (dir) {
      for (const PluginFile& f : scan_dir(entry)) keep(f);
    } else {
      keep({entry, any_family(base_name(entry))});
    }
  }
  return out;
}

}  // namespace et

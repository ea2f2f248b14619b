#include "harness/convert/published.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>

#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"

namespace xcompat {

const std::vector<Version>& published_releases() {
  static std::once_flag once;
  static std::vector<Version> all;
  std::call_once(once, [] {
    const char* env = std::getenv("XCOMPAT_PUBLISHED");
    const fs::path path = env && *env ? fs::path(env) : project_root() / "matrix" / "published.txt";
    std::ifstream in(path);
    if (!in) throw Error("cannot read the list of published releases " + path.string());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      auto v = Version::parse(line);
      if (!v) throw Error(path.string() + ": '" + line + "' is not an X.Y.Z version");
      all.push_back(*v);
    }
    std::sort(all.begin(), all.end());
  });
  return all;
}

bool is_published(const Version& v) {
  const auto& all = published_releases();
  return std::binary_search(all.begin(), all.end(), v);
}

std::pair<std::optional<Version>, std::optional<Version>> published_neighbours(const Version& v) {
  const auto& all = published_releases();
  auto it = std::lower_bound(all.begin(), all.end(), v);
  std::optional<Version> below, above;
  if (it != all.begin()) below = *std::prev(it);
  if (it != all.end()) above = *it == v && std::next(it) != all.end() ? *std::next(it) : *it;
  return {below, above};
}

}  // namespace xcompat

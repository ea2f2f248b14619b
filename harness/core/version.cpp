#include "harness/core/version.hpp"

#include <charconv>
#include <vector>

namespace xcompat {

std::string Version::str() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::optional<Version> Version::parse(std::string_view text) {
  std::vector<int> parts;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  while (p < end) {
    int value = 0;
    auto [next, ec] = std::from_chars(p, end, value);
    if (ec != std::errc() || next == p || value < 0) return std::nullopt;
    parts.push_back(value);
    p = next;
    if (p == end) break;
    if (*p != '.') return std::nullopt;
    ++p;
  }
  if (p != end || parts.size() != 3) return std::nullopt;
  return Version{parts[0], parts[1], parts[2]};
}

}  // namespace xcompat

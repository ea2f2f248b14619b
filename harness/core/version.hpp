#pragma once
// A published x-transformers version, X.Y.Z, ordered numerically.
#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace xcompat {

struct Version {
  int major = 0, minor = 0, patch = 0;

  auto operator<=>(const Version&) const = default;
  std::string str() const;
  // "1.31.4" -> {1, 31, 4}; nullopt for anything that is not three
  // non-negative integers (pre-releases, local versions, "unknown").
  static std::optional<Version> parse(std::string_view text);
};

}  // namespace xcompat

#include "harness/core/names.hpp"

#include <fmt/format.h>

#include "harness/core/error.hpp"
#include "harness/core/version.hpp"

namespace xcompat {

namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

// Printable, and short enough for a message: a hostile name is shown, never echoed raw.
std::string shown(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 80)) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    else out += c;
  }
  if (name.size() > 80) out += "...";
  return out;
}

}  // namespace

bool is_spec_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= '0' && name[0] <= '9')))
    return false;
  for (char c : name)
    if (!name_char(c)) return false;
  return name.find("..") == std::string_view::npos;
}

bool is_release_name(std::string_view name) { return Version::parse(name).has_value(); }

void require_spec_name(std::string_view name, const std::string& where) {
  if (!is_spec_name(name))
    throw Error(fmt::format("{}: spec name '{}' is not one: a spec name is 1 - 64 of a-z A-Z 0-9 . _ -, starting "
                            "with a letter or digit, without '..'",
                            where, shown(name)));
}

void require_release_name(std::string_view name, const std::string& where) {
  if (!is_release_name(name))
    throw Error(fmt::format("{}: release '{}' is not one: a release is X.Y.Z (three non-negative integers)", where,
                            shown(name)));
}

std::filesystem::path child_path(const std::filesystem::path& root, std::string_view component) {
  const bool plain = !component.empty() && component.size() <= 255 && component != "." && component != ".." &&
                     component.find('/') == std::string_view::npos && component.find('\0') == std::string_view::npos;
  if (!plain)
    throw Error(fmt::format("refusing to write '{}' under {}: not one plain file name", shown(component), root.string()));
  return root / std::string(component);
}

}  // namespace xcompat

#pragma once
// The documented forms of the names that reach file paths, database rows and
// report pages, and the one way a name becomes a path. A spec file or a pins
// file can come from a pull request in CI: a name is checked against its form
// where the file is loaded, and again where it becomes a path, so no name can
// write outside the directory meant for it.
//
//   spec name     1 - 64 characters of a-z A-Z 0-9 . _ -, starting with a
//                 letter or digit ("decoder-absolute")
//   release       X.Y.Z, three non-negative integers ("1.31.4")
//   consumer      a release, or "cpp-native"
#include <filesystem>
#include <string>
#include <string_view>

namespace xcompat {

bool is_spec_name(std::string_view name);
bool is_release_name(std::string_view name);

// Throws Error "<where>: <what> '<name>' ...: <the form>" unless it fits.
void require_spec_name(std::string_view name, const std::string& where);
void require_release_name(std::string_view name, const std::string& where);

// `root / component` for one plain path component (no separator, not "." or
// "..", no NUL, at most 255 bytes); throws Error naming `root` otherwise.
std::filesystem::path child_path(const std::filesystem::path& root, std::string_view component);

}  // namespace xcompat

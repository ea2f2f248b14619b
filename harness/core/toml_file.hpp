#pragma once
// The policy files are TOML; xcompat reads them as JSON values (specs travel
// to workers as JSON verbatim). Shared by pins.cpp and spec.cpp.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace xcompat {

// Throws Error "FILE:LINE:COLUMN: what" on a syntax error.
nlohmann::json parse_toml_file(const std::filesystem::path& path);

// The string field `key` of `j`; throws Error naming `where` otherwise.
std::string require_string(const nlohmann::json& j, const char* key, const std::string& where);

}  // namespace xcompat

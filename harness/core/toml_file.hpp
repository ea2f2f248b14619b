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

// Throws Error "<where>: unknown field 'k' (known: ...)" for a key of the
// table `j` outside `known` (a misspelt field is an error, not a default).
void require_known_fields(const nlohmann::json& j, std::initializer_list<const char*> known, const std::string& where);

// The integer field `key` of `j`, within [lo, hi]; throws Error naming
// `where` and the field otherwise.
int64_t require_int(const nlohmann::json& j, const char* key, int64_t lo, int64_t hi, const std::string& where);

}  // namespace xcompat

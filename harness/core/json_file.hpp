#pragma once
// JSON files xcompat writes and reads back (meta.json, unsupported.json).
#include <filesystem>

#include <nlohmann/json.hpp>

namespace xcompat {

// Throws Error naming the file when it cannot be read or is not JSON.
nlohmann::json read_json_file(const std::filesystem::path& path);
// Throws Error naming the file when it cannot be written.
void write_json_file(const std::filesystem::path& path, const nlohmann::json& j);

}  // namespace xcompat

#pragma once
// The stand-alone adapter.py of `xcompat convert --adapter`: the history's
// adapter code (harness/python/xcompat_adapter.py, the same file the Python
// package runs for xcompat.adapt) with the conversion's adapters written
// into its ADAPTERS list, for users without xcompat installed.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace xcompat {

// `adapters`: [{module, kind, shape, change}] as ConvertResult::adapters
// gives them. Throws Error when the template lacks its ADAPTERS line.
std::string adapter_file_text(const std::string& template_text, const nlohmann::json& adapters, const std::string& from,
                              const std::string& to, const std::string& command);

// Writes it to `out` (a temporary name, then renamed into place).
void write_adapter_file(const std::filesystem::path& out, const nlohmann::json& adapters, const std::string& from,
                        const std::string& to, const std::string& command);

}  // namespace xcompat

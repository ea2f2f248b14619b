#pragma once
// SHA-256 (OpenSSL) for content-addressed fixtures and cell cache keys.
#include <filesystem>
#include <string>
#include <string_view>

namespace xcompat {

std::string sha256_hex(std::string_view data);
// Throws Error if the file cannot be read.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace xcompat

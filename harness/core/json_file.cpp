#include "harness/core/json_file.hpp"

#include <fstream>

#include "harness/core/error.hpp"

namespace xcompat {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read " + path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": " + e.what());
  }
}

void write_json_file(const std::filesystem::path& path, const nlohmann::json& j) {
  std::ofstream out(path);
  out << j.dump(1) << "\n";
  if (!out) throw Error("cannot write " + path.string());
}

}  // namespace xcompat

#include "harness/core/toml_file.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>

#include "harness/core/error.hpp"

namespace xcompat {

using json = nlohmann::json;

namespace {

json toml_to_json(const toml::node& node) {
  if (auto t = node.as_table()) {
    json j = json::object();
    for (auto&& [k, v] : *t) j[std::string(k.str())] = toml_to_json(v);
    return j;
  }
  if (auto a = node.as_array()) {
    json j = json::array();
    for (auto&& v : *a) j.push_back(toml_to_json(v));
    return j;
  }
  if (auto v = node.as_string()) return v->get();
  if (auto v = node.as_integer()) return v->get();
  if (auto v = node.as_floating_point()) return v->get();
  if (auto v = node.as_boolean()) return v->get();
  throw Error("unsupported TOML value (dates are not used by xcompat)");
}

}  // namespace

json parse_toml_file(const std::filesystem::path& path) {
  try {
    return toml_to_json(toml::parse_file(path.string()));
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("{}:{}:{}: {}", path.string(), e.source().begin.line,
                            e.source().begin.column, e.description()));
  }
}

std::string require_string(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_string())
    throw Error(fmt::format("{}: missing string field '{}'", where, key));
  return j[key].get<std::string>();
}


}  // namespace xcompat

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


void require_known_fields(const nlohmann::json& j, std::initializer_list<const char*> known, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": not a table");
  for (auto& [k, _] : j.items()) {
    bool ok = false;
    for (auto* name : known) ok |= k == name;
    if (ok) continue;
    std::string list;
    for (auto* name : known) list += (list.empty() ? "" : ", ") + std::string(name);
    throw Error(where + ": unknown field '" + k.substr(0, 80) + "' (known: " + list + ")");
  }
}

int64_t require_int(const nlohmann::json& j, const char* key, int64_t lo, int64_t hi, const std::string& where) {
  if (!j.contains(key) || !j[key].is_number_integer())
    throw Error(where + ": field '" + key + "' must be an integer");
  const int64_t v = j[key].get<int64_t>();
  if (v < lo || v > hi)
    throw Error(where + ": field '" + key + "' = " + std::to_string(v) + " is outside " + std::to_string(lo) + " .. " +
                std::to_string(hi));
  return v;
}

}  // namespace xcompat

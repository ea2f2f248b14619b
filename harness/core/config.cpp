#include "harness/core/config.hpp"

#include <fmt/format.h>

#include <set>
#include <toml++/toml.h>

#include "harness/core/error.hpp"
#include "harness/core/hash.hpp"

namespace xcompat {

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

}  // namespace

json Tolerance::to_json() const {
  json j = {{"rtol", rtol}, {"atol", atol}, {"nmse", nmse}};
  if (!reason.empty()) j["reason"] = reason;
  return j;
}

Tolerance Tolerance::from_json(const json& j) {
  Tolerance t;
  t.rtol = j.value("rtol", t.rtol);
  t.atol = j.value("atol", t.atol);
  t.nmse = j.value("nmse", t.nmse);
  t.reason = j.value("reason", "");
  return t;
}

const Release* Pins::find(const std::string& version) const {
  for (auto& r : releases)
    if (r.version == version) return &r;
  return nullptr;
}

Tolerance Pins::tolerance_for(const std::string& spec, const std::string& consumer,
                              const std::string& dtype) const {
  for (auto& o : overrides)
    if (o.spec == spec && o.consumer == consumer) return o.tolerance;
  auto it = tolerances.find(dtype);
  return it != tolerances.end() ? it->second : Tolerance{};
}

Pins load_pins(const std::filesystem::path& path) {
  json j = parse_toml_file(path);
  const std::string where = path.string();
  Pins pins;
  pins.torch = j.value("torch", "");
  std::set<std::string> seen;
  const json release_list = j.value("release", json::array());
  for (auto& r : release_list) {
    Release rel;
    rel.version = require_string(r, "version", where + " [[release]]");
    rel.reason = r.value("reason", "");
    for (auto& e : r.value("extras", json::array())) rel.extras.push_back(e.get<std::string>());  // copy: safe
    if (!seen.insert(rel.version).second) throw Error(where + ": release " + rel.version + " pinned twice");
    pins.releases.push_back(std::move(rel));
  }
  if (pins.releases.empty()) throw Error(where + ": no [[release]] entries");
  const json tolerances = j.value("tolerance", json::object());
  for (auto& [dtype, t] : tolerances.items())
    pins.tolerances[dtype] = Tolerance::from_json(t);
  const json override_list = j.value("override", json::array());
  for (auto& o : override_list) {
    ToleranceOverride ov;
    ov.spec = require_string(o, "spec", where + " [[override]]");
    ov.consumer = require_string(o, "consumer", where + " [[override]]");
    ov.tolerance = Tolerance::from_json(o);
    if (ov.tolerance.reason.empty())
      throw Error(fmt::format("{}: override for ({}, {}) needs a written reason", where, ov.spec, ov.consumer));
    pins.overrides.push_back(std::move(ov));
  }
  return pins;
}

std::vector<std::string> Spec::features() const {
  std::vector<std::string> out;
  for (auto& f : definition.value("features", json::array())) out.push_back(f.get<std::string>());
  return out;
}

std::string Spec::content_hash() const { return sha256_hex(definition.dump()); }

std::vector<Spec> load_specs(const std::filesystem::path& path) {
  json j = parse_toml_file(path);
  const std::string where = path.string();
  std::vector<Spec> specs;
  std::set<std::string> seen;
  const json spec_list = j.value("spec", json::array());
  for (auto& s : spec_list) {
    Spec spec;
    spec.name = require_string(s, "name", where + " [[spec]]");
    const std::string at = where + " spec '" + spec.name + "'";
    const std::string model = require_string(s, "model", at);
    if (model != "decoder" && model != "encoder" && model != "xtransformer")
      throw Error(at + ": model must be decoder, encoder or xtransformer, not '" + model + "'");
    for (auto key : {"seed", "batch", "seq_len"})
      if (!s.contains(key) || !s[key].is_number_integer()) throw Error(at + ": missing integer '" + key + "'");
    if (model == "xtransformer" ? !s.contains("xtransformer") : !s.contains("layers") || !s.contains("wrapper"))
      throw Error(at + ": missing constructor arguments (wrapper/layers or xtransformer)");
    if (!seen.insert(spec.name).second) throw Error(where + ": spec " + spec.name + " defined twice");
    spec.definition = s;
    specs.push_back(std::move(spec));
  }
  if (specs.empty()) throw Error(where + ": no [[spec]] entries");
  return specs;
}

template <class T, class NameOf>
static std::vector<T> select_by_name(const std::vector<T>& all, const std::vector<std::string>& wanted,
                                     NameOf name_of, const char* what) {
  if (wanted.empty()) return all;
  std::vector<T> out;
  for (auto& w : wanted) {
    bool found = false;
    for (auto& item : all)
      if (name_of(item) == w) { out.push_back(item); found = true; }
    if (!found) {
      std::string known;
      for (auto& item : all) known += (known.empty() ? "" : ", ") + name_of(item);
      throw Error(fmt::format("unknown {} '{}' (known: {})", what, w, known));
    }
  }
  return out;
}

std::vector<Release> select_releases(const Pins& pins, const std::vector<std::string>& wanted) {
  return select_by_name(pins.releases, wanted, [](const Release& r) { return r.version; }, "release");
}

std::vector<Spec> select_specs(const std::vector<Spec>& specs, const std::vector<std::string>& wanted) {
  return select_by_name(specs, wanted, [](const Spec& s) { return s.name; }, "spec");
}

}  // namespace xcompat

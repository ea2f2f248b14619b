#include "harness/core/pins.hpp"

#include "harness/core/consumers.hpp"

#include <algorithm>

#include "harness/core/runtime.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <set>

#include "harness/core/error.hpp"
#include "harness/core/names.hpp"
#include "harness/core/sandbox.hpp"
#include "harness/core/select.hpp"
#include "harness/core/toml_file.hpp"
#include "harness/core/version.hpp"

namespace xcompat {

json Tolerance::to_json() const {
  json j = {{"rtol", rtol}, {"atol", atol}, {"nmse", nmse}};
  if (!reason.empty()) j["reason"] = reason;
  return j;
}

Tolerance Tolerance::from_json(const json& j) {
  Tolerance t;
  for (const char* k : {"rtol", "atol", "nmse"})
    if (j.contains(k) && (!j[k].is_number() || !std::isfinite(j[k].get<double>()) || j[k].get<double>() < 0))
      throw Error(std::string("tolerance field '") + k + "' must be a finite number >= 0, not " + j[k].dump());
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
  // A spec's own override first, then one for every spec of the consumer.
  for (const char* wanted : {spec.c_str(), "*"})
    for (auto& o : overrides)
      if (o.spec == wanted && o.consumer == consumer && (o.dtype.empty() || o.dtype == dtype)) return o.tolerance;
  auto it = tolerances.find(dtype);
  return it != tolerances.end() ? it->second : Tolerance{};
}

namespace {

// An extra goes to pip's command line: a name, "==", a version; nothing else.
bool is_requirement(const std::string& e) {
  const auto eq = e.find("==");
  if (eq == std::string::npos || eq == 0 || eq + 2 >= e.size() || e.size() > 100) return false;
  for (std::size_t i = 0; i < e.size(); ++i) {
    const char c = e[i];
    if (i == eq || i == eq + 1) continue;
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || (i > eq && c == '+')))
      return false;
  }
  return true;
}

std::vector<std::string> requirements(const json& r, const char* key, const std::string& where) {
  std::vector<std::string> out;
  if (!r.contains(key)) return out;
  if (!r[key].is_array()) throw Error(where + ": field '" + key + "' must be a list of \"package==version\"");
  for (auto& e : r[key]) {
    if (!e.is_string() || !is_requirement(e.get<std::string>()))
      throw Error(where + ": field '" + key + "': " + e.dump().substr(0, 80) + " is not \"package==version\"");
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

static Pins load_pins_checked(const std::filesystem::path& path);

Pins load_pins(const std::filesystem::path& path) {
  // Every refusal is an Error naming the file: a field of an unexpected type
  // that a check below does not name is still one.
  try {
    return load_pins_checked(path);
  } catch (const json::exception& e) {
    throw Error(path.string() + ": a field of the wrong type: " + e.what());
  }
}

static Pins load_pins_checked(const std::filesystem::path& path) {
  json j = parse_toml_file(path);
  const std::string where = path.string();
  require_known_fields(j, {"format", "torch", "torches", "dtypes", "tolerance", "override", "release", "era_extras",
                           "deploy"},
                       where);
  Pins pins;
  pins.torch = j.value("torch", "");
  if (j.contains("torches")) {
    for (auto& t : j["torches"]) {
      if (!t.is_string() || !Version::parse(t.get<std::string>()))
        throw Error(fmt::format("{}: torches: {} is not a torch version (X.Y.Z)", where, t.dump()));
      pins.torches.push_back(t.get<std::string>());
    }
    if (!pins.torch.empty() && std::find(pins.torches.begin(), pins.torches.end(), pins.torch) == pins.torches.end())
      throw Error(fmt::format("{}: torches must hold the default torch {}", where, pins.torch));
  } else if (!pins.torch.empty()) {
    pins.torches = {pins.torch};
  }
  if (j.contains("dtypes")) {
    pins.dtypes.clear();
    for (auto& d : j["dtypes"]) {
      if (!d.is_string() || (d != "float32" && d != "bfloat16"))
        throw Error(fmt::format("{}: dtypes: {} is not a dtype xcompat computes in (float32, bfloat16)", where,
                                d.dump()));
      pins.dtypes.push_back(d.get<std::string>());
    }
  }
  std::set<std::string> seen;
  const json release_list = j.value("release", json::array());
  for (std::size_t i = 0; i < release_list.size(); ++i) {
    const json& r = release_list[i];
    const std::string entry = fmt::format("{} [[release]] #{}", where, i + 1);
    require_known_fields(r, {"version", "extras", "reason"}, entry);
    Release rel;
    rel.version = require_string(r, "version", entry);
    require_release_name(rel.version, entry);
    rel.reason = r.value("reason", "");
    rel.extras = requirements(r, "extras", entry + " (" + rel.version + ")");
    if (!seen.insert(rel.version).second) throw Error(where + ": release " + rel.version + " pinned twice");
    pins.releases.push_back(std::move(rel));
  }
  if (pins.releases.empty()) throw Error(where + ": no [[release]] entries");
  const json eras = j.value("era_extras", json::array());
  for (std::size_t i = 0; i < eras.size(); ++i) {
    const json& e = eras[i];
    const std::string entry = fmt::format("{} [[era_extras]] #{}", where, i + 1);
    require_known_fields(e, {"from", "until", "packages"}, entry);
    EraExtras era;
    era.from = require_string(e, "from", entry);
    require_release_name(era.from, entry);
    era.until = e.value("until", "");
    if (!era.until.empty()) require_release_name(era.until, entry);
    era.packages = requirements(e, "packages", entry);
    pins.era_extras.push_back(std::move(era));
  }
  const json tolerances = j.value("tolerance", json::object());
  for (auto& [dtype, t] : tolerances.items()) {
    const std::string entry = where + " [tolerance." + dtype.substr(0, 40) + "]";
    if (dtype != "float32" && dtype != "bfloat16") throw Error(entry + ": tolerances are per dtype: float32, bfloat16");
    require_known_fields(t, {"rtol", "atol", "nmse"}, entry);
    try {
      pins.tolerances[dtype] = Tolerance::from_json(t);
    } catch (const Error& e) {
      throw Error(entry + ": " + e.what());
    }
  }
  const json override_list = j.value("override", json::array());
  for (auto& o : override_list) {
    const std::string entry = where + " [[override]]";
    require_known_fields(o, {"spec", "consumer", "dtype", "rtol", "atol", "nmse", "reason"}, entry);
    ToleranceOverride ov;
    ov.spec = require_string(o, "spec", entry);
    if (ov.spec != "*") require_spec_name(ov.spec, entry);
    ov.consumer = require_string(o, "consumer", entry);
    if (ov.consumer != "cpp-native" && !is_own_model_check(ov.consumer))
      require_release_name(ov.consumer, entry + " consumer (a release, cpp-native or an own-model check)");
    ov.dtype = o.value("dtype", "");
    if (!ov.dtype.empty() && ov.dtype != "float32" && ov.dtype != "bfloat16")
      throw Error(entry + ": dtype " + ov.dtype + " is not float32 or bfloat16");
    try {
      ov.tolerance = Tolerance::from_json(o);
    } catch (const Error& e) {
      throw Error(entry + ": " + e.what());
    }
    if (ov.tolerance.reason.empty())
      throw Error(fmt::format("{}: override for ({}, {}) needs a written reason", where, ov.spec, ov.consumer));
    pins.overrides.push_back(std::move(ov));
  }
  const json deploy = j.value("deploy", json::object());  // kept: items() refers into it
  for (auto& [name, d] : deploy.items()) {
    const std::string entry = where + " [deploy." + name.substr(0, 40) + "]";
    if (name != "cpp-torchscript" && name != "cpp-export")
      throw Error(entry + ": the deployment consumers are cpp-torchscript and cpp-export");
    require_known_fields(d, {"specs", "dtypes", "reason"}, entry);
    DeploySubset subset;
    for (auto& s : d.value("specs", json::array())) {
      if (!s.is_string()) throw Error(entry + ": specs are names");
      require_spec_name(s.get<std::string>(), entry);
      subset.specs.push_back(s.get<std::string>());
    }
    for (auto& dt : d.value("dtypes", json::array())) {
      if (!dt.is_string() || (dt != "float32" && dt != "bfloat16"))
        throw Error(entry + ": dtypes: " + dt.dump() + " is not float32 or bfloat16");
      subset.dtypes.push_back(dt.get<std::string>());
    }
    subset.reason = d.value("reason", "");
    pins.deploy[name] = std::move(subset);
  }
  return pins;
}

std::vector<std::string> Pins::extras_for(const std::string& name) const {
  const std::string version = release_of(name);  // a release under another torch has its release's extras
  if (const Release* r = find(version)) return r->extras;
  std::vector<std::string> out;
  const auto v = Version::parse(version);
  if (!v) return out;
  for (auto& e : era_extras)
    if (*Version::parse(e.from) <= *v && (e.until.empty() || *v <= *Version::parse(e.until)))
      out.insert(out.end(), e.packages.begin(), e.packages.end());
  return out;
}

std::vector<Release> with_installed(const Pins& pins, const std::vector<std::string>& wanted) {
  std::vector<Release> all = pins.releases;
  for (auto& w : wanted) {
    if (pins.find(w)) continue;
    const Runtime rt = parse_runtime(w);
    if (!rt.torch.empty()) {  // a release under another torch (the torch axis)
      if (!is_runtime_name(w)) continue;
      if (std::find(pins.torches.begin(), pins.torches.end(), rt.torch) == pins.torches.end())
        throw Error("torch " + rt.torch + " is not one of matrix/pins.toml's torches");
      if (!pins.find(rt.release) && !sandbox_installed(rt.release)) continue;
      all.push_back({w, pins.extras_for(rt.release), rt.release + " under torch " + rt.torch});
    } else if (Version::parse(w) && sandbox_installed(w)) {
      all.push_back({w, pins.extras_for(w), "not pinned: installed on demand"});
    }
  }
  return all;
}

std::vector<Release> select_releases(const Pins& pins, const std::vector<std::string>& wanted) {
  try {
    return select_by_name(with_installed(pins, wanted), wanted, [](const Release& r) { return r.version; }, "release");
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "; a release that is not pinned is taken once installed (`xcompat install V`)");
  }
}

}  // namespace xcompat

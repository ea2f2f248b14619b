#include "harness/core/pins.hpp"

#include <fmt/format.h>

#include <set>

#include "harness/core/error.hpp"
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
  for (auto& r : release_list) {
    Release rel;
    rel.version = require_string(r, "version", where + " [[release]]");
    rel.reason = r.value("reason", "");
    for (auto& e : r.value("extras", json::array())) rel.extras.push_back(e.get<std::string>());  // copy: safe
    if (!seen.insert(rel.version).second) throw Error(where + ": release " + rel.version + " pinned twice");
    pins.releases.push_back(std::move(rel));
  }
  if (pins.releases.empty()) throw Error(where + ": no [[release]] entries");
  for (auto& e : j.value("era_extras", json::array())) {
    EraExtras era;
    era.from = require_string(e, "from", where + " [[era_extras]]");
    era.until = e.value("until", "");
    for (auto& p : e.value("packages", json::array())) era.packages.push_back(p.get<std::string>());
    if (!Version::parse(era.from) || (!era.until.empty() && !Version::parse(era.until)))
      throw Error(fmt::format("{}: [[era_extras]] from {} until {}: releases are X.Y.Z", where, era.from, era.until));
    pins.era_extras.push_back(std::move(era));
  }
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

std::vector<std::string> Pins::extras_for(const std::string& version) const {
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
  for (auto& w : wanted)
    if (!pins.find(w) && Version::parse(w) && sandbox_installed(w))
      all.push_back({w, pins.extras_for(w), "not pinned: installed on demand"});
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

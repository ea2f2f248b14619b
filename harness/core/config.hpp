#pragma once
// The policy files: matrix/pins.toml (releases, tolerances, overrides) and
// fixtures/specs.toml (the spec catalogue). Parsed once, validated, then
// passed around as plain values.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xcompat {

using json = nlohmann::json;

struct Release {
  std::string version;
  std::vector<std::string> extras;
  std::string reason;
};

struct Tolerance {
  double rtol = 1.3e-6;
  double atol = 1e-5;
  double nmse = 1e-9;
  std::string reason;  // non-empty for an override

  json to_json() const;
  static Tolerance from_json(const json& j);
};

struct ToleranceOverride {
  std::string spec, consumer;
  Tolerance tolerance;
};

struct Pins {
  std::string torch;
  std::vector<Release> releases;
  std::map<std::string, Tolerance> tolerances;  // by dtype
  std::vector<ToleranceOverride> overrides;

  const Release* find(const std::string& version) const;
  // The policy for one cell: the dtype's default unless an override names
  // this (spec, consumer).
  Tolerance tolerance_for(const std::string& spec, const std::string& consumer,
                          const std::string& dtype) const;
};

struct Spec {
  std::string name;
  json definition;  // the [[spec]] table as JSON, passed verbatim to workers
  std::string dtype() const { return definition.value("dtype", "float32"); }
  std::vector<std::string> features() const;
  // sha256 of the canonical JSON: part of every fixture's cache key.
  std::string content_hash() const;
};

// Throw Error naming the file and the offending entry.
Pins load_pins(const std::filesystem::path& path);
std::vector<Spec> load_specs(const std::filesystem::path& path);

// Keep the entries whose name is in `wanted` (all when empty); an unknown
// name is an Error listing what is known.
std::vector<Release> select_releases(const Pins& pins, const std::vector<std::string>& wanted);
std::vector<Spec> select_specs(const std::vector<Spec>& specs, const std::vector<std::string>& wanted);

}  // namespace xcompat

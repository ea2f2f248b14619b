#pragma once
// The pins: matrix/pins.toml (releases, the torch pin, tolerances and their
// overrides). Parsed once, validated, then passed around as plain values.
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
  std::string spec;      // a spec name, or "*": every spec of the consumer
  std::string consumer;  // a release, cpp-native, or an own-model check (cpp-export, ...)
  std::string dtype;     // empty: every dtype
  Tolerance tolerance;
};

// The extras of every release in [from, until] (until empty: no end) that
// is not pinned.
struct EraExtras {
  std::string from, until;
  std::vector<std::string> packages;
};

// What a default sweep gives a deployment consumer (cpp-torchscript,
// cpp-export): exporting can be slow, so a stated subset. Empty: every spec
// (or dtype). Naming the consumer (`--consumer cpp-export`) sweeps all.
struct DeploySubset {
  std::vector<std::string> specs, dtypes;
  std::string reason;
};

struct Pins {
  std::string torch;                // the default torch (the venv's)
  std::vector<std::string> torches;  // every torch a sweep may run under (harness/core/runtime.hpp)
  std::vector<Release> releases;
  std::vector<EraExtras> era_extras;
  std::vector<std::string> dtypes = {"float32"};  // the dtype axis of a default sweep
  std::map<std::string, Tolerance> tolerances;  // by dtype
  std::vector<ToleranceOverride> overrides;
  std::map<std::string, DeploySubset> deploy;  // by consumer: "cpp-torchscript", "cpp-export"

  const Release* find(const std::string& version) const;
  // A pinned release's own extras, else those of its era.
  std::vector<std::string> extras_for(const std::string& version) const;
  // The policy for one cell: the dtype's default unless an override names
  // this (spec, consumer).
  Tolerance tolerance_for(const std::string& spec, const std::string& consumer,
                          const std::string& dtype) const;
};

// Throws Error naming the file and the offending entry.
Pins load_pins(const std::filesystem::path& path);

// Keep the releases named in `wanted` (all pins when empty); a release that
// is not pinned but installed (`xcompat install`) is taken when named; an
// unknown name is an Error listing what is known.
std::vector<Release> select_releases(const Pins& pins, const std::vector<std::string>& wanted);
// The pins plus the installed releases among `wanted` that are not pinned.
std::vector<Release> with_installed(const Pins& pins, const std::vector<std::string>& wanted);

}  // namespace xcompat

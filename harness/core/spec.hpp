#pragma once
// The spec catalogue: fixtures/specs.toml (or a user's --specs-file). A spec
// is a named model configuration; its definition travels to workers as JSON.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xcompat {

using json = nlohmann::json;

struct Spec {
  std::string name;
  json definition;  // the [[spec]] table as JSON, passed verbatim to workers
  // The dtype a variant computes in ("float32" unless variant() set another).
  std::string dtype() const { return definition.value("dtype", "float32"); }
  // The dtypes this spec is swept in: `wanted` (the plan's), narrowed by the
  // spec's own `dtypes = [...]` when it has one.
  std::vector<std::string> dtypes(const std::vector<std::string>& wanted) const;
  // The spec computed in `dtype`: the definition workers receive (its
  // `dtypes` list dropped, `dtype` set), under the same name.
  Spec variant(const std::string& dtype) const;
  std::vector<std::string> features() const;
  // sha256 of the canonical JSON: part of every fixture's cache key.
  std::string content_hash() const;
};

// Throws Error naming the file and the offending entry.
std::vector<Spec> load_specs(const std::filesystem::path& path);

// Keep the specs named in `wanted` (all when empty); an unknown name is an
// Error listing what is known.
std::vector<Spec> select_specs(const std::vector<Spec>& specs, const std::vector<std::string>& wanted);

}  // namespace xcompat

#pragma once
// Shared by the [release] tests that work on one fixture through the binary.
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "harness/core/version.hpp"
#include "matrix/store.hpp"
#include "support.hpp"

namespace xcompat::test {

// The float32 fixture `release` makes of `spec` (made in `state` unless cached there): its directory.
inline std::filesystem::path made_fixture(const TempDir& state, const std::string& release, const std::string& spec) {
  auto made = xcompat(state.path, "fixtures --json --dtype float32 --release " + release + " --spec " + spec);
  INFO(made.out);
  REQUIRE(made.exit_code == 0);
  const nlohmann::json listing = nlohmann::json::parse(made.out);
  REQUIRE(listing["fixtures"][0]["state"] == "fixture");
  return listing["fixtures"][0]["dir"].get<std::string>();
}

// Every cell of a matrix file as of its latest run, by `name(key)`.
inline std::map<std::string, CellResult> cells_by(const std::filesystem::path& db,
                                                 const std::function<std::string(const CellKey&)>& name) {
  std::map<std::string, CellResult> out;
  Store s(db.string(), false);
  for (auto& r : s.matrix_as_of()) out[name(r.cell.key)] = r.cell;
  return out;
}

// Whether a fingerprint's ranges (its --json) hold `release`.
inline bool in_ranges(const nlohmann::json& fp, const std::string& release) {
  const auto v = *Version::parse(release);
  for (auto& r : fp["ranges"])
    if (*Version::parse(r["first"].get<std::string>()) <= v && v <= *Version::parse(r["last"].get<std::string>()))
      return true;
  return false;
}


// Every cell's outcome, exactly: verdicts, metrics as stored (doubles), the
// converted path's outcome and verdict, the load report.
inline nlohmann::json matrix_of(const std::filesystem::path& db) {
  Store s(db.string(), false);
  nlohmann::json out = nlohmann::json::object();
  for (auto& r : s.matrix_as_of()) {
    const CellResult& c = r.cell;
    nlohmann::json cell = {{"verdict", verdict_name(c.verdict)}, {"load_report", c.load_report.to_json()}};
    if (c.metrics) cell["metrics"] = c.metrics->to_json();
    if (c.direct_verdict) cell["direct"] = verdict_name(*c.direct_verdict);
    if (!c.conversion.is_null())
      cell["conversion"] = {{"outcome", c.conversion.value("outcome", "")}, {"verdict", c.conversion.value("verdict", "")},
                            {"metrics", c.conversion.value("metrics", nlohmann::json())}};
    out[c.key.str()] = cell;
  }
  return out;
}

}  // namespace xcompat::test

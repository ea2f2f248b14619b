#include "reports/known_breaks.hpp"

#include <fmt/format.h>

#include <chrono>
#include <regex>

#include "harness/core/error.hpp"
#include "harness/core/toml_file.hpp"

namespace xcompat {

using json = nlohmann::json;

bool KnownBreak::matches(const CellKey& key) const {
  auto one = [](const std::string& pattern, const std::string& value) { return pattern == "*" || pattern == value; };
  return one(spec, key.spec) && one(producer, key.producer) && one(consumer, key.consumer);
}

std::vector<KnownBreak> load_known_breaks(const std::filesystem::path& path) {
  std::vector<KnownBreak> out;
  if (!std::filesystem::exists(path)) return out;
  const json j = parse_toml_file(path);
  require_known_fields(j, {"break"}, path.string());
  static const std::regex date(R"(\d{4}-\d{2}-\d{2})");
  int n = 0;
  for (auto& e : j.value("break", json::array())) {
    const std::string where = fmt::format("{}: break #{}", path.string(), ++n);
    require_known_fields(e, {"spec", "producer", "consumer", "reason", "expires"}, where);
    KnownBreak b;
    b.spec = e.value("spec", "*");
    b.producer = e.value("producer", "*");
    b.consumer = e.value("consumer", "*");
    b.reason = require_string(e, "reason", where);
    b.expires = require_string(e, "expires", where);
    if (!std::regex_match(b.expires, date)) throw Error(where + ": expires is YYYY-MM-DD, not '" + b.expires + "'");
    if (b.spec == "*" && b.producer == "*" && b.consumer == "*")
      throw Error(where + ": a break names at least one of spec, producer, consumer");
    out.push_back(std::move(b));
  }
  return out;
}

std::string utc_today() {
  const auto day = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  const std::chrono::year_month_day ymd{day};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()));
}

Expectation expectation_of(const CellResult& cell, const JunitBaseline& baseline) {
  for (auto& b : baseline.known) {
    if (!b.matches(cell.key)) continue;
    if (b.expired(baseline.today)) return {false, fmt::format("a known break expired on {}: {}", b.expires, b.reason)};
    return {true, fmt::format("known break until {}: {}", b.expires, b.reason)};
  }
  auto it = baseline.before.find(cell.key);
  if (it == baseline.before.end()) return {false, "a new failure (no result in the previous run)"};
  if (verdict_passes(it->second))
    return {false, fmt::format("a regression: {} in run {}", verdict_name(it->second), baseline.before_run)};
  if (it->second == Verdict::Unsupported) return {false, "a new failure (UNSUPPORTED in the previous run)"};
  // Failing before and failing now: the known state of the matrix.
  return {true, fmt::format("failing as in run {} ({})", baseline.before_run, verdict_name(it->second))};
}

}  // namespace xcompat

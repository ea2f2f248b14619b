// `xcompat history`: the release history (matrix/history.toml) as a table,
// the Markdown rule tables of docs/CONVERSION.md, or, with --coverage, each
// entry with the matrix cells whose conversion crosses it.
#include <fmt/format.h>

#include <iostream>

#include "harness/cli/commands.hpp"
#include "harness/convert/history.hpp"
#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"
#include "reports/conversion_sections.hpp"

namespace xcompat::cli {

int history(const Common& c, const HistoryArgs& a) {
  const ReleaseHistory& h = release_history();
  const bool markdown = a.format == "markdown" || a.format == "md";
  if (!a.coverage) {
    if (c.json) {
      json all = json::array();
      for (auto& ch : h.changes) all.push_back(ch.to_json());
      std::cout << json{{"source", default_history_path().string()}, {"sha256", h.source_hash}, {"changes", all}}.dump(2)
                << "\n";
    } else if (markdown) {
      std::cout << report::history_rules_markdown(h);
    } else {
      for (auto& ch : h.changes)
        fmt::print("{:<24} {:<10} {:<34} {}\n", ch.boundary(), ch.kind, ch.id, ch.reason);
      fmt::print("\n{} changes in {}\n", h.changes.size(), default_history_path().string());
    }
    return 0;
  }

  if (!fs::exists(c.db_path)) throw Error("no matrix at " + c.db_path + "; run `xcompat sweep` first (or pass --db)");
  Store store(c.db_path, false);
  const auto data = report::load_report_data(store);
  const auto cov = report::history_coverage(h, data.current);
  int flagged = 0;
  for (auto& e : cov) flagged += e.flagged();
  if (c.json) {
    json rows = json::array();
    for (auto& e : cov)
      rows.push_back({{"id", e.change->id}, {"boundary", e.change->boundary()}, {"crossed", e.crossed},
                      {"converted", e.converted}, {"lossy", e.lossy}, {"specs", e.specs}, {"flagged", e.flagged()}});
    std::cout << json{{"entries", rows}, {"flagged", flagged}}.dump(2) << "\n";
  } else if (markdown) {
    std::cout << report::coverage_markdown(data, h);
  } else {
    fmt::print("{:<34} {:<24} {:>8} {:>10} {:>6}  {}\n", "entry", "boundary", "crossing", "CONVERTED", "lossy",
               "CONVERTED specs");
    for (auto& e : cov) {
      std::string specs;
      for (auto& s : e.specs) specs += (specs.empty() ? "" : ", ") + s;
      fmt::print("{:<34} {:<24} {:>8} {:>10} {:>6}  {}{}\n", e.change->id, e.change->boundary(), e.crossed,
                 e.converted, e.lossy, specs, e.flagged() ? "(flagged: no CONVERTED cell exercises it)" : "");
    }
    fmt::print("\n{} of {} entries exercised by a CONVERTED cell in {}\n", cov.size() - flagged, cov.size(),
               c.db_path);
  }
  return a.strict && flagged ? 1 : 0;
}

}  // namespace xcompat::cli

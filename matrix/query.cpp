#include "matrix/query.hpp"

#include <fmt/format.h>

#include <map>

namespace xcompat {

using json = nlohmann::json;

namespace {
std::string direct_conclusion(const CellResult& c);
}

std::string conclude(const CellResult& c) {
  if (!c.direct_verdict) return direct_conclusion(c);
  if (c.verdict == Verdict::Converted) return "safe after conversion (" + c.conversion_line() + ")";
  if (c.verdict == Verdict::Adapted) return "safe with an adapter (" + c.conversion_line() + ")";
  CellResult direct = c;
  direct.verdict = *c.direct_verdict;
  std::string s = direct_conclusion(direct) + "; converted: " + c.conversion_line();
  // A conversion that carries every weight can still miss by rounding.
  if (c.causes.is_array())
    for (auto& cause : c.causes)
      if (cause.value("kind", "") == "rounding" && cause.value("detail", "").rfind("converted", 0) == 0)
        s += " (the releases round differently: " + cause.value("change", "") + ")";
  return s;
}

namespace {
std::string direct_conclusion(const CellResult& c) {
  switch (c.verdict) {
    case Verdict::Identical: return "safe: loads strictly, outputs bitwise identical";
    case Verdict::Close:
      return fmt::format("safe within tolerance: nmse {:.2g}, max abs {:.2g}{}", c.metrics ? c.metrics->nmse : 0.0,
                         c.metrics ? c.metrics->max_abs : 0.0,
                         c.tolerance_override.empty() ? "" : " (override: " + c.tolerance_override + ")");
    case Verdict::Converted: return "safe after conversion";
    case Verdict::Adapted: return "safe with an adapter";
    case Verdict::Drift:
      if (!c.metrics) return "breaks: loads, but " + c.error;
      return fmt::format("breaks: loads without error but computes something else (nmse {:.2g}, top-1 {:.0f}%)",
                         c.metrics->nmse, 100 * c.metrics->top1);
    case Verdict::LoadFail: {
      if (c.causes.is_array())
        for (auto& cause : c.causes)
          if (cause.value("kind", "") == "unbuildable") return "breaks: " + c.error.substr(0, 200);
      const auto& r = c.load_report;
      std::string first = !r.missing.empty() ? "missing " + r.missing.front()
                          : !r.unexpected.empty() ? "unexpected " + r.unexpected.front()
                          : !r.misshaped.empty() ? "mis-shaped " + r.misshaped.front() : c.error.substr(0, 120);
      return fmt::format("breaks: strict load fails ({} missing, {} unexpected, {} mis-shaped keys; e.g. {})",
                         r.missing.size(), r.unexpected.size(), r.misshaped.size(), first);
    }
    case Verdict::Error: return "breaks: " + c.error.substr(0, c.error.find('\n')).substr(0, 200);
    case Verdict::Unsupported: return "not comparable: " + c.error.substr(0, 200);
  }
  return "";
}
}  // namespace

UpgradeAnswer upgrade_summary(const std::vector<const CellResult*>& cells, const std::string& from,
                              const std::string& to) {
  UpgradeAnswer a;
  a.from = from;
  a.to = to;
  bool all_identical = true, any_converted = false, any_adapted = false;
  for (const CellResult* c : cells) {
    if (c->verdict != Verdict::Identical && c->verdict != Verdict::Unsupported) all_identical = false;
    any_converted |= c->verdict == Verdict::Converted;
    any_adapted |= c->verdict == Verdict::Adapted;
    if (c->verdict == Verdict::Unsupported) continue;
    ++a.comparable;
    if (verdict_passes(c->verdict)) ++a.passing;
    if (c->verdict == Verdict::LoadFail) a.any_load_fail = true;
  }
  if (cells.empty() || a.comparable == 0) a.overall = "no data";
  else if (a.passing == a.comparable && !a.any_load_fail) a.overall = all_identical   ? "safe"
                                                                        : any_adapted   ? "safe with an adapter"
                                                                        : any_converted ? "safe after conversion"
                                                                                        : "safe within tolerance";
  else a.overall = "breaks";
  return a;
}

UpgradeAnswer upgrade_answer(const std::vector<StoredResult>& matrix, const std::string& from, const std::string& to,
                             const std::string& spec) {
  std::vector<const CellResult*> cells;
  for (auto& r : matrix) {
    const CellResult& c = r.cell;
    if (c.key.producer != from || c.key.consumer != to || (!spec.empty() && c.key.spec != spec)) continue;
    cells.push_back(&c);
  }
  UpgradeAnswer a = upgrade_summary(cells, from, to);
  for (const CellResult* c : cells) a.rows.push_back({*c, conclude(*c)});
  return a;
}

TorchUpgrade compare_across_torches(const std::vector<const CellResult*>& across,
                                    const std::vector<const CellResult*>& within) {
  auto slot = [](const CellKey& k) { return k.spec + "|" + k.dtype + "|" + k.checkpoint + "|" + k.device; };
  std::map<std::string, Verdict> before;
  for (const CellResult* c : within) before[slot(c->key)] = c->verdict;
  TorchUpgrade t;
  for (const CellResult* c : across) {
    const auto it = before.find(slot(c->key));
    const bool same = it != before.end() && it->second == c->verdict;
    if (verdict_passes(c->verdict) && (same || it == before.end())) ++t.passing;
    else if (same) ++t.failing_as_before;
    else t.changed.push_back({c->key, it == before.end() ? std::nullopt : std::optional{it->second}, c->verdict});
  }
  return t;
}

std::string TorchUpgrade::verdict() const {
  return changed.empty() ? "keeps every spec" : fmt::format("changes {} cell(s)", changed.size());
}

json UpgradeAnswer::to_json() const {
  json rows_j = json::array();
  for (auto& r : rows) {
    json j = r.cell.to_json();
    j["conclusion"] = r.conclusion;
    rows_j.push_back(j);
  }
  return {{"from", from}, {"to", to}, {"overall", overall}, {"score", score()}, {"comparable", comparable},
          {"passing", passing}, {"specs", rows_j}};
}

}  // namespace xcompat

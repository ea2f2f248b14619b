#include "harness/core/cell.hpp"

#include <fmt/format.h>

#include "harness/core/error.hpp"

namespace xcompat {

using json = nlohmann::json;

Verdict verdict_from_name(const std::string& name) {
  for (auto& v : kVerdicts)
    if (name == v.name) return v.verdict;
  throw Error("unknown verdict '" + name + "'");
}

std::string verdict_letters() {
  std::string s;
  for (auto& v : kVerdicts) s += v.letter;
  return s;
}

std::string nmse_band(double nmse) {
  if (nmse == 0) return "0";
  if (nmse < 1e-6) return "<1e-6";
  if (nmse < 1e-4) return "<1e-4";
  if (nmse < 1e-3) return "<1e-3";
  if (nmse < 1e-2) return "<1e-2";
  return "worse";
}

json Metrics::to_json() const {
  return {{"max_abs", max_abs}, {"max_rel", max_rel}, {"mean_abs", mean_abs}, {"nmse", nmse},
          {"nmse_band", nmse_band(nmse)}, {"cosine", cosine}, {"top1", top1}, {"bitwise", bitwise}};
}

Metrics Metrics::from_json(const json& j) {
  Metrics m;
  m.max_abs = j.value("max_abs", 0.0);
  m.max_rel = j.value("max_rel", 0.0);
  m.mean_abs = j.value("mean_abs", 0.0);
  m.nmse = j.value("nmse", 0.0);
  m.cosine = j.value("cosine", 1.0);
  m.top1 = j.value("top1", 1.0);
  m.bitwise = j.value("bitwise", false);
  return m;
}

json LoadReport::to_json() const {
  return {{"missing", missing}, {"unexpected", unexpected}, {"misshaped", misshaped}};
}

LoadReport LoadReport::from_json(const json& j) {
  LoadReport r;
  if (!j.is_object()) return r;
  r.missing = j.value("missing", std::vector<std::string>{});
  r.unexpected = j.value("unexpected", std::vector<std::string>{});
  // "mismatched" is what databases before schema 4 hold.
  r.misshaped = j.value("misshaped", j.value("mismatched", std::vector<std::string>{}));
  return r;
}

std::string CellResult::line() const {
  std::string s = fmt::format("{} {} -> {}: {}", key.spec, key.producer, key.consumer, verdict_name(verdict));
  if (metrics) s += fmt::format(" (nmse {:.3g}, max_abs {:.3g})", metrics->nmse, metrics->max_abs);
  if (verdict == Verdict::LoadFail)
    s += fmt::format(" (missing {}, unexpected {}, mis-shaped {})", load_report.missing.size(),
                     load_report.unexpected.size(), load_report.misshaped.size());
  if ((verdict == Verdict::Error || verdict == Verdict::Unsupported) && !error.empty()) {
    auto first = error.substr(0, error.find('\n'));
    s += " (" + first.substr(0, 160) + ")";
  }
  if (flaky) s += " [flaky]";
  return s;
}

json CellResult::to_json() const {
  json j = {{"spec", key.spec}, {"producer", key.producer}, {"consumer", key.consumer},
            {"device", key.device}, {"dtype", key.dtype}, {"verdict", verdict_name(verdict)},
            {"latency_ms", latency_ms}, {"load_report", load_report.to_json()}, {"error", error},
            {"cache_key", cache_key}, {"flaky", flaky}};
  j["metrics"] = metrics ? metrics->to_json() : json(nullptr);
  if (!tolerance_override.empty()) j["tolerance_override"] = tolerance_override;
  return j;
}

}  // namespace xcompat

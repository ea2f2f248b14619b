#include "harness/core/cell.hpp"

#include <fmt/format.h>

#include <cmath>
#include <set>

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
  if (std::isnan(nmse)) return "NaN";
  if (nmse == 0) return "0";
  if (nmse < 1e-6) return "<1e-6";
  if (nmse < 1e-4) return "<1e-4";
  if (nmse < 1e-3) return "<1e-3";
  if (nmse < 1e-2) return "<1e-2";
  return "worse";
}

json figure_to_json(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

double figure_from_json(const json& j, double fallback) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s == "NaN") return NAN;
    if (s == "Infinity") return INFINITY;
    if (s == "-Infinity") return -INFINITY;
    throw Error("not a figure: '" + s.substr(0, 40) + "'");
  }
  if (j.is_null()) return NAN;  // what JSON writers make of NaN
  return fallback;
}

json Metrics::to_json() const {
  return {{"max_abs", figure_to_json(max_abs)}, {"max_rel", figure_to_json(max_rel)},
          {"mean_abs", figure_to_json(mean_abs)}, {"nmse", figure_to_json(nmse)}, {"nmse_band", nmse_band(nmse)},
          {"cosine", figure_to_json(cosine)},    {"top1", figure_to_json(top1)},   {"bitwise", bitwise}};
}

Metrics Metrics::from_json(const json& j) {
  Metrics m;
  auto figure = [&](const char* key, double fallback) {
    return j.contains(key) ? figure_from_json(j[key], fallback) : fallback;
  };
  m.max_abs = figure("max_abs", 0.0);
  m.max_rel = figure("max_rel", 0.0);
  m.mean_abs = figure("mean_abs", 0.0);
  m.nmse = figure("nmse", 0.0);
  m.cosine = figure("cosine", 1.0);
  m.top1 = figure("top1", 1.0);
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

std::string CellKey::str() const {
  return fmt::format("{} {} -> {} [{} {} {}]", spec, producer, consumer, device, dtype, checkpoint);
}

std::string CellResult::line() const {
  std::string s = fmt::format("{} {} -> {}", key.spec, key.producer, key.consumer);
  // The default axes stay implicit, so the line is short and re-runnable.
  std::string axes;
  if (key.device != "cpu") axes += key.device;
  if (key.dtype != "float32") axes += (axes.empty() ? "" : " ") + key.dtype;
  if (key.checkpoint != "pt") axes += (axes.empty() ? "" : " ") + key.checkpoint;
  if (!axes.empty()) s += " [" + axes + "]";
  s += fmt::format(": {}", verdict_name(verdict));
  // A converted cell's own figures are the direct path's: shown with it, below.
  if (metrics && !direct_verdict) s += fmt::format(" (nmse {:.3g}, max_abs {:.3g})", metrics->nmse, metrics->max_abs);
  if (verdict == Verdict::LoadFail && !direct_verdict)
    s += fmt::format(" (missing {}, unexpected {}, mis-shaped {})", load_report.missing.size(),
                     load_report.unexpected.size(), load_report.misshaped.size());
  if ((verdict == Verdict::Error || verdict == Verdict::Unsupported || verdict == Verdict::Drift) && !error.empty()) {
    auto first = error.substr(0, error.find('\n'));
    s += " (" + first.substr(0, 160) + ")";
  }
  if (direct_verdict) {
    std::string direct = verdict_name(*direct_verdict);
    if (metrics) direct += fmt::format(" (nmse {:.3g}, max_abs {:.3g})", metrics->nmse, metrics->max_abs);
    if (*direct_verdict == Verdict::LoadFail)
      direct += fmt::format(" (missing {}, unexpected {}, mis-shaped {})", load_report.missing.size(),
                            load_report.unexpected.size(), load_report.misshaped.size());
    s += " [direct " + direct + "; conversion " + conversion_line() + "]";
  }
  if (flaky) s += " [flaky]";
  return s;
}

std::string CellResult::path_letters() const {
  if (!direct_verdict) return std::string(1, verdict_letter(verdict));
  std::string converted = "\u00d7";
  if (conversion.is_object() && conversion.contains("verdict") && conversion["verdict"].is_string()) {
    try {
      converted = std::string(1, verdict_letter(verdict_from_name(conversion["verdict"].get<std::string>())));
      if (verdict == Verdict::Converted || verdict == Verdict::Adapted)
        converted = std::string(1, verdict_letter(verdict));
    } catch (const std::exception&) {
    }
  }
  return std::string(1, verdict_letter(*direct_verdict)) + "\u2192" + converted;
}

std::string CellResult::conversion_line() const {
  if (!conversion.is_object()) return "";
  const std::string outcome = conversion.value("outcome", "?");
  if (outcome == "refused") return "refused: " + conversion.value("refused", "");
  std::string s = outcome;
  const auto changes = conversion.value("changes", json::array());
  s += fmt::format(", {} change{}", changes.size(), changes.size() == 1 ? "" : "s");
  const json args = conversion.value("args", json::object());
  if (!args.empty()) s += ", B built with " + args.dump();
  std::vector<std::string> lost;
  for (auto& l : conversion.value("lost", json::array()))
    if (l.is_string()) lost.push_back(l.get<std::string>());
  if (!lost.empty()) s += fmt::format(" (lost: {})", fmt::join(lost, "; "));
  if (conversion.contains("verdict")) s += ": " + conversion.value("verdict", "");
  // The adapted path, tried when the plain conversion is lossy.
  const json adapted = conversion.value("adapted", json::object());
  if (adapted.contains("adapters") && !adapted["adapters"].empty()) {
    std::set<std::string> kinds;
    for (auto& a : adapted["adapters"])
      if (a.is_array() && a.size() > 1 && a[1].is_string()) kinds.insert(a[1].get<std::string>());
    s += fmt::format("; with {} adapter{} ({})", adapted["adapters"].size(), adapted["adapters"].size() == 1 ? "" : "s",
                     fmt::join(kinds, ", "));
    if (adapted.value("outcome", "") != "lossless with an adapter"  // conversion_outcome_name(Adapted): core does not link convert/
) s += ", still " + adapted.value("outcome", "?");
    if (adapted.contains("verdict")) s += ": " + adapted.value("verdict", "");
  }
  return s;
}

std::string CellResult::convert_command() const {
  if (!conversion.is_object() || conversion.value("outcome", "") == "refused") return "";
  if (verdict == Verdict::Adapted) return conversion.value("adapted", json::object()).value("command", "");
  return conversion.value("command", "");
}

json CellResult::to_json() const {
  json j = {{"spec", key.spec}, {"producer", key.producer}, {"consumer", key.consumer},
            {"device", key.device}, {"dtype", key.dtype}, {"checkpoint", key.checkpoint},
            {"verdict", verdict_name(verdict)},
            {"latency_ms", latency_ms}, {"load_report", load_report.to_json()}, {"error", error},
            {"cache_key", cache_key}, {"flaky", flaky}, {"reused", reused}};
  if (direct_verdict) j["direct_verdict"] = verdict_name(*direct_verdict);
  if (!conversion.is_null()) j["conversion"] = conversion;
  if (!causes.is_null()) j["causes"] = causes;
  j["metrics"] = metrics ? metrics->to_json() : json(nullptr);
  if (!tolerance_override.empty()) j["tolerance_override"] = tolerance_override;
  if (!warnings.empty()) j["warnings"] = warnings;
  return j;
}

CellResult CellResult::from_json(const json& j) {
  CellResult c;
  c.key = {j.value("spec", ""), j.value("producer", ""), j.value("consumer", ""), j.value("device", "cpu"),
           j.value("dtype", "float32"), j.value("checkpoint", "pt")};
  c.verdict = verdict_from_name(j.value("verdict", "ERROR"));
  if (j.contains("metrics") && j["metrics"].is_object()) c.metrics = Metrics::from_json(j["metrics"]);
  c.latency_ms = j.value("latency_ms", 0.0);
  if (j.contains("load_report")) c.load_report = LoadReport::from_json(j["load_report"]);
  c.error = j.value("error", "");
  c.cache_key = j.value("cache_key", "");
  c.flaky = j.value("flaky", false);
  c.reused = j.value("reused", false);
  if (j.contains("direct_verdict")) c.direct_verdict = verdict_from_name(j["direct_verdict"].get<std::string>());
  if (j.contains("conversion")) c.conversion = j["conversion"];
  if (j.contains("causes")) c.causes = j["causes"];
  c.tolerance_override = j.value("tolerance_override", "");
  if (j.contains("warnings") && j["warnings"].is_array())
    for (auto& w : j["warnings"])
      if (w.is_string()) c.warnings.push_back(w.get<std::string>());
  return c;
}

}  // namespace xcompat

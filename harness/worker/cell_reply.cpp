#include "harness/worker/cell_reply.hpp"

#include "harness/checkpoint/safetensors.hpp"
#include "harness/core/compare.hpp"
#include "harness/core/error.hpp"

namespace xcompat {

using json = nlohmann::json;

CellReply CellReply::load_fail(const LoadReport& report, std::string error) {
  CellReply r;
  r.verdict = Verdict::LoadFail;
  r.load_report = report;
  r.error = std::move(error);
  return r;
}

CellReply CellReply::unsupported(std::string reason) {
  CellReply r;
  r.verdict = Verdict::Unsupported;
  r.error = std::move(reason);
  return r;
}

json CellReply::to_json() const {
  json j = {{"verdict", verdict_name(verdict)}, {"load_report", load_report.to_json()}, {"timing", timing}};
  if (metrics) j["metrics"] = metrics->to_json();
  if (!error.empty()) j["error"] = error;
  if (latency_ms > 0) j["latency_ms"] = latency_ms;
  return j;
}

CellReply CellReply::from_json(const json& b) {
  if (!b.is_object() || !b.contains("verdict") || !b["verdict"].is_string())
    throw Error("an evaluate reply without a verdict");
  try {
    return from_json_fields(b);
  } catch (const json::exception& e) {  // a field of the wrong type: the reply, not the sweep, is broken
    throw Error(std::string("an evaluate reply with a malformed field: ") + e.what());
  }
}

CellReply CellReply::from_json_fields(const json& b) {
  for (const char* table : {"metrics", "load_report", "timing"})
    if (b.contains(table) && !b[table].is_object() && !b[table].is_null())
      throw Error(std::string("an evaluate reply whose '") + table + "' is not an object");
  CellReply r;
  r.verdict = verdict_from_name(b["verdict"].get<std::string>());
  if (b.contains("metrics") && b["metrics"].is_object()) r.metrics = Metrics::from_json(b["metrics"]);
  r.load_report = LoadReport::from_json(b.value("load_report", json::object()));
  r.error = b.value("error", "");
  r.latency_ms = b.value("latency_ms", 0.0);
  r.timing = b.value("timing", json::object());
  return r;
}

CellResult CellReply::result(const CellKey& key) const {
  CellResult c;
  c.key = key;
  c.verdict = verdict;
  c.metrics = metrics;
  c.latency_ms = latency_ms;
  c.load_report = load_report;
  c.error = error;
  return c;
}

CellReply judge_cell_output(const TensorData& logits, double latency_ms, const LoadReport& report,
                            const std::filesystem::path& fixture_dir, const json& request) {
  return judge_against(logits, latency_ms, report, fixture_dir / "outputs.safetensors", request);
}

CellReply judge_against(const TensorData& logits, double latency_ms, const LoadReport& report,
                        const std::filesystem::path& reference_file, const json& request) {
  const auto ref_map = read_safetensors(reference_file);
  auto it = ref_map.find("logits");
  if (it == ref_map.end()) throw Error(reference_file.string() + " has no reference 'logits'");
  const Tolerance tol = Tolerance::from_json(request.value("tolerance", json::object()));
  CellReply reply;
  reply.latency_ms = latency_ms;
  reply.load_report = report;
  const Comparison c = compare_and_judge(logits, it->second, tol);
  reply.verdict = c.verdict;
  reply.metrics = c.metrics;
  reply.error = c.reason;
  return reply;
}

}  // namespace xcompat

#include "harness/worker/cell_eval.hpp"

#include "harness/checkpoint/safetensors.hpp"
#include "harness/core/compare.hpp"
#include "harness/core/error.hpp"

namespace xcompat {

using json = nlohmann::json;

json judge_cell_output(const TensorData& logits, double latency_ms, const LoadReport& report,
                       const std::filesystem::path& fixture_dir, const json& request) {
  const auto ref_map = read_safetensors(fixture_dir / "outputs.safetensors");
  auto it = ref_map.find("logits");
  if (it == ref_map.end()) throw Error("fixture " + fixture_dir.string() + " has no reference 'logits'");
  const Tolerance tol = Tolerance::from_json(request.value("tolerance", json::object()));
  json reply = {{"latency_ms", latency_ms}, {"load_report", report.to_json()}};
  try {
    auto c = compare_and_judge(logits, it->second, tol);
    reply["verdict"] = verdict_name(c.verdict);
    reply["metrics"] = c.metrics.to_json();
  } catch (const Error& e) {  // shape differs: it loaded and ran, but computes something else
    reply["verdict"] = verdict_name(Verdict::Drift);
    reply["error"] = e.what();
  }
  return reply;
}

json load_fail_reply(const LoadReport& report, const std::string& error) {
  return {{"verdict", verdict_name(Verdict::LoadFail)}, {"load_report", report.to_json()}, {"error", error}};
}

json unsupported_reply(const std::string& reason) {
  return {{"verdict", verdict_name(Verdict::Unsupported)}, {"error", reason}};
}

}  // namespace xcompat

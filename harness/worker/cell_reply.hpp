#pragma once
// The evaluate reply, both sides of the protocol: what a consumer's worker
// answers for one cell, and how the sweep reads it back. Every consumer
// judges its forward output with judge_cell_output(), so one reference and
// one comparison decide every verdict.
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/core/cell.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat {

struct CellReply {
  Verdict verdict = Verdict::Error;
  std::optional<Metrics> metrics;
  LoadReport load_report;
  std::string error;
  double latency_ms = 0;
  nlohmann::json timing = nlohmann::json::object();  // build_ms, load_ms, forward_ms, compare_ms

  static CellReply load_fail(const LoadReport& report, std::string error);
  static CellReply unsupported(std::string reason);

  nlohmann::json to_json() const;                       // the reply body
  // Throws Error on a body without a verdict or with a field of the wrong type.
  static CellReply from_json(const nlohmann::json& body);
  // The cell's result: this reply's outcome under the cell's key.
  CellResult result(const CellKey& key) const;
 private:
  static CellReply from_json_fields(const nlohmann::json& body);
};

// A consumer's forward output judged against <fixture_dir>/outputs.safetensors
// ("logits") under the request's "tolerance".
CellReply judge_cell_output(const TensorData& logits, double latency_ms, const LoadReport& report,
                            const std::filesystem::path& fixture_dir, const nlohmann::json& request);
// The same against another reference file ("logits" in it): a deployment
// artifact's probe outputs.
CellReply judge_against(const TensorData& logits, double latency_ms, const LoadReport& report,
                        const std::filesystem::path& reference_file, const nlohmann::json& request);

}  // namespace xcompat

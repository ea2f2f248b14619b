#pragma once
// What every consumer's worker does with its forward output: compare it to
// the fixture's reference outputs and judge it under the request's tolerance.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "harness/core/cell.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat {

// The "evaluate" reply body for a consumer output. Reads the reference from
// <fixture_dir>/outputs.safetensors ("logits"). request carries "tolerance".
nlohmann::json judge_cell_output(const TensorData& logits, double latency_ms, const LoadReport& report,
                                 const std::filesystem::path& fixture_dir, const nlohmann::json& request);

// Reply bodies for the outcomes that have no output.
nlohmann::json load_fail_reply(const LoadReport& report, const std::string& error);
nlohmann::json unsupported_reply(const std::string& reason);

}  // namespace xcompat

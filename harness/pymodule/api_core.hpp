#pragma once
// The Python module's entry points without Python: what module.cpp binds and
// tests/fuzz/fuzz_api.cpp drives with arbitrary input. Every refusal is an
// xcompat::Error (UnknownRelease, CheckpointError...), never a crash.
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/convert/plan_models.hpp"

namespace xcompat::api {

// (name, dtype, shape) as the Python side lists a state dict.
using InfoTuple = std::tuple<std::string, std::string, std::vector<int64_t>>;

// Throws Error for a dtype no checkpoint format here holds, or an impossible shape.
std::vector<TensorInfo> tensor_infos(const std::vector<InfoTuple>& tuples);

// "X.Y.Z", else UnknownRelease naming the argument (`role`).
Version release_arg(const std::string& text, const std::string& role);

// xcompat.fingerprint(): the report as JSON, with `known` and `tensor_count`.
nlohmann::json fingerprint_state_dict(const std::vector<InfoTuple>& tensors, const std::string& record_json,
                                      const std::string& what, const std::string& key);

// xcompat.convert_state_dict()'s plan: the releases checked, the models found
// and planned (plan_models). `spec_json` "" when not known; `optimizer`
// "refuse", "keep" or "drop"; `from_source` "from_", "stamp", "meta.json".
PlannedModels plan_state_dict(const std::vector<InfoTuple>& tensors, const std::string& from,
                              const std::string& from_torch, const std::string& to, const std::string& spec_json,
                              const std::string& key, bool strict, const std::string& optimizer,
                              const std::string& what, const std::string& from_source, bool adapters = false);

// Whether an output is an input unchanged: the input's name, else "".
std::vector<std::pair<TensorInfo, std::string>> planned_outputs(const PlannedModels& planned);

}  // namespace xcompat::api

// libFuzzer target: the Python module's entry points (harness/pymodule/
// api_core.hpp) on arbitrary input, as a Python caller could hand them over:
// a JSON document {"tensors": [[name, dtype, shape], ...], "record": {...},
// "from": "X.Y.Z", "to": "X.Y.Z", "spec": {...}, "key": "...", "optimizer": "..."}.
// Every refusal must be an xcompat::Error (the module raises it as a typed
// exception); anything else escaping, or a sanitizer report, is a finding.
// Plans with small tensors are run on zeros, through the executor.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/core/error.hpp"
#include "harness/pymodule/api_core.hpp"

using json = nlohmann::json;
using namespace xcompat;

namespace {

std::vector<api::InfoTuple> tensors_of(const json& doc) {
  std::vector<api::InfoTuple> out;
  const json list = doc.value("tensors", json::array());
  if (!list.is_array()) return out;
  for (auto& t : list) {
    if (!t.is_array() || t.size() != 3 || !t[0].is_string() || !t[1].is_string() || !t[2].is_array()) continue;
    std::vector<int64_t> shape;
    for (auto& d : t[2])
      if (d.is_number_integer()) shape.push_back(d.get<int64_t>());
    out.emplace_back(t[0].get<std::string>(), t[1].get<std::string>(), shape);
  }
  return out;
}

std::string text_of(const json& doc, const char* field, const char* fallback) {
  return doc.contains(field) && doc[field].is_string() ? doc[field].get<std::string>() : fallback;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const json doc = json::parse(data, data + size, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return 0;
  const auto tensors = tensors_of(doc);
  const std::string record = doc.contains("record") ? doc["record"].dump() : "";
  const std::string spec = doc.contains("spec") ? doc["spec"].dump() : "";
  const std::string key = text_of(doc, "key", "");
  try {
    api::fingerprint_state_dict(tensors, record, "state dict", key);
  } catch (const Error&) {
  }
  try {
    // Adapters asked for or not, decided by the input (both paths fuzzed).
    const bool adapters = tensors.size() % 2 == 1;
    PlannedModels planned = api::plan_state_dict(tensors, text_of(doc, "from", "0.28.4"), text_of(doc, "torch", ""),
                                                 text_of(doc, "to", "2.31.10"), spec, key, false,
                                                 text_of(doc, "optimizer", "keep"), "state dict", "from_", adapters);
    api::planned_outputs(planned);
    int64_t elements = 0;
    for (auto& t : planned.outputs) elements += *checked_numel(t.shape);
    if (elements > (1 << 20)) return 0;
    auto zeros_of = [&](std::size_t i) -> TensorSource {
      const LocatedModel& m = planned.model(i);
      return [&m](const std::string& name) {
        const TensorInfo* info = nullptr;
        for (auto& t : m.tensors)
          if (t.name == name) info = &t;
        TensorData d{info->dtype, info->shape, {}};
        d.bytes.resize(static_cast<std::size_t>(*checked_numel(info->shape)) * dtype_size(info->dtype));
        return d;
      };
    };
    settle_plans(planned, zeros_of);
    for (std::size_t i = 0; i < planned.chosen.size(); ++i)
      run_conversion(planned.result.models[i].plan, zeros_of(i), [](const TensorInfo&, const TensorData&) {});
  } catch (const Error&) {
  }
  return 0;
}

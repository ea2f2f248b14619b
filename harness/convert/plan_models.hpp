#pragma once
// The tensor-level half of a conversion, shared by `xcompat convert` (a
// file, convert_file.hpp) and the Python module (a state dict in memory):
// find every model among the tensors (or those under `key`), check each has
// release A's layout and fits the spec, plan each to release B, and decide
// what becomes of the tensors of no model (an optimizer state indexed by the
// parameters' order among them). plan_models reads no tensor data;
// settle_plans reads what the plans would drop or adapt.
#include <string>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/convert/convert_file.hpp"
#include "harness/convert/locate.hpp"

namespace xcompat {

struct ModelsRequest {
  std::string what;                 // names the input in messages: the file's path, or "state dict"
  std::vector<TensorInfo> tensors;  // as the input names them
  std::string key;                  // only the models under this place ("" : every model found)
  OptimizerState optimizer = OptimizerState::Refuse;
  ReleasePoint from, to;
  std::string from_source;          // "--from", "stamp", "meta.json", "from_"
  nlohmann::json spec;              // null when not known
  bool strict = false;
  bool adapters = false;            // accept adapters of B's model for what a drop would lose
};

struct PlannedModels {
  Located located;
  std::vector<std::size_t> chosen;  // indices into located.models, one per result.models entry
  ConvertResult result;             // models, plan, passed_through, optimizer, from_source, spec
  std::vector<TensorInfo> outputs;  // every tensor B's file holds, as the input names them: models' first

  const LocatedModel& model(std::size_t i) const { return located.models[chosen[i]]; }
};

// Throws Error (naming `what`) for no model, a layout that is not A's, a
// spec that does not fit, a refused conversion, a lossy one under `strict`,
// an optimizer state the conversion invalidates unless told what to do, two
// outputs of one name.
PlannedModels plan_models(const ReleaseHistory& history, const ModelsRequest& request);

// Reads what each model's plan would drop or adapt (measure_dropped):
// each model's lossy tensors and settled outcome, the outputs of adapters
// that turn out unneeded (their tensor holds what B implies) removed, and
// result.adapters listed with modules as the input names them. Call before
// B's index is written. `source_of(i)` reads model i's tensors.
void settle_plans(PlannedModels& planned, const std::function<TensorSource(std::size_t)>& source_of);

// The provenance written into B's file: the release converted from, the
// changes, B's arguments, the models' places, the spec as B builds it.
nlohmann::json conversion_record(const PlannedModels& planned, const std::string& source_sha256);

}  // namespace xcompat

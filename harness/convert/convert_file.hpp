#pragma once
// Converting a checkpoint file: plan from its tensor names and shapes,
// stream the tensors through the plan, write the result atomically with its
// provenance. What `xcompat convert` and the sweep's converted cells both run.
//
// Lifecycle of one conversion (each step can end it, and then no file exists):
//   opened (restricted reader) --producer known--> planned --not refused
//   (and not lossy under --strict)--> streamed --> committed (renamed into place)
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/convert/conversion.hpp"

namespace xcompat {

// What becomes of an optimizer state in the container (indexed by the
// parameters' order, which a conversion may change): refused unless said.
enum class OptimizerState { Refuse, Keep, Drop };

struct ConvertRequest {
  std::filesystem::path in, out;
  std::string key;              // only the models under this place in a container ("" : every model found)
  OptimizerState optimizer = OptimizerState::Refuse;
  std::optional<Version> from;  // else the file's stamp, else a meta.json beside it
  Version to;
  nlohmann::json spec;          // the model's spec definition, when known (heads, conditional changes)
  std::optional<std::pair<int, int>> from_torch;  // the torch that saved it, when known
  bool strict = false;          // refuse to write a lossy conversion
  bool adapters = false;        // keep what B's classes cannot hold for an adapter of B's model (--adapter)
  bool dry_run = false;         // plan only
};

// One model of the file, converted.
struct ModelConversion {
  std::string prefix;  // where it sits in the file
  std::string kind;    // TransformerWrapper, ...
  ConversionPlan plan;
  std::vector<std::pair<std::string, double>> lossy_tensors;
};

struct ConvertResult {
  ConversionPlan plan;                   // the first model's (the only one, for a plain state dict)
  // Every model's adapters, modules as the output file names them:
  // [{module, kind, shape, change, tensor}] (adapter_file.hpp writes them).
  nlohmann::json adapters = nlohmann::json::array();
  std::vector<ModelConversion> models;   // every model converted, by prefix
  std::vector<std::string> passed_through;  // tensors of no converted model, written as they were
  std::vector<std::string> optimizer;       // optimizer states found (their places), and what became of them
  std::string optimizer_action;             // "kept", "dropped", "" (none, or still valid)
  std::string container;                    // how OUT holds the tensors: "the same container shape", or "flat" and why
  std::vector<std::pair<std::string, double>> lossy_tensors;  // name, largest magnitude lost
  std::string source_sha256;
  std::string from_source;   // where A came from: "--from", "stamp", "meta.json"
  nlohmann::json record;     // the provenance written into OUT
  nlohmann::json spec;       // the spec the plan used (--spec, or the fixture's), null when none
  bool written = false;
  nlohmann::json to_json() const;
};

// The release and torch that saved a checkpoint, from its own stamp or a
// fixture's meta.json beside it; nullopt when neither says.
struct Provenance {
  Version release;
  std::optional<std::pair<int, int>> torch;
  std::string source;  // "stamp" or "meta.json"
  nlohmann::json spec; // meta.json's spec, when there is one
};
std::optional<Provenance> provenance_of(const std::filesystem::path& checkpoint);

// Throws Error (naming the file) for bad input: an unreadable or hostile
// file, a producer that cannot be told, a refused conversion, a lossy one
// under `strict`. Nothing is written then.
ConvertResult convert_file(const ReleaseHistory& history, const ConvertRequest& request);

}  // namespace xcompat

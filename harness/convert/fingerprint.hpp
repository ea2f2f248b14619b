#pragma once
// `xcompat fingerprint`: what a checkpoint is, from its tensor names, shapes
// and dtypes alone (no code in it runs): the model kind, the constructor
// arguments the tensors determine, and the published releases whose layout
// it has.
//
// Releases: the published versions between the history's oldest and newest
// fall into groups that name and shape tensors alike (every release between
// two layout changes of matrix/history.toml). A group matches when the
// checkpoint passes `layout_mismatches` at its first release (no key named
// as only older releases name it; every name survives a round trip through
// the newest release). Layouts that depended on torch (1.27.1 - 1.30.x) are
// tried under torch >= 2.1 and before.
//
// Arguments: the tensors are renamed to the newest release's layout by the
// conversion planner (from the newest matching group), and read there, so
// the rules below know one naming only. What leaves no tensor (causal
// masking, ALiBi, dropout, the heads when nothing is per head) is listed as
// ambiguous with the value assumed, never silently guessed.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/convert/conversion.hpp"
#include "harness/convert/locate.hpp"

namespace xcompat {

struct ReleaseRange {
  Version first, last;  // published releases, inclusive
  std::string torch;    // "" (any), "<2.1" or ">=2.1": the layout held only under such a torch
  bool contains(const Version& v) const { return first <= v && v <= last; }
  std::string str() const;  // "1.31.1 - 2.31.10", "1.27.1 - 1.30.23 (torch < 2.1)"
};

struct InferredArg {
  std::string section;  // "wrapper", "layers", "xtransformer"
  std::string name;
  nlohmann::json value;
  bool certain = true;  // false: assumed (the tensors allow others); `why` says
  std::string why;      // the tensor that tells, or why it is assumed
};

struct Fingerprint {
  std::string model;  // the spec's kind: "decoder" (or "encoder": causal leaves no tensor), "xtransformer",
                      // "continuous", "vit", "layers"
  std::string kind;     // the class: TransformerWrapper, XTransformer, ContinuousTransformerWrapper, ...
  std::string prefix;   // where it sits in the file ("" the top level, "model.net.", ...)
  std::string held_as;  // what holds it, as the prefix says
  std::string dtype;  // of the floating-point parameters
  std::vector<InferredArg> args;
  std::vector<std::string> ambiguous;     // what the tensors cannot tell, each with what was assumed
  std::vector<std::string> unrecognised;  // tensors no rule reads (features the rules do not know)
  std::vector<ReleaseRange> ranges;       // newest last; empty when no known layout matches
  std::optional<Version> stamped;         // the release a version stamp in the file names
  nlohmann::json newest_args = nlohmann::json::object();  // what the newest release needs besides `spec`
  // A spec in the catalogue's form (fixtures/specs.toml) that builds the
  // model in the releases of `ranges`: sections, name, seed, batch, seq_len.
  nlohmann::json spec;

  bool matches(const Version& v) const;
  nlohmann::json to_json() const;
};

// One model that locate_models() found in a file, from its canonical
// tensors. Throws Error naming the file and the model's place.
Fingerprint fingerprint_model(const ReleaseHistory& history, const LocatedModel& model,
                              const nlohmann::json& xcompat_record = nlohmann::json::object(),
                              const std::string& file = "");

// A flat TransformerWrapper or XTransformer state dict. Throws Error (naming
// `file` when given) when the tensors are not one (no token embedding).
Fingerprint fingerprint_tensors(const ReleaseHistory& history, const std::vector<TensorInfo>& tensors,
                                const nlohmann::json& xcompat_record = nlohmann::json::object(),
                                const std::string& file = "");

}  // namespace xcompat

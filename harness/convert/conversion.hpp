#pragma once
// Carrying a checkpoint from release A to release B with the release history
// (history.hpp): which changes lie between them, what each does to the
// tensors, which constructor arguments B needs, and what cannot be carried.
//
//   plan_conversion()   names and shapes only (no tensor data): the chain of
//                       changes, the output tensors as programs over the
//                       input ones, B's arguments, what is lost or refused
//   run_conversion()    executes a plan tensor by tensor, from a checkpoint
//                       reader to a writer, holding one tensor (or one op's
//                       inputs) at a time: a 2 GiB file converts in about its
//                       largest tensor's worth of memory
//
// The chain: a change is "applied" for (release, torch) when the release is
// at or after its boundary and its torch condition holds. Upgrading applies,
// in boundary order, the changes applied for B and not for A; downgrading
// undoes, in reverse order, those applied for A and not for B, with each
// op's inverse.
//
// Outcomes, honest about loss (a value, never an exception):
//   Unchanged         no change lies between A and B
//   Lossless          the weights are transformed so that B's defaults reproduce A
//   LosslessWithArgs  B reproduces A given the constructor arguments in `args`
//   Adapted           B reproduces A once its model is adapted (`adapters`:
//                     module-level changes, only when the caller asks for them)
//   Lossy             carried, but something is lost: each tensor with its
//                     largest magnitude, each behaviour B computes otherwise
//   Refused           nothing sensible can be written, and why
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/convert/history.hpp"
#include "harness/core/tensor.hpp"

namespace xcompat {

// Where a release stands: its version, and the torch it saves or loads
// under (layouts of 1.27.1 - 1.30.x depended on it). torch {0, 0}: unknown,
// taken as the current torch (>= 2.1).
struct ReleasePoint {
  Version release;
  int torch_major = 2, torch_minor = 13;
};

// "2.13.0+cpu" -> {2, 13}; nullopt unless the text starts with MAJOR.MINOR.
std::optional<std::pair<int, int>> parse_torch_version(const std::string& text);
// `release` as saved under `torch_version` (a fixture's versions.torch, a
// stamp's torch); the current torch when that does not parse.
ReleasePoint release_point(const Version& release, const std::string& torch_version);

// Whether a checkpoint made at `p` has change `c`'s layout: the release is
// past the change's boundary and the torch it ran under meets the change's
// torch condition (">=2.1" for the layouts that depended on torch).
bool change_applies(const HistoryChange& c, const ReleasePoint& p);

enum class ConversionOutcome { Unchanged, Lossless, LosslessWithArgs, Adapted, Lossy, Refused };
const char* conversion_outcome_name(ConversionOutcome o);  // "unchanged", "lossless", ...

struct OutputTensor;

// One step of an output tensor's program, applied in order to its source.
struct TensorStep {
  enum Kind { AddConstant, Scale, PermuteRows, Reshape, Tile, FirstCopy, Rows, Trim, Pad, AddProduct } kind = AddConstant;
  double value = 0;                 // AddConstant, Scale, Pad (the fill)
  int64_t heads = 0, rot = 0;       // PermuteRows: within each head's first `rot` rows (or columns)
  int axis = 0;                     // PermuteRows: 0 rows, 1 columns; Trim, Pad: the dimension
  int64_t count = 0;                // Trim, Pad: entries removed from / appended to the end of `axis`
  bool inverse = false;             // PermuteRows: the inverse permutation
  std::vector<int64_t> shape;       // Reshape, Tile (the shape filled), FirstCopy (the copy's shape)
  int64_t row_begin = 0, row_end = 0;  // Rows: a slice of dim 0 (split)
  // AddProduct (a fold): x + matrix @ vector, each operand a program over
  // the inputs as the chain had it when the fold was crossed.
  std::shared_ptr<const OutputTensor> matrix, vector;
};

// A tensor a drop would lose, carried instead by an adapter of B's model.
struct AdaptedTensor {
  std::string name;       // as the input names it
  std::string key;        // B's key for it: "<module>.xcompat_output_bias"
  std::string module;     // B's module that takes it
  std::string kind;       // the adapter: "output_bias"
  std::string change_id;  // the change whose drop it replaces
  double fill = 0;        // the value for which no adapter is needed (the drop's)
  std::vector<int64_t> shape;
};

// How one output tensor is made: from input tensors (concatenated along dim
// 0 when several) through steps, or a constant fill.
struct OutputTensor {
  TensorInfo info;
  std::vector<std::string> sources;  // input names; empty: `fill`
  std::vector<TensorStep> steps;
  double fill = 0;
  std::optional<AdaptedTensor> adapter;  // set when an adapter of B's model takes it (key, module: at the end)
};


struct LostTensor {
  std::string name;       // as the input names it
  std::string change_id;  // the change that drops it
  double fill = 0;        // the value B implies for it: lossless when every element equals it
  bool unused = false;    // A never computed with it: lossless whatever it holds (not read)
};

struct ConversionPlan {
  ReleasePoint from, to;
  ConversionOutcome outcome = ConversionOutcome::Unchanged;
  std::vector<std::string> changes;        // the ids applied, in order (downgrades first, as undone)
  bool downgrade = false;
  nlohmann::json args = nlohmann::json::object();  // for B, per section: the args that reproduce A
  std::vector<std::string> by_args;                // the changes B's arguments carry (their ops not applied)
  std::vector<std::string> lost_behaviour;         // per change: what B computes otherwise
  std::vector<LostTensor> dropped;                 // tensors B cannot hold: lossy unless all equal `fill`
  std::vector<std::string> folded;                 // "from -> into (change)": losses a fold absorbed exactly
  std::vector<AdaptedTensor> adapters;             // losses an adapter of B's model carries (PlanOptions::adapters)
  std::vector<std::string> rounding;               // rounding-only changes crossed: expect CLOSE, not IDENTICAL
  std::vector<std::string> notes;                  // caveats that are not losses
  // Changes whose argument condition needs the spec, not given: "id
  // (when_arg)". Not applied; the outcome holds only for a model not built so.
  std::vector<std::string> undecided;
  std::string refused;                             // the reason, when Refused
  std::vector<OutputTensor> outputs;               // in name order

  nlohmann::json to_json() const;
  // One line: "lossless (2 changes: ff-net-renamed-ff, ...)", "lossy: ...".
  std::string summary() const;
  // The outcome's name, qualified when it depends on arguments not decided:
  // "lossless, unless the model was built with layers.x (entmax-removed): give the spec to decide".
  std::string outcome_line() const;
};

// What the plan needs to know that the tensors do not say.
struct ModelFacts {
  // Attention heads by model prefix ("" for a TransformerWrapper; "encoder."
  // and "decoder.net." for XTransformer): rotary permutations need them.
  std::map<std::string, int64_t> heads;
  // Each head's width by model prefix (attn_dim_head): with grouped-query
  // attention, keys and values hold fewer heads than queries, so a tensor's
  // own head count is its width over this.
  std::map<std::string, int64_t> dim_head;
  // The spec (its sections wrapper, layers, xtransformer; mask), when known:
  // changes that matter only for some arguments (`when_arg`) are decided by
  // it; without it they are listed as caveats.
  nlohmann::json spec;
};

// What the caller accepts beyond a pure conversion.
struct PlanOptions {
  // Where the history names an adapter for a tensor a drop would lose, keep
  // it for that adapter (B's model must then be adapted: `xcompat convert
  // --adapter`, `xcompat.adapt`) instead of losing it.
  bool adapters = false;
};

ConversionPlan plan_conversion(const ReleaseHistory& history, const ReleasePoint& from, const ReleasePoint& to,
                               const std::vector<TensorInfo>& inputs, const ModelFacts& facts = {},
                               const PlanOptions& options = {});

// The facts a spec definition gives: its heads per model prefix, and itself.
ModelFacts facts_from_spec(const nlohmann::json& spec);

// The chain's change ids between two points, without any tensors (causes,
// coverage, the port's key maps). `refused` is set when a change's unbisected
// range holds either point.
struct Chain {
  std::vector<const HistoryChange*> up, down;  // up in boundary order; down in reverse order
  std::string refused;
};
Chain change_chain(const ReleaseHistory& history, const ReleasePoint& from, const ReleasePoint& to);

// The model prefix a key lives under: "encoder.", "decoder.net." or "".
std::string model_prefix(const std::string& key);
// The spec as the model under `prefix` sees it: an XTransformer's enc_ /
// dec_ arguments become that model's layers and wrapper arguments; any
// other spec is itself.
nlohmann::json spec_for_prefix(const nlohmann::json& spec, const std::string& prefix);

// Whether the spec (one model's view) was built with every one of `args`
// ({section: {name: value}}): a model built with the arguments that make it
// compute another release's way.
bool spec_has_args(const nlohmann::json& spec_view, const nlohmann::json& args);

// The spec as release B builds it for a converted checkpoint: the
// conversion's arguments merged in, layer arguments routed to both models of
// an XTransformer (enc_/dec_, as the driver routes them).
nlohmann::json spec_with_args(nlohmann::json spec, const nlohmann::json& args);

// Whether a change's spec condition (`when_arg`) holds for a spec: "layers.x"
// (set and truthy), "mask=padding", "layers.pre_norm=false" (equal),
// "!layers.x" (not so), several joined by commas (all must hold). True when
// the change has no condition; nullopt when the spec is empty (undecided).
std::optional<bool> spec_condition_holds(const HistoryChange& c, const nlohmann::json& spec);
// The same for any condition written as a change's `when_arg` is.
std::optional<bool> when_arg_holds(const std::string& when_arg, const nlohmann::json& spec);

// What a key rename needs beyond the key: the spec (renames that hold only
// for some arguments) and each model prefix's last layer index (`{last}`).
// Without a spec every rename applies; without a prefix's last layer, no
// `{last}` pattern matches under it.
struct KeyContext {
  nlohmann::json spec;
  std::map<std::string, int64_t> last_layer;  // by prefix: "", "encoder.", "decoder.net."
};

// Renames only, applied in the chain's order: the port's key maps, and how a
// key of A is named in B.
std::string rename_key(const Chain& chain, const std::string& key, const KeyContext& ctx = {});
// The inverse: how B's key was named in A.
std::string rename_key_back(const Chain& chain, const std::string& key, const KeyContext& ctx = {});

// Reads an input tensor (the caller streams from a file).
using TensorSource = std::function<TensorData(const std::string& name)>;
// Receives each output tensor in plan order.
using TensorSink = std::function<void(const TensorInfo& info, const TensorData& data)>;

// Reads the tensors the plan drops and settles its outcome: Lossy when one
// holds anything but its fill, else lossless (with arguments). An adapted
// tensor that holds only its fill needs no adapter: it is dropped after all. Returns the
// largest magnitude of each lossy tensor, by name.
std::vector<std::pair<std::string, double>> measure_dropped(ConversionPlan& plan, const TensorSource& source);

// Executes the plan (measure_dropped first), handing each output tensor to
// `sink`. Returns what measure_dropped returns.
std::vector<std::pair<std::string, double>> run_conversion(ConversionPlan& plan, const TensorSource& source,
                                                           const TensorSink& sink);

}  // namespace xcompat

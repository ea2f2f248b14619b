#pragma once
// The release history of x-transformers as data (matrix/history.toml): every
// change of layout or behaviour between the releases xcompat covers, with the
// release where it happened, why, and what carries a checkpoint across it.
// One description feeds everything that needs to know how releases differ:
// the C++ port's key maps and behaviour switches, `xcompat convert`, the
// causes shown for a broken cell, and fingerprinting. A fact about a release
// lives in one place; a bisected boundary is updated there.
//
// The operations are a small closed vocabulary, each with its inverse (the
// downgrade direction), written in the upgrade direction:
//   rename        key pattern -> key pattern
//   add_constant  x + value          (inverse: x - value)
//   scale         x * value          (inverse: x / value); value may name
//                 `dim`, the model's width (read where the history's
//                 `width` says: the attention layers' own projections, so
//                 every model kind and an emb_dim unlike dim read the same)
//   permute_rows  rows of the matched weights reordered within each head by
//                 a named permutation (rotary halves -> interleaved pairs)
//   reshape       to a shape expression (inverse: back to the old shape)
//   repeat        a tensor of `old_shape` tiled to fill `shape` (one shared
//                 scale held once per head); inverse: the first copy, exact
//                 only where every copy is equal (the change's down_lossy)
//   split         one tensor -> several along dim 0 (inverse: concatenate)
//   concatenate   several -> one along dim 0 (inverse: split)
//   drop          a tensor the newer release no longer has (inverse: add,
//                 when the op says where and how big: `anchor`, `shape`)
//   add           a tensor the newer release has, with a fixed value, beside
//                 each key matching its anchor `from` (inverse: drop)
//   trim          the last `count` entries along `axis`, which the older
//                 release never read (inverse: pad with `value`, which the
//                 older release never reads either): lossless both ways
//   fold          a tensor the newer release has no place for, absorbed
//                 exactly into one it keeps: `into += through @ from` (a
//                 pre-norm feed-forward's LayerNorm bias into its first
//                 linear layer's bias: W(g*n + b) + c = W(g*n) + (c + W b)).
//                 Where `into` or `through` is missing the op does nothing
//                 and the drop that follows it loses `from`; `when_arg`
//                 names the models it is exact for. Inverse: none
//                 needed, the older release's `from` is zero (the drop's
//                 inverse) and `into` is already the sum
// plus constructor arguments that make a release reproduce the other side's
// behaviour (`args`, `down_args`), and, where nothing reproduces it, what is
// lost (`lossy`, `down_lossy`).
#include <array>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/convert/key_pattern.hpp"
#include "harness/core/version.hpp"

namespace xcompat {

enum class OpKind { Rename, AddConstant, Scale, PermuteRows, Reshape, Repeat, Split, Concatenate, Drop, Add, Trim, Fold };
const char* op_kind_name(OpKind k);

struct HistoryOp {
  OpKind kind = OpKind::Rename;
  std::vector<KeyPattern> from;   // the keys it reads (rename, split: one; concatenate: several)
  std::vector<KeyPattern> to;     // the keys it writes (rename, concatenate: one; split: several; fold: `into`)
  std::optional<KeyPattern> through;  // fold: the matrix `from` passes through on its way into `to`
  std::string when_arg;               // fold: exact only for models built so (a change's when_arg syntax)
  double value = 0;               // add_constant, scale, add (the fill)
  std::string value_expr;         // scale, add: "dim ** 0.5", "dim ** -0.5" (empty: `value`)
  std::string permutation;        // permute_rows: "rotary-halves-to-pairs"
  std::optional<KeyPattern> rot_of;  // permute_rows: the tensor giving the rotary width (2 * its length)
  int axis = 0;                   // permute_rows: 0 rows (a projection's outputs), 1 columns (its inputs); trim: any
  int64_t count = 0;              // trim: how many entries
  // add / reshape / drop's inverse: dimensions, each a number, "dim" (the
  // model's width) or "<key pattern>:<axis>", the pattern rendered with the
  // anchor's captures
  std::vector<std::string> shape;
  std::vector<std::string> old_shape;  // repeat: the shape it tiles (its inverse's)
  std::optional<KeyPattern> anchor;  // drop: where its inverse (add) takes its captures from
  bool unused = false;            // drop: the older release never computes with it (lossless whatever its value)
  bool scalar = false;            // only single-element tensors (ScaleNorm's g, beside RMSNorm's vector g)
  nlohmann::json to_json() const;
};

// A module-level change to B's model that restores what A computed where
// B's classes have no place for a tensor (`xcompat convert --adapter`,
// `xcompat.adapt`). A closed vocabulary, like the ops:
//   output_bias   B's module at `module` gains a parameter
//                 `xcompat_output_bias`, added to its output: the bias a
//                 LayerNorm or Linear of A had and B's lacks. The tensor a
//                 drop of the change would lose (`from`, with the same
//                 captures) becomes that parameter, and `module` follows
//                 later renames as the module's other tensors do.
//   layer_norm    B's norm at `module` (an RMSNorm or ScaleNorm where A had
//                 a LayerNorm) computes a LayerNorm instead, with A's
//                 weight and bias as parameters `xcompat_layer_norm_weight`
//                 and `xcompat_layer_norm_bias` (each `from` names one; the
//                 parameter takes its last segment). It restores the
//                 change's computation too, so it is never pruned.
//   rotate_values B's attention at `module` rotates its values with the
//                 rotary embedding it rotates keys with, as releases before
//                 1.20.0 did (a behaviour: no tensor). `from` is a tensor
//                 of each such module as the checkpoint holds it at this
//                 change (its to_v weight): one adapter per match.
//   identity      B's module at `module` returns its input: a norm B has
//                 where A had none (a behaviour; `from` as for rotate_values).
//   uniform_padded_queries
//                 B's attention at `module` writes at padded query positions
//                 what releases before 1.4.0 did: uniform attention over
//                 every key (a behaviour; `from` as for rotate_values).
struct HistoryAdapter {
  std::string kind;           // "output_bias" | "rotate_values"
  KeyPattern from;            // output_bias: the tensor that would be dropped; a behaviour: a tensor of each module
  KeyPattern module;          // the module of B (as named at this change) that takes it
  // Only for models built so (a change's when_arg syntax): where the
  // adapter does not restore A's function (a behaviour it does not follow),
  // the change stays lossy. Undecided without the spec: not applied.
  std::string when_arg;
  // Whether the adapter carries a tensor (output_bias) rather than a
  // computation of the change (rotate_values).
  bool carries_tensor() const { return kind == "output_bias" || kind == "layer_norm"; }
  // Whether it restores a computation B does otherwise (the change's
  // `lossy` behaviour is then not lost), not only a tensor.
  bool restores_behaviour() const { return kind != "output_bias"; }
  nlohmann::json to_json() const;
};
// The adapter kinds, the vocabulary's closed list.
inline constexpr std::array<const char*, 5> kAdapterKinds = {"output_bias", "layer_norm", "rotate_values", "identity",
                                                             "uniform_padded_queries"};
// The parameter of B's module that holds `tensor` (as A names it) for an
// adapter of this kind: "xcompat_output_bias", "xcompat_layer_norm_weight".
std::string adapter_parameter(const std::string& kind, const std::string& tensor);
// The parameter an output_bias adapter adds to its module.
inline constexpr const char* kOutputBiasParameter = "xcompat_output_bias";

// Where a change's recipe (its ops or args) does not carry the model
// exactly: a case the recipe leaves out, or a target release that cannot
// run the model. A crossing for which every given condition holds makes the
// conversion lossy with `why`; a condition that cannot be decided (an
// argument, without the spec) counts as holding, so that "lossless" is only
// ever said of a conversion proven exact.
struct IncompleteCase {
  std::optional<KeyPattern> when;  // a checkpoint key matches (in the model being converted)
  std::string when_arg;            // the spec sets it (same syntax as the change's)
  bool half = false;               // the checkpoint holds half-precision (bfloat16 / float16) tensors
  std::string direction;           // "up", "down" or "" (both)
  std::optional<Version> target_since, target_until;  // the conversion's target release in [since, until)
  std::string why;                 // one line: what is not carried
};

struct HistoryChange {
  std::string id;
  std::string kind;      // layout | numeric | behaviour | rounding
  std::string reason;    // one line
  Version at;            // first release with the new way
  std::optional<Version> after;  // set while the boundary is known only to lie in (after, at]
  // When the change matters (all that are given must hold):
  std::optional<KeyPattern> when;  // a checkpoint key matches
  std::string when_shape;  // "<key pattern>:<axis>=<n>" (or "<n"): that tensor's dimension, in the older checkpoint
  std::string down_when_shape;  // the same, read from the newer checkpoint when downgrading (default: when_shape)
  std::string when_arg;    // "layers.add_value_residual", "mask=padding": the spec sets it (truthy, or to that
                           // value); "!layers.use_rmsnorm": it does not
  std::string torch;     // ">=2.1": only for checkpoints made under such a torch (layouts that depended on it)
  std::vector<HistoryOp> ops;
  nlohmann::json args = nlohmann::json::object();       // for the newer release, to compute as the older did
  std::optional<Version> args_since;                    // the release from which `args` exist
  std::optional<Version> args_until;                    // the first release that no longer has them
  nlohmann::json down_args = nlohmann::json::object();  // for the older release, to compute as the newer does
  std::optional<Version> down_args_since;               // the release from which `down_args` exist
  std::string lossy;       // upgrading: what no weight or argument carries over
  std::string down_lossy;  // downgrading: the same
  std::string note;        // a caveat that is not a loss (outputs differ only for some inputs)
  std::vector<IncompleteCase> incomplete;  // where the recipe is not exact: lossy there
  std::vector<HistoryAdapter> adapters;    // upgrading: what an adapter of B's model carries of what its drops lose
  std::string exercised;   // which specs or features show it (docs, coverage)
  nlohmann::json written;  // the entry as the file writes it, every field: its identity in cache keys

  bool exact() const { return !after.has_value(); }
  bool rounding_only() const { return kind == "rounding"; }
  // "at 1.31.3" or "between 1.0.4 and 1.14.0"
  std::string boundary() const;
  // Which side `release` is on: -1 before, +1 at or after, 0 inside an
  // unbisected range.
  int side(const Version& release) const;
  nlohmann::json to_json() const;
};

struct ReleaseHistory {
  std::vector<HistoryChange> changes;  // in boundary order
  Version oldest, newest;              // `covers`: the releases whose sources it was written from
  // Where a model's width (`dim`) is read: "<key pattern>:<axis>", the first
  // that the model (its prefix) has. Ops that name dim need it.
  std::vector<std::string> width;
  std::string source_hash;             // sha256 of the file: identity of everything derived from it

  // Throws Error naming the entry when `id` is not in the history.
  const HistoryChange& change(const std::string& id) const;
  const HistoryChange* find(const std::string& id) const;
};

// Parses and validates a history file: every field known, every op of the
// closed vocabulary with what it needs, boundaries in order. Throws Error
// naming the file, the entry and the field.
ReleaseHistory load_history(const std::filesystem::path& path);

// matrix/history.toml of the checkout (XCOMPAT_HISTORY overrides), loaded
// once per process.
const ReleaseHistory& release_history();
std::filesystem::path default_history_path();

// Tests: the process's history is `h` while this lives (an entry deleted,
// a boundary left unbisected), then the file's again. Not thread-safe.
class ScopedReleaseHistory {
 public:
  explicit ScopedReleaseHistory(ReleaseHistory h);
  ~ScopedReleaseHistory();
  ScopedReleaseHistory(const ScopedReleaseHistory&) = delete;
  ScopedReleaseHistory& operator=(const ScopedReleaseHistory&) = delete;

 private:
  const ReleaseHistory* previous_;
  ReleaseHistory history_;
};

}  // namespace xcompat

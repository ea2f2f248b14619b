#pragma once
// Key maps: how a release names the parameters the port registers.
//
// The port registers the layout of the newest release it follows
// (kNewestRelease: `ff.0` / `ff.2`, `attn_layers.final_norm`, norms with
// `gamma` / `beta` / `g`). A checkpoint from an older release is renamed key
// by key before loading with the renames of the release history
// (matrix/history.toml) between its release and the port's: the same renames
// `xcompat convert` applies, read from the same entries. Each rename has an
// inverse, so a missing parameter is reported under the name the producing
// release would have saved it as.
//
// Renames that hold only for some arguments (`when_arg`: the post-norm final
// norm becomes the last layer's post-main norm) are decided by the spec, and
// `{last}` by the port's own layer counts.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/convert/conversion.hpp"
#include "harness/native/release_switches.hpp"

namespace xcompat::native {

class KeyMap {
 public:
  KeyMap() = default;
  // `last_layer`: the index of the last layer under each model prefix
  // ("" for a TransformerWrapper, "encoder." and "decoder.net." for XTransformer).
  KeyMap(const ReleaseContext& ctx, const nlohmann::json& spec, std::map<std::string, int64_t> last_layer);
  // Bare attention layers: their keys (`layers.0.0.0.gamma`) are renamed as
  // a TransformerWrapper holds them, under `attn_layers.`, where the
  // history's patterns are written; the port's keys are then the part after
  // it.
  void set_root(std::string root) { root_ = std::move(root); }
  // LayerNorms of a wrapper outside the history's patterns (ViT's patch
  // norms): the release's `weight` / `bias` are the port's `gamma` / `beta`,
  // and back as the release names them.
  void add_norm_paths(const std::vector<std::string>& paths, const ReleaseContext& ctx);
  std::string to_port(const std::string& checkpoint_key) const;
  std::string to_release(const std::string& port_key) const;
  // The history entries whose renames this release needs, in the order
  // to_port applies them: "<id>: <reason>".
  std::vector<std::string> descriptions() const;

 private:
  Chain chain_;
  KeyContext context_;
  std::string root_;
  std::vector<std::string> norm_paths_;
  bool release_norm_names_weight_ = false;  // the release saves those norms as `weight` / `bias`
};

}  // namespace xcompat::native

#pragma once
// Key maps: how each release range names the parameters the port registers.
//
// The port registers the layout of 1.31.0 and later (`ff.0` / `ff.2`,
// `attn_layers.final_norm`, norms with `gamma` / `beta` / `g`). A checkpoint
// from an older release is renamed key by key before loading; the renames
// that apply are the ones whose switch the release predates. Each rename has
// an inverse, so a missing parameter is reported under the name the
// producing release would have saved it as.
//
//   rename                                   applies to releases   switch
//   layers.<i>.1.net.*  -> layers.<i>.1.ff.*    < 0.33.0           kFeedForwardNamedFf
//   layers.<i>.1.ff.3.* -> layers.<i>.1.ff.2.*  < 1.18.0           kFeedForwardFiltersNone
//   norm.*              -> attn_layers.final_norm.*  < 1.15.0      kFinalNormInAttentionLayers
//   <norm>.weight/.bias -> <norm>.gamma/.beta   < 1.31.0           kLayerNormGammaOnly
// (<norm>: attn_layers.layers.<i>.0.<k> or attn_layers.final_norm; every
// name may carry the XTransformer prefixes `encoder.` / `decoder.net.`.)
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/native/release_switches.hpp"

namespace xcompat::native {


struct KeyRename {
  const ReleaseSwitch* until;  // applies to checkpoints from releases before this switch
  const char* description;
  // checkpoint name -> port name, and back; nullopt when the name is not theirs
  std::function<std::optional<std::string>(const std::string&)> to_port;
  std::function<std::optional<std::string>(const std::string&)> to_release;
};

class KeyMap {
 public:
  explicit KeyMap(const ReleaseContext& ctx);
  std::string to_port(const std::string& checkpoint_key) const;
  std::string to_release(const std::string& port_key) const;
  // The renames this release needs, in the order to_port applies them.
  std::vector<std::string> descriptions() const;

 private:
  std::vector<KeyRename> renames_;
};

}  // namespace xcompat::native

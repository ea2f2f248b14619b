#pragma once
// xcompat's adapters on the port's modules: what `xcompat convert --adapter`,
// `xcompat.adapt` and the sweep's adapted path (harness/python/
// xcompat_adapter.py) do to release B's model, done to the port built as B,
// so that the port reads an adapted conversion as B's adapted model does.
//
// The vocabulary is the release history's (matrix/history.toml, `adapters`):
//   output_bias             a Linear or norm gains `xcompat_output_bias`,
//                           added to its output
//   layer_norm              a norm computes a LayerNorm with
//                           `xcompat_layer_norm_weight` / `_bias`
//   identity                a norm returns its input
//   rotate_values           an attention rotates its values as its keys
//   uniform_padded_queries  an attention attends uniformly at padded queries
// Each kind sets what the port already computes for the older releases, or
// adds the parameter the checkpoint carries; the port's own code is B's.
// No torch here.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/native/key_map.hpp"

namespace torch::nn {
class Module;
}

namespace xcompat::native {

struct PortAdapter {
  std::string module;  // as the converted checkpoint names it ("attn_layers.final_norm")
  std::string kind;    // one of adapter_kinds()
  std::vector<int64_t> shape;  // the tensor it carries (output_bias, layer_norm)
  std::string change;  // the history entry it belongs to
};

// The kinds above, as xcompat_adapter.py's _KINDS.
const std::vector<std::string>& adapter_kinds();

// [{module, kind, shape, change}] (a conversion report's, the sweep's) or
// [[module, kind, shape, change], ...] (an adapter file's ADAPTERS). Throws
// Error on anything else, an unknown kind included.
std::vector<PortAdapter> adapters_from_json(const nlohmann::json& adapters);

// Adapts the port's module tree in place (idempotent, as adapt() is): each
// adapter's module, named as the checkpoint names it, is found under the
// port's names through `map`. Registers the parameters the adapted
// checkpoint carries, so a strict load takes them. Throws NativeUnsupported
// when a module is missing or of a class the kind does not apply to.
void apply_adapters(torch::nn::Module& model, const KeyMap& map, const std::vector<PortAdapter>& adapters);

}  // namespace xcompat::native

#pragma once
// Where the x-transformers models sit in a checkpoint file, found by their
// layout, never by a prefix alone.
//
// A user's file is rarely a bare TransformerWrapper state dict: the model
// sits under `net.` (AutoregressiveWrapper), `model.` (a training dict),
// `state_dict.model.net.` (a Lightning .ckpt), `module.` (DDP), `_orig_mod.`
// (torch.compile), `ema.ema_model.` (an EMA copy), or is a bare Decoder
// among the application's own layers. The readers flatten a container into
// paths (harness/checkpoint: dict keys joined with '.'), so every model is a
// set of tensors under a prefix. A model is recognised by tensors only its
// kind has:
//
//   TransformerWrapper            P token_emb.emb.weight (or P token_emb.weight)
//                                 and P attn_layers.layers.<i>...
//   XTransformer                  P encoder. and P decoder.net. both
//                                 TransformerWrappers, the decoder's layers
//                                 with cross-attention (attention, attention,
//                                 feed-forward): an application's own
//                                 `encoder.*` beside an x-transformers
//                                 `decoder.*` stays two things
//   ContinuousTransformerWrapper  P attn_layers.layers.<i>... and
//                                 P project_in.weight or P project_out.weight,
//                                 no token embedding
//   ViTransformerWrapper          P attn_layers.layers.<i>... and a patch
//                                 embedding (P patch_to_embedding.* or
//                                 P to_patch_embedding.*) and P pos_embedding
//   AttentionLayers               P layers.<i>.1.to_q.weight where P layers.
//                                 is not inside a model above (a bare Decoder,
//                                 Encoder or CrossAttender)
//
// Each model's tensors are also given in the canonical naming the release
// history, the fingerprint and the converter know: a wrapper's own names
// (the prefix stripped); a bare AttentionLayers' names under `attn_layers.`,
// as a TransformerWrapper holds them.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/core/tensor.hpp"

namespace xcompat {

enum class ModelKind { TransformerWrapper, XTransformer, ContinuousTransformerWrapper, ViTransformerWrapper, AttentionLayers };
const char* model_kind_name(ModelKind k);

struct LocatedModel {
  std::string prefix;  // in the file: "", "net.", "model.net.", "decoder."
  ModelKind kind = ModelKind::TransformerWrapper;
  std::string held_as;  // what holds it, when the prefix says: "net (AutoregressiveWrapper or alike)", "module (DDP)"...
  std::vector<TensorInfo> tensors;                  // canonical names (see above), in file order
  std::map<std::string, std::string> file_name_of;  // canonical name -> name in the file
  std::map<std::string, std::string> canonical_of;  // name in the file -> canonical name

  // The canonical form of one of this model's names in the file, and back.
  std::string canonical(const std::string& file_name) const { return canonical_of.at(file_name); }
  std::string in_file(const std::string& canonical_name) const;  // a canonical name (possibly new) -> file name
  nlohmann::json to_json() const;  // prefix, kind, held_as, tensor count
};

struct Located {
  std::vector<LocatedModel> models;  // by prefix
  std::vector<std::string> others;   // tensors of no model: the application's own, an optimizer's state...
};

// A bare AttentionLayers' names are read under this root, as a
// TransformerWrapper holds them: the release history's patterns name them so.
inline constexpr const char* kBareLayersRoot = "attn_layers.";
// "layers.0.0.0.weight" -> "attn_layers.layers.0.0.0.weight"
std::string root_bare_layers_name(const std::string& name);
// Back; Error for a name outside the root (it has no place in bare layers).
std::string unroot_bare_layers_name(const std::string& name);

// Every model in `tensors` (paths as the readers give them).
Located locate_models(const std::vector<TensorInfo>& tensors);

// The models under `key` (a container path: "model", "state_dict", "ema";
// "" for all): a model is under it when its prefix starts with "key.".
// Throws Error naming what is there when the key holds none.
std::vector<const LocatedModel*> models_under(const Located& located, const std::string& key);

// What a person calls the place: "the top level", "'model.net.'".
std::string place_name(const std::string& prefix);

}  // namespace xcompat

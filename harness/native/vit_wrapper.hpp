#pragma once
// x_transformers ViTransformerWrapper: images in, one output per image.
// Patches ('b c (h p1) (w p2) -> b (h w) (p1 p2 c)'), the patch embedding,
// a learned position per patch, the Encoder, the mean over the patches and
// mlp_head (nn.Linear(dim, num_classes); nn.Identity without num_classes).
// Its layout changed three times between the pins, each an entry of the
// release history (matrix/history.toml), which carries a checkpoint across:
//   1.8.0   vit-dual-patch-norm: patch_to_embedding nn.Linear(patch_dim, dim)
//           -> nn.Sequential(LayerNorm(patch_dim), nn.Linear, LayerNorm(dim))
//   1.15.0  final-norm-in-attention-layers: the wrapper's `norm` moves into
//           the layers (as for TransformerWrapper)
//   1.16.0  vit-position-per-patch: pos_embedding [1, num_patches + 1, dim]
//           -> [1, num_patches, dim] (only the first rows were ever read)
// The patch norms are the release's LayerNorm class, and follow the
// layers' LayerNorm entries (layernorm-custom-class ...).
// 1.27.0 cannot run its own ViT (`self.post_emb_norm` is never assigned):
// its fixtures are broken, so no cell reaches the port.
//
// Registered: pos_embedding, patch_to_embedding.weight / .bias (before
// 1.8.0) or patch_to_embedding.{0,2} (norms: `gamma` (+ `beta`) here, the
// key map renames the release's `weight` / `bias`) and .1 (the Linear),
// attn_layers.*, mlp_head.weight / .bias.
#include <nlohmann/json.hpp>

#include "harness/native/attention_layers.hpp"

namespace xcompat::native {

// The history's entries for the two changes of the wrapper's own layout.
inline constexpr ReleaseSwitch kVitDualPatchNorm{"vit-dual-patch-norm"};
inline constexpr ReleaseSwitch kVitPositionPerPatch{"vit-position-per-patch"};

struct VitWrapperOptions {  // ViTransformerWrapper(image_size, patch_size, attn_layers, channels = 3, num_classes = None, emb_dropout = 0.)
  int64_t image_size = 0;
  int64_t patch_size = 0;
  int64_t channels = 3;
  std::optional<int64_t> num_classes;
  // how the producing release builds it
  bool dual_patch_norm = true;    // kVitDualPatchNorm
  bool extra_position = false;    // num_patches + 1 positions (before kVitPositionPerPatch)
  int64_t num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
  int64_t patch_dim() const { return channels * patch_size * patch_size; }
};

std::vector<std::string> supported_vit_arguments();
void apply_vit_argument(const std::string& key, const nlohmann::json& v, VitWrapperOptions& o, const ReleaseContext& ctx);
void check_vit(VitWrapperOptions& o, const AttentionLayersOptions& layers, const ReleaseContext& ctx);

// The module paths of the wrapper's own LayerNorms (outside the release
// history's key patterns), for the key map.
std::vector<std::string> vit_norm_paths(const VitWrapperOptions& o);

class ViTransformerWrapper : public torch::nn::Module {
 public:
  ViTransformerWrapper(VitWrapperOptions o, AttentionLayersOptions layers, const ReleaseContext& ctx);
  // img: [b, channels, image_size, image_size] float -> [b, num_classes] (or [b, dim]).
  Tensor forward(const Tensor& img, Trace* t = nullptr) const;

  VitWrapperOptions options;
  Tensor pos_embedding;  // [1, num_patches (+ 1), dim]
  std::shared_ptr<Linear> patch_linear;  // patch_to_embedding (before 1.8.0) or patch_to_embedding.1
  std::shared_ptr<Norm> patch_norm_in, patch_norm_out;  // patch_to_embedding.0 / .2 (from 1.8.0)
  std::shared_ptr<AttentionLayers> attn_layers;
  std::shared_ptr<Linear> mlp_head;  // absent without num_classes
};

}  // namespace xcompat::native

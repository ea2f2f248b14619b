#include "harness/native/vit_wrapper.hpp"

#include "harness/native/spec_checks.hpp"

namespace xcompat::native {

using json = nlohmann::json;

std::vector<std::string> supported_vit_arguments() {
  return {"channels", "dropout", "emb_dropout", "image_size", "num_classes", "patch_size"};
}

void apply_vit_argument(const std::string& key, const json& v, VitWrapperOptions& o, const ReleaseContext&) {
  if (key == "image_size") {
    o.image_size = positive_wrapper_int(v, key);
  } else if (key == "patch_size") {
    o.patch_size = positive_wrapper_int(v, key);
  } else if (key == "channels") {
    o.channels = positive_wrapper_int(v, key);
  } else if (key == "num_classes") {
    if (!v.is_null()) o.num_classes = positive_wrapper_int(v, key);
  } else if (key == "emb_dropout" || key == "dropout") {
    // training only (`dropout` is taken and unused up to 1.15.x)
    if (!v.is_number()) throw NativeUnsupported("wrapper argument '" + key + "' = " + v.dump() + " (expected a number)");
  } else {
    throw NativeUnsupported("vit wrapper argument '" + key + "'");
  }
}

void check_vit(VitWrapperOptions& o, const AttentionLayersOptions& layers, const ReleaseContext& ctx) {
  if (o.image_size <= 0 || o.patch_size <= 0 || o.image_size % o.patch_size != 0)
    throw NativeUnsupported("a vit wrapper whose image_size is not a positive multiple of patch_size (the release asserts it)");
  if (layers.causal) throw NativeUnsupported("a vit wrapper around a Decoder (the release asserts an Encoder)");
  o.dual_patch_norm = ctx.is_new(kVitDualPatchNorm);
  o.extra_position = !ctx.is_new(kVitPositionPerPatch);
}

std::vector<std::string> vit_norm_paths(const VitWrapperOptions& o) {
  if (!o.dual_patch_norm) return {};
  return {"patch_to_embedding.0", "patch_to_embedding.2"};
}

ViTransformerWrapper::ViTransformerWrapper(VitWrapperOptions o, AttentionLayersOptions layers_opts, const ReleaseContext& ctx)
    : options(o) {
  const int64_t dim = layers_opts.dim;
  // self.pos_embedding = nn.Parameter(torch.randn(1, num_patches (+ 1), dim))
  pos_embedding = register_parameter("pos_embedding", torch::zeros({1, o.num_patches() + (o.extra_position ? 1 : 0), dim}));
  if (o.dual_patch_norm) {
    // nn.Sequential(LayerNorm(patch_dim), nn.Linear(patch_dim, dim), LayerNorm(dim)): the release's LayerNorm class
    auto seq = register_module("patch_to_embedding", std::make_shared<Container>());
    patch_norm_in = seq->add("0", std::make_shared<LayerNorm>(LayerNormOptions::for_release(o.patch_dim(), ctx, false)));
    patch_linear = seq->add("1", std::make_shared<Linear>(o.patch_dim(), dim, true));
    patch_norm_out = seq->add("2", std::make_shared<LayerNorm>(LayerNormOptions::for_release(dim, ctx, false)));
  } else {
    // Registered where the newest layout holds it (the key map renames the
    // release's patch_to_embedding.weight / .bias: vit-dual-patch-norm).
    auto seq = register_module("patch_to_embedding", std::make_shared<Container>());
    patch_linear = seq->add("1", std::make_shared<Linear>(o.patch_dim(), dim, true));
  }
  attn_layers = register_module("attn_layers", std::make_shared<AttentionLayers>(layers_opts, ctx));
  if (o.num_classes) mlp_head = register_module("mlp_head", std::make_shared<Linear>(dim, *o.num_classes, true));
}

Tensor ViTransformerWrapper::forward(const Tensor& img, Trace* t) const {
  const int64_t b = img.size(0), p = options.patch_size, c = options.channels;
  if (img.dim() != 4 || img.size(1) != c || img.size(2) != options.image_size || img.size(3) != options.image_size)
    throw std::runtime_error("img is not [b, " + std::to_string(c) + ", " + std::to_string(options.image_size) + ", " +
                             std::to_string(options.image_size) + "]");
  const int64_t h = img.size(2) / p, w = img.size(3) / p;
  // rearrange(img, 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1 = p, p2 = p)
  Tensor x = img.reshape({b, c, h, p, w, p}).permute({0, 2, 4, 3, 5, 1}).reshape({b, h * w, p * p * c});
  if (patch_norm_in) x = patch_norm_in->forward(x);
  x = patch_linear->forward(x);
  if (patch_norm_out) x = patch_norm_out->forward(x);
  trace(t, "patch_to_embedding", x);
  // x = x + self.pos_embedding[:, :n]
  x = x + pos_embedding.slice(1, 0, x.size(1));
  // x = self.attn_layers(x); before 1.15.0 x = self.norm(x) (attn_layers.final_norm here)
  x = attn_layers->forward(x, {}, {}, {}, t, "attn_layers");
  // mlp_head(x.mean(dim = -2)): nn.Identity without num_classes
  x = x.mean(-2);
  if (mlp_head) x = mlp_head->forward(x);
  trace(t, "mlp_head", x);
  return x;
}

}  // namespace xcompat::native

#pragma once
// The port as a whole: a spec and a producing release in, a module tree with
// the checkpoint's names and the forward pass xcompat's driver runs out.
//
//   decoder / encoder   TransformerWrapper(attn_layers = Decoder / Encoder)
//                       forward: model(x) or model(x, mask = mask)
//   xtransformer        XTransformer; forward: encoder(src, mask = src_mask,
//                       return_embeddings = True), then decoder.net(tgt,
//                       context = enc, context_mask = src_mask)
//   continuous          ContinuousTransformerWrapper(attn_layers = Decoder /
//                       Encoder); forward: model(x [, mask = mask]), x float
//   vit                 ViTransformerWrapper(attn_layers = Encoder); forward:
//                       model(img)
//   layers              a bare Decoder / Encoder; forward: layers(x [, mask =
//                       mask]), x float [b, n, dim]
#include <memory>

#include "harness/core/cell.hpp"
#include "harness/core/tensor.hpp"
#include "harness/native/spec_options.hpp"
#include "harness/native/state_dict.hpp"

namespace xcompat::native {

class NativeModel {
 public:
  // Throws NativeUnsupported when the port cannot follow the spec for this release.
  NativeModel(const nlohmann::json& spec, const ReleaseContext& ctx);

  torch::nn::Module& module() { return *module_; }
  const ModelSpec& spec() const { return spec_; }
  const KeyMap& key_map() const { return key_map_; }

  // load_state_dict(strict = True) through the release's key map.
  LoadReport load(const TensorMap& checkpoint) { return load_checkpoint(*module_, checkpoint, key_map_); }

  // The fixture's inputs (x [+ mask] [+ context [+ context_mask]] [+
  // condition], or src, tgt [+ src_mask]) as tensors; Error when one the
  // spec implies is missing or of the wrong dtype.
  struct Inputs {
    Tensor x, mask, src, tgt, src_mask;
    Tensor img;  // vit
    Tensor context, context_mask, condition;  // the spec's `inputs` table
  };
  Inputs prepare(const TensorMap& inputs) const;
  // -> logits [b, n, num_tokens]. Call under torch::NoGradGuard.
  Tensor forward(const Inputs& in, Trace* t = nullptr) const;
  // Cached decoding as a release's generate() runs it, over the last `steps`
  // positions of x: the prefix up to the first of them in one call, then
  // one token per call with the key-value cache. -> logits [b, steps,
  // num_tokens] (each step's last position); `ms_per_step` each call's time.
  // NativeUnsupported for anything but a decoder without a padding mask.
  Tensor decode(const Inputs& in, int64_t steps, std::vector<double>* ms_per_step = nullptr) const;

 private:
  ModelSpec spec_;
  KeyMap key_map_;
  std::shared_ptr<torch::nn::Module> module_;
  std::shared_ptr<TransformerWrapper> wrapper_;
  std::shared_ptr<XTransformer> xtransformer_;
  std::shared_ptr<ContinuousTransformerWrapper> continuous_;
  std::shared_ptr<ViTransformerWrapper> vit_;
  std::shared_ptr<AttentionLayers> layers_;  // bare layers
};

}  // namespace xcompat::native

#pragma once
// x_transformers XTransformer: an encoder TransformerWrapper and a decoder
// TransformerWrapper (cross_attend = True) inside an AutoregressiveWrapper,
// hence the `decoder.net.` prefix. The forward is the one xcompat's driver
// runs: encoder(src, mask = src_mask, return_embeddings = True), then
// decoder.net(tgt, context = enc, context_mask = src_mask).
#include "harness/native/transformer_wrapper.hpp"

namespace xcompat::native {


struct XTransformerOptions {  // XTransformer(dim, tie_token_emb = False, enc_*, dec_*)
  int64_t dim = 0;
  bool tie_token_emb = false;  // both token_emb copies are saved; each side uses its own
  TransformerWrapperOptions enc, dec;
  AttentionLayersOptions enc_layers, dec_layers;
};

class XTransformer : public torch::nn::Module {
 public:
  XTransformer(XTransformerOptions o, const ReleaseContext& ctx);
  Tensor forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask, Trace* t = nullptr) const;
  XTransformerOptions options;
  std::shared_ptr<TransformerWrapper> encoder;
  std::shared_ptr<Container> decoder;  // AutoregressiveWrapper: `net`
  std::shared_ptr<TransformerWrapper> decoder_net;
};

}  // namespace xcompat::native

#include "harness/native/xtransformer.hpp"

namespace xcompat::native {

XTransformer::XTransformer(XTransformerOptions o, const ReleaseContext& ctx) : options(o) {
  encoder = register_module("encoder", std::make_shared<TransformerWrapper>(o.enc, o.enc_layers, ctx));
  decoder = register_module("decoder", std::make_shared<Container>());
  decoder_net = decoder->add("net", std::make_shared<TransformerWrapper>(o.dec, o.dec_layers, ctx));
}

Tensor XTransformer::forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask, Trace* t) const {
  Tensor enc = encoder->forward(src, src_mask, {}, {}, true, t, "encoder");
  return decoder_net->forward(tgt, {}, enc, src_mask, false, t, "decoder.net");
}

}  // namespace xcompat::native

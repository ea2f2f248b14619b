#pragma once
// x_transformers AttentionPool (from 2.11.24): learned queries attend to the
// layers' output; TransformerWrapper(attn_pool = True) returns these pooled
// tokens instead of the logits when its layers are an Encoder.
//
// Registered: queries [num_pooled_tokens, dim]; pooler.* = one cross
// Attention (depth 1: to_q, to_k, to_v, to_out) or a CrossAttender
// (depth > 1: pooler.layers.*, pooler.final_norm).
#include "harness/native/attention_layers.hpp"

namespace xcompat::native {

struct AttentionPoolOptions {  // AttentionPool(dim, num_pooled_tokens = 1, dim_context = None, depth = 1, heads = 8, dim_head = 64)
  int64_t dim = 0;          // the pooled tokens' width (TransformerWrapper: default(dim_pooled_tokens, dim))
  int64_t num_pooled_tokens = 1;
  int64_t dim_context = 0;  // the layers' width
  int64_t depth = 1;
  int64_t heads = 8;
  int64_t dim_head = 64;
};

class AttentionPool : public torch::nn::Module {
 public:
  AttentionPool(AttentionPoolOptions o, const ReleaseContext& ctx);
  // context: [b, n, dim_context]; mask: [b, n] bool or undefined.
  // Returns [b, num_pooled_tokens, dim].
  Tensor forward(const Tensor& context, const Tensor& mask, Trace* t = nullptr, const std::string& path = "") const;

  AttentionPoolOptions options;
  Tensor queries;
  std::shared_ptr<Attention> attention;        // depth 1
  std::shared_ptr<AttentionLayers> cross_attender;  // depth > 1 (use_transformer_blocks)
};

}  // namespace xcompat::native

#include "harness/native/attention_pool.hpp"

namespace xcompat::native {

AttentionPool::AttentionPool(AttentionPoolOptions o, const ReleaseContext& ctx) : options(o) {
  queries = register_parameter("queries", torch::zeros({o.num_pooled_tokens, o.dim}));
  if (o.depth > 1) {
    // use_transformer_blocks = depth > 1: CrossAttender(dim = dim, cross_attn_dim_context = dim_context,
    // depth = depth, heads = heads, attn_dim_head = dim_head), every other argument its default
    AttentionLayersOptions lo;
    lo.dim = o.dim;
    lo.depth = o.depth;
    lo.heads = o.heads;
    lo.attn_dim_head = o.dim_head;
    lo.cross_attend = true;
    lo.only_cross = true;
    lo.cross_attn_dim_context = o.dim_context;
    cross_attender = register_module("pooler", std::make_shared<AttentionLayers>(lo, ctx));
  } else {
    // Attention(dim = dim, dim_context = dim_context, heads = heads, dim_head = dim_head)
    AttentionOptions ao;
    ao.dim = o.dim;
    ao.dim_context = o.dim_context;
    ao.heads = o.heads;
    ao.dim_head = o.dim_head;
    ao.key_padding_mask_only = era_of(kKeyPaddingMaskOnly, ctx.release);
    ao.zero_fully_masked_rows = era_of(kZeroFullyMaskedRows, ctx.release);
    ao.release = ctx.release;
    attention = register_module("pooler", std::make_shared<Attention>(ao));
  }
}

Tensor AttentionPool::forward(const Tensor& context, const Tensor& mask, Trace* t, const std::string& path) const {
  // queries = repeat(self.queries, 'n d -> b n d', b = batch); pooler(queries, context, context_mask = mask)
  Tensor q = queries.unsqueeze(0).expand({context.size(0), -1, -1});
  Tensor pooled;
  if (cross_attender) {
    pooled = cross_attender->forward(q, {}, context, mask, t, path + ".pooler");
  } else {
    AttentionInputs in;
    in.context = context;
    in.context_mask = mask;
    pooled = attention->forward(q, in, t, path + ".pooler").out;
  }
  trace(t, path, pooled);
  return pooled;  // add_residual and squeeze_output: False as TransformerWrapper builds it
}

}  // namespace xcompat::native

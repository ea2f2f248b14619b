#include "harness/native/transformer_wrapper.hpp"

#include <cmath>

namespace xcompat::native {

TransformerWrapper::TransformerWrapper(TransformerWrapperOptions o, AttentionLayersOptions layers_opts, const ReleaseContext& ctx)
    : options(o) {
  const int64_t dim = layers_opts.dim;
  if (o.num_memory_tokens > 0) memory_tokens = register_parameter("memory_tokens", torch::zeros({o.num_memory_tokens, dim}));
  token_emb = register_module("token_emb", std::make_shared<TokenEmbedding>(dim, o.num_tokens));
  if (o.use_cls_token) cls_token = register_parameter("cls_token", torch::zeros({o.num_cls_tokens, dim}));
  if (o.post_emb_norm)
    post_emb_norm = register_module("post_emb_norm", std::make_shared<LayerNorm>(LayerNormOptions::for_release(dim, ctx, false)));
  if (o.use_abs_pos_emb && !layers_opts.has_pos_emb())
    pos_emb = register_module("pos_emb", std::make_shared<AbsolutePositionalEmbedding>(dim, o.max_seq_len));
  attn_layers = register_module("attn_layers", std::make_shared<AttentionLayers>(layers_opts, ctx));
  if (o.to_logits && !o.tie_embedding)
    to_logits = register_module("to_logits", std::make_shared<Linear>(dim, o.logits_dim.value_or(o.num_tokens), o.logits_bias));
  register_heads(o, layers_opts, ctx);
}

// The 2.x wrapper's extra parameters (attn_pool, mixture_of_softmax,
// ff_deep_embed, add_continuous_pred_head, looped), as 2.31.10 names them.
void TransformerWrapper::register_heads(const TransformerWrapperOptions& o, const AttentionLayersOptions& layers_opts,
                                        const ReleaseContext& ctx) {
  const int64_t dim = layers_opts.dim;
  // nn.Parameter(torch.ones(num_tokens, depth, dim)), depth = attn_layers.depth
  if (o.ff_deep_embed) ff_deep_embed = register_parameter("ff_deep_embed", torch::ones({o.num_tokens, layers_opts.depth, dim}));
  if (o.looped) exit_gate = register_module("exit_gate", std::make_shared<Linear>(dim, 1, false));
  if (o.attn_pool) {
    // AttentionPool(dim = default(dim_pooled_tokens, dim), dim_context = dim, num_pooled_tokens,
    // depth = attn_pool_depth, heads = attn_layers.attn_heads, dim_head = attn_layers.attn_dim_head)
    AttentionPoolOptions po;
    po.dim = o.dim_pooled_tokens.value_or(dim);
    po.num_pooled_tokens = o.num_pooled_tokens;
    po.dim_context = dim;
    po.depth = o.attn_pool_depth;
    po.heads = layers_opts.heads;
    po.dim_head = layers_opts.attn_dim_head;
    attn_pool = register_module("attn_pool", std::make_shared<AttentionPool>(po, ctx));
  }
  if (o.mixture_of_softmax) {
    // to_mixture = Sequential(LinearNoBias(dim, dim * k), Rearrange('... (k d) -> ... k d')); combine_mixture = LinearNoBias(dim, k)
    auto seq = register_module("to_mixture", std::make_shared<Container>());
    to_mixture = seq->add("0", std::make_shared<Linear>(dim, dim * o.mixture_of_softmax_k, false));
    combine_mixture = register_module("combine_mixture", std::make_shared<Linear>(dim, o.mixture_of_softmax_k, false));
  }
  if (o.add_continuous_pred_head) {
    // to_next_embed_pred = nn.Sequential(LinearNoBias(dim, dim), nn.SiLU(), LinearNoBias(dim, dim))
    auto seq = register_module("to_next_embed_pred", std::make_shared<Container>());
    next_embed_pred_in = seq->add("0", std::make_shared<Linear>(dim, dim, false));
    next_embed_pred_out = seq->add("2", std::make_shared<Linear>(dim, dim, false));
  }
}

Tensor TransformerWrapper::logits_of(const Tensor& x) const {
  if (!options.tie_embedding) return to_logits->forward(x);
  Tensor logits = torch::matmul(x, token_emb->emb->weight.t());  // t @ self.token_emb.emb.weight.t()
  // tie_embedding_scale = dim ** -0.5 by default where tied logits are scaled
  if (options.tie_embedding_scale) return logits * *options.tie_embedding_scale;
  if (options.tied_logits_scaled) return logits * std::pow(static_cast<double>(attn_layers->options.dim), -0.5);
  return logits;
}

Tensor TransformerWrapper::forward(const Tensor& ids, const Tensor& mask_in, const Tensor& context, const Tensor& context_mask,
                                   bool return_embeddings, Trace* t, const std::string& path, DecodeCache* cache,
                                   const Tensor& condition) const {
  const std::string p = path.empty() ? "" : path + ".";
  const int64_t b = ids.size(0), n = ids.size(1);
  const int64_t offset = cache ? cache->offset : 0;
  if (cache && (options.average_pool_embed || options.use_cls_token))
    throw NativeUnsupported("average_pool_embed or use_cls_token (one output per row: nothing to decode)");
  if (cache && options.num_memory_tokens > 0)
    throw NativeUnsupported("num_memory_tokens (memory tokens are prepended on every call; "
                            "the releases do not cache such a model either)");
  // x = self.token_emb(x) + pos_emb, pos_emb = always(0) without an absolute positional embedding
  Tensor x = token_emb->forward(ids);
  if (pos_emb) {
    Tensor pe = pos_emb->forward(offset + n).slice(0, offset);  // x's positions
    trace(t, p + "pos_emb", pe);
    x = x + pe;
  } else {
    x = x + 0;
  }
  trace(t, p + "token_emb", x);
  if (post_emb_norm) x = post_emb_norm->forward(x);  // x = self.post_emb_norm(x)

  Tensor mask = mask_in;
  const int64_t num_cls = options.use_cls_token ? options.num_cls_tokens : 0;
  if (num_cls > 0) {
    // cls_tokens = repeat(self.cls_token, '... -> b ...'); x = pack([cls_tokens, x]); mask padded with True
    x = torch::cat({cls_token.unsqueeze(0).expand({b, -1, -1}), x}, 1);
    if (mask.defined()) mask = at::constant_pad_nd(mask, {num_cls, 0}, true);
  }
  const int64_t num_mem = options.num_memory_tokens;
  if (num_mem > 0) {
    // mem = repeat(self.memory_tokens, 'n d -> b n d', b = b); x = cat((mem, x), dim = 1)
    x = torch::cat({memory_tokens.unsqueeze(0).expand({b, -1, -1}), x}, 1);
    if (mask.defined()) mask = at::constant_pad_nd(mask, {num_mem, 0}, true);
  }

  if (cache && options.looped)
    throw NativeUnsupported("looped (its cached decoding keeps a prompt cache per loop; not ported)");
  // deep_embeds_and_ids: ff_deep_embed[token_ids], 'b n l d -> l b n d' (the ids of this call)
  Tensor deep_embeds;
  if (ff_deep_embed.defined()) deep_embeds = ff_deep_embed.index({ids}).permute({2, 0, 1, 3});
  // looped: for i in range(max_looped_steps): x = attn_layers(x); in eval
  // every step runs (no early exit without looped_inference)
  const int64_t steps = options.looped ? kMaxLoopedSteps : 1;
  for (int64_t step = 0; step < steps; ++step)
    x = attn_layers->forward(x, mask, context, context_mask, t, p + "attn_layers", cache, condition, deep_embeds);
  if (cache) cache->offset += n;
  if (num_mem > 0) x = x.slice(1, num_mem);  // mem, x = x[:, :num_mem], x[:, num_mem:]
  if (options.average_pool_embed) {
    // masked_mean(x, mask = orig_mask, dim = 1): the mean over the kept positions
    if (mask_in.defined()) {
      Tensor m = mask_in.unsqueeze(-1).to(x.scalar_type());
      x = (x * m).sum(1) / m.sum(1).clamp_min(1.0);
    } else {
      x = x.mean(1);
    }
  }
  if (num_cls > 0) {
    x = x.slice(1, 0, num_cls);                // x, last_layer_hiddens = unpack(x, cls_packed_shape)
    if (num_cls == 1) x = x.select(1, 0);      // 'b 1 d -> b d'
  }

  // return_pooled_tokens = exists(self.attn_pool) and is_encoder
  Tensor pooled;
  if (attn_pool && !attn_layers->options.causal) pooled = attn_pool->forward(x, mask, t, p + "attn_pool");

  if (return_embeddings || !options.to_logits) return x;
  Tensor mixture_weights;  // combine_mixture(x).softmax(dim = -1), then x = to_mixture(x): [..., k, dim]
  if (to_mixture) {
    mixture_weights = combine_mixture->forward(x).softmax(-1);
    Tensor h = to_mixture->forward(x);
    auto shape = h.sizes().vec();
    shape.back() = options.mixture_of_softmax_k;
    shape.push_back(x.size(-1));
    x = h.reshape(shape);
  }
  Tensor logits = logits_of(x);
  if (mixture_weights.defined()) {
    // prob = logits.softmax(dim = -1); mos = einsum('... k d, ... k -> ... d', prob, combine_mixture); log(mos)
    Tensor mos = torch::einsum("... k d, ... k -> ... d", {logits.softmax(-1), mixture_weights});
    logits = mos.clamp_min(1e-20).log();
  }
  if (options.squeeze_out_last_dim && logits.size(-1) == 1) logits = logits.squeeze(-1);
  trace(t, p + "to_logits", logits);
  if (pooled.defined()) return pooled;  // the logits go to intermediates.logits
  return logits;
}

}  // namespace xcompat::native

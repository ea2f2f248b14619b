#pragma once
// x_transformers TransformerWrapper: token (+ absolute positional)
// embedding, memory tokens, the attention layers, the logits head.
//
// Registered: token_emb.emb.weight, pos_emb.emb.weight, memory_tokens,
// attn_layers.*, to_logits.weight (+ .bias up to 1.26.x).
#include "harness/native/attention_layers.hpp"

namespace xcompat::native {

struct TransformerWrapperOptions {  // TransformerWrapper(num_tokens, max_seq_len, attn_layers, use_abs_pos_emb = True, num_memory_tokens = None, tie_embedding = False, emb_dropout = 0.)
  int64_t num_tokens = 0;
  int64_t max_seq_len = 0;
  bool use_abs_pos_emb = true;
  int64_t num_memory_tokens = 0;
  bool tie_embedding = false;
  // how the producing release builds it
  bool to_logits = true;            // false: return_only_embed (XTransformer's encoder, see xtransformer.hpp)
  bool logits_bias = false;         // !kLogitsWithoutBias
  std::optional<bool> to_logits_bias;  // to_logits = nn.Linear(dim, num_tokens, bias = ...) given (from 1.42.8)
  bool tied_logits_scaled = false;  // kTiedLogitsScaled
  std::optional<double> tie_embedding_scale;  // given (from 2.30.5); else dim ** -0.5 when scaled
  std::optional<int64_t> logits_dim;          // logits_dim = default(logits_dim, num_tokens) (from 1.14.0)
  // One output per row instead of per token (from 1.42.17): the mean over the
  // (unpadded) positions, or learned CLS tokens prepended and read back.
  bool average_pool_embed = false;
  bool use_cls_token = false;
  int64_t num_cls_tokens = 1;
  bool squeeze_out_last_dim = false;  // logits [..., 1] -> [...]
  bool post_emb_norm = false;  // LayerNorm(dim) on the embeddings (the layers' LayerNorm class of the release)
};

class TransformerWrapper : public torch::nn::Module {
 public:
  TransformerWrapper(TransformerWrapperOptions o, AttentionLayersOptions layers, const ReleaseContext& ctx);

  // ids: [b, n] int64; mask: [b, n] bool or undefined. Returns logits
  // [b, n, num_tokens], or the embeddings when return_embeddings.
  // With `cache`: ids are the positions after cache->offset (cached
  // decoding, AttentionLayers::forward); the cache's offset advances by n.
  Tensor forward(const Tensor& ids, const Tensor& mask, const Tensor& context, const Tensor& context_mask,
                 bool return_embeddings, Trace* t = nullptr, const std::string& path = "",
                 DecodeCache* cache = nullptr, const Tensor& condition = {}) const;

  TransformerWrapperOptions options;
  Tensor cls_token;  // [num_cls_tokens, dim] with use_cls_token
  std::shared_ptr<Norm> post_emb_norm;
  std::shared_ptr<TokenEmbedding> token_emb;
  std::shared_ptr<AbsolutePositionalEmbedding> pos_emb;  // absent with rotary / T5 bias / use_abs_pos_emb = False
  Tensor memory_tokens;                                  // [num_memory_tokens, dim]
  std::shared_ptr<AttentionLayers> attn_layers;
  std::shared_ptr<Linear> to_logits;                     // absent when tied or return_only_embed
};

}  // namespace xcompat::native

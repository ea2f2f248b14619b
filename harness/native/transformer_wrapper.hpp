#pragma once
// x_transformers TransformerWrapper: token (+ absolute positional)
// embedding, memory tokens, the attention layers, the logits head.
//
// Registered: token_emb.emb.weight, pos_emb.emb.weight, memory_tokens,
// attn_layers.*, to_logits.weight (+ .bias up to 1.26.x).
#include "harness/native/attention_layers.hpp"
#include "harness/native/attention_pool.hpp"

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
  // Heads and loops of the 2.x wrapper:
  // attn_pool (from 2.11.24): an AttentionPool on the layers' output; an
  // Encoder returns its pooled tokens [b, num_pooled_tokens, dim_pooled_tokens]
  // (the logits are computed and dropped), a Decoder its logits (the pool
  // runs only with return_intermediates).
  bool attn_pool = false;
  int64_t num_pooled_tokens = 1;
  int64_t attn_pool_depth = 1;
  std::optional<int64_t> dim_pooled_tokens;
  // mixture_of_softmax (from 1.37.10): k logits per position, mixed by
  // softmax(combine_mixture(x)) in probability space; log-probabilities out.
  bool mixture_of_softmax = false;
  int64_t mixture_of_softmax_k = 4;
  bool ff_deep_embed = false;  // a [num_tokens, depth, dim] scale on each feed-forward's output, by token (from 2.3.27)
  bool add_continuous_pred_head = false;  // to_next_embed_pred: weights only, not in the forward's output (from 2.3.27)
  bool looped = false;  // the layers run max_looped_steps = 4 times, each on the last's output (from 2.30.5)
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
  std::shared_ptr<AttentionPool> attn_pool;
  std::shared_ptr<Linear> to_mixture, combine_mixture;   // to_mixture.0, combine_mixture (mixture_of_softmax)
  Tensor ff_deep_embed;                                  // [num_tokens, depth, dim]
  std::shared_ptr<Linear> next_embed_pred_in, next_embed_pred_out;  // to_next_embed_pred.0 / .2
  std::shared_ptr<Linear> exit_gate;                     // looped: the exit gate (only its training loss reads it)

 private:
  // train_max_looped_steps = max_looped_steps = 4, the steps an eval forward runs
  static constexpr int64_t kMaxLoopedSteps = 4;
  void register_heads(const TransformerWrapperOptions& o, const AttentionLayersOptions& layers_opts, const ReleaseContext& ctx);
  Tensor logits_of(const Tensor& x) const;
};

}  // namespace xcompat::native

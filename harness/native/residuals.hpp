#pragma once
// The residual variants of x_transformers AttentionLayers (package
// "residual"): what replaces `x = branch_out + residual` or reshapes the
// block's input, each named after its Python class:
//
//   orthogonal_residual_update  OrthogonalResidualUpdate (orthog_residual, from 2.20.0)
//   MVSplitResidualUpdate       mv_split_residual (from 2.20.0), `layers.<i>.2.{alpha,beta}`
//   ConcatCombine               unet_skips (from 1.35.2), `skip_combines.<i>.combine`
//   AttentionResidual           attn_aggregated_residuals (three forms, from 2.20.0), `layer_integrators.<i>`
#include <vector>

#include "harness/native/attention.hpp"
#include "harness/native/modules.hpp"
#include "harness/native/positional.hpp"

namespace xcompat::native {

// OrthogonalResidualUpdate.forward(out, residual) = residual + orthog_project(out, residual):
// the branch output without its component along the residual, each batch
// row flattened over (n, d) (`pack([x], 'b *')`), computed in float64.
Tensor orthogonal_residual_update(const Tensor& out, const Tensor& residual);

// MVSplitResidualUpdate(dim, learned): residual + (out - mean(out)) * beta
// + (mean(out) - mean(residual)) * alpha, the means over the sequence
// (masked_mean of torch_einops_utils: padded positions left out); alpha and
// beta are parameters [dim], or with learned = True to_alpha(mean(out)),
// to_beta(mean(out)) (nn.Linear(dim, dim)).
class MVSplitResidualUpdate : public torch::nn::Module {
 public:
  MVSplitResidualUpdate(int64_t dim, bool learned);
  Tensor forward(const Tensor& out, const Tensor& residual, const Tensor& mask) const;
  Tensor alpha, beta;                        // learned = False
  std::shared_ptr<Linear> to_alpha, to_beta;  // learned = True
};

// ConcatCombine(dim, prev_layer_ind): combine(cat(hiddens[prev_layer_ind], x)),
// combine = Linear(2 dim, dim) without a bias.
class ConcatCombine : public torch::nn::Module {
 public:
  ConcatCombine(int64_t dim, int64_t prev_layer_ind);
  Tensor forward(const Tensor& x, const std::vector<Tensor>& prev_layers) const;
  int64_t prev_layer_ind;
  std::shared_ptr<Linear> combine;
};

// nn.RMSNorm(dim): weight only, eps = None (the dtype's epsilon).
class TorchRMSNorm : public torch::nn::Module {
 public:
  explicit TorchRMSNorm(int64_t dim);
  Tensor forward(const Tensor& x) const;
  int64_t dim;
  Tensor weight;
};

// AttentionResidual(dim, num_views = 1, lora_rank = 64): softmax attention
// over every hidden so far (the layers' inputs), in three forms:
//   PooledAttention (2.20.0 - 2.28.5, AttentionAggregatedResidual(dim, heads,
//     dim_head, rotary_pos_emb) with attn_residuals_last_output_as_query = False):
//     per position, an AttentionPool: Attention(dim, heads, dim_head, k_rmsnorm = True)
//     (`attn_pool.pooler`) from a learned query (`attn_pool.queries`) to the
//     hiddens; with the layers' rotary_pos_emb, rotary over the depth (`pos_emb`,
//     RotaryEmbedding(dim_head)): the query at the last layer's position, the keys at theirs.
//   PseudoQuery (2.30.5): a learned query `pseudo_query` [1, dim]; keys
//     to_keys = Sequential(RMSNorm, LoRALinear(dim, dim, rank), RMSNorm).
//   LatestHidden (2.31.10): the query the latest hidden plus a low-rank delta,
//     normed: to_keys = RMSNorm, to_query = Sequential(RMSNorm, LoRALinear), norm = RMSNorm.
enum class AttentionResidualForm { PooledAttention, PseudoQuery, LatestHidden };

class AttentionResidual : public torch::nn::Module {
 public:
  // pooler: the PooledAttention form's Attention options (the release's switches set);
  // depth_rotary: its pos_emb (the layers' rotary_pos_emb)
  AttentionResidual(int64_t dim, int64_t lora_rank, AttentionResidualForm form, const AttentionOptions& pooler = {},
                    bool depth_rotary = false);
  Tensor forward(const std::vector<Tensor>& hiddens) const;
  AttentionResidualForm form;
  double scale;  // dim ** -0.5
  std::shared_ptr<TorchRMSNorm> key_norm, key_out_norm, query_norm, norm;  // to_keys(.0, .2), to_query.0, norm
  std::shared_ptr<Linear> lora_down, lora_up;  // to_keys.1 / to_query.1: down, up
  Tensor pseudo_query;                         // PseudoQuery: [1, dim]
  Tensor pool_queries;                         // PooledAttention: attn_pool.queries [1, dim]
  std::shared_ptr<Attention> pooler;           // PooledAttention: attn_pool.pooler
  std::shared_ptr<RotaryEmbedding> pos_emb;    // PooledAttention with rotary: pos_emb
};

}  // namespace xcompat::native

#pragma once
// Attention-logit terms computed inside Attention / Attend from the data
// (x_transformers.py, the classes of the same names, unchanged in the pins
// from where each appears to 2.31.10):
//   CoPE                        contextual positions (attn_use_cope, from 1.30.23), `attend.cope`
//   DataDependentAlibi          forgetting-transformer gates (attn_data_dependent_alibi, from 1.42.17), `data_dependent_alibi`
//   RelativeProjPositionalBias  distance-basis bias (attn_use_rel_proj_pos_bias, from 2.25.1), `rel_proj_pos_bias`
#include "harness/native/modules.hpp"

namespace xcompat::native {

// CoPE(dim = dim_head, heads, max_pos, talking_heads): `pos_emb` [max_pos,
// dim_head], with talking heads `talking_heads.weight` (nn.Conv2d(heads,
// heads, 1, bias = False)). Without soft one-hot positions.
class CoPE : public torch::nn::Module {
 public:
  CoPE(int64_t dim_head, int64_t heads, int64_t max_pos, bool talking_heads);
  // query [b, h, i, d], attn_logits [b, h, i, j] (scaled, masked): the term added to the logits
  Tensor forward(const Tensor& query, const Tensor& attn_logits) const;
  int64_t max_pos;
  Tensor pos_emb;
  Tensor talking_heads_weight;  // [heads, heads, 1, 1]
};

// DataDependentAlibi(dim, heads, causal): to_forget_gates = Sequential(Linear(dim,
// heads * (1 if causal else 2)), Rearrange('b n h -> b h n'), LogSigmoid()).
// With per_row (PerRowDataDependentAlibi(dim, heads, dim_head), causal only):
// the gates come from small queries and keys, to_forget_gates.0 =
// Linear(dim, heads * dim_head * 2, bias = False).
class DataDependentAlibi : public torch::nn::Module {
 public:
  DataDependentAlibi(int64_t dim, int64_t heads, bool causal, int64_t per_row_dim_head = 0);
  Tensor forward(const Tensor& x) const;  // [b, h, n, n]
  bool causal;
  int64_t heads, per_row_dim_head;  // 0: one gate per position (DataDependentAlibi)
  std::shared_ptr<Container> to_forget_gates;
  std::shared_ptr<Linear> linear;  // to_forget_gates.0
 private:
  Tensor per_row_forward(const Tensor& x) const;
};

// RelativeProjPositionalBias(dim, heads, num_distance_basis, max_dist):
// to_distance_weights.0 = Linear(dim, heads * num_distance_basis),
// distance_bank [num_distance_basis, max_dist].
class RelativeProjPositionalBias : public torch::nn::Module {
 public:
  RelativeProjPositionalBias(int64_t dim, int64_t heads, int64_t num_distance_basis, int64_t max_dist);
  Tensor forward(const Tensor& x, int64_t seq_len_k) const;  // [b, h, n, seq_len_k]
  int64_t heads, num_distance_basis, max_dist;
  std::shared_ptr<Container> to_distance_weights;
  std::shared_ptr<Linear> linear;  // to_distance_weights.0
  Tensor distance_bank;
};

}  // namespace xcompat::native

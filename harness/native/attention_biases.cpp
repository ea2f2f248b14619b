#include "harness/native/attention_biases.hpp"

namespace xcompat::native {

CoPE::CoPE(int64_t dim_head, int64_t max) : max_pos(max) {
  pos_emb = register_parameter("pos_emb", torch::zeros({max, dim_head}));
}

Tensor CoPE::forward(const Tensor& query, const Tensor& attn_logits) const {
  // positions: how many keys at or after j the query gates open (a reversed
  // cumulative sum of sigmoid gates), clamped to the table
  Tensor gates = attn_logits.sigmoid();
  Tensor pos = gates.flip(-1).cumsum(-1).flip(-1);
  pos = pos.clamp_max(max_pos - 1);
  Tensor logits_int = torch::einsum("b h n d, p d -> b h n p", {query, pos_emb});
  // interpolate from integer positions
  Tensor pos_ceil = pos.ceil().to(torch::kLong);
  Tensor pos_floor = pos.floor().to(torch::kLong);
  Tensor logits_ceil = logits_int.gather(-1, pos_ceil);
  Tensor logits_floor = logits_int.gather(-1, pos_floor);
  Tensor w = pos - pos_floor;
  return logits_ceil * w + logits_floor * (1 - w);
}

DataDependentAlibi::DataDependentAlibi(int64_t dim, int64_t heads, bool c) : causal(c) {
  to_forget_gates = register_module("to_forget_gates", std::make_shared<Container>());
  linear = to_forget_gates->add("0", std::make_shared<Linear>(dim, heads * (causal ? 1 : 2), true));
}

Tensor DataDependentAlibi::forward(const Tensor& x) const {
  // to_forget_gates(x) * post_log_scale (1.), cumulative over the sequence
  Tensor gates = at::log_sigmoid(linear->forward(x).permute({0, 2, 1})) * 1.0;
  gates = gates.cumsum(-1);
  Tensor reversed;
  if (!causal) {
    auto halves = gates.chunk(2, 1);
    gates = halves[0], reversed = halves[1];
  }
  // einx.subtract('b h i, b h j -> b h i j'): gates_i - gates_j
  Tensor bias = gates.unsqueeze(-1) - gates.unsqueeze(-2);
  if (!causal) {
    // einx.subtract('b h j, b h i -> b h i j'): reversed_j - reversed_i; tril() + triu()
    reversed = reversed.unsqueeze(-2) - reversed.unsqueeze(-1);
    bias = bias.tril() + reversed.triu();
  }
  return bias;
}

RelativeProjPositionalBias::RelativeProjPositionalBias(int64_t dim, int64_t h, int64_t nb, int64_t max)
    : heads(h), num_distance_basis(nb), max_dist(max) {
  to_distance_weights = register_module("to_distance_weights", std::make_shared<Container>());
  linear = to_distance_weights->add("0", std::make_shared<Linear>(dim, h * nb, true));
  distance_bank = register_parameter("distance_bank", torch::zeros({nb, max}));
}

Tensor RelativeProjPositionalBias::forward(const Tensor& x, int64_t seq_len_k) const {
  const int64_t b = x.size(0), n = x.size(1);
  Tensor pos_q = torch::arange(n, torch::kLong) + (seq_len_k - n);
  Tensor pos_k = torch::arange(seq_len_k, torch::kLong);
  Tensor rel_dist = pos_q.unsqueeze(1) - pos_k.unsqueeze(0);  // einx.subtract('i, j -> i j')
  Tensor valid = (rel_dist >= 0).logical_and(rel_dist < max_dist);
  Tensor clamped = rel_dist.clamp(0, max_dist - 1);
  // Rearrange('b n (h d) -> b h n d', h = heads)
  Tensor weights = linear->forward(x).reshape({b, n, heads, num_distance_basis}).permute({0, 2, 1, 3});
  Tensor curves = torch::einsum("b h n d, d r -> b h n r", {weights, distance_bank});
  Tensor bias = curves.gather(-1, clamped.view({1, 1, n, seq_len_k}).expand({b, heads, n, seq_len_k}));
  return bias.masked_fill(valid.logical_not(), 0.0);
}

}  // namespace xcompat::native

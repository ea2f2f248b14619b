#include "harness/native/attention_biases.hpp"

#include <cmath>
#include <limits>

namespace xcompat::native {

CoPE::CoPE(int64_t dim_head, int64_t heads, int64_t max, bool talking_heads) : max_pos(max) {
  pos_emb = register_parameter("pos_emb", torch::zeros({max, dim_head}));
  if (talking_heads) {
    auto conv = register_module("talking_heads", std::make_shared<Container>());
    talking_heads_weight = conv->register_parameter("weight", torch::zeros({heads, heads, 1, 1}));
  }
}

Tensor CoPE::forward(const Tensor& query, const Tensor& logits_in) const {
  Tensor attn_logits = logits_in;
  if (talking_heads_weight.defined()) {
    // mix the heads' logits (1x1 conv), then mask the future again with -finfo.max
    const int64_t i = attn_logits.size(-2), j = attn_logits.size(-1);
    Tensor causal_mask = torch::ones({i, j}, attn_logits.options()).triu_(j - i + 1).to(torch::kBool);
    attn_logits = torch::conv2d(attn_logits, talking_heads_weight);
    attn_logits = attn_logits.masked_fill(causal_mask, -static_cast<double>(std::numeric_limits<float>::max()));
  }
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

DataDependentAlibi::DataDependentAlibi(int64_t dim, int64_t h, bool c, int64_t per_row)
    : causal(c), heads(h), per_row_dim_head(per_row) {
  to_forget_gates = register_module("to_forget_gates", std::make_shared<Container>());
  linear = per_row > 0 ? to_forget_gates->add("0", std::make_shared<Linear>(dim, heads * per_row * 2, false))
                       : to_forget_gates->add("0", std::make_shared<Linear>(dim, heads * (causal ? 1 : 2), true));
}

Tensor DataDependentAlibi::per_row_forward(const Tensor& x) const {
  const int64_t b = x.size(0), n = x.size(1), d = per_row_dim_head;
  // Rearrange('b n (qk h d) -> qk b h n d', qk = 2, d = dim_head)
  Tensor qk = linear->forward(x).reshape({b, n, 2, heads, d}).permute({2, 0, 3, 1, 4});
  Tensor q = qk.select(0, 0), k = qk.select(0, 1);
  Tensor gates = torch::einsum("... i d, ... j d -> ... i j", {q, k}) * std::pow(static_cast<double>(d), -0.5);
  gates = at::log_sigmoid(gates) * 1.0;  // * post_log_scale
  // mask out upper triangle + diagonal, then a reversed cumulative sum over the keys
  Tensor causal_mask = torch::ones({n, n}, torch::kBool).triu();
  gates = gates.masked_fill(causal_mask, 0.0);
  return gates.flip({-1}).cumsum(-1).flip({-1});
}

Tensor DataDependentAlibi::forward(const Tensor& x) const {
  if (per_row_dim_head > 0) return per_row_forward(x);
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

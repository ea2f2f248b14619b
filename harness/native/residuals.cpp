#include "harness/native/residuals.hpp"

#include <cmath>

namespace xcompat::native {

Tensor orthogonal_residual_update(const Tensor& out, const Tensor& residual) {
  // orthog_project(x, y): pack 'b *', float64, F.normalize(y, dim = -1),
  // parallel = (x * unit).sum(-1, keepdim) * unit, x - parallel, back to x's dtype
  const int64_t b = out.size(0);
  const Tensor x = out.reshape({b, -1}).to(at::kDouble);
  const Tensor y = residual.reshape({b, -1}).to(at::kDouble);
  const Tensor unit = y / at::linalg_vector_norm(y, 2, {-1}, true).clamp_min(1e-12).expand_as(y);
  const Tensor parallel = (x * unit).sum(-1, true) * unit;
  const Tensor orthog = (x - parallel).reshape(out.sizes()).to(out.scalar_type());
  return residual + orthog;
}

namespace {
// torch_einops_utils.masked_mean(t, mask, dim = -2, keepdim = True, eps = 1e-5):
// (t * mask).sum / mask.sum().clamp(min = eps); without a mask, t.mean.
Tensor masked_sequence_mean(const Tensor& t, const Tensor& mask) {
  if (!mask.defined()) return t.mean(-2, true);
  const Tensor m = mask.unsqueeze(-1).expand_as(t);
  const Tensor num = (t * m).sum(-2, true);
  // bool sum -> int64; clamp with a float bound promotes it to the default float dtype
  const Tensor den = m.sum(-2, true).to(t.scalar_type()).clamp_min(1e-5);
  return num / den;
}
}  // namespace

MVSplitResidualUpdate::MVSplitResidualUpdate(int64_t dim, bool learned) {
  if (learned) {
    to_alpha = register_module("to_alpha", std::make_shared<Linear>(dim, dim, true));
    to_beta = register_module("to_beta", std::make_shared<Linear>(dim, dim, true));
    return;
  }
  alpha = register_parameter("alpha", torch::zeros({dim}));
  beta = register_parameter("beta", torch::zeros({dim}));
}

Tensor MVSplitResidualUpdate::forward(const Tensor& out, const Tensor& residual, const Tensor& mask) const {
  const Tensor mean_x = masked_sequence_mean(out, mask);
  const Tensor mean_residual = masked_sequence_mean(residual, mask);
  const Tensor a = to_alpha ? to_alpha->forward(mean_x) : alpha;
  const Tensor b = to_beta ? to_beta->forward(mean_x) : beta;
  const Tensor centered_x = out - mean_x;
  return residual + centered_x * b + (mean_x - mean_residual) * a;
}

ConcatCombine::ConcatCombine(int64_t dim, int64_t prev) : prev_layer_ind(prev) {
  combine = register_module("combine", std::make_shared<Linear>(dim * 2, dim, false));
}

Tensor ConcatCombine::forward(const Tensor& x, const std::vector<Tensor>& prev_layers) const {
  const Tensor& skip = prev_layers.at(static_cast<std::size_t>(prev_layer_ind));
  return combine->forward(at::cat({skip, x}, -1));
}

TorchRMSNorm::TorchRMSNorm(int64_t d) : dim(d) { weight = register_parameter("weight", torch::ones({d})); }

Tensor TorchRMSNorm::forward(const Tensor& x) const { return at::rms_norm(x, {dim}, weight, std::nullopt); }

AttentionResidual::AttentionResidual(int64_t dim, int64_t lora_rank, AttentionResidualForm f, const AttentionOptions& pool,
                                     bool depth_rotary)
    : form(f), scale(std::pow(static_cast<double>(dim), -0.5)) {
  if (form == AttentionResidualForm::PooledAttention) {
    auto attn_pool = register_module("attn_pool", std::make_shared<Container>());
    pool_queries = attn_pool->register_parameter("queries", torch::zeros({1, dim}));
    pooler = attn_pool->add("pooler", std::make_shared<Attention>(pool));
    if (depth_rotary)
      pos_emb = register_module("pos_emb", std::make_shared<RotaryEmbedding>(RotaryEmbeddingOptions{pool.dim_head, pool.rotary_interleaved}));
    return;
  }
  auto add_lora = [&](const std::shared_ptr<Container>& seq) {
    auto lora = seq->add("1", std::make_shared<Container>());
    lora_down = lora->add("down", std::make_shared<Linear>(dim, lora_rank, false));
    lora_up = lora->add("up", std::make_shared<Linear>(lora_rank, dim, false));
  };
  if (form == AttentionResidualForm::PseudoQuery) {
    pseudo_query = register_parameter("pseudo_query", torch::zeros({1, dim}));
    auto to_keys = register_module("to_keys", std::make_shared<Container>());
    key_norm = to_keys->add("0", std::make_shared<TorchRMSNorm>(dim));
    add_lora(to_keys);
    key_out_norm = to_keys->add("2", std::make_shared<TorchRMSNorm>(dim));
    return;
  }
  key_norm = register_module("to_keys", std::make_shared<TorchRMSNorm>(dim));
  auto to_query = register_module("to_query", std::make_shared<Container>());
  query_norm = to_query->add("0", std::make_shared<TorchRMSNorm>(dim));
  add_lora(to_query);
  norm = register_module("norm", std::make_shared<TorchRMSNorm>(dim));
}

Tensor AttentionResidual::forward(const std::vector<Tensor>& hiddens) const {
  if (form == AttentionResidualForm::PooledAttention) {
    // stack(dim = 1), 'b l n d -> b n l d', pack '* l d': one sequence of depth l per position
    const Tensor& latest = hiddens.back();
    const int64_t b = latest.size(0), n = latest.size(1), d = latest.size(2), l = static_cast<int64_t>(hiddens.size());
    const Tensor context = at::stack(hiddens, 1).permute({0, 2, 1, 3}).reshape({b * n, l, d});
    // AttentionPool: repeat(queries, 'n d -> b n d', b = b * n)
    const Tensor queries = pool_queries.unsqueeze(0).expand({b * n, -1, -1});
    AttentionInputs in;
    in.context = context;
    if (pos_emb) in.rotary_freqs = in.context_rotary_freqs = pos_emb->forward(l);
    const Tensor pooled = pooler->forward(queries, in).out;  // [(b n), 1, d]
    return pooled.reshape({b, n, d});  // '... 1 d -> ... d', unpack '* d'
  }
  const Tensor stacked = at::stack(hiddens, 0);  // [l, b, n, d]
  if (form == AttentionResidualForm::PseudoQuery) {
    const Tensor keys = key_out_norm->forward(lora_up->forward(lora_down->forward(key_norm->forward(stacked))));
    const Tensor logits = at::einsum("v d, l b ... d -> v l b ...", {pseudo_query, keys}) * scale;
    const Tensor weights = logits.softmax(1);
    return at::einsum("v l b ..., l b ... d -> v b ... d", {weights, stacked}).squeeze(0);
  }
  const Tensor latest = stacked[-1];
  // query = rearrange(latest, '... d -> 1 ... d'); the delta '... (v d) -> v ... d' with v = 1
  const Tensor query_delta = lora_up->forward(lora_down->forward(query_norm->forward(latest))).unsqueeze(0);
  const Tensor query = norm->forward(latest.unsqueeze(0) + query_delta);
  const Tensor keys = key_norm->forward(stacked);
  const Tensor logits = at::einsum("v b ... d, l b ... d -> v l b ...", {query, keys}) * scale;
  const Tensor weights = logits.softmax(1);
  const Tensor out = at::einsum("v l b ..., l b ... d -> v b ... d", {weights, stacked});
  return out.squeeze(0);  // rearrange(out, '1 ... -> ...')
}

}  // namespace xcompat::native

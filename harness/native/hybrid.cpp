#include "harness/native/hybrid.hpp"

#include <cmath>

namespace xcompat::native {

namespace {
// MultiheadRMSNorm: SimpleRMSNorm (F.normalize(x, dim = -1) * dim ** 0.5) * (gamma + 1.)
Tensor multihead_rmsnorm(const Tensor& x, const Tensor& gamma) {
  const Tensor normed = x / at::linalg_vector_norm(x, 2, {-1}, true).clamp_min(1e-12).expand_as(x);
  return normed * std::sqrt(static_cast<double>(x.size(-1))) * (gamma + 1.0);
}
}  // namespace

HybridBranch::HybridBranch(torch::nn::Module& owner, const HybridOptions& o, int64_t dim, int64_t h, int64_t d)
    : options(o), heads(h), dim_head(d) {
  auto module = owner.register_module("hybrid_module", std::make_shared<Container>());  // FoldAxially(fn = GRU)
  gru = module->register_module(
      "fn", std::make_shared<torch::nn::GRUImpl>(
                torch::nn::GRUOptions(o.input_size, o.hidden_size).batch_first(true).bidirectional(o.bidirectional)));
  if (o.normed) {
    auto norms = owner.register_module("hybrid_norms", std::make_shared<Container>());
    out_norm_gamma = norms->add("0", std::make_shared<Container>())->register_parameter("gamma", torch::zeros({h, 1, d}));
    hybrid_norm_gamma = norms->add("1", std::make_shared<Container>())->register_parameter("gamma", torch::zeros({h, 1, d}));
  }
  if (o.learned_mix) mix = owner.register_module("hybrid_mix", std::make_shared<Linear>(dim, h, false));
}

Tensor HybridBranch::forward(const Tensor& attn_out, const Tensor& x) const {
  // FoldAxially: pad the sequence to a multiple of a, 'b (n a) d -> (b a) n d', run, unfold, trim
  const int64_t b = x.size(0), n = x.size(1), a = options.fold_axial_dim;
  Tensor folded = x;
  if (a > 1) {
    const int64_t padded = (n + a - 1) / a * a;
    folded = at::constant_pad_nd(x, {0, 0, 0, padded - n}, 0);
    folded = folded.reshape({b, padded / a, a, x.size(2)}).permute({0, 2, 1, 3}).reshape({b * a, padded / a, x.size(2)});
  }
  Tensor y = std::get<0>(gru->forward(folded));  // (output, h_n): the output
  if (a > 1) {
    const int64_t m = y.size(1);
    y = y.reshape({b, a, m, y.size(2)}).permute({0, 2, 1, 3}).reshape({b, m * a, y.size(2)}).slice(1, 0, n);
  }
  // 'b n (h d) -> b h n d'
  Tensor hybrid_out = y.reshape({b, n, heads, y.size(2) / heads}).permute({0, 2, 1, 3});
  if (!options.normed) return 0.5 * (attn_out + hybrid_out);  // out = 0.5 * (out + hybrid_out), heads merged or not
  const Tensor out = multihead_rmsnorm(attn_out, out_norm_gamma);
  hybrid_out = multihead_rmsnorm(hybrid_out, hybrid_norm_gamma);
  if (mix) {
    const Tensor m = at::sigmoid(mix->forward(x)).permute({0, 2, 1}).unsqueeze(-1);  // 'b n h -> b h n 1'
    return at::lerp(out, hybrid_out, m);
  }
  return 0.5 * (out + hybrid_out);
}

}  // namespace xcompat::native

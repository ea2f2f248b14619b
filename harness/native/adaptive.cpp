#include "harness/native/adaptive.hpp"

#include <cmath>

#include "harness/core/error.hpp"

namespace xcompat::native {

namespace {
// AttentionLayers turns a [b, d] condition into [b, 1, d] before any module
// sees it; each module repeats the rearrange for a 2-d condition.
Tensor as_sequence(const Tensor& condition) { return condition.dim() == 2 ? condition.unsqueeze(1) : condition; }

[[noreturn]] void missing_condition() {
  throw Error("an adaptive norm ran without its condition (the spec's inputs.condition)");
}
}  // namespace

AdaptiveLayerNorm::AdaptiveLayerNorm(int64_t d, int64_t dim_condition) : dim(d) {
  to_gamma = register_module("to_gamma", std::make_shared<Linear>(dim_condition, d, false));
}

Tensor AdaptiveLayerNorm::compute(const Tensor&) const { missing_condition(); }

Tensor AdaptiveLayerNorm::compute_conditioned(const Tensor& x, const Tensor& condition) const {
  if (!condition.defined()) missing_condition();
  // self.ln = nn.LayerNorm(dim, elementwise_affine = False); normed * (gamma + 1.)
  const Tensor normed = at::layer_norm(x, {dim}, {}, {}, 1e-5);
  return normed * (to_gamma->forward(as_sequence(condition)) + 1.0);
}

AdaptiveRMSNorm::AdaptiveRMSNorm(int64_t d, int64_t dim_condition) : scale(std::sqrt(static_cast<double>(d))) {
  to_gamma = register_module("to_gamma", std::make_shared<Linear>(dim_condition, d, false));
}

Tensor AdaptiveRMSNorm::compute(const Tensor&) const { missing_condition(); }

Tensor AdaptiveRMSNorm::compute_conditioned(const Tensor& x, const Tensor& condition) const {
  if (!condition.defined()) missing_condition();
  // F.normalize(x, dim = -1) * self.scale * (gamma + 1.)
  const Tensor normed = x / at::linalg_vector_norm(x, 2, {-1}, true).clamp_min(1e-12).expand_as(x);
  return normed * scale * (to_gamma->forward(as_sequence(condition)) + 1.0);
}

AdaptiveLayerScaleGate::AdaptiveLayerScaleGate(int64_t dim, int64_t dim_condition) {
  to_gamma = register_module("to_gamma", std::make_shared<Linear>(dim_condition, dim, true));
}

Tensor AdaptiveLayerScaleGate::forward(const Tensor& branch_out, const Tensor& condition) const {
  if (!condition.defined()) missing_condition();
  return branch_out * at::sigmoid(to_gamma->forward(as_sequence(condition)));
}

Tensor prepare_condition(const Tensor& condition, const Linear* adaptive_mlp) {
  if (!condition.defined()) return condition;
  Tensor c = as_sequence(condition);
  if (adaptive_mlp) c = at::silu(adaptive_mlp->forward(c));
  return c;
}

}  // namespace xcompat::native

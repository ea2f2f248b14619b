#pragma once
// x_transformers' conditioned (adaptive) modules, AttentionLayers(...,
// use_adaptive_layernorm | use_adaptive_rmsnorm | use_adaptive_layerscale,
// dim_condition, adaptive_condition_mlp): norms and a branch scale whose
// gamma is a projection of an extra forward input, `condition` [b, dim_condition]
// (the spec's `inputs.condition`). Measured from 1.30.23, where they appear.
//
// Registered: <norm>.to_gamma.weight; the wrapped branch's layers.<i>.1.fn.*
// and layers.<i>.1.to_gamma.{weight,bias}; attn_layers.adaptive_mlp.0.weight.
#include "harness/native/norms.hpp"

namespace xcompat::native {

// AdaptiveLayerNorm(dim, dim_condition): layer_norm(x) without affine, times (to_gamma(condition) + 1).
class AdaptiveLayerNorm : public Norm {
 public:
  AdaptiveLayerNorm(int64_t dim, int64_t dim_condition);
  Tensor compute(const Tensor& x) const override;  // throws: it needs the condition
  Tensor compute_conditioned(const Tensor& x, const Tensor& condition) const override;
  int64_t dim;
  std::shared_ptr<Linear> to_gamma;
};

// AdaptiveRMSNorm(dim, dim_condition): normalize(x) * dim ** 0.5 * (to_gamma(condition) + 1).
class AdaptiveRMSNorm : public Norm {
 public:
  AdaptiveRMSNorm(int64_t dim, int64_t dim_condition);
  Tensor compute(const Tensor& x) const override;
  Tensor compute_conditioned(const Tensor& x, const Tensor& condition) const override;
  double scale;
  std::shared_ptr<Linear> to_gamma;
};

// AdaptiveLayerScale(fn, dim, dim_condition): fn's output times
// sigmoid(to_gamma(condition)) (ada-LN-zero's gate). The port keeps fn itself
// in the layer; this holds the gate, registered beside `fn`.
class AdaptiveLayerScaleGate : public torch::nn::Module {
 public:
  AdaptiveLayerScaleGate(int64_t dim, int64_t dim_condition);
  Tensor forward(const Tensor& branch_out, const Tensor& condition) const;
  std::shared_ptr<Linear> to_gamma;
};

// AttentionLayers' condition handling: condition [b, d] -> [b, 1, d], then
// adaptive_mlp = Sequential(LinearNoBias(d, d * mult), SiLU()) with
// adaptive_condition_mlp (Identity otherwise).
Tensor prepare_condition(const Tensor& condition, const Linear* adaptive_mlp);

}  // namespace xcompat::native

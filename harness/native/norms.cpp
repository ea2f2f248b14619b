#include "harness/native/norms.hpp"

#include <cmath>

namespace xcompat::native {

namespace {
constexpr double kLayerNormEps = 1e-5;        // nn.LayerNorm / F.layer_norm default
constexpr double kOldRMSNormEps = 1e-8;       // RMSNorm(dim, eps = 1e-8) up to 1.14.0
constexpr double kOldScaleNormEps = 1e-5;     // ScaleNorm(dim, eps = 1e-5) up to 1.27.19
constexpr double kNormalizeEps = 1e-12;       // F.normalize default

// torch.norm(x, dim = -1, keepdim = True) and Tensor.norm(2, -1, True) both
// dispatch to linalg.vector_norm.
Tensor l2_norm_last_dim(const Tensor& x) { return at::linalg_vector_norm(x, 2, {-1}, true); }

// F.normalize(x, dim = -1): x / max(|x|, 1e-12)
Tensor normalize_last_dim(const Tensor& x) {
  return x / l2_norm_last_dim(x).clamp_min(kNormalizeEps).expand_as(x);
}
}  // namespace

Tensor Norm::adapted(const Tensor& x, Tensor y) const {
  if (adapter.empty()) return y;
  if (adapter.identity) y = x;
  // nn.LayerNorm(dim) as the older release built it: eps 1e-5 (xcompat_adapter.py).
  if (adapter.layer_norm_weight.defined())
    y = at::layer_norm(x, {adapter.layer_norm_weight.size(0)}, adapter.layer_norm_weight, adapter.layer_norm_bias, 1e-5);
  if (adapter.output_bias.defined()) y = y + adapter.output_bias;
  return y;
}

LayerNormOptions LayerNormOptions::torch_layer_norm(int64_t dim) {
  LayerNormOptions o;
  o.dim = dim;
  o.beta = true;
  return o;
}

LayerNormOptions LayerNormOptions::for_release(int64_t dim, const ReleaseContext& ctx, bool unit_offset) {
  LayerNormOptions o;
  o.dim = dim;
  o.unit_offset = unit_offset;
  if (!ctx.is_new(kLayerNormCustomClass)) {
    o.beta = true;  // nn.LayerNorm(dim)
  } else if (ctx.is_new(kLayerNormGammaOnly)) {
    o.beta = false;
  } else if (ctx.is_new(kLayerNormTorchBiasless)) {
    // 1.27.1 - 1.30.x: `if version.parse(torch.__version__) >= version.parse('2.1.0'): LayerNorm = partial(nn.LayerNorm, bias = False)`
    if (ctx.torch_major < 0)
      throw NativeUnsupported("a " + ctx.release.str() +
                              " checkpoint without the producing torch version (its norm layout depends on it)");
    const bool torch_2_1 = ctx.torch_major > 2 || (ctx.torch_major == 2 && ctx.torch_minor >= 1);
    o.beta = !torch_2_1;
    o.beta_is_buffer = !torch_2_1;
  } else {
    o.beta = true;  // 1.27.0
    o.beta_is_buffer = true;
  }
  o.separate_affine = ctx.is_new(kLayerNormSeparateAffine);
  return o;
}

LayerNorm::LayerNorm(LayerNormOptions o) : options(o) {
  gamma = register_parameter("gamma", torch::ones({o.dim}));
  if (o.beta) {
    beta = o.beta_is_buffer ? register_buffer("beta", torch::zeros({o.dim}))
                            : register_parameter("beta", torch::zeros({o.dim}));
  }
}

Tensor LayerNorm::compute(const Tensor& x) const {
  const int64_t d = options.dim;
  if (!options.separate_affine) {
    // F.layer_norm(x, x.shape[-1:], weight, bias)
    return beta.defined() ? at::layer_norm(x, {d}, gamma, beta, kLayerNormEps) : at::layer_norm(x, {d}, gamma, {}, kLayerNormEps);
  }
  // normed = self.ln(x); gamma = self.gamma + float(self.unit_offset); return normed * gamma
  Tensor normed = at::layer_norm(x, {d}, {}, {}, kLayerNormEps);
  Tensor scale = options.unit_offset ? gamma + 1.0 : gamma;
  return normed * scale;
}

RMSNorm::RMSNorm(RMSNormOptions o) : options(o) { g = register_parameter("g", torch::ones({o.dim})); }

Tensor RMSNorm::compute(const Tensor& x) const {
  if (!options.normalize) {
    // norm = torch.norm(x, dim = -1, keepdim = True) * self.scale; return x / norm.clamp(min = self.eps) * self.g
    Tensor norm = l2_norm_last_dim(x) * std::pow(static_cast<double>(options.dim), -0.5);
    return x / norm.clamp(kOldRMSNormEps) * g;
  }
  // F.normalize(x, dim = -1) * self.scale * (self.g + float(self.unit_offset))
  Tensor gain = options.unit_offset ? g + 1.0 : g;
  return normalize_last_dim(x) * std::pow(static_cast<double>(options.dim), 0.5) * gain;
}

ScaleNorm::ScaleNorm(ScaleNormOptions o) : options(o) { g = register_parameter("g", torch::ones({1})); }

Tensor ScaleNorm::compute(const Tensor& x) const {
  switch (options.form) {
    case ScaleNormForm::DivideByScaledNorm: {
      Tensor norm = l2_norm_last_dim(x) * std::pow(static_cast<double>(options.dim), -0.5);
      return x / norm.clamp(kOldScaleNormEps) * g;
    }
    case ScaleNormForm::DivideByNorm:
      return x / l2_norm_last_dim(x).clamp(kOldScaleNormEps) * g;
    case ScaleNormForm::Normalize: {
      Tensor gain = options.unit_offset ? g + 1.0 : g;
      return normalize_last_dim(x) * std::pow(static_cast<double>(options.dim), 0.5) * gain;
    }
  }
  return x;
}

DynamicTanh::DynamicTanh(int64_t dim, double init_alpha, bool unit_offset)
    : scale_offset(unit_offset ? init_alpha : 0.0), gamma_offset(unit_offset ? 1.0 : 0.0) {
  // replaced by the checkpoint's
  pre_tanh_scale = register_parameter("pre_tanh_scale", torch::tensor(unit_offset ? 0.0f : static_cast<float>(init_alpha)));
  gamma = register_parameter("gamma", torch::ones({dim}) * (1.0 - gamma_offset));
  beta = register_parameter("beta", torch::zeros({dim}));
}

Tensor DynamicTanh::compute(const Tensor& x) const {
  return (x * (pre_tanh_scale + scale_offset)).tanh() * (gamma + gamma_offset) + beta;
}

Derf::Derf(int64_t dim, bool unit_offset) : offset(unit_offset ? 1.0 : 0.0) {
  alpha = register_parameter("alpha", torch::tensor(static_cast<float>(0.5 - offset)));
  s = register_parameter("s", torch::tensor(0.0f));
  gamma = register_parameter("gamma", torch::ones({dim}) - offset);
  beta = register_parameter("beta", torch::zeros({dim}));
}

Tensor Derf::compute(const Tensor& x) const {
  return torch::erf(x * (alpha + offset) + s) * (gamma + offset) + beta;
}

std::shared_ptr<Norm> make_norm(NormKind kind, int64_t dim, const ReleaseContext& ctx, double dyt_init_alpha) {
  const bool unit_offset = ctx.is_new(kNormUnitOffset);
  switch (kind) {
    case NormKind::DynamicTanh:
      return std::make_shared<DynamicTanh>(dim, dyt_init_alpha, unit_offset);
    case NormKind::Derf:
      return std::make_shared<Derf>(dim, unit_offset);
    case NormKind::LayerNorm:
      return std::make_shared<LayerNorm>(LayerNormOptions::for_release(dim, ctx, unit_offset));
    case NormKind::RMSNorm:
      return std::make_shared<RMSNorm>(RMSNormOptions{dim, unit_offset, ctx.is_new(kRMSNormNormalize)});
    case NormKind::ScaleNorm: {
      ScaleNormForm form = ctx.is_new(kScaleNormNormalize)  ? ScaleNormForm::Normalize
                           : ctx.is_new(kScaleNormUnscaled) ? ScaleNormForm::DivideByNorm
                                                            : ScaleNormForm::DivideByScaledNorm;
      return std::make_shared<ScaleNorm>(ScaleNormOptions{dim, unit_offset, form});
    }
  }
  return nullptr;
}

}  // namespace xcompat::native

#pragma once
// x_transformers norms: LayerNorm (and the nn.LayerNorm it replaced),
// RMSNorm, ScaleNorm. Parameters are registered under the names the newest
// releases save (`gamma`, `beta`, `g`); harness/native/key_map.cpp renames
// older checkpoints' `weight` / `bias` to them.
#include "harness/native/modules.hpp"
#include "harness/native/release_switches.hpp"

namespace xcompat::native {

// What an xcompat adapter (adapters.hpp) makes of a norm's output, as
// harness/python/xcompat_adapter.py's forward hooks do: the input itself
// (identity), a LayerNorm with the adapter's weight and bias (layer_norm), then
// plus a bias (output_bias). Empty: the norm as the release computes it.
struct NormAdapter {
  bool identity = false;
  Tensor layer_norm_weight, layer_norm_bias;  // registered as xcompat_layer_norm_{weight,bias}
  Tensor output_bias;                         // registered as xcompat_output_bias
  bool empty() const { return !identity && !layer_norm_weight.defined() && !output_bias.defined(); }
};

class Norm : public torch::nn::Module {
 public:
  Tensor forward(const Tensor& x) const { return adapted(x, compute(x)); }
  // AttentionLayers passes its `condition` ([b, 1, dim_condition], after the
  // conditioning MLP) to every norm; only the adaptive norms (adaptive.hpp) read it.
  Tensor forward_conditioned(const Tensor& x, const Tensor& condition) const {
    return adapted(x, compute_conditioned(x, condition));
  }
  NormAdapter adapter;

  // The norm as the release computes it.
  virtual Tensor compute(const Tensor& x) const = 0;
  virtual Tensor compute_conditioned(const Tensor& x, const Tensor& /*condition*/) const { return compute(x); }

 private:
  // `y` as the adapter leaves it (y itself without one).
  Tensor adapted(const Tensor& x, Tensor y) const;
};

struct LayerNormOptions {  // LayerNorm(dim, unit_offset = False)
  int64_t dim = 0;
  bool unit_offset = false;
  // how the producing release computes and saves it
  bool beta = false;             // has a bias (nn.LayerNorm.bias, or the `beta` buffer)
  bool beta_is_buffer = false;   // the persistent `beta` buffer of 1.27.0 - 1.30.x
  bool separate_affine = false;  // normalize, then * gamma (kLayerNormSeparateAffine)

  // nn.LayerNorm(dim) with weight and bias, as releases up to 1.26.x use it
  // (and TransformerWrapper.norm up to 1.14.x).
  static LayerNormOptions torch_layer_norm(int64_t dim);
  // The attention layers' LayerNorm of `ctx.release`.
  static LayerNormOptions for_release(int64_t dim, const ReleaseContext& ctx, bool unit_offset);
};

class LayerNorm : public Norm {
 public:
  explicit LayerNorm(LayerNormOptions o);
  Tensor compute(const Tensor& x) const override;
  LayerNormOptions options;
  Tensor gamma, beta;  // beta undefined without a bias
};

struct RMSNormOptions {  // RMSNorm(dim, unit_offset = False)
  int64_t dim = 0;
  bool unit_offset = false;
  bool normalize = true;  // kRMSNormNormalize
};

class RMSNorm : public Norm {
 public:
  explicit RMSNorm(RMSNormOptions o);
  Tensor compute(const Tensor& x) const override;
  RMSNormOptions options;
  Tensor g;  // [dim]
};

enum class ScaleNormForm { DivideByScaledNorm, DivideByNorm, Normalize };

struct ScaleNormOptions {  // ScaleNorm(dim, unit_offset = False)
  int64_t dim = 0;
  bool unit_offset = false;
  ScaleNormForm form = ScaleNormForm::Normalize;
};

class ScaleNorm : public Norm {
 public:
  explicit ScaleNorm(ScaleNormOptions o);
  Tensor compute(const Tensor& x) const override;
  ScaleNormOptions options;
  Tensor g;  // [1]
};

// DynamicTanh(dim, init_alpha, unit_offset) (use_dynamic_tanh):
// tanh(x * (pre_tanh_scale + init_alpha if unit_offset)) * (gamma + unit_offset) + beta
class DynamicTanh : public Norm {
 public:
  DynamicTanh(int64_t dim, double init_alpha, bool unit_offset);
  Tensor compute(const Tensor& x) const override;
  double scale_offset, gamma_offset;
  Tensor pre_tanh_scale, gamma, beta;
};

// Derf(dim, unit_offset) (use_derf):
// erf(x * (alpha + unit_offset) + s) * (gamma + unit_offset) + beta
class Derf : public Norm {
 public:
  Derf(int64_t dim, bool unit_offset);
  Tensor compute(const Tensor& x) const override;
  double offset;
  Tensor alpha, s, gamma, beta;
};

enum class NormKind { LayerNorm, RMSNorm, ScaleNorm, DynamicTanh, Derf };

// AttentionLayers' norm_fn(): the norm class the spec picks, as the release
// computes it (unit offset included). `dyt_init_alpha`: DynamicTanh's.
std::shared_ptr<Norm> make_norm(NormKind kind, int64_t dim, const ReleaseContext& ctx, double dyt_init_alpha = 1.0);

}  // namespace xcompat::native

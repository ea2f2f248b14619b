#pragma once
#include <optional>
// x_transformers FeedForward and GLU.
//
// The port registers the newest layout: `ff.0` = project-in (nn.Sequential
// of Linear + activation, so its Linear is `ff.0.0`; or GLU with `ff.0.proj`),
// `ff.2` = project-out. Older layouts (`net.*`, `ff.3`) are renamed by
// harness/native/key_map.cpp (switches kFeedForwardNamedFf,
// kFeedForwardFiltersNone there).
#include "harness/native/modules.hpp"

namespace xcompat::native {

// relu_squared wins over swish, as in every release (`if relu_squared: ... elif swish: ...`);
// a custom activation (ff_custom_activation, a parameterless torch.nn module) over both.
enum class Activation { GELU, SiLU, ReluSquared, Sigmoid, Tanh, ReLU };

// How a release soft-clamps the GLU branch (ff_glu_gate_softclamp_value).
//   ClampInputs (2.20.0 - 2.30.5): up = softclamp(up, softclamp_value),
//     gate = softclamp(gate, glu_gate_softclamp_value), each when given; up * act(gate).
//   SituGlu (2.31.10): with glu_softclamp, up = softclamp(up, glu_up_softclamp_value) and
//     act(gate) = softclamp(gate, glu_gate_softclamp_value) * ndtr(gate) (GELU) or * sigmoid(gate) (SiLU);
//     without it (and softclamp_value too) nothing is clamped.
enum class GluClampForm { None, ClampInputs, SituGlu };

struct GluClamps {
  std::optional<double> up, gate;
  bool gate_times_activation_gate = false;  // SituGlu: softclamp(gate) * nonlinearity(gate)
};

struct FeedForwardOptions {  // FeedForward(dim, dim_out = None, mult = 4, glu = False, swish = False, relu_squared = False, no_bias = False, dropout = 0.)
  int64_t dim = 0;
  double mult = 4;  // inner_dim = int(dim * mult)
  bool glu = false;
  bool swish = false;
  bool relu_squared = false;
  bool no_bias = false;
  std::optional<double> softclamp_value;  // softclamp after the input projection (with GLU: see glu_clamp_form)
  std::optional<Activation> custom_activation;  // ff_custom_activation = {module = "Sigmoid" | ...} (from 2.3.27)
  // The clamps of the GLU branch, ff_glu_gate_softclamp_value (package residual):
  // 2.20.0 - 2.30.5 clamp the linear half with softclamp_value and the gate
  // before its activation; 2.31.10 clamps only with glu_softclamp (SITU-GLU).
  GluClampForm glu_clamp_form = GluClampForm::None;
  std::optional<double> glu_gate_softclamp_value;  // unset: 4 in 2.31.10, no clamp in 2.20.0 - 2.30.5
  bool glu_softclamp = false;                      // 2.31.10
  double glu_up_softclamp_value = 25.0;            // 2.31.10
};

// GLU(dim_in, dim_out, activation): proj = nn.Linear(dim_in, dim_out * 2);
// x, gate = proj(x).chunk(2); x * act(gate) (* mult_bias, 1. unless glu_mult_bias).
class GLU : public torch::nn::Module {
 public:
  GLU(int64_t dim_in, int64_t dim_out, Activation act, GluClamps clamps = {});
  Tensor forward(const Tensor& x) const;
  Activation act;
  GluClamps clamps;
  std::shared_ptr<Linear> proj;
};

class FeedForward : public torch::nn::Module {
 public:
  explicit FeedForward(FeedForwardOptions o);
  Tensor forward(const Tensor& x, Trace* t = nullptr, const std::string& path = "") const;
  FeedForwardOptions options;
  Activation activation;
  std::shared_ptr<Container> ff;
  std::shared_ptr<Linear> project_in;  // ff.0.0 (not glu)
  std::shared_ptr<GLU> glu;            // ff.0 (glu)
  std::shared_ptr<Linear> project_out; // ff.2
};

}  // namespace xcompat::native

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

struct FeedForwardOptions {  // FeedForward(dim, dim_out = None, mult = 4, glu = False, swish = False, relu_squared = False, no_bias = False, dropout = 0.)
  int64_t dim = 0;
  double mult = 4;  // inner_dim = int(dim * mult)
  bool glu = false;
  bool swish = false;
  bool relu_squared = false;
  bool no_bias = false;
  std::optional<double> softclamp_value;  // softclamp after the input projection (not with GLU; 2.31.10)
  std::optional<Activation> custom_activation;  // ff_custom_activation = {module = "Sigmoid" | ...} (from 2.3.27)
};

// GLU(dim_in, dim_out, activation): proj = nn.Linear(dim_in, dim_out * 2);
// x, gate = proj(x).chunk(2); x * act(gate) (* mult_bias, 1. unless glu_mult_bias).
class GLU : public torch::nn::Module {
 public:
  GLU(int64_t dim_in, int64_t dim_out, Activation act);
  Tensor forward(const Tensor& x) const;
  Activation act;
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

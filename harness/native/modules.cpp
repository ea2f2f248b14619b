#include "harness/native/modules.hpp"

namespace xcompat::native {

Linear::Linear(int64_t in, int64_t out, bool with_bias) : in_features(in), out_features(out) {
  weight = register_parameter("weight", torch::zeros({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
}

Tensor Linear::forward(const Tensor& x) const {
  Tensor y = bias.defined() ? at::linear(x, weight, bias) : at::linear(x, weight);
  return output_bias.defined() ? y + output_bias : y;
}

Embedding::Embedding(int64_t num, int64_t dim) { weight = register_parameter("weight", torch::zeros({num, dim})); }

Tensor Embedding::forward(const Tensor& ids) const { return at::embedding(weight, ids); }

}  // namespace xcompat::native

#pragma once
// The torch.nn pieces x-transformers builds from (nn.Linear, nn.Embedding,
// nn.ModuleList/Sequential slots), registered under the same names, so a
// port module's named_parameters() are state_dict keys. Plus Trace, which
// records named intermediate activations.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace xcompat::native {

using torch::Tensor;

// An nn.ModuleList / nn.Sequential slot holder: children named "0", "1", ...
// (a slot holding None in Python is simply not registered).
class Container : public torch::nn::Module {
 public:
  template <typename M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    return register_module(name, std::move(m));
  }
};

// nn.Linear(in, out, bias): y = x W^T + b (F.linear).
class Linear : public torch::nn::Module {
 public:
  Linear(int64_t in, int64_t out, bool bias);
  Tensor forward(const Tensor& x) const;
  int64_t in_features, out_features;
  Tensor weight, bias;  // bias undefined when bias = False
  // An xcompat output_bias adapter's `xcompat_output_bias` (adapters.hpp),
  // added to the output as its forward hook adds it; undefined without one.
  Tensor output_bias;
};

// nn.Embedding(num, dim): rows of `weight` (F.embedding).
class Embedding : public torch::nn::Module {
 public:
  Embedding(int64_t num, int64_t dim);
  Tensor forward(const Tensor& ids) const;
  Tensor weight;
};

// Named intermediate activations of one forward pass, in the order they
// were computed ("attn_layers.layers.0.1.q", ...). Passing nullptr records
// nothing; the names are module paths so a DRIFT can be traced to the first
// layer that diverges from a release's own intermediates.
struct Trace {
  std::vector<std::pair<std::string, Tensor>> activations;
  void add(const std::string& name, const Tensor& t) { activations.emplace_back(name, t.detach().clone()); }
};

inline void trace(Trace* t, const std::string& name, const Tensor& value) {
  if (t) t->add(name, value);
}

}  // namespace xcompat::native

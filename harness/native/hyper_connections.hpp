#pragma once
// x_transformers' routes between layers that go beyond `x + residual`:
//   - HyperConnection (num_residual_streams > 1, https://arxiv.org/abs/2409.19606):
//     the hidden state is `num_residual_streams` streams, batched as
//     [(b s), n, d]; each layer reads its branch input as a learned mix of the
//     streams and writes its output back into every stream, scaled by beta.
//   - GatedMultiResidual (gated_multi_residual, from 2.28.5): the same
//     streams, read through an elementwise low-rank sigmoid gate.
//   - DynamicLIMe (integrate_layers, https://arxiv.org/abs/2502.09245, from
//     2.3.27): each layer's input is a softmax-weighted sum of every earlier
//     layer's input.
// With qkv_receive_diff_residuals the self-attention's mix yields three views
// (queries, keys, values): branch inputs of [3, b, n, d].
//
// Registered under the release's names: `layers.<i>.2.<param>` (the
// residual), `layer_integrators.<i>.to_weights.{0.g, 1.weight, 1.bias}`.
#include "harness/native/modules.hpp"
#include "harness/native/release.hpp"

namespace xcompat::native {

// HyperConnection's mixing: tanh-squashed dynamic weights with
// unconstrained static ones, then sigmoid-constrained reads and writes and
// Sinkhorn-normalised residual mixes ("manifold constrained"): the history's
// hyper-connections-sinkhorn (2.14.0, bisected), read as kHyperConnectionsSinkhorn.
// The iteration count does not matter as the releases compute it: their
// rearrange splits the residual mix into [1, streams] rows, so the Sinkhorn
// result is all ones (each stream's residual is the sum of all).

// What a multi-stream residual's prepare() hands to the layer and back to its forward().
struct StreamRead {
  Tensor branch_input;  // [b, n, d], or [views, b, n, d] with several input views
  Tensor residuals;     // [b, n, s, d]
  Tensor beta;          // [b, n, s]: how much of the branch output each stream receives
};

class StreamResidual : public torch::nn::Module {
 public:
  // residuals: [(b s), n, d]
  virtual StreamRead prepare(const Tensor& residuals) const = 0;
  // forward(x, residuals, beta): einsum('b n d, b n s -> b n s d', x, beta) + residuals, as [(b s), n, d]
  Tensor write(const Tensor& branch_out, const StreamRead& read) const;
};

struct HyperConnectionOptions {  // HyperConnection(dim, layer_index, num_residual_streams, num_input_views = 1, sinkhorn_iters = 5)
  int64_t dim = 0;
  int64_t streams = 1;
  int64_t views = 1;
  bool sinkhorn = true;  // the release's era (kHyperConnectionsSinkhorn); false: tanh
  int64_t sinkhorn_iters = 5;
};

class HyperConnection : public StreamResidual {
 public:
  explicit HyperConnection(HyperConnectionOptions o);
  StreamRead prepare(const Tensor& residuals) const override;
  HyperConnectionOptions options;
  Tensor norm_weight;  // norm = nn.LayerNorm(dim, bias = False)
  Tensor static_beta, static_alpha, dynamic_alpha_fn, dynamic_alpha_scale, dynamic_beta_fn, dynamic_beta_scale;
};

struct GatedMultiResidualOptions {  // GatedMultiResidual(dim, layer_index, num_residual_streams, num_input_views = 1, read_gate_rank)
  int64_t dim = 0;
  int64_t streams = 1;
  int64_t views = 1;
  int64_t read_gate_rank = 0;
};

class GatedMultiResidual : public StreamResidual {
 public:
  explicit GatedMultiResidual(GatedMultiResidualOptions o);
  StreamRead prepare(const Tensor& residuals) const override;
  GatedMultiResidualOptions options;
  Tensor read_gain, static_read_logit, static_write_logit, dynamic_gate_scale;
  std::shared_ptr<Linear> to_bottleneck, to_read_gate, to_write_gate;
};

struct DynamicLIMeOptions {  // DynamicLIMe(dim, num_layers, num_views = 1, norm = True, use_softmax = True)
  int64_t dim = 0;
  int64_t num_layers = 1;
  int64_t views = 1;
  bool use_softmax = true;
};

class DynamicLIMe : public torch::nn::Module {
 public:
  explicit DynamicLIMe(DynamicLIMeOptions o);
  // x: [b, n, d]; hiddens: num_layers tensors [b, n, d]. Returns [b, n, d] or [views, b, n, d].
  Tensor forward(const Tensor& x, const std::vector<Tensor>& hiddens) const;
  DynamicLIMeOptions options;
  Tensor norm_g;  // to_weights.0 = RMSNorm(dim)
  std::shared_ptr<Linear> to_weights_proj;  // to_weights.1 = nn.Linear(dim, views * num_layers)
};

// AttentionLayers' stream expansion: einx.add('b n d, s d -> (b s) n d', x, stream_emb)
Tensor expand_streams(const Tensor& x, const Tensor& stream_emb);
// ... and reduction: reduce(x, '(b s) n d -> b n d', 'sum', s = streams)
Tensor reduce_streams(const Tensor& x, int64_t streams);

}  // namespace xcompat::native

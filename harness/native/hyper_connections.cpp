#include "harness/native/hyper_connections.hpp"

#include <cmath>

namespace xcompat::native {

namespace {
namespace F = torch::nn::functional;

// rearrange(t, '(b s) n d -> b n s d', s = streams)
Tensor split_streams(const Tensor& t, int64_t streams) {
  return t.reshape({t.size(0) / streams, streams, t.size(1), t.size(2)}).permute({0, 2, 1, 3});
}

// sinkhorn(t, iters) of 2.16.1 - 2.31.10: softmax over dim -2, then
// alternating L1 normalisations of the rows and the columns, in float32.
Tensor sinkhorn(Tensor t, int64_t iters) {
  t = t.softmax(-2);
  for (int64_t i = 0; i < iters; ++i) {
    t = F::normalize(t, F::NormalizeFuncOptions().p(1).dim(-1));
    t = F::normalize(t, F::NormalizeFuncOptions().p(1).dim(-2));
  }
  return t;
}
}  // namespace

Tensor StreamResidual::write(const Tensor& branch_out, const StreamRead& read) const {
  Tensor residuals = torch::einsum("b n d, b n s -> b n s d", {branch_out, read.beta}) + read.residuals;
  // rearrange(residuals, 'b n s d -> (b s) n d')
  return residuals.permute({0, 2, 1, 3}).reshape({-1, residuals.size(1), residuals.size(3)});
}

HyperConnection::HyperConnection(HyperConnectionOptions o) : options(o) {
  const int64_t s = o.streams, v = o.views;
  auto norm = register_module("norm", std::make_shared<Container>());
  norm_weight = norm->register_parameter("weight", torch::ones({o.dim}));
  // the checkpoint's values replace these shapes' initial ones
  static_beta = register_parameter("static_beta", torch::ones({s}));
  static_alpha = register_parameter("static_alpha", torch::zeros({s, v + s}));
  dynamic_alpha_fn = register_parameter("dynamic_alpha_fn", torch::zeros({o.dim, s + v}));
  dynamic_alpha_scale = register_parameter("dynamic_alpha_scale", torch::ones({}));
  dynamic_beta_fn = register_parameter("dynamic_beta_fn", torch::zeros({o.dim}));
  dynamic_beta_scale = register_parameter("dynamic_beta_scale", torch::ones({}));
}

StreamRead HyperConnection::prepare(const Tensor& residuals_in) const {
  const auto& o = options;
  const int64_t views = o.views, streams = o.streams;
  Tensor residuals = split_streams(residuals_in, streams);
  Tensor normed = at::layer_norm(residuals, {o.dim}, norm_weight, {}, 1e-5);

  Tensor wc_weight = normed.matmul(dynamic_alpha_fn);
  if (!o.sinkhorn) wc_weight = wc_weight.tanh();  // self.act = nn.Tanh() (tanh = True)
  Tensor alpha = wc_weight * dynamic_alpha_scale + static_alpha;

  Tensor beta;
  if (o.sinkhorn) {
    Tensor alpha_input = alpha.slice(-1, 0, views).sigmoid();  // constraint Hpre
    Tensor alpha_residual = alpha.slice(-1, views);
    // rearrange '... (s1 s2) -> ... s1 s2' with s2 = streams splits the last
    // axis (of `streams` entries) into [1, streams]: the softmax over s1 is
    // over one entry and the alternating normalisations end in all ones.
    // The release computes exactly that; so does the port.
    auto shape = alpha_residual.sizes().vec();
    std::vector<int64_t> split(shape.begin(), shape.end() - 1);
    split.push_back(shape.back() / streams);
    split.push_back(streams);
    alpha_residual = sinkhorn(alpha_residual.reshape(split), o.sinkhorn_iters).reshape(shape);
    alpha = torch::cat({alpha_input, alpha_residual}, -1);

    Tensor dc_weight = normed.matmul(dynamic_beta_fn).sigmoid() * 2;
    beta = (dc_weight * dynamic_beta_scale + static_beta).sigmoid() * 2;  // constraint Hpost
  } else {
    beta = normed.matmul(dynamic_beta_fn).tanh() * dynamic_beta_scale + static_beta;
  }

  // width connection
  Tensor mix_h = torch::einsum("... s t, ... s d -> ... t d", {alpha, residuals});
  StreamRead r;
  r.beta = beta;
  if (views == 1) {
    r.branch_input = mix_h.select(-2, 0);
    r.residuals = mix_h.slice(-2, 1);
  } else {
    r.branch_input = mix_h.slice(-2, 0, views).movedim(-2, 0);  // rearrange '... v d -> v ... d'
    r.residuals = mix_h.slice(-2, views);
  }
  return r;
}

GatedMultiResidual::GatedMultiResidual(GatedMultiResidualOptions o) : options(o) {
  const int64_t s = o.streams, v = o.views, d = o.dim;
  read_gain = register_parameter("read_gain", torch::ones({s, d}));
  static_read_logit = register_parameter("static_read_logit", torch::zeros({v, s, d}));
  static_write_logit = register_parameter("static_write_logit", torch::zeros({s}));
  to_bottleneck = register_module("to_bottleneck", std::make_shared<Linear>(d * s, o.read_gate_rank, false));
  to_read_gate = register_module("to_read_gate", std::make_shared<Linear>(o.read_gate_rank, d * s * v, false));
  to_write_gate = register_module("to_write_gate", std::make_shared<Linear>(o.read_gate_rank, s, false));
  dynamic_gate_scale = register_parameter("dynamic_gate_scale", torch::ones({}));
}

StreamRead GatedMultiResidual::prepare(const Tensor& residuals_in) const {
  const auto& o = options;
  const int64_t streams = o.streams, views = o.views;
  Tensor residuals = split_streams(residuals_in, streams);
  const int64_t b = residuals.size(0), n = residuals.size(1), d = residuals.size(3);

  // nn.RMSNorm(dim, elementwise_affine = False): eps = finfo(dtype).eps
  Tensor normed = at::rms_norm(residuals, {d}, {}, {}) * read_gain;
  Tensor flat = normed.reshape({b, n, streams * d}) / streams;  // rearrange 'b n s d -> b n (s d)'

  // shared low rank bottleneck for the read and write gates
  Tensor dynamic = at::silu(to_bottleneck->forward(flat)) * dynamic_gate_scale;

  Tensor read_gate = to_read_gate->forward(dynamic) + static_read_logit.reshape({1, 1, -1});
  // rearrange(sigmoid, 'b n (v s d) -> v b n s d')
  read_gate = read_gate.sigmoid().reshape({b, n, views, streams, d}).permute({2, 0, 1, 3, 4});

  StreamRead r;
  // reduce(read_gate * normed, 'v b n s d -> v b n d', 'sum') / streams
  Tensor branch_input = (read_gate * normed).sum(3) / streams;
  r.branch_input = views == 1 ? branch_input.select(0, 0) : branch_input;
  r.beta = (to_write_gate->forward(dynamic) + static_write_logit).sigmoid() * 2;
  r.residuals = residuals;
  return r;
}

DynamicLIMe::DynamicLIMe(DynamicLIMeOptions o) : options(o) {
  auto to_weights = register_module("to_weights", std::make_shared<Container>());
  auto norm = to_weights->add("0", std::make_shared<Container>());
  norm_g = norm->register_parameter("g", torch::ones({o.dim}));
  to_weights_proj = to_weights->add("1", std::make_shared<Linear>(o.dim, o.views * o.num_layers, true));
}

Tensor DynamicLIMe::forward(const Tensor& x, const std::vector<Tensor>& hiddens) const {
  const auto& o = options;
  if (static_cast<int64_t>(hiddens.size()) != o.num_layers)
    throw std::runtime_error("DynamicLIMe: expected " + std::to_string(o.num_layers) + " hiddens");
  Tensor stacked = torch::stack(hiddens);
  // RMSNorm: F.normalize(x, dim = -1) * dim ** 0.5 * g
  Tensor normed = F::normalize(x, F::NormalizeFuncOptions().dim(-1)) * std::pow(static_cast<double>(o.dim), 0.5) * norm_g;
  Tensor logits = to_weights_proj->forward(normed);
  // Rearrange('... (views layers) -> views ... layers')
  auto shape = logits.sizes().vec();
  std::vector<int64_t> split(shape.begin(), shape.end() - 1);
  split.push_back(o.views);
  split.push_back(o.num_layers);
  logits = logits.reshape(split).movedim(-2, 0);
  Tensor weights = o.use_softmax ? logits.softmax(-1) : at::relu(logits);
  Tensor out = torch::einsum("l b n d, v b n l -> v b n d", {stacked, weights});
  return o.views > 1 ? out : out.select(0, 0);
}

Tensor expand_streams(const Tensor& x, const Tensor& stream_emb) {
  const int64_t s = stream_emb.size(0);
  return (x.unsqueeze(1) + stream_emb.unsqueeze(1)).reshape({x.size(0) * s, x.size(1), x.size(2)});
}

Tensor reduce_streams(const Tensor& x, int64_t streams) {
  return x.reshape({x.size(0) / streams, streams, x.size(1), x.size(2)}).sum(1);
}

}  // namespace xcompat::native

#include "harness/native/positional.hpp"

#include <cmath>
#include <numbers>

namespace xcompat::native {

TokenEmbedding::TokenEmbedding(int64_t dim, int64_t num_tokens) {
  emb = register_module("emb", std::make_shared<Embedding>(num_tokens, dim));
}

AbsolutePositionalEmbedding::AbsolutePositionalEmbedding(int64_t d, int64_t max_len) : dim(d), max_seq_len(max_len) {
  emb = register_module("emb", std::make_shared<Embedding>(max_len, d));
}

Tensor AbsolutePositionalEmbedding::forward(int64_t seq_len) const {
  if (seq_len > max_seq_len)
    throw std::runtime_error("sequence length " + std::to_string(seq_len) + " exceeds the absolute positional embedding's max_seq_len " +
                             std::to_string(max_seq_len));
  // pos_emb = self.emb(arange(seq_len)) * self.scale, scale = dim ** -0.5
  Tensor pos = torch::arange(seq_len, torch::kLong);
  return emb->forward(pos) * std::pow(static_cast<double>(dim), -0.5);
}

RotaryEmbedding::RotaryEmbedding(RotaryEmbeddingOptions o) : options(o) {
  // inv_freq = 1. / (10000 ** (arange(0, dim, 2).float() / dim)); replaced by the checkpoint's buffer
  Tensor init = 1.0 / torch::pow(10000.0, torch::arange(0, o.dim, 2, torch::kLong).to(torch::kFloat) / static_cast<double>(o.dim));
  inv_freq = register_buffer("inv_freq", init);
  if (o.use_xpos) {
    const double d = static_cast<double>(o.dim);
    scale = register_buffer("scale", (torch::arange(0, o.dim, 2, torch::kLong) + 0.4 * d) / (1.4 * d));
  }
}

Tensor RotaryEmbedding::xpos_scale(int64_t seq_len) const {
  if (!scale.defined()) return {};
  // power = (t - (max_pos // 2)) / scale_base, t = arange(seq_len), max_pos = seq_len
  Tensor t = torch::arange(seq_len, torch::kLong);
  Tensor power = (t - seq_len / 2) / options.xpos_scale_base;
  Tensor s = scale.pow(power.unsqueeze(-1));  // self.scale ** rearrange(power, '... n -> ... n 1')
  if (!options.interleaved) return torch::cat({s, s}, -1);  // before kRotaryInterleaved: cat((scale, scale), dim = -1)
  return torch::stack({s, s}, -1).reshape({seq_len, -1});  // stack((scale, scale), dim = -1); '... d r -> ... (d r)'
}

Tensor RotaryEmbedding::forward(int64_t seq_len) const {
  // t = arange(seq_len).type_as(inv_freq); freqs = einsum('i , j -> i j', t, inv_freq)
  Tensor t = torch::arange(seq_len, torch::kLong).to(inv_freq.scalar_type());
  Tensor freqs = torch::einsum("i , j -> i j", {t, inv_freq});
  if (!options.interleaved) return torch::cat({freqs, freqs}, -1);  // cat((freqs, freqs), dim = -1)
  // stack((freqs, freqs), dim = -1); rearrange('... d r -> ... (d r)')
  Tensor stacked = torch::stack({freqs, freqs}, -1);
  return stacked.reshape({seq_len, -1});
}

namespace {
Tensor rotate_half(const Tensor& x, bool interleaved) {
  const auto d = x.size(-1);
  auto shape = x.sizes().vec();
  shape.pop_back();
  if (!interleaved) {
    // rearrange('... (j d) -> ... j d', j = 2); cat((-x2, x1), dim = -1)
    auto split = shape;
    split.push_back(2);
    split.push_back(d / 2);
    Tensor v = x.reshape(split);
    Tensor x1 = v.select(-2, 0), x2 = v.select(-2, 1);
    return torch::cat({-x2, x1}, -1);
  }
  // rearrange('... (d r) -> ... d r', r = 2); stack((-x2, x1), dim = -1); rearrange('... d r -> ... (d r)')
  auto split = shape;
  split.push_back(d / 2);
  split.push_back(2);
  Tensor v = x.reshape(split);
  Tensor x1 = v.select(-1, 0), x2 = v.select(-1, 1);
  Tensor out = torch::stack({-x2, x1}, -1);
  return out.reshape(x.sizes());
}
}  // namespace

Tensor apply_rotary_pos_emb(const Tensor& t, const Tensor& freqs_all, bool interleaved, const Tensor& scale_all) {
  const int64_t rot_dim = freqs_all.size(-1);
  const int64_t seq_len = t.size(-2);
  Tensor freqs = freqs_all.slice(0, freqs_all.size(0) - seq_len);  // freqs[-seq_len:, :]
  Tensor rot = t.slice(-1, 0, rot_dim);
  Tensor pass = t.slice(-1, rot_dim);
  // (t * freqs.cos() * scale) + (rotate_half(t) * freqs.sin() * scale), scale = 1. without xpos
  Tensor rotated;
  if (scale_all.defined()) {
    Tensor scale = scale_all.slice(0, scale_all.size(0) - seq_len);  // scale[-seq_len:, :]
    rotated = (rot * freqs.cos() * scale) + (rotate_half(rot, interleaved) * freqs.sin() * scale);
  } else {
    rotated = (rot * freqs.cos() * 1.0) + (rotate_half(rot, interleaved) * freqs.sin() * 1.0);
  }
  return torch::cat({rotated, pass}, -1);
}

PolarEmbedding::PolarEmbedding(int64_t dim, int64_t heads) {
  // inv_freq = 1. / (base ** (arange(0, dim).float() / dim)); replaced by the checkpoint's buffer
  Tensor init = 1.0 / torch::pow(10000.0, torch::arange(0, dim, torch::kLong).to(torch::kFloat) / static_cast<double>(dim));
  inv_freq = register_buffer("inv_freq", init);
  learned_bias = register_parameter("learned_bias", torch::zeros({heads, 1, dim}));
}

Tensor PolarEmbedding::forward(int64_t seq_len) const {
  // freqs = einsum('b i , j -> b i j', t.type_as(inv_freq), inv_freq), t = arange(seq_len)
  Tensor t = torch::arange(seq_len, torch::kLong).to(inv_freq.scalar_type());
  return torch::einsum("i , j -> i j", {t, inv_freq});
}

Tensor PolarEmbedding::bias() const { return learned_bias.clamp(-2.0 * std::numbers::pi, 0.0); }

Tensor apply_polar_pos_emb(const Tensor& t, const Tensor& freqs_all) {
  const int64_t seq_len = t.size(-2);
  Tensor freqs = freqs_all.slice(-2, freqs_all.size(-2) - seq_len);  // freqs[:, -seq_len:]
  Tensor mag = torch::softplus(t, 1.0, 20.0);                          // F.softplus(t.float())
  return torch::cat({mag * freqs.cos(), mag * freqs.sin()}, -1);
}

RelativePositionBias::RelativePositionBias(RelativePositionBiasOptions o) : options(o) {
  relative_attention_bias = register_module("relative_attention_bias", std::make_shared<Embedding>(o.num_buckets, o.heads));
}

namespace {
// RelativePositionBias._relative_position_bucket, op for op.
Tensor relative_position_bucket(const Tensor& relative_position, bool causal, int64_t num_buckets, int64_t max_distance) {
  Tensor ret = torch::zeros_like(relative_position);
  Tensor n = -relative_position;
  if (!causal) {
    num_buckets /= 2;
    ret = ret + (n < 0).to(torch::kLong) * num_buckets;
    n = torch::abs(n);
  } else {
    n = torch::max(n, torch::zeros_like(n));
  }
  const int64_t max_exact = num_buckets / 2;
  Tensor is_small = n < max_exact;
  Tensor val_if_large =
      max_exact + (torch::log(n.to(torch::kFloat) / static_cast<double>(max_exact)) /
                   std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)) * (num_buckets - max_exact))
                      .to(torch::kLong);
  val_if_large = torch::min(val_if_large, torch::full_like(val_if_large, num_buckets - 1));
  return ret + torch::where(is_small, n, val_if_large);
}
}  // namespace

Tensor RelativePositionBias::forward(int64_t i, int64_t j) const {
  Tensor q_pos = torch::arange(j - i, j, torch::kLong);
  Tensor k_pos = torch::arange(j, torch::kLong);
  Tensor rel_pos = k_pos.unsqueeze(0) - q_pos.unsqueeze(1);  // [i, j]
  Tensor bucket = relative_position_bucket(rel_pos, options.causal, options.num_buckets, options.max_distance);
  Tensor values = relative_attention_bias->forward(bucket);  // [i, j, h]
  Tensor bias = values.permute({2, 0, 1});                    // rearrange('i j h -> h i j')
  return bias * options.scale;
}

std::vector<double> AlibiPositionalBias::get_slopes(int64_t heads) {
  auto power_of_2 = [](int64_t n) {
    const double start = std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(n)) - 3)));
    const double ratio = start;
    std::vector<double> s;
    for (int64_t i = 0; i < n; ++i) s.push_back(start * std::pow(ratio, static_cast<double>(i)));
    return s;
  };
  const double lg = std::log2(static_cast<double>(heads));
  if (lg == std::floor(lg)) return power_of_2(heads);
  const int64_t closest = static_cast<int64_t>(std::pow(2.0, std::floor(lg)));
  auto s = power_of_2(closest);
  auto extra = power_of_2(2 * closest);
  for (std::size_t k = 0; k < extra.size() && static_cast<int64_t>(s.size()) < heads; k += 2) s.push_back(extra[k]);
  return s;
}

AlibiPositionalBias::AlibiPositionalBias(int64_t h, int64_t total, const std::vector<double>& given_slopes)
    : heads(given_slopes.empty() ? h : static_cast<int64_t>(given_slopes.size())), total_heads(total) {
  // Tensor(default(slopes, self._get_slopes(heads))): the given list decides how many heads are biased
  auto s = given_slopes.empty() ? get_slopes(h) : given_slopes;
  std::vector<float> f(s.begin(), s.end());  // Tensor(list) -> float32
  slopes = torch::tensor(f, torch::kFloat).reshape({heads, 1, 1});
}

Tensor AlibiPositionalBias::forward(int64_t i, int64_t j) const {
  // bias = -|arange(j)[None, None, :] - arange(j - i, j)[None, :, None]|; bias * slopes; pad heads
  Tensor seq = torch::arange(j - i, j, torch::kLong);
  Tensor ctx = torch::arange(j, torch::kLong);
  Tensor bias = -torch::abs(ctx.view({1, 1, j}) - seq.view({1, i, 1}));
  bias = bias * slopes;
  if (total_heads > heads) bias = at::constant_pad_nd(bias, {0, 0, 0, 0, 0, total_heads - heads}, 0);
  return bias;
}

}  // namespace xcompat::native

#pragma once
// x_transformers embeddings and positional schemes: TokenEmbedding,
// AbsolutePositionalEmbedding, RotaryEmbedding (+ apply_rotary_pos_emb),
// RelativePositionBias (T5) and AlibiPositionalBias.
#include "harness/native/modules.hpp"
#include "harness/native/release_switches.hpp"

namespace xcompat::native {

// TokenEmbedding(dim, num_tokens): `emb` = nn.Embedding(num_tokens, dim).
class TokenEmbedding : public torch::nn::Module {
 public:
  TokenEmbedding(int64_t dim, int64_t num_tokens);
  Tensor forward(const Tensor& ids) const { return emb->forward(ids); }
  std::shared_ptr<Embedding> emb;
};

// AbsolutePositionalEmbedding(dim, max_seq_len): emb(arange(n)) * dim ** -0.5
// (scaled since 0.17.11, before the port's range).
class AbsolutePositionalEmbedding : public torch::nn::Module {
 public:
  AbsolutePositionalEmbedding(int64_t dim, int64_t max_seq_len);
  Tensor forward(int64_t seq_len) const;  // [n, dim]
  int64_t dim, max_seq_len;
  std::shared_ptr<Embedding> emb;
};

struct RotaryEmbeddingOptions {  // RotaryEmbedding(dim, use_xpos = False, scale_base = 512)
  int64_t dim = 0;               // the rotated width (AttentionLayers' rotary_emb_dim)
  bool interleaved = true;       // kRotaryInterleaved
  bool use_xpos = false;         // rotary_xpos: queries times scale ** power, keys divided by it
  double xpos_scale_base = 512;  // rotary_xpos_scale_base
};

// RotaryEmbedding: `inv_freq` is a persistent buffer (1 / 10000 ** (2i / dim)),
// so the checkpoint's copy is what the release used.
class RotaryEmbedding : public torch::nn::Module {
 public:
  explicit RotaryEmbedding(RotaryEmbeddingOptions o);
  // freqs for positions 0 .. n-1: [n, dim]
  Tensor forward(int64_t seq_len) const;
  // xpos: scale ** ((t - n // 2) / scale_base) for positions t = 0 .. n-1,
  // laid out like the freqs: [n, dim]; undefined without use_xpos.
  Tensor xpos_scale(int64_t seq_len) const;
  RotaryEmbeddingOptions options;
  Tensor inv_freq;
  Tensor scale;  // xpos: (arange(0, dim, 2) + 0.4 * dim) / (1.4 * dim), a persistent buffer
};

// apply_rotary_pos_emb(t, freqs, scale = 1): rotates the first
// freqs.size(-1) features of t ([b, h, n, d]) and leaves the rest; with an
// xpos scale ([n, dim]) both terms are multiplied by it.
Tensor apply_rotary_pos_emb(const Tensor& t, const Tensor& freqs, bool interleaved, const Tensor& scale = {});

// PolarEmbedding(dim_head, heads) (PoPE, from 2.16.1): `inv_freq` (1 / 10000
// ** (i / dim), i = 0 .. dim-1, a persistent buffer) and `learned_bias`
// [heads, 1, dim], clamped to [-2 pi, 0] and added to the keys' angles.
class PolarEmbedding : public torch::nn::Module {
 public:
  PolarEmbedding(int64_t dim, int64_t heads);
  Tensor forward(int64_t seq_len) const;  // angles for positions 0 .. n-1: [n, dim]
  Tensor bias() const;                    // learned_bias.clamp(-2 pi, 0): [heads, 1, dim]
  Tensor inv_freq, learned_bias;
};

// apply_polar_pos_emb(t, freqs): softplus(t) as magnitudes at the angles of
// the last n rows of freqs: cat((t * cos, t * sin)), twice the width.
Tensor apply_polar_pos_emb(const Tensor& t, const Tensor& freqs);

struct RelativePositionBiasOptions {  // RelativePositionBias(scale, causal = False, num_buckets = 32, max_distance = 128, heads = 8)
  double scale = 1.0;
  bool causal = false;
  int64_t num_buckets = 32;
  int64_t max_distance = 128;
  int64_t heads = 8;
};

// T5 relative position bias: `relative_attention_bias` = nn.Embedding(num_buckets, heads).
class RelativePositionBias : public torch::nn::Module {
 public:
  explicit RelativePositionBias(RelativePositionBiasOptions o);
  Tensor forward(int64_t i, int64_t j) const;  // [heads, i, j], already times scale
  RelativePositionBiasOptions options;
  std::shared_ptr<Embedding> relative_attention_bias;
};

// AlibiPositionalBias(heads, total_heads, slopes = None): -|j - i| * slope
// per head, zero for the heads beyond the slopes'. The slopes are a
// non-persistent buffer (not in any checkpoint), computed here exactly as the
// release does, or given (rel_pos_kwargs = {slopes = [...]}, one per head).
class AlibiPositionalBias : public torch::nn::Module {
 public:
  AlibiPositionalBias(int64_t heads, int64_t total_heads, const std::vector<double>& given_slopes = {});
  Tensor forward(int64_t i, int64_t j) const;  // [total_heads, i, j]
  static std::vector<double> get_slopes(int64_t heads);
  int64_t heads, total_heads;
  Tensor slopes;  // [heads, 1, 1]
};

}  // namespace xcompat::native

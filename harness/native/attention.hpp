#pragma once
// x_transformers Attention, with the core of Attend (x_transformers/attend.py
// from 1.14.0; inline in Attention before) folded in: the non-flash path,
// softmax attention, no talking heads.
//
// Parameters: to_q, to_k, to_v, to_out (nn.Linear without bias since 0.26.0),
// mem_k / mem_v [heads, num_mem_kv, dim_head] with attn_num_mem_kv,
// to_value_residual_mix.0 (nn.Linear(dim, heads), or (dim, 1) before
// per-head mixes) with a learned value residual mix.
#include <functional>
#include <optional>

#include "harness/native/hybrid.hpp"
#include "harness/native/attention_biases.hpp"
#include "harness/native/modules.hpp"
#include "harness/native/release_switches.hpp"

namespace xcompat::native {

struct AttentionOptions {  // Attention(dim, dim_head = 64, heads = 8, causal = False, num_mem_kv = 0, dropout = 0., learned_value_residual_mix = False)
  int64_t dim = 0;
  int64_t dim_head = 64;
  int64_t heads = 8;
  int64_t kv_heads = 0;  // grouped-query attention: keys / values with fewer heads (0: heads)
  int64_t dim_context = 0;  // to_k / to_v's input width (dim_kv = default(dim_context, dim); 0: dim): cross-attention's, AttentionPool's pooler
  bool causal = false;
  int64_t num_mem_kv = 0;
  bool learned_value_residual_mix = false;
  // qk_norm: l2norm(q), l2norm(k) by groups before rotary, times the learned
  // per-dimension scales with qk_norm_dim_scale; Attend's scale is then
  // qk_norm_scale (dim_head ** -0.5 with the dimension scales).
  bool qk_norm = false;
  int64_t qk_norm_groups = 1;
  double qk_norm_scale = 10.0;
  bool qk_norm_dim_scale = false;
  bool qk_norm_scaled_twice = false;  // 2.17.1 - 2.25.4: q, k times qk_norm_scale too (attention_layers.hpp)
  // gate_values: out = out * sigmoid(to_v_gate(x)) before to_out (silu with
  // swiglu_values); to_v_gate has a bias until the release drops it.
  bool gate_values = false;
  bool gate_values_bias = true;
  bool swiglu_values = false;
  bool gate_values_headwise = false;  // one gate per head: to_v_gate = Linear(dim, heads) (2.31.10)
  bool output_gate = false;           // gate logits from the attention output too: to_output_gate (2.31.10)
  bool output_gate_headwise = false;
  bool value_rmsnorm = false;         // MultiheadRMSNorm(dim_head, heads) on the values (from 2.11.24)
  bool k_rmsnorm = false;             // MultiheadRMSNorm(dim_head, heads) on the keys (AttentionAggregatedResidual's pooler)
  // LoRALinear gates: down (dim -> rank), silu when low_rank_silu_gates, up (rank -> out); 0: one Linear
  int64_t gate_values_rank = 0, output_gate_rank = 0;
  bool low_rank_silu_gates = true;
  bool l2_distance = false;       // Attend: sim = -cdist(q, k) ** 2 (from 1.42.17)
  bool cog_signed = false;        // Attend: softmax over |sim|, times sign(sim) after (from 2.11.24)
  bool laser = false;             // v = exp(softclamp(v, laser_softclamp_value)); out = log(out) (from 1.44.8)
  double laser_softclamp_value = 15.0;
  bool head_learned_sink = false;  // Attend: a learned logit per head as an extra key, dropped after softmax (from 2.11.24)
  bool softclamp_logits = false;        // Attend: sim = tanh(sim / value) * value, after the bias, before masks
  double logit_softclamp_value = 50.0;
  // Multi-latent attention (from 2.0.5): to_q reads to_latent_q(x) [dim_latent_q],
  // to_k / to_v read to_latent_kv(x) [dim_latent_kv] (0: no latent). With
  // latent_rope_subheads, to_k gives kv_heads - subheads heads and
  // to_rotateable_k(x) the last ones; rotary then turns only the last
  // `subheads` heads of q and k (rotate_num_heads, decoupled rope).
  int64_t dim_latent_q = 0, dim_latent_kv = 0;
  int64_t latent_rope_subheads = 0;
  int64_t dim_out = 0;  // to_out = Linear(out_dim, dim_out) (0: dim)
  // "belief" attention (from 2.11.24): out is projected orthogonally to the
  // block's values before to_out; with both flags the two are concatenated.
  bool orthog_projected_values = false;
  bool orthog_projected_values_per_head = false;
  // package posattn: data-dependent logit terms and other attention functions
  int64_t cope_max_pos = 0;           // use_cope: CoPE(dim_head, heads, cope_max_pos) added after the masks (0: none)
  bool cope_talking_heads = false;
  bool data_dependent_alibi = false;  // DataDependentAlibi(dim, heads, causal) as the attention bias
  int64_t data_dependent_alibi_per_row_dim_head = 0;  // PerRowDataDependentAlibi in its place (0: not per row)
  bool rel_proj_pos_bias = false;     // RelativeProjPositionalBias(dim, heads, ...) added to the attention bias
  int64_t rel_proj_num_distance_basis = 16, rel_proj_max_dist = 1024;
  bool sigmoid = false;               // Attend: attn = sigmoid(sim) in place of the softmax
  // residual_attn passes on the logits before the position bias and masks
  // (the history's residual-attn-carries-position-bias: until 1.9.2).
  bool residual_logits_before_bias = false;
  bool inverted_attention = false;    // Attend: softmax over the queries, then key mask and l1norm over the keys
  // how the producing release computes it
  bool rotate_values = false;            // !kRotaryKeysOnly
  bool rotary_interleaved = true;        // kRotaryInterleaved
  Era key_padding_mask_only = Era::New;  // kKeyPaddingMaskOnly (Unknown: UNSUPPORTED when a padding mask is given)
  Era zero_fully_masked_rows = Era::New; // kZeroFullyMaskedRows (Unknown: UNSUPPORTED if such a row occurs)
  bool value_residual_lerp = true;       // kValueResidualLerp
  bool value_residual_halved = true;     // kValueResidualHalved (before: v + first_v)
  bool value_residual_mix_per_head = true;  // kValueResidualMixPerHead (before: Linear(dim, 1))
  std::optional<HybridOptions> hybrid;   // a GRU beside attention (hybrid.hpp, from 2.0.5)
  ReleaseVersion release;                // for the messages of run-time checks
};

// What AttentionLayers hands to one attention block.
struct AttentionInputs {
  Tensor context;        // [b, m, dim] for cross-attention
  Tensor mask;           // [b, n] bool, the layers' padding mask (true = keep)
  Tensor context_mask;   // [b, m] bool
  Tensor rotary_freqs;   // [n, rot_dim] (self-attention with rotary; with context: the queries')
  Tensor context_rotary_freqs;  // [m, rot_dim]: the keys' with context (context_rotary_pos_emb)
  Tensor rotary_xpos_scale;  // [n, rot_dim] with rotary_xpos: queries times it, keys times its inverse
  Tensor polar_freqs;    // [n, dim_head] with polar_pos_emb (PoPE)
  Tensor polar_bias;     // [heads, 1, dim_head]: added to the keys' angles
  std::function<Tensor(int64_t i, int64_t j)> rel_pos;  // [heads, i, j] additive bias
  Tensor value_residual; // the first self-attention's values, [b, h, n, d]
  Tensor prev_attn;      // residual_attn: the previous self-attention's pre-softmax logits, added after the scale
  // qkv_receive_diff_residuals: the keys' and values' own inputs [b, n, dim]
  // (x is then the queries'), views of the residual streams.
  Tensor k_input, v_input;
  // Cached decoding (self-attention): the keys and values of the positions
  // before x, [b, h, offset, d] (undefined before the first call), extended
  // with x's in place. Keys are cached rotated, values as attended (mixed),
  // both before memory key / values, which are prepended on every call.
  Tensor* cache_k = nullptr;
  Tensor* cache_v = nullptr;
};

struct AttentionOutput {
  Tensor out;     // [b, n, dim]
  Tensor values;  // this block's values before any residual mix (for add_value_residual)
  Tensor pre_softmax_attn;  // the logits after bias, masks and CoPE, before the softmax (for residual_attn)
};

class Attention : public torch::nn::Module {
 public:
  explicit Attention(AttentionOptions o);
  AttentionOutput forward(const Tensor& x, const AttentionInputs& in, Trace* t = nullptr, const std::string& path = "") const;
  Tensor attention_bias(const Tensor& x, const AttentionInputs& in, int64_t i, int64_t j, int64_t seq_len_k) const;
  AttentionOptions options;
  std::shared_ptr<Linear> to_q, to_k, to_v, to_out;
  std::shared_ptr<Linear> to_latent_q, to_latent_kv, to_rotateable_k;  // multi-latent attention
  std::shared_ptr<Linear> to_v_gate;  // gate_values (or its low-rank `down`)
  std::shared_ptr<Linear> to_output_gate;  // output_gate (or its low-rank `down`)
  std::shared_ptr<Linear> to_v_gate_up, to_output_gate_up;  // the low-rank gates' `up`
  Tensor value_rmsnorm_gamma;  // value_rmsnorm.gamma [heads, 1, dim_head]
  Tensor k_rmsnorm_gamma;      // k_rmsnorm.gamma [heads, 1, dim_head]
  Tensor head_attn_sink;       // attend.head_attn_sink [heads]
  std::shared_ptr<CoPE> cope;  // attend.cope
  std::shared_ptr<DataDependentAlibi> data_dependent_alibi;
  std::shared_ptr<RelativeProjPositionalBias> rel_proj_pos_bias;
  Tensor mem_k, mem_v;
  Tensor qk_norm_q_scale, qk_norm_k_scale;  // [heads | kv_heads, 1, dim_head] with qk_norm_dim_scale
  std::shared_ptr<Container> to_value_residual_mix;
  std::shared_ptr<Linear> value_residual_mix_proj;  // to_value_residual_mix.0
  std::optional<HybridBranch> hybrid;
};

}  // namespace xcompat::native

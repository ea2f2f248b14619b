#pragma once
// x_transformers AttentionLayers (Encoder = causal False, Decoder = causal
// True): the stack of attention ('a'), cross-attention ('c') and
// feed-forward ('f') blocks with their norms and residuals.
//
// Registered like the release's nn.ModuleList: `layers.<i>.0.<k>` are the
// norms (k = 0 pre-branch norm, 2 post-main norm), `layers.<i>.1` the block;
// `final_norm`, `rotary_pos_emb.inv_freq` (and `.scale` with xpos),
// `polar_pos_emb.*`, `rel_pos.relative_attention_bias`.
#include <optional>
#include <vector>

#include "harness/native/adaptive.hpp"
#include "harness/native/attention.hpp"
#include "harness/native/feedforward.hpp"
#include "harness/native/hyper_connections.hpp"
#include "harness/native/norms.hpp"
#include "harness/native/positional.hpp"
#include "harness/native/residuals.hpp"

namespace xcompat::native {



struct AttentionLayersOptions {  // AttentionLayers(dim, depth, heads = 8, causal = False, cross_attend = False, ...)
  int64_t dim = 0;
  int64_t depth = 0;
  int64_t heads = 8;
  bool causal = false;
  bool cross_attend = false;
  bool only_cross = false;              // CrossAttender: blocks ('c', 'f') (AttentionPool's deep pooler)
  // Held by a wrapper (TransformerWrapper, ContinuousTransformerWrapper,
  // ViTransformerWrapper), whose nn.LayerNorm `norm` ended the model before
  // 1.15.0 (the port holds it as final_norm); false for bare layers, which
  // had no final norm then.
  bool in_wrapper = true;
  bool use_scalenorm = false;
  bool use_rmsnorm = false;
  bool use_dynamic_tanh = false;  // DynamicTanh in place of the norms (from 2.3.27)
  double dynamic_tanh_init_alpha = 1.0;
  bool use_derf = false;          // Derf in place of the norms (from 2.11.24)
  // Conditioned on the forward's `condition` (adaptive.hpp, from 1.30.23).
  bool use_adaptive_layernorm = false;
  bool use_adaptive_rmsnorm = false;
  bool use_adaptive_layerscale = false;
  std::optional<int64_t> dim_condition;  // unset: dim
  bool adaptive_condition_mlp = false;
  int64_t adaptive_condition_mlp_expansion = 4;
  bool needs_condition() const { return use_adaptive_layernorm || use_adaptive_rmsnorm || use_adaptive_layerscale; }
  bool alibi_pos_bias = false;
  std::optional<int64_t> alibi_num_heads;
  std::vector<double> alibi_slopes;  // rel_pos_kwargs = {slopes = [...]} (from 1.42.17); empty: the release's own
  bool rel_pos_bias = false;
  int64_t rel_pos_num_buckets = 32;
  int64_t rel_pos_max_distance = 128;
  bool rotary_pos_emb = false;
  std::optional<int64_t> rotary_emb_dim;
  bool rotary_embed_values = false;  // attn_rotary_embed_values (1.20.0 - 1.44.x): rotate the values too
  bool pre_norm = true;
  bool pre_norm_has_final_norm = true;  // read from 2.5.6 (the history's bare-layers-final-norm)
  bool macaron = false;        // a feed-forward before attention too; both feed-forwards halved (Scale(0.5), layers.<i>.1.fn)
  bool gate_residual = false;  // GRUGating in place of the residual sum (layers.<i>.2.gru, an nn.GRUCell(dim, dim))
  bool residual_attn = false;  // each self-attention adds the previous one's pre-softmax logits
  bool sandwich_norm = false;  // a norm on each branch's output too (layers.<i>.0.1), pre-norm only
  bool pre_and_post_norm = false;  // a post-main norm on every layer too, and no final norm (2.31.10)
  bool only_attn = false;          // no feed-forward blocks (2.31.10)
  bool attn_qk_norm = false;
  int64_t attn_qk_norm_groups = 1;
  std::optional<double> attn_qk_norm_scale;  // unset: 10, or 1 before qk-norm-scale-10
  bool attn_qk_norm_dim_scale = false;
  bool attn_gate_values = false;
  bool attn_swiglu_values = false;
  bool attn_gate_values_headwise = false;
  bool attn_output_gate = false;
  bool attn_output_gate_headwise = false;
  bool attn_value_rmsnorm = false;
  int64_t attn_gate_values_rank = 0, attn_output_gate_rank = 0;
  bool attn_low_rank_silu_gates = true;
  bool attn_l2_distance = false;
  bool attn_flash = false;  // computed as the explicit softmax (see spec_options.cpp)
  bool attn_cog_signed = false;
  bool attn_laser = false;
  bool reinject_input = false;               // every block's input gets reinject_input_proj(layers' input) added (from 1.42.17)
  bool learned_reinject_input_gate = false;  // times sigmoid(learned_reinject_input_gate(input))
  bool attn_head_learned_sink = false;
  bool attn_softclamp_logits = false;
  double attn_logit_softclamp_value = 50.0;
  bool add_value_residual = false;
  // package posattn: positions and logit terms
  bool rotary_xpos = false;             // implies rotary_pos_emb; causal only (the releases assert it)
  double rotary_xpos_scale_base = 512;
  bool polar_pos_emb = false;           // PoPE: PolarEmbedding(dim_head, heads) as `polar_pos_emb`
  bool attn_use_cope = false;
  int64_t attn_cope_max_pos = 16;
  bool attn_cope_talking_heads = false;
  bool attn_data_dependent_alibi = false;
  bool attn_data_dependent_alibi_per_row = false;  // PerRowDataDependentAlibi (causal only)
  std::optional<int64_t> attn_data_dependent_alibi_per_row_dim_head;  // unset: 8
  bool attn_use_rel_proj_pos_bias = false;
  int64_t attn_rel_proj_num_distance_basis = 16, attn_rel_proj_max_dist = 1024;
  bool cross_attn_sigmoid = false;             // the cross-attention blocks' Attend: sigmoid attention
  bool cross_attn_inverted_attention = false;  // the cross-attention blocks' Attend: softmax over the queries
  std::optional<bool> learned_value_residual_mix;  // unset: the release's default
  // several residual streams and layer integration (hyper_connections.hpp)
  int64_t num_residual_streams = 1;         // > 1: HyperConnection residuals (from 1.44.8)
  bool qkv_receive_diff_residuals = false;  // self-attention reads queries, keys, values as three views
  bool gated_multi_residual = false;        // GatedMultiResidual residuals, post-norm (from 2.28.5)
  std::optional<int64_t> residual_read_gate_rank;  // residual_fn_kwargs = {read_gate_rank = ...}
  bool integrate_layers = false;            // DynamicLIMe before every block (from 2.3.27)
  // routed keyword arguments: attn_* and ff_*
  int64_t attn_dim_head = 64;
  int64_t attn_num_mem_kv = 0;
  std::optional<int64_t> cross_attn_dim_context;  // the context's width (unset: dim)
  std::optional<int64_t> attn_kv_heads;  // attn_kv_heads, or 1 with attn_one_kv_head
  std::optional<HybridOptions> attn_hybrid;  // attn_hybrid_module + attn_hybrid_fold_axial_dim (+ attn_hybrid_learned_mix)
  // multi-latent attention (attn_use_latent_q / _kv with their widths, rope sub-heads)
  bool attn_use_latent_q = false, attn_use_latent_kv = false;
  std::optional<int64_t> attn_dim_latent_q, attn_dim_latent_kv, attn_latent_rope_subheads;
  std::optional<int64_t> attn_dim_out;  // to_out's width (the residual adds it to the stream)
  bool attn_orthog_projected_values = false, attn_orthog_projected_values_per_head = false;
  FeedForwardOptions ff;
  // residual variants (package residual; harness/native/residuals.hpp)
  std::optional<double> depth_scale_residual;  // a number: Scale(value, block) on every branch output
  bool depth_scale_residual_by_depth = false;  // True in 2.30.5: Scale(depth ** -0.5, block)
  bool orthog_residual = false;                // OrthogonalResidualUpdate (from 2.20.0)
  bool mv_split_residual = false;              // MVSplitResidualUpdate (from 2.20.0)
  // residual_fn_kwargs (with mv_split_residual only): set when given, to its `learned` (default False)
  std::optional<bool> mv_split_residual_learned;
  bool unet_skips = false;                     // ConcatCombine skips into the latter half (from 1.35.2)
  bool attn_aggregated_residuals = false;      // AttentionResidual before each block (from 2.20.0, three forms)
  int64_t attn_aggregated_residual_lora_rank = 64;  // DEFAULT_ATTN_RESIDUAL_LORA_RANK
  AttentionResidualForm attn_aggregated_residual_form = AttentionResidualForm::LatestHidden;  // the release's

  // The runtime scale of each branch's output (Scale wraps the block, so its
  // parameters sit under `layers.<i>.1.fn`), or none. AttentionLayers: residual_scale.
  std::optional<double> branch_output_scale() const;

  // TransformerWrapper leaves out its absolute positional embedding when the
  // layers carry positions (rotary, T5 relative bias; ALiBi does not count).
  bool has_pos_emb() const { return uses_rotary() || rel_pos_bias || polar_pos_emb; }
  // rotary_pos_emb = rotary_pos_emb or rotary_xpos (every release with rotary_xpos)
  bool uses_rotary() const { return rotary_pos_emb || rotary_xpos; }
};

// Cached (incremental) decoding: per self-attention block, the keys and
// values of every position seen so far; `offset` positions in all.
struct DecodeCache {
  std::vector<Tensor> k, v;  // by layer index (undefined for 'c' / 'f' blocks)
  int64_t offset = 0;
};

class AttentionLayers : public torch::nn::Module {
 public:
  AttentionLayers(AttentionLayersOptions o, const ReleaseContext& ctx);

  // x: [b, n, dim]; mask: [b, n] bool or undefined; context / context_mask
  // for cross-attention; condition [b, dim_condition] for the adaptive
  // modules. Returns the normed hidden states [b, n, dim].
  // With `cache`, x holds the positions after cache->offset: positions
  // (rotary, relative biases, the causal mask) continue from there, and the
  // cache is extended (its offset is the caller's to advance).
  // ff_deep_embeds: [depth, b, n, dim] or undefined (TransformerWrapper's
  // ff_deep_embed rows of the tokens): the i-th feed-forward's output is
  // multiplied by row i.
  Tensor forward(Tensor x, const Tensor& mask, const Tensor& context, const Tensor& context_mask, Trace* t = nullptr,
                 const std::string& path = "attn_layers", DecodeCache* cache = nullptr, const Tensor& condition = {},
                 const Tensor& ff_deep_embeds = {}) const;

  struct Layer {
    char type;                          // 'a', 'c', 'f'
    std::shared_ptr<Norm> pre_branch_norm;  // layers.<i>.0.0
    std::shared_ptr<Norm> post_branch_norm;  // layers.<i>.0.1 (sandwich_norm)
    std::shared_ptr<Norm> post_main_norm;   // layers.<i>.0.2
    std::shared_ptr<Attention> attention;   // layers.<i>.1 ('a', 'c')
    std::shared_ptr<FeedForward> feedforward;  // layers.<i>.1 ('f'), or layers.<i>.1.fn under Scale or an adaptive layer scale
    std::shared_ptr<AdaptiveLayerScaleGate> adaptive_scale;  // layers.<i>.1.to_gamma (use_adaptive_layerscale)
    std::shared_ptr<StreamResidual> stream_residual;  // layers.<i>.2 (several residual streams)
    std::shared_ptr<DynamicLIMe> integrator;          // layer_integrators.<i> (integrate_layers)
    std::shared_ptr<MVSplitResidualUpdate> mv_split;  // layers.<i>.2 (mv_split_residual)
    std::shared_ptr<ConcatCombine> skip_combine;      // skip_combines.<i> (unet_skips)
    std::shared_ptr<AttentionResidual> aggregator;    // layer_integrators.<i> (attn_aggregated_residuals)
    std::shared_ptr<torch::nn::GRUCellImpl> gru_gate;  // layers.<i>.2.gru (gate_residual)
  };

  AttentionLayersOptions options;
  std::vector<Layer> layer_list;
  std::shared_ptr<Container> layers;
  std::shared_ptr<Norm> final_norm;
  std::shared_ptr<RotaryEmbedding> rotary_pos_emb;
  std::shared_ptr<PolarEmbedding> polar_pos_emb;
  std::shared_ptr<RelativePositionBias> rel_pos;
  std::shared_ptr<AlibiPositionalBias> alibi;  // rel_pos in the release; no persistent state
  std::shared_ptr<Linear> reinject_input_proj, learned_reinject_input_gate;
  std::shared_ptr<Linear> adaptive_mlp;  // adaptive_mlp.0 (adaptive_condition_mlp)
  Tensor stream_emb;  // [num_residual_streams, dim] with several streams
  std::shared_ptr<Container> skip_combines;
  std::shared_ptr<Container> layer_integrators;  // LIMe's or the aggregated residuals' (never both)
  std::optional<double> branch_scale;

 private:
  void build_routes(const ReleaseContext& ctx);
  void add_residual_variants(std::size_t ind, Layer& L, const std::shared_ptr<Container>& slot, std::vector<int64_t>& skip_indices,
                             const AttentionOptions& pooler);
  Tensor add_residual(const Layer& L, const Tensor& out, const Tensor& residual, const Tensor& mask) const;
};

}  // namespace xcompat::native

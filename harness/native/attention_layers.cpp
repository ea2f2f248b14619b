#include "harness/native/attention_layers.hpp"

#include <algorithm>
#include <cmath>

#include "harness/core/error.hpp"

namespace xcompat::native {

std::optional<double> AttentionLayersOptions::branch_output_scale() const {
  // residual_scale = 1. with attn_aggregated_residuals, else depth_scale_residual's;
  // maybe_scale_output leaves the block unwrapped when it is 1.
  if (attn_aggregated_residuals) return std::nullopt;
  std::optional<double> scale = depth_scale_residual;
  if (depth_scale_residual_by_depth) scale = std::pow(static_cast<double>(depth), -0.5);
  if (scale && *scale == 1.0) return std::nullopt;
  return scale;
}

namespace {
// Scale(residual_scale, block) or AdaptiveLayerScale(block) wraps the block:
// its parameters move to `layers.<i>.1.fn`, the adaptive gate's to `layers.<i>.1.to_gamma`.
template <typename M>
std::shared_ptr<M> add_block(const std::shared_ptr<Container>& slot, std::shared_ptr<M> block, bool wrapped,
                             const std::shared_ptr<AdaptiveLayerScaleGate>& adaptive_gate) {
  if (!wrapped) return slot->add("1", std::move(block));
  auto wrapper = slot->add("1", std::make_shared<Container>());
  if (adaptive_gate) wrapper->add("to_gamma", adaptive_gate->to_gamma);
  return wrapper->add("fn", std::move(block));
}
}  // namespace

// unet_skips, mv_split_residual, attn_aggregated_residuals: the modules of
// layer `ind` beside its norms and block (AttentionLayers.__init__, 2.31.10;
// unet_skips unchanged since 1.35.2).
void AttentionLayers::add_residual_variants(std::size_t ind, Layer& L, const std::shared_ptr<Container>& slot,
                                            std::vector<int64_t>& skip_indices, const AttentionOptions& pooler) {
  const AttentionLayersOptions& o = options;
  if (o.unet_skips) {
    // is_latter_half = block_begin and block_ind >= depth / 2: a ConcatCombine with the
    // input of a first-half block, popped from the end (the U's mirror image)
    const std::size_t block_len = o.cross_attend ? 3 : 2;  // len(default_block)
    const bool latter_half = ind % block_len == 0 && static_cast<double>(ind / block_len) >= static_cast<double>(o.depth) / 2;
    if (latter_half) {
      if (skip_indices.empty()) throw NativeUnsupported("unet_skips with more latter-half blocks than skips (the release fails)");
      L.skip_combine = skip_combines->add(std::to_string(ind), std::make_shared<ConcatCombine>(o.dim, skip_indices.back()));
      skip_indices.pop_back();
    }
  }
  if (o.mv_split_residual) L.mv_split = slot->add("2", std::make_shared<MVSplitResidualUpdate>(o.dim, o.mv_split_residual_learned.value_or(false)));
  if (o.attn_aggregated_residuals)
    L.aggregator = layer_integrators->add(std::to_string(ind),
                                          std::make_shared<AttentionResidual>(o.dim, o.attn_aggregated_residual_lora_rank, o.attn_aggregated_residual_form, pooler,
                                                                             o.rotary_pos_emb));
}

// residual_fn(out, residual): Residual (x + residual), OrthogonalResidualUpdate or MVSplitResidualUpdate.
Tensor AttentionLayers::add_residual(const Layer& L, const Tensor& out, const Tensor& residual, const Tensor& mask) const {
  if (L.gru_gate) {  // GRUGating: gru(rearrange(x, 'b n d -> (b n) d'), rearrange(residual, ...)).reshape_as(x)
    const int64_t d = out.size(-1);
    return L.gru_gate->forward(out.reshape({-1, d}), residual.reshape({-1, d})).reshape_as(out);
  }
  if (options.orthog_residual) return orthogonal_residual_update(out, residual);
  if (L.mv_split) return L.mv_split->forward(out, residual, mask);
  return out + residual;
}

AttentionLayers::AttentionLayers(AttentionLayersOptions o, const ReleaseContext& ctx) : options(o) {
  const NormKind kind = o.use_rmsnorm       ? NormKind::RMSNorm
                        : o.use_scalenorm   ? NormKind::ScaleNorm
                        : o.use_dynamic_tanh ? NormKind::DynamicTanh
                        : o.use_derf        ? NormKind::Derf
                                            : NormKind::LayerNorm;
  const int64_t dim_head = o.attn_dim_head;
  // dim_condition * adaptive_condition_mlp_expansion: what the adaptive modules read
  const int64_t dim_condition = o.dim_condition.value_or(o.dim);
  const int64_t conditioned_width = dim_condition * (o.adaptive_condition_mlp ? o.adaptive_condition_mlp_expansion : 1);
  if (o.needs_condition() && o.adaptive_condition_mlp)
    adaptive_mlp = register_module("adaptive_mlp", std::make_shared<Container>())
                       ->add("0", std::make_shared<Linear>(dim_condition, conditioned_width, false));
  // norm_fn: the adaptive norms take the place of the norm class (and no unit offset)
  auto norm_fn = [&]() -> std::shared_ptr<Norm> {
    if (o.use_adaptive_layernorm) return std::make_shared<AdaptiveLayerNorm>(o.dim, conditioned_width);
    if (o.use_adaptive_rmsnorm) return std::make_shared<AdaptiveRMSNorm>(o.dim, conditioned_width);
    return make_norm(kind, o.dim, ctx, o.dynamic_tanh_init_alpha);
  };

  // positions
  if (o.uses_rotary()) {
    int64_t rot = o.rotary_emb_dim.value_or(dim_head / 2);
    if (!ctx.is_new(kRotaryDimNoMinimum)) rot = std::max<int64_t>(rot, 32);  // max(default(rotary_emb_dim, dim_head // 2), 32)
    if (rot > dim_head || rot % 2 != 0)
      throw NativeUnsupported("a rotary width of " + std::to_string(rot) + " with attn_dim_head " + std::to_string(dim_head));
    rotary_pos_emb = register_module("rotary_pos_emb", std::make_shared<RotaryEmbedding>(RotaryEmbeddingOptions{
                                                           rot, ctx.is_new(kRotaryInterleaved), o.rotary_xpos, o.rotary_xpos_scale_base}));
  }
  if (o.polar_pos_emb) polar_pos_emb = register_module("polar_pos_emb", std::make_shared<PolarEmbedding>(dim_head, o.heads));
  if (o.rel_pos_bias) {
    RelativePositionBiasOptions ro;
    ro.scale = std::pow(static_cast<double>(dim_head), 0.5);
    ro.causal = o.causal;
    ro.num_buckets = o.rel_pos_num_buckets;
    ro.max_distance = o.rel_pos_max_distance;
    ro.heads = o.heads;
    rel_pos = register_module("rel_pos", std::make_shared<RelativePositionBias>(ro));
  } else if (o.alibi_pos_bias) {
    alibi = register_module("rel_pos", std::make_shared<AlibiPositionalBias>(o.alibi_num_heads.value_or(o.heads), o.heads, o.alibi_slopes));
  }

  if (o.reinject_input) {
    reinject_input_proj = register_module("reinject_input_proj", std::make_shared<Linear>(o.dim, o.dim, false));
    if (o.learned_reinject_input_gate)
      learned_reinject_input_gate = register_module("learned_reinject_input_gate", std::make_shared<Linear>(o.dim, 1, false));
  }

  // value residual (resformer)
  bool learned_mix = false;
  bool value_residual_lerp = true, value_residual_halved = true, mix_per_head = true;
  if (o.add_value_residual) {
    value_residual_halved = ctx.is_new(kValueResidualHalved);
    learned_mix = o.learned_value_residual_mix.has_value() ? *o.learned_value_residual_mix
                                                           : ctx.is_new(kLearnedValueResidualMixDefault);
    value_residual_lerp = ctx.is_new(kValueResidualLerp);
    if (learned_mix) {
      if (!ctx.is_new(kValueResidualMixArgument))
        throw NativeUnsupported("a learned value residual mix for release " + ctx.release.str() + " (it appears " +
                                kValueResidualMixArgument.range() + ")");
      mix_per_head = ctx.is_new(kValueResidualMixPerHead);
    }
  }

  // what every attention block shares
  AttentionOptions base;
  base.dim = o.dim;
  base.dim_head = dim_head;
  base.heads = o.heads;
  base.num_mem_kv = o.attn_num_mem_kv;
  base.kv_heads = o.attn_kv_heads.value_or(0);
  base.softclamp_logits = o.attn_softclamp_logits;
  base.l2_distance = o.attn_l2_distance;
  base.cog_signed = o.attn_cog_signed;
  base.laser = o.attn_laser;
  base.head_learned_sink = o.attn_head_learned_sink;
  base.gate_values = o.attn_gate_values;
  base.swiglu_values = o.attn_swiglu_values;
  base.gate_values_headwise = o.attn_gate_values_headwise;
  base.output_gate = o.attn_output_gate;
  base.output_gate_headwise = o.attn_output_gate_headwise;
  base.value_rmsnorm = o.attn_value_rmsnorm;
  base.gate_values_rank = o.attn_gate_values_rank;
  base.output_gate_rank = o.attn_output_gate_rank;
  base.low_rank_silu_gates = o.attn_low_rank_silu_gates;
  base.gate_values_bias = !ctx.is_new(kValueGateWithoutBias);
  base.qk_norm = o.attn_qk_norm;
  base.qk_norm_groups = o.attn_qk_norm_groups;
  if (o.attn_qk_norm) base.qk_norm_scale = o.attn_qk_norm_scale.value_or(ctx.is_new(kQkNormScale10) ? 10.0 : 1.0);
  base.qk_norm_dim_scale = o.attn_qk_norm_dim_scale;
  // the history's qk-norm-scaled-twice (2.17.1) until qk-norm-learned-scales (2.25.5)
  base.qk_norm_scaled_twice = o.attn_qk_norm && ctx.is_new(kQkNormScaledTwice) && !ctx.is_new(kQkNormLearnedScales);
  base.logit_softclamp_value = o.attn_logit_softclamp_value;
  base.dim_latent_q = o.attn_use_latent_q ? o.attn_dim_latent_q.value_or(0) : 0;
  base.dim_latent_kv = o.attn_use_latent_kv ? o.attn_dim_latent_kv.value_or(0) : 0;
  base.latent_rope_subheads = o.attn_latent_rope_subheads.value_or(0);
  base.dim_out = o.attn_dim_out.value_or(0);
  base.orthog_projected_values = o.attn_orthog_projected_values;
  base.orthog_projected_values_per_head = o.attn_orthog_projected_values_per_head;
  base.rotate_values = o.uses_rotary() && (!ctx.is_new(kRotaryKeysOnly) || o.rotary_embed_values);
  base.rotary_interleaved = ctx.is_new(kRotaryInterleaved);
  base.key_padding_mask_only = era_of(kKeyPaddingMaskOnly, ctx.release);
  base.zero_fully_masked_rows = era_of(kZeroFullyMaskedRows, ctx.release);
  base.value_residual_lerp = value_residual_lerp;
  base.value_residual_halved = value_residual_halved;
  base.value_residual_mix_per_head = mix_per_head;
  base.release = ctx.release;
  base.hybrid = o.attn_hybrid;
  base.residual_logits_before_bias = o.residual_attn && !ctx.is_new(kResidualAttnCarriesBias);
  if (base.hybrid) base.hybrid->normed = ctx.is_new(kHybridModuleNormed);
  // package posattn (self-attention terms; check_layers refuses them with cross-attention)
  base.cope_max_pos = o.attn_use_cope ? o.attn_cope_max_pos : 0;
  base.cope_talking_heads = o.attn_cope_talking_heads;
  base.data_dependent_alibi = o.attn_data_dependent_alibi;
  if (o.attn_data_dependent_alibi_per_row)
    base.data_dependent_alibi_per_row_dim_head = o.attn_data_dependent_alibi_per_row_dim_head.value_or(8);
  base.rel_proj_pos_bias = o.attn_use_rel_proj_pos_bias;
  base.rel_proj_num_distance_basis = o.attn_rel_proj_num_distance_basis;
  base.rel_proj_max_dist = o.attn_rel_proj_max_dist;

  // AttentionAggregatedResidual's attn_pool.pooler (2.20.0 - 2.28.5):
  // Attention(dim, heads = heads, dim_head = dim_head, k_rmsnorm = True), rotary keys only
  AttentionOptions pooler;
  pooler.dim = o.dim;
  pooler.heads = o.heads;
  pooler.dim_head = dim_head;
  pooler.k_rmsnorm = true;
  pooler.rotary_interleaved = base.rotary_interleaved;
  pooler.key_padding_mask_only = base.key_padding_mask_only;
  pooler.zero_fully_masked_rows = base.zero_fully_masked_rows;
  pooler.release = ctx.release;

  // layer types: default_block * depth
  std::vector<char> types;
  for (int64_t d = 0; d < o.depth; ++d) {
    if (o.macaron) types.push_back('f');  // default_block = ('f',) + default_block
    if (!o.only_cross) types.push_back('a');  // default_block = ('c', 'f') with cross_attend and only_cross
    if (o.cross_attend) types.push_back('c');
    if (!o.only_attn) types.push_back('f');  // default_block = tuple(filter(not_equals('f'), default_block))
  }

  // Before 1.15.0 TransformerWrapper.norm, an nn.LayerNorm whatever the
  // layers' norm class, ended the model: the final norm (pre-norm) or, in
  // a post-norm model, the last layer's post-main norm. Three changes of the
  // history say so: where it lives, its class, and post-norm's last layer.
  // Bare layers (no wrapper) have a final norm only from bare-layers-final-norm.
  const bool final_norm_in_layers =
      o.in_wrapper ? ctx.is_new(kFinalNormInAttentionLayers) : ctx.is_new(kBareLayersFinalNorm);
  const bool final_norm_of_kind = kind == NormKind::RMSNorm     ? ctx.is_new(kFinalNormFollowsRMSNorm)
                                  : kind == NormKind::ScaleNorm ? ctx.is_new(kFinalNormFollowsScaleNorm)
                                                                : true;
  const bool wrapper_norm_ends = !final_norm_of_kind || (o.pre_norm ? !final_norm_in_layers : !ctx.is_new(kPostNormLastLayerNorm));
  // gated_multi_residual: "the elementwise read gate normalizes, so the
  // block pre-norm is dropped" (2.31.10): its layers are post-norm.
  const bool pre_norm = o.pre_norm && !o.gated_multi_residual;
  layers = register_module("layers", std::make_shared<Container>());
  branch_scale = o.branch_output_scale();
  std::vector<int64_t> skip_indices;  // [i * len_default_block for i in range(depth // len_default_block)]
  if (o.unet_skips) {
    skip_combines = register_module("skip_combines", std::make_shared<Container>());
    const int64_t block_len = o.cross_attend ? 3 : 2;
    for (int64_t i = 0; i < o.depth / block_len; ++i) skip_indices.push_back(i * block_len);
  }
  if (o.attn_aggregated_residuals) layer_integrators = register_module("layer_integrators", std::make_shared<Container>());
  bool first_self_attn = true;
  for (std::size_t ind = 0; ind < types.size(); ++ind) {
    const bool is_last = ind + 1 == types.size();
    Layer L;
    L.type = types[ind];
    auto slot = layers->add(std::to_string(ind), std::make_shared<Container>());
    auto norms = slot->add("0", std::make_shared<Container>());
    if (pre_norm) L.pre_branch_norm = norms->add("0", norm_fn());
    // post_branch_norm = norm_fn() if sandwich_norm else None (0.28.4 - 2.31.10)
    if (o.sandwich_norm) L.post_branch_norm = norms->add("1", norm_fn());
    if (o.pre_and_post_norm) {
      // post_main_norm = norm_fn() if (not pre_norm or self.pre_and_post_norm)
      L.post_main_norm = norms->add("2", norm_fn());
    } else if (!pre_norm) {
      // Before 1.15.0 a post-norm model's last layer had no post-main norm:
      // TransformerWrapper.norm stood in for it. The history renames it here.
      // Bare layers (no wrapper) ended without a norm then.
      const bool wrapper_norm = wrapper_norm_ends && is_last;
      if (!wrapper_norm || o.in_wrapper)
        L.post_main_norm = norms->add("2", wrapper_norm ? std::shared_ptr<Norm>(std::make_shared<LayerNorm>(LayerNormOptions::torch_layer_norm(o.dim)))
                                                        : norm_fn());
    }

    // post_branch_fn = AdaptiveLayerScale(layer), or maybe_scale_output: the block moves to layers.<i>.1.fn
    if (o.use_adaptive_layerscale) L.adaptive_scale = std::make_shared<AdaptiveLayerScaleGate>(o.dim, conditioned_width);
    // macaron: FeedForward wrapped in Scale(0.5, layer)
    const bool wrapped = o.use_adaptive_layerscale || branch_scale.has_value() || (o.macaron && L.type == 'f');
    if (o.gate_residual)  // residual_fn = GRUGating(dim): layers.<i>.2.gru
      L.gru_gate = slot->add("2", std::make_shared<Container>())
                       ->register_module("gru", std::make_shared<torch::nn::GRUCellImpl>(torch::nn::GRUCellOptions(o.dim, o.dim)));

    if (L.type == 'f') {
      FeedForwardOptions fo = o.ff;
      fo.dim = o.dim;
      fo.glu_clamp_form = ctx.release < ReleaseVersion{2, 20, 0}   ? GluClampForm::None
                          : ctx.release <= ReleaseVersion{2, 30, 5} ? GluClampForm::ClampInputs
                                                                    : GluClampForm::SituGlu;
      L.feedforward = add_block(slot, std::make_shared<FeedForward>(fo), wrapped, L.adaptive_scale);
    } else {
      AttentionOptions ao = base;
      ao.causal = L.type == 'a' && o.causal;
      ao.sigmoid = L.type == 'c' && o.cross_attn_sigmoid;
      ao.inverted_attention = L.type == 'c' && o.cross_attn_inverted_attention;
      ao.learned_value_residual_mix = L.type == 'a' && learned_mix && !first_self_attn;
      if (L.type == 'c') ao.dim_context = o.cross_attn_dim_context.value_or(0);
      if (L.type == 'a') first_self_attn = false;
      L.attention = add_block(slot, std::make_shared<Attention>(ao), wrapped, L.adaptive_scale);
    }
    add_residual_variants(ind, L, slot, skip_indices, pooler);
    layer_list.push_back(L);
  }
  build_routes(ctx);

  if (o.pre_and_post_norm) {
    // pre_norm_has_final_norm = False: final_norm is Identity()
  } else if (o.pre_norm && wrapper_norm_ends) {
    // TransformerWrapper.norm = nn.LayerNorm(dim), whatever the layers' norm class (key map: `norm.` -> `attn_layers.final_norm.`);
    // bare layers: no final norm
    if (o.in_wrapper) final_norm = register_module("final_norm", std::make_shared<LayerNorm>(LayerNormOptions::torch_layer_norm(o.dim)));
  } else if (o.pre_norm && (o.pre_norm_has_final_norm || o.gated_multi_residual)) {  // keep_final_norm = (pre_norm and pre_norm_has_final_norm) or gated_multi_residual
    final_norm = register_module("final_norm", norm_fn());
  }
}

// The residual streams and layer integrators of every layer, as
// AttentionLayers.__init__ of 2.31.10 picks them (1.44.8 without
// integrate_layers, 2.3.27 without gated_multi_residual).
void AttentionLayers::build_routes(const ReleaseContext& ctx) {
  const auto& o = options;
  const bool qkv_views = o.qkv_receive_diff_residuals || o.integrate_layers;  // qkv_receive_diff_residuals |= integrate_layers
  const bool hyper = o.num_residual_streams > 1 && !o.gated_multi_residual;
  const bool residual_produces_views = qkv_views && !o.integrate_layers;  // hyper_conn_produce_diff_views
  if (o.num_residual_streams > 1) stream_emb = register_parameter("stream_emb", torch::zeros({o.num_residual_streams, o.dim}));
  if (o.integrate_layers) layer_integrators = register_module("layer_integrators", std::make_shared<Container>());
  bool first_self_attn = true;
  for (std::size_t ind = 0; ind < layer_list.size(); ++ind) {
    Layer& L = layer_list[ind];
    const bool is_self_attn = L.type == 'a';
    // layer_qkv_receives_diff_view: not the first self-attention when integrating layers
    const bool layer_views = is_self_attn && qkv_views && !(first_self_attn && o.integrate_layers);
    if (is_self_attn) first_self_attn = false;
    if (o.integrate_layers)
      L.integrator = layer_integrators->add(std::to_string(ind), std::make_shared<DynamicLIMe>(DynamicLIMeOptions{
                                                                     o.dim, static_cast<int64_t>(ind) + 1, layer_views ? 3 : 1, true}));
    const int64_t residual_views = is_self_attn && residual_produces_views ? 3 : 1;
    auto slot = std::dynamic_pointer_cast<Container>(layers->named_children()[std::to_string(ind)]);
    if (o.gated_multi_residual) {
      L.stream_residual = slot->add("2", std::make_shared<GatedMultiResidual>(GatedMultiResidualOptions{
                                             o.dim, o.num_residual_streams, residual_views, o.residual_read_gate_rank.value_or(0)}));
    } else if (hyper) {
      HyperConnectionOptions ho;
      ho.dim = o.dim;
      ho.streams = o.num_residual_streams;
      ho.views = residual_views;
      ho.sinkhorn = ctx.is_new(kHyperConnectionsSinkhorn);
      L.stream_residual = slot->add("2", std::make_shared<HyperConnection>(ho));
    }
  }
}

Tensor AttentionLayers::forward(Tensor x, const Tensor& mask, const Tensor& context, const Tensor& context_mask, Trace* t,
                                const std::string& path, DecodeCache* cache, const Tensor& condition_in,
                                const Tensor& ff_deep_embeds) const {
  if (options.needs_condition() && !condition_in.defined())
    throw Error("the spec's model needs a condition (inputs.condition) for its adaptive modules");
  const Tensor condition = prepare_condition(condition_in, adaptive_mlp.get());
  const int64_t offset = cache ? cache->offset : 0;
  if (cache && cache->k.empty()) cache->k.resize(layer_list.size()), cache->v.resize(layer_list.size());
  Tensor freqs;
  // The rows of x's positions (apply_rotary_pos_emb takes the last n rows).
  Tensor xpos_scale, polar_freqs, polar_bias;
  if (rotary_pos_emb) freqs = rotary_pos_emb->forward(offset + x.size(1));
  if (rotary_pos_emb && options.rotary_xpos) xpos_scale = rotary_pos_emb->xpos_scale(offset + x.size(1));
  if (polar_pos_emb) polar_freqs = polar_pos_emb->forward(offset + x.size(1)), polar_bias = polar_pos_emb->bias();
  // PoPE and CoPE decode as they are: the polar angles continue from the
  // offset like the rotary ones, and CoPE reads the cached keys' logits.
  if (cache && (options.rotary_xpos || options.attn_data_dependent_alibi || options.attn_use_rel_proj_pos_bias))
    throw NativeUnsupported("rotary_xpos, data-dependent ALiBi or the projected relative bias (not ported: xpos rescales "
                            "every key with the sequence length, the others read the whole sequence)");
  std::function<Tensor(int64_t, int64_t)> bias;
  if (rel_pos) bias = [this](int64_t i, int64_t j) { return rel_pos->forward(i, j); };
  if (alibi) bias = [this](int64_t i, int64_t j) { return alibi->forward(i, j); };

  Tensor inp_inject;  // reinject_input: reinject_input_proj(x) [* sigmoid(gate(x))], added before each block's norm
  const int64_t streams = options.num_residual_streams;
  if (streams > 1) x = expand_streams(x, stream_emb);
  std::vector<Tensor> layer_hiddens;  // each layer's input, for integrate_layers

  if (reinject_input_proj) {
    inp_inject = reinject_input_proj->forward(x);
    if (learned_reinject_input_gate) inp_inject = inp_inject * at::sigmoid(learned_reinject_input_gate->forward(x));
  }

  if (cache && options.residual_attn)
    throw NativeUnsupported("residual_attn (the previous logits over the cached keys: not measured)");
  if (cache && (options.orthog_residual || options.mv_split_residual))
    throw NativeUnsupported("orthog_residual or mv_split_residual (their update reads the whole sequence: nothing to cache)");

  Tensor first_values;
  Tensor prev_attn;  // residual_attn
  int64_t ff_index = 0;  // deep_embeds_iter: the next feed-forward's row
  std::vector<Tensor> skip_hiddens;
  for (std::size_t ind = 0; ind < layer_list.size(); ++ind) {
    const Layer& L = layer_list[ind];
    const std::string lp = path + ".layers." + std::to_string(ind);
    if (skip_combines) skip_hiddens.push_back(x);
    if (L.skip_combine) x = L.skip_combine->forward(x, skip_hiddens);
    Tensor residual = x;
    StreamRead streams_read;
    if (L.stream_residual) {  // x, inner_residual, residual_kwargs = residual_fn.prepare(x)
      streams_read = L.stream_residual->prepare(x);
      x = streams_read.branch_input;
    }
    if (L.integrator) {  // layer_hiddens.append(x); x = layer_integrator(x, layer_hiddens)
      layer_hiddens.push_back(x);
      x = L.integrator->forward(x, layer_hiddens);
    }
    if (L.aggregator) {
      layer_hiddens.push_back(x);
      x = L.aggregator->forward(layer_hiddens);
    }
    if (inp_inject.defined()) x = x + inp_inject;
    if (L.pre_branch_norm) x = L.pre_branch_norm->forward_conditioned(x, condition);
    Tensor out;
    if (L.type == 'f') {
      out = L.feedforward->forward(x, t, lp + ".1");
      if (options.macaron) out = out * 0.5;  // Scale(0.5, FeedForward)
      // FeedForward.forward: out = out * deep_embed (next(deep_embeds_iter, None))
      if (ff_deep_embeds.defined() && ff_index < ff_deep_embeds.size(0)) out = out * ff_deep_embeds[ff_index];
      ++ff_index;
    } else {
      AttentionInputs in;
      in.mask = mask;
      if (x.dim() == 4) {  // qkv_receive_diff_residuals: q_input, k_input, v_input = x
        in.k_input = x[1];
        in.v_input = x[2];
        x = x[0];
      }
      if (L.type == 'a') {
        in.rotary_freqs = freqs;
        in.rotary_xpos_scale = xpos_scale;
        in.polar_freqs = polar_freqs;
        in.polar_bias = polar_bias;
        in.rel_pos = bias;
        if (options.add_value_residual) in.value_residual = first_values;
        in.prev_attn = prev_attn;
        if (cache) in.cache_k = &cache->k[ind], in.cache_v = &cache->v[ind];
      } else {
        in.context = context;
        in.context_mask = context_mask;
      }
      AttentionOutput r = L.attention->forward(x, in, t, lp + ".1");
      out = r.out;
      if (L.type == 'a' && !first_values.defined()) first_values = r.values;
      if (L.type == 'a' && options.residual_attn) prev_attn = r.pre_softmax_attn;  // prev_attn = inter.pre_softmax_attn
    }
    if (L.adaptive_scale) out = L.adaptive_scale->forward(out, condition);
    if (branch_scale) out = out * *branch_scale;  // Scale(residual_scale, block): the block's first output
    if (L.post_branch_norm) out = L.post_branch_norm->forward_conditioned(out, condition);
    x = L.stream_residual ? L.stream_residual->write(out, streams_read) : add_residual(L, out, residual, mask);
    if (L.post_main_norm) x = L.post_main_norm->forward_conditioned(x, condition);
    trace(t, lp, x);
  }
  if (streams > 1) x = reduce_streams(x, streams);
  if (final_norm) {
    x = final_norm->forward_conditioned(x, condition);
    trace(t, path + ".final_norm", x);
  }
  return x;
}

}  // namespace xcompat::native

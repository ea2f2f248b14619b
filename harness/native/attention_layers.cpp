#include "harness/native/attention_layers.hpp"

#include <algorithm>
#include <cmath>

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
// Scale(residual_scale, block) wraps the block: its parameters move to `layers.<i>.1.fn`.
template <typename M>
std::shared_ptr<M> add_block(const std::shared_ptr<Container>& slot, std::shared_ptr<M> block, bool scaled) {
  if (!scaled) return slot->add("1", std::move(block));
  return slot->add("1", std::make_shared<Container>())->add("fn", std::move(block));
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
    L.integrator = layer_integrators->add(std::to_string(ind),
                                          std::make_shared<AttentionResidual>(o.dim, o.attn_aggregated_residual_lora_rank, o.attn_aggregated_residual_form, pooler,
                                                                             o.rotary_pos_emb));
}

// residual_fn(out, residual): Residual (x + residual), OrthogonalResidualUpdate or MVSplitResidualUpdate.
Tensor AttentionLayers::add_residual(const Layer& L, const Tensor& out, const Tensor& residual, const Tensor& mask) const {
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

  // positions
  if (o.rotary_pos_emb) {
    int64_t rot = o.rotary_emb_dim.value_or(dim_head / 2);
    if (!ctx.is_new(kRotaryDimNoMinimum)) rot = std::max<int64_t>(rot, 32);  // max(default(rotary_emb_dim, dim_head // 2), 32)
    if (rot > dim_head || rot % 2 != 0)
      throw NativeUnsupported("a rotary width of " + std::to_string(rot) + " with attn_dim_head " + std::to_string(dim_head));
    rotary_pos_emb = register_module("rotary_pos_emb",
                                     std::make_shared<RotaryEmbedding>(RotaryEmbeddingOptions{rot, ctx.is_new(kRotaryInterleaved)}));
  }
  if (o.rel_pos_bias) {
    RelativePositionBiasOptions ro;
    ro.scale = std::pow(static_cast<double>(dim_head), 0.5);
    ro.causal = o.causal;
    ro.num_buckets = o.rel_pos_num_buckets;
    ro.max_distance = o.rel_pos_max_distance;
    ro.heads = o.heads;
    rel_pos = register_module("rel_pos", std::make_shared<RelativePositionBias>(ro));
  } else if (o.alibi_pos_bias) {
    alibi = register_module("rel_pos", std::make_shared<AlibiPositionalBias>(o.alibi_num_heads.value_or(o.heads), o.heads));
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
  base.gate_values_bias = ctx.release < kGateValuesBiasless;
  base.qk_norm = o.attn_qk_norm;
  base.qk_norm_groups = o.attn_qk_norm_groups;
  if (o.attn_qk_norm) base.qk_norm_scale = o.attn_qk_norm_scale.value_or(ctx.is_new(kQkNormScale10) ? 10.0 : 1.0);
  base.qk_norm_dim_scale = o.attn_qk_norm_dim_scale;
  base.logit_softclamp_value = o.attn_logit_softclamp_value;
  base.rotate_values = o.rotary_pos_emb && (!ctx.is_new(kRotaryKeysOnly) || o.rotary_embed_values);
  base.rotary_interleaved = ctx.is_new(kRotaryInterleaved);
  base.key_padding_mask_only = era_of(kKeyPaddingMaskOnly, ctx.release);
  base.zero_fully_masked_rows = era_of(kZeroFullyMaskedRows, ctx.release);
  base.value_residual_lerp = value_residual_lerp;
  base.value_residual_halved = value_residual_halved;
  base.value_residual_mix_per_head = mix_per_head;
  base.release = ctx.release;

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
    types.push_back('a');
    if (o.cross_attend) types.push_back('c');
    if (!o.only_attn) types.push_back('f');  // default_block = tuple(filter(not_equals('f'), default_block))
  }

  // Before 1.15.0 TransformerWrapper.norm, an nn.LayerNorm whatever the
  // layers' norm class, ended the model: the final norm (pre-norm) or, in
  // a post-norm model, the last layer's post-main norm. Three changes of the
  // history say so: where it lives, its class, and post-norm's last layer.
  const bool final_norm_in_layers = ctx.is_new(kFinalNormInAttentionLayers);
  const bool final_norm_of_kind = kind == NormKind::RMSNorm     ? ctx.is_new(kFinalNormFollowsRMSNorm)
                                  : kind == NormKind::ScaleNorm ? ctx.is_new(kFinalNormFollowsScaleNorm)
                                                                : true;
  const bool wrapper_norm_ends = !final_norm_of_kind || (o.pre_norm ? !final_norm_in_layers : !ctx.is_new(kPostNormLastLayerNorm));
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
    if (o.pre_norm) L.pre_branch_norm = norms->add("0", make_norm(kind, o.dim, ctx, o.dynamic_tanh_init_alpha));
    // post_branch_norm = norm_fn() if sandwich_norm else None (0.28.4 - 2.31.10)
    if (o.sandwich_norm) L.post_branch_norm = norms->add("1", make_norm(kind, o.dim, ctx, o.dynamic_tanh_init_alpha));
    if (o.pre_and_post_norm) {
      // post_main_norm = norm_fn() if (not pre_norm or self.pre_and_post_norm)
      L.post_main_norm = norms->add("2", make_norm(kind, o.dim, ctx, o.dynamic_tanh_init_alpha));
    } else if (!o.pre_norm) {
      // Before 1.15.0 a post-norm model's last layer had no post-main norm:
      // TransformerWrapper.norm stood in for it. The history renames it here.
      const bool wrapper_norm = wrapper_norm_ends && is_last;
      L.post_main_norm = norms->add("2", wrapper_norm ? std::shared_ptr<Norm>(std::make_shared<LayerNorm>(LayerNormOptions::torch_layer_norm(o.dim)))
                                                      : make_norm(kind, o.dim, ctx, o.dynamic_tanh_init_alpha));
    }

    if (L.type == 'f') {
      FeedForwardOptions fo = o.ff;
      fo.dim = o.dim;
      fo.glu_clamp_form = ctx.release < ReleaseVersion{2, 20, 0}   ? GluClampForm::None
                          : ctx.release <= ReleaseVersion{2, 30, 5} ? GluClampForm::ClampInputs
                                                                    : GluClampForm::SituGlu;
      L.feedforward = add_block(slot, std::make_shared<FeedForward>(fo), branch_scale.has_value());
    } else {
      AttentionOptions ao = base;
      ao.causal = L.type == 'a' && o.causal;
      ao.learned_value_residual_mix = L.type == 'a' && learned_mix && !first_self_attn;
      if (L.type == 'a') first_self_attn = false;
      L.attention = add_block(slot, std::make_shared<Attention>(ao), branch_scale.has_value());
    }
    add_residual_variants(ind, L, slot, skip_indices, pooler);
    layer_list.push_back(L);
  }

  if (o.pre_and_post_norm) {
    // pre_norm_has_final_norm = False: final_norm is Identity()
  } else if (o.pre_norm && wrapper_norm_ends) {
    // TransformerWrapper.norm = nn.LayerNorm(dim), whatever the layers' norm class (key map: `norm.` -> `attn_layers.final_norm.`)
    final_norm = register_module("final_norm", std::make_shared<LayerNorm>(LayerNormOptions::torch_layer_norm(o.dim)));
  } else if (o.pre_norm) {
    final_norm = register_module("final_norm", make_norm(kind, o.dim, ctx, o.dynamic_tanh_init_alpha));
  }
}

Tensor AttentionLayers::forward(Tensor x, const Tensor& mask, const Tensor& context, const Tensor& context_mask, Trace* t,
                                const std::string& path, DecodeCache* cache) const {
  const int64_t offset = cache ? cache->offset : 0;
  if (cache && cache->k.empty()) cache->k.resize(layer_list.size()), cache->v.resize(layer_list.size());
  Tensor freqs;
  // The rows of x's positions (apply_rotary_pos_emb takes the last n rows).
  if (rotary_pos_emb) freqs = rotary_pos_emb->forward(offset + x.size(1));
  std::function<Tensor(int64_t, int64_t)> bias;
  if (rel_pos) bias = [this](int64_t i, int64_t j) { return rel_pos->forward(i, j); };
  if (alibi) bias = [this](int64_t i, int64_t j) { return alibi->forward(i, j); };

  Tensor inp_inject;  // reinject_input: reinject_input_proj(x) [* sigmoid(gate(x))], added before each block's norm
  if (reinject_input_proj) {
    inp_inject = reinject_input_proj->forward(x);
    if (learned_reinject_input_gate) inp_inject = inp_inject * at::sigmoid(learned_reinject_input_gate->forward(x));
  }

  if (cache && (options.orthog_residual || options.mv_split_residual))
    throw NativeUnsupported("orthog_residual or mv_split_residual (their update reads the whole sequence: nothing to cache)");

  Tensor first_values;
  std::vector<Tensor> skip_hiddens, layer_hiddens;
  for (std::size_t ind = 0; ind < layer_list.size(); ++ind) {
    const Layer& L = layer_list[ind];
    const std::string lp = path + ".layers." + std::to_string(ind);
    if (skip_combines) skip_hiddens.push_back(x);
    if (L.skip_combine) x = L.skip_combine->forward(x, skip_hiddens);
    Tensor residual = x;
    if (L.integrator) {
      layer_hiddens.push_back(x);
      x = L.integrator->forward(layer_hiddens);
    }
    if (inp_inject.defined()) x = x + inp_inject;
    if (L.pre_branch_norm) x = L.pre_branch_norm->forward(x);
    Tensor out;
    if (L.type == 'f') {
      out = L.feedforward->forward(x, t, lp + ".1");
    } else {
      AttentionInputs in;
      in.mask = mask;
      if (L.type == 'a') {
        in.rotary_freqs = freqs;
        in.rel_pos = bias;
        if (options.add_value_residual) in.value_residual = first_values;
        if (cache) in.cache_k = &cache->k[ind], in.cache_v = &cache->v[ind];
      } else {
        in.context = context;
        in.context_mask = context_mask;
      }
      AttentionOutput r = L.attention->forward(x, in, t, lp + ".1");
      out = r.out;
      if (L.type == 'a' && !first_values.defined()) first_values = r.values;
    }
    if (branch_scale) out = out * *branch_scale;  // Scale(residual_scale, block): the block's first output
    if (L.post_branch_norm) out = L.post_branch_norm->forward(out);
    x = add_residual(L, out, residual, mask);
    if (L.post_main_norm) x = L.post_main_norm->forward(x);
    trace(t, lp, x);
  }
  if (final_norm) {
    x = final_norm->forward(x);
    trace(t, path + ".final_norm", x);
  }
  return x;
}

}  // namespace xcompat::native

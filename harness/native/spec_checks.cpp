#include "harness/native/spec_checks.hpp"

namespace xcompat::native {

namespace {
// The GLU's clamps changed in (2.30.5, 2.31.10], not bisected (feedforward.hpp GluClampForm).
constexpr ReleaseVersion kGluClampsLastOld{2, 30, 5};

// Package hyper: the residual streams and layer integration, with the
// combinations measured against the releases (the rest refused).
void check_residual_routes(const AttentionLayersOptions& o) {
  const bool several_streams = o.num_residual_streams > 1;
  if (o.num_residual_streams < 1) throw NativeUnsupported("num_residual_streams < 1 (the releases assert it is positive)");
  if (o.gated_multi_residual && !o.residual_read_gate_rank)
    throw NativeUnsupported("gated_multi_residual without residual_fn_kwargs.read_gate_rank (the releases assert it)");
  if (o.residual_read_gate_rank && (!o.gated_multi_residual || *o.residual_read_gate_rank <= 0))
    throw NativeUnsupported("residual_fn_kwargs.read_gate_rank without gated_multi_residual, or not positive (not measured)");
  if (o.qkv_receive_diff_residuals && !(several_streams || o.gated_multi_residual || o.integrate_layers))
    throw NativeUnsupported("qkv_receive_diff_residuals with a single plain residual stream (the releases fail: "
                            "no one produces the three views)");
  if (!(several_streams || o.gated_multi_residual || o.integrate_layers)) return;
  if (o.reinject_input || (o.gated_multi_residual && (o.pre_and_post_norm || o.sandwich_norm || !o.pre_norm)))
    throw NativeUnsupported("several residual streams, gated_multi_residual or integrate_layers together with reinject_input "
                            "(with several streams the releases add a [(b s), n, d] injection to [b, n, d] branch inputs; not measured "
                            "otherwise), or gated_multi_residual "
                            "with pre_and_post_norm, sandwich_norm or pre_norm = false (not measured)");
  if ((o.qkv_receive_diff_residuals || o.integrate_layers) &&
      (o.attn_gate_values || o.attn_output_gate || o.attn_num_mem_kv > 0 || o.add_value_residual))
    throw NativeUnsupported("queries, keys and values from different views together with gates, memory key / values or a "
                            "value residual (the releases read the views' batch as the first axis there)");
}

// Multi-latent attention as measured (self- and cross-attention, with
// value residuals, grouped-query attention, memory key / values, qk_norm,
// ALiBi, flash): a latent width wherever a latent is used, rope sub-heads
// only with the latent keys (the releases derive them there) and without
// grouped-query attention (the releases assert it).
void check_latent_attention(const AttentionLayersOptions& o) {
  if ((o.attn_use_latent_q && o.attn_dim_latent_q.value_or(0) <= 0) ||
      (o.attn_use_latent_kv && o.attn_dim_latent_kv.value_or(0) <= 0))
    throw NativeUnsupported("attn_use_latent_q / attn_use_latent_kv without a positive attn_dim_latent_q / attn_dim_latent_kv "
                            "(the releases assert it)");
  if (o.attn_latent_rope_subheads) {
    const int64_t kv_heads = o.attn_kv_heads.value_or(o.heads);
    if (!o.attn_use_latent_kv)
      throw NativeUnsupported("attn_latent_rope_subheads without attn_use_latent_kv (the sub-heads are only derived with "
                              "the latent keys: the releases' keys lack those heads)");
    if (*o.attn_latent_rope_subheads <= 0 || *o.attn_latent_rope_subheads >= o.heads)
      throw NativeUnsupported("attn_latent_rope_subheads outside 1 .. heads - 1");
    if (kv_heads < o.heads)
      throw NativeUnsupported("attn_latent_rope_subheads with grouped-query attention (the releases assert against it)");
  }
  // to_value_residual_mix = Linear(dim, heads) reads the latent queries
  if (o.attn_use_latent_q && o.add_value_residual && o.learned_value_residual_mix.value_or(true) &&
      o.attn_dim_latent_q.value_or(0) != o.dim)
    throw NativeUnsupported("attn_use_latent_q with a learned value residual mix and attn_dim_latent_q other than dim "
                            "(the mix reads the latent queries through Linear(dim, heads): the releases fail)");
}

// attn_dim_out: the residual adds to_out's output to the stream, so only
// `dim` (or 1, which broadcasts) builds a model; the belief attention's
// projections need the values of the same positions (not cross-attention).
void check_attention_output(const AttentionLayersOptions& o) {
  if (o.attn_dim_out && *o.attn_dim_out != o.dim && *o.attn_dim_out != 1)
    throw NativeUnsupported("attn_dim_out other than dim or 1 (the releases' residual adds it to the dim-wide stream)");
  if (o.attn_dim_out && *o.attn_dim_out != o.dim && (o.sandwich_norm || o.cross_attend))
    throw NativeUnsupported("attn_dim_out = 1 with sandwich_norm or cross-attention (not measured)");
  if ((o.attn_orthog_projected_values || o.attn_orthog_projected_values_per_head) && o.cross_attend)
    throw NativeUnsupported("attn_orthog_projected_values with cross-attention (it projects onto the context's values, "
                            "which the releases pack to another length unless the context is as long: not measured)");
}

// Package posattn: what the releases assert against, and the combinations not measured.
void check_posattn_combinations(const AttentionLayersOptions& o) {
  const bool kv_grouped = o.attn_kv_heads && *o.attn_kv_heads < o.heads;
  if (o.rotary_xpos && !o.causal)
    throw NativeUnsupported("rotary_xpos in an encoder (the releases assert xpos is causal only)");
  if (o.rotary_xpos && o.rotary_xpos_scale_base <= 0) throw NativeUnsupported("rotary_xpos_scale_base <= 0");
  if (o.polar_pos_emb && (o.uses_rotary() || o.attn_num_mem_kv > 0 || kv_grouped || o.attn_flash || o.cross_attend))
    throw NativeUnsupported("polar_pos_emb together with rotary embeddings (the releases assert at most one), memory key / "
                            "values or grouped-query attention (the widths do not match), attn_flash or cross-attention "
                            "(not measured)");
  if (o.attn_use_cope && (!o.causal || o.attn_flash || o.cross_attend || o.attn_cope_max_pos <= 0))
    throw NativeUnsupported("attn_use_cope in an encoder, with attn_flash or in cross-attention (the releases assert causal, "
                            "non-flash attention), or attn_cope_max_pos <= 0");
  if (o.attn_data_dependent_alibi && (o.alibi_pos_bias || o.rel_pos_bias || o.attn_flash || o.cross_attend))
    throw NativeUnsupported("attn_data_dependent_alibi together with alibi_pos_bias or rel_pos_bias (the releases assert at "
                            "most one), attn_flash or cross-attention (not measured)");
  if ((o.attn_data_dependent_alibi_per_row || o.attn_data_dependent_alibi_per_row_dim_head) &&
      (!o.attn_data_dependent_alibi || !o.causal || !o.attn_data_dependent_alibi_per_row ||
       o.attn_data_dependent_alibi_per_row_dim_head.value_or(8) <= 0))
    throw NativeUnsupported("attn_data_dependent_alibi_per_row without attn_data_dependent_alibi, in an encoder (the releases "
                            "assert it is causal), or its dim_head without it or not positive");
  if (o.attn_cope_talking_heads && !o.attn_use_cope)
    throw NativeUnsupported("attn_cope_talking_heads without attn_use_cope (no effect)");
  if (o.attn_use_rel_proj_pos_bias &&
      (o.alibi_pos_bias || o.rel_pos_bias || o.attn_data_dependent_alibi || o.attn_num_mem_kv > 0 || o.attn_flash ||
       o.cross_attend || o.attn_rel_proj_num_distance_basis <= 0 || o.attn_rel_proj_max_dist <= 0))
    throw NativeUnsupported("attn_use_rel_proj_pos_bias together with another attention bias, attn_flash or cross-attention "
                            "(not measured), memory key / values (the release's shapes do not match), or a non-positive "
                            "basis or distance");
  if ((o.cross_attn_sigmoid || o.cross_attn_inverted_attention) && (!o.cross_attend || o.attn_flash))
    throw NativeUnsupported("cross_attn_sigmoid / cross_attn_inverted_attention without cross-attention (no effect) or with "
                            "attn_flash (the releases assert against it)");
  if (o.cross_attn_inverted_attention && (o.attn_head_learned_sink || o.attn_cog_signed))
    throw NativeUnsupported("cross_attn_inverted_attention with attn_head_learned_sink or attn_cog_signed (the sink column "
                            "against the key mask after the softmax: not measured)");
}

// Arguments the spec gives or that the Python classes' defaults imply, checked together.

// The flash path with a padding mask: the history's flash-padding-mask-fixed
// (1.16.14); before it the releases compute something else (NMSE 1 against
// the explicit path), which the port does not model.
void check_flash_mask(const AttentionLayersOptions& o, bool padding_mask, const ReleaseContext& ctx) {
  if (o.attn_flash && padding_mask && !ctx.is_new(kFlashPaddingMaskFixed))
    throw NativeUnsupported("attn_flash with a padding mask for release " + ctx.release.str() +
                            " (measured from 1.16.14: the history's flash-padding-mask-fixed, before which the flash path masks "
                            "otherwise)");
}

// Memory key / values with a relative position bias (T5, ALiBi): the bias
// treated the memory columns otherwise before the history's mem-kv-unbiased
// (twice: mem-kv-query-positions too); the port follows the newest behaviour only.
void check_memory_bias_release(const AttentionLayersOptions& o, const ReleaseContext& ctx) {
  if (o.attn_num_mem_kv > 0 && (o.alibi_pos_bias || o.rel_pos_bias) && !ctx.is_new(kMemoryKeysUnbiased))
    throw NativeUnsupported("attn_num_mem_kv with a relative position bias for release " + ctx.release.str() +
                            " (measured from " + kMemoryKeysUnbiased.change().at.str() + ", the history's " +
                            std::string(kMemoryKeysUnbiased.change_id) + ": before, the bias covered the memory columns otherwise)");
}

// The GLU's soft clamps (ff_softclamp_value, ff_glu_gate_softclamp_value
// with ff_glu): 2.20.0 - 2.30.5 clamp both halves, 2.31.10 neither unless
// ff_glu_softclamp; in between the change is not bisected.
void check_glu_clamps_release(const AttentionLayersOptions& o, const ReleaseContext& ctx) {
  const bool clamps = o.ff.softclamp_value || o.ff.glu_gate_softclamp_value;
  if (o.ff.glu && clamps && ctx.release > kGluClampsLastOld && ctx.release < kNewestRelease)
    throw NativeUnsupported("ff_glu with ff_softclamp_value or ff_glu_gate_softclamp_value for release " + ctx.release.str() +
                            " (2.30.5 clamps the GLU's inputs, 2.31.10 only with ff_glu_softclamp: not bisected)");
}

}  // namespace

void check_layers(const AttentionLayersOptions& o, const std::string& where) {
  if (o.dim <= 0 || o.depth <= 0 || o.heads <= 0) throw NativeUnsupported(where + " without a positive dim, depth and heads");
  if (int(o.use_scalenorm) + int(o.use_rmsnorm) + int(o.use_dynamic_tanh) + int(o.use_derf) > 1)
    throw NativeUnsupported("more than one of use_scalenorm, use_rmsnorm, use_dynamic_tanh, use_derf");
  if ((o.use_dynamic_tanh || o.use_derf) && !o.pre_norm)
    throw NativeUnsupported("use_dynamic_tanh or use_derf without pre_norm (not measured; DyT asserts pre-norm)");
  if (o.attn_qk_norm && (o.attn_qk_norm_groups <= 0 || o.attn_dim_head % o.attn_qk_norm_groups != 0 ||
                         o.attn_dim_head / o.attn_qk_norm_groups <= 2))
    throw NativeUnsupported("attn_qk_norm_groups that does not divide attn_dim_head into groups wider than 2 "
                            "(the releases assert it)");
  if (o.attn_qk_norm && o.attn_num_mem_kv > 0)
    throw NativeUnsupported("attn_qk_norm together with memory key / values (normalised memory keys: not measured)");
  if ((o.attn_gate_values_headwise && !o.attn_gate_values) || (o.attn_output_gate_headwise && !o.attn_output_gate))
    throw NativeUnsupported("a headwise gate without its gate (attn_gate_values / attn_output_gate)");
  if (o.attn_value_rmsnorm && o.add_value_residual)
    throw NativeUnsupported("attn_value_rmsnorm together with add_value_residual (their order is not measured)");
  if (o.ff.softclamp_value && *o.ff.softclamp_value <= 0) throw NativeUnsupported("ff_softclamp_value not positive");
  if (o.ff.glu_softclamp && (!o.ff.glu || o.ff.relu_squared))
    throw NativeUnsupported("ff_glu_softclamp without ff_glu, or with ff_relu_squared (the release asserts GELU or SiLU)");
  if (o.mv_split_residual_learned && !o.mv_split_residual)
    throw NativeUnsupported("residual_fn_kwargs without mv_split_residual (its keywords go to the residual modules: not measured)");
  if (int(o.orthog_residual) + int(o.mv_split_residual) + int(o.attn_aggregated_residuals) > 1)
    throw NativeUnsupported("more than one of orthog_residual, mv_split_residual, attn_aggregated_residuals (the releases assert at most one)");
  if (o.unet_skips && (o.only_attn || o.cross_attend))
    throw NativeUnsupported("unet_skips with only_attn (the release asserts against it) or cross-attention (not measured)");
  if (o.attn_aggregated_residuals && o.attn_aggregated_residual_form != AttentionResidualForm::PooledAttention &&
      o.attn_aggregated_residual_lora_rank >= o.dim)
    throw NativeUnsupported("attn_aggregated_residuals with a lora_rank (default 64) not below dim (the release asserts it)");
  if ((o.orthog_residual || o.mv_split_residual || o.attn_aggregated_residuals || o.unet_skips || o.depth_scale_residual ||
       o.depth_scale_residual_by_depth) &&
      (o.add_value_residual || o.reinject_input || o.sandwich_norm || !o.pre_norm || o.cross_attend))
    throw NativeUnsupported("a residual variant (orthog_residual, mv_split_residual, attn_aggregated_residuals, unet_skips, "
                            "depth_scale_residual) together with a value residual, reinject_input, sandwich_norm, post-norm or "
                            "cross-attention (not measured)");
  if ((o.attn_output_gate || o.attn_gate_values_headwise) && o.attn_kv_heads)
    throw NativeUnsupported("the 2.31.10 gates together with grouped-query attention (not measured)");
  if ((o.attn_gate_values_rank && (!o.attn_gate_values || o.attn_gate_values_headwise)) ||
      (o.attn_output_gate_rank && (!o.attn_output_gate || o.attn_output_gate_headwise)))
    throw NativeUnsupported("a gate rank without its gate, or with a headwise gate (the releases assert against it)");
  if (o.attn_flash && (o.attn_softclamp_logits || o.attn_cog_signed || o.attn_head_learned_sink || o.attn_laser ||
                       o.attn_l2_distance || o.attn_num_mem_kv > 0))
    throw NativeUnsupported("attn_flash together with an attention variant the flash path refuses or computes otherwise");
  if (o.attn_cog_signed && o.attn_head_learned_sink)
    throw NativeUnsupported("attn_cog_signed together with attn_head_learned_sink (the sink's sign: not measured)");
  if (o.learned_reinject_input_gate && !o.reinject_input)
    throw NativeUnsupported("learned_reinject_input_gate without reinject_input");
  if (o.attn_softclamp_logits && o.attn_logit_softclamp_value <= 0)
    throw NativeUnsupported("attn_logit_softclamp_value <= 0 (the releases assert it is positive)");
  if (o.pre_and_post_norm && (!o.pre_norm || o.sandwich_norm))
    throw NativeUnsupported("pre_and_post_norm with pre_norm = false or sandwich_norm (not measured)");
  if (o.sandwich_norm && !o.pre_norm)
    throw NativeUnsupported("sandwich_norm without pre_norm (every release asserts against it)");
  if (o.alibi_pos_bias && o.rel_pos_bias) throw NativeUnsupported("alibi_pos_bias together with rel_pos_bias");
  if (o.macaron && (o.unet_skips || o.use_adaptive_layerscale || o.branch_output_scale() || o.num_residual_streams > 1 ||
                    o.gated_multi_residual || o.integrate_layers || o.attn_aggregated_residuals))
    throw NativeUnsupported("macaron with unet_skips, a layer scale, residual streams, LIMe or aggregated residuals (not measured)");
  if (o.gate_residual && (o.num_residual_streams > 1 || o.gated_multi_residual || o.orthog_residual || o.mv_split_residual ||
                          o.attn_aggregated_residuals || o.integrate_layers))
    throw NativeUnsupported("gate_residual with another residual (the releases assert at most one)");
  if (o.residual_attn && (o.attn_flash || o.attn_head_learned_sink || o.attn_softclamp_logits || o.attn_cog_signed ||
                          o.attn_use_cope || o.attn_kv_heads || o.attn_hybrid || o.num_residual_streams > 1 || o.integrate_layers))
    throw NativeUnsupported("residual_attn with flash (the releases assert against it), a sink, soft-clamped or signed logits, "
                            "CoPE, grouped-query attention, a hybrid branch, residual streams or LIMe (where the logits are "
                            "kept changed between releases, or not measured)");
  if (!o.alibi_slopes.empty() && (!o.alibi_pos_bias || static_cast<int64_t>(o.alibi_slopes.size()) > o.heads))
    throw NativeUnsupported("rel_pos_kwargs slopes without alibi_pos_bias, or more slopes than heads");
  if (o.alibi_num_heads && (*o.alibi_num_heads <= 0 || *o.alibi_num_heads > o.heads))
    throw NativeUnsupported("alibi_num_heads outside 1 .. heads");
  if (o.attn_kv_heads && (*o.attn_kv_heads <= 0 || o.heads % *o.attn_kv_heads != 0))
    throw NativeUnsupported("attn_kv_heads that does not divide heads (the releases assert divisible_by(heads, kv_heads))");
  if (o.attn_kv_heads && *o.attn_kv_heads < o.heads && (o.attn_num_mem_kv > 0 || o.add_value_residual))
    throw NativeUnsupported("grouped-query attention together with memory key / values or a value residual "
                            "(their shapes with kv_heads changed between releases and are not measured)");
  if (o.add_value_residual && o.cross_attend)
    throw NativeUnsupported("add_value_residual with cross-attention (its cross-attention mix changed at 1.44.x and is not measured)");
  if (int(o.use_adaptive_layernorm) + int(o.use_adaptive_rmsnorm) + int(o.use_scalenorm || o.use_rmsnorm || o.use_dynamic_tanh || o.use_derf) > 1)
    throw NativeUnsupported("an adaptive norm together with another norm class (the releases assert at most one)");
  if ((o.dim_condition && *o.dim_condition <= 0) || o.adaptive_condition_mlp_expansion <= 0)
    throw NativeUnsupported("dim_condition or adaptive_condition_mlp_expansion not positive");
  if (o.cross_attn_dim_context && (*o.cross_attn_dim_context <= 0 || !o.cross_attend))
    throw NativeUnsupported("cross_attn_dim_context without cross_attend, or not positive");
  if (o.attn_hybrid) {
    const HybridOptions& h = *o.attn_hybrid;
    if (h.input_size != o.dim || h.fold_axial_dim <= 0 || h.hidden_size <= 0 ||
        h.hidden_size * (h.bidirectional ? 2 : 1) != o.heads * o.attn_dim_head)
      throw NativeUnsupported("an attn_hybrid_module GRU that does not take dim and give heads * attn_dim_head, or "
                              "without a positive attn_hybrid_fold_axial_dim (the release has no hybrid norms then)");
    if (o.attn_gate_values || o.attn_output_gate || o.attn_laser || o.attn_kv_heads || o.cross_attend ||
        o.attn_use_latent_q || o.attn_use_latent_kv || o.attn_orthog_projected_values || o.attn_orthog_projected_values_per_head)
      throw NativeUnsupported("attn_hybrid_module together with gates, LASER, grouped-query, latent, belief or "
                              "cross-attention (not measured)");
  }
  check_residual_routes(o);
  // Each package measured its residual changes alone: refuse them together.
  const bool residual_variant = o.orthog_residual || o.mv_split_residual || o.attn_aggregated_residuals || o.unet_skips ||
                                o.branch_output_scale().has_value();
  const bool residual_streams = o.num_residual_streams > 1 || o.gated_multi_residual || o.integrate_layers;
  if (residual_variant && (residual_streams || o.needs_condition()))
    throw NativeUnsupported("a residual variant (orthog_residual, mv_split_residual, attn_aggregated_residuals, unet_skips, "
                            "depth_scale_residual) together with residual streams, LIMe or adaptive modules (not measured)");
  if (o.needs_condition() && (o.num_residual_streams > 1 || o.integrate_layers || o.gated_multi_residual))
    throw NativeUnsupported("adaptive norms or layer scale together with residual streams or LIMe (not measured)");
  check_latent_attention(o);
  if (o.rotary_xpos && o.attn_latent_rope_subheads)
    throw NativeUnsupported("rotary_xpos with attn_latent_rope_subheads (not measured)");
  if ((o.attn_use_latent_q || o.attn_use_latent_kv) && (o.cross_attn_dim_context || o.qkv_receive_diff_residuals))
    throw NativeUnsupported("multi-latent attention with cross_attn_dim_context or qkv_receive_diff_residuals (not measured)");
  check_attention_output(o);
  if (o.ff.mult <= 0 || o.attn_dim_head <= 0 || o.attn_num_mem_kv < 0) throw NativeUnsupported(where + " with a non-positive width");
  check_posattn_combinations(o);
}

void check_wrapper(const TransformerWrapperOptions& o, const AttentionLayersOptions& layers, const std::string& where) {
  if (o.num_tokens <= 0) throw NativeUnsupported(where + " without a positive num_tokens");
  if (o.max_seq_len <= 0 && o.use_abs_pos_emb && !layers.has_pos_emb())
    throw NativeUnsupported(where + " with max_seq_len 0 (its meaning changed)");
  if (o.num_memory_tokens < 0) throw NativeUnsupported(where + " with negative num_memory_tokens");
  if (o.average_pool_embed && o.use_cls_token)
    throw NativeUnsupported(where + " with average_pool_embed and use_cls_token (the releases allow one)");
  if (o.use_cls_token && o.num_cls_tokens <= 0) throw NativeUnsupported(where + " with num_cls_tokens <= 0");
  if (o.logits_dim && (*o.logits_dim <= 0 || o.tie_embedding))
    throw NativeUnsupported(where + " with logits_dim together with tie_embedding, or not positive");
  if (o.attn_pool && (o.num_pooled_tokens <= 0 || o.attn_pool_depth <= 0 || o.dim_pooled_tokens.value_or(1) <= 0))
    throw NativeUnsupported(where + " with attn_pool and num_pooled_tokens, attn_pool_depth or dim_pooled_tokens not positive");
  if (o.attn_pool && (o.use_cls_token || o.average_pool_embed || o.num_memory_tokens > 0))
    throw NativeUnsupported(where + " with attn_pool and use_cls_token, average_pool_embed or num_memory_tokens "
                            "(the release asserts against cls tokens; the others are not measured)");
  if (o.mixture_of_softmax && (o.mixture_of_softmax_k <= 0 || o.tie_embedding || o.average_pool_embed || o.use_cls_token))
    throw NativeUnsupported(where + " with mixture_of_softmax and tie_embedding, one output per row, or k not positive (not measured)");
  if (o.ff_deep_embed && (o.num_memory_tokens > 0 || o.use_cls_token))
    throw NativeUnsupported(where + " with ff_deep_embed and memory or cls tokens (the release multiplies "
                            "per-token scales onto a longer sequence and fails)");
  if (o.looped && !layers.pre_and_post_norm)
    throw NativeUnsupported(where + " with looped but without pre_and_post_norm (the release asserts it)");
  if (o.looped && (o.num_memory_tokens > 0 || o.ff_deep_embed || o.attn_pool))
    throw NativeUnsupported(where + " with looped and memory tokens, ff_deep_embed or attn_pool (not measured)");
}


void check_release_ranges(const AttentionLayersOptions& o, bool padding_mask, const ReleaseContext& ctx) {
  check_flash_mask(o, padding_mask, ctx);
  check_memory_bias_release(o, ctx);
  check_glu_clamps_release(o, ctx);
}

int64_t positive_wrapper_int(const nlohmann::json& v, const std::string& name) {
  if (!v.is_number_integer() || v.get<int64_t>() <= 0)
    throw NativeUnsupported("wrapper argument '" + name + "' = " + v.dump() + " (expected a positive integer)");
  return v.get<int64_t>();
}

}  // namespace xcompat::native

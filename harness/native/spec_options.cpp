#include "harness/native/spec_options.hpp"

#include "harness/native/spec_checks.hpp"

#include <functional>
#include <map>

namespace xcompat::native {

using json = nlohmann::json;

namespace {

bool as_bool(const json& v, const std::string& name) {
  if (!v.is_boolean()) throw NativeUnsupported("argument '" + name + "' = " + v.dump() + " (expected true or false)");
  return v.get<bool>();
}

int64_t as_int(const json& v, const std::string& name) {
  if (!v.is_number_integer()) throw NativeUnsupported("argument '" + name + "' = " + v.dump() + " (expected an integer)");
  return v.get<int64_t>();
}

double as_number(const json& v, const std::string& name) {
  if (!v.is_number()) throw NativeUnsupported("argument '" + name + "' = " + v.dump() + " (expected a number)");
  return v.get<double>();
}

// Accepted and without effect on an eval-mode forward pass.
void no_forward_effect(const json& v, const std::string& name) { (void)as_number(v, name); }

// Grouped-query attention (kv_heads, and one_kv_head as kv_heads = 1) as the
// pins from 1.19.1 to 2.31.10 compute it; before, one_kv_head was computed
// otherwise (1.14.0, 1.15.0) and kv_heads appears somewhere after 1.15.0,
// not bisected: never guessed.
void require_grouped_query_release(const ReleaseContext& ctx, const std::string& name) {
  if (ctx.release < ReleaseVersion{1, 19, 1})
    throw NativeUnsupported("layers argument '" + name + "' for release " + ctx.release.str() +
                            " (grouped-query attention is measured from 1.19.1; one_kv_head was computed otherwise "
                            "in 1.14.0 - 1.15.0, and kv_heads appears somewhere in 1.15.1 - 1.19.1)");
}

// An argument measured from the pin `from` on, which appears somewhere in
// `appears` (not bisected): before `from` it is UNSUPPORTED, never guessed.
void require_measured_from(const ReleaseContext& ctx, ReleaseVersion from, const std::string& name,
                           const std::string& appears) {
  if (ctx.release < from)
    throw NativeUnsupported("argument '" + name + "' for release " + ctx.release.str() + " (measured from " +
                            from.str() + "; it appears somewhere in " + appears + ")");
}

// rotary_xpos, measured from 1.7.5 (the oldest installed release with it;
// it appears somewhere in 1.5.4 - 1.7.5). The releases from somewhere after
// 1.23.2 to 1.27.5 cannot run it themselves: RotaryEmbedding.forward takes
// positions there but its xpos branch still reads `seq_len` (NameError;
// measured in 1.25.15 - 1.27.2, fixed in 1.27.6): never guessed.
constexpr ReleaseVersion kXposFrom{1, 7, 5};
constexpr ReleaseVersion kXposBrokenFrom{1, 23, 3}, kXposFixedAt{1, 27, 6};

void require_xpos_release(const ReleaseContext& ctx, const std::string& name) {
  require_measured_from(ctx, kXposFrom, name, "1.5.4 - 1.7.5");
  if (ctx.release >= kXposBrokenFrom && ctx.release < kXposFixedAt)
    throw NativeUnsupported("argument '" + name + "' for release " + ctx.release.str() +
                            " (the release's own xpos forward raises NameError: name 'seq_len' is not defined, "
                            "measured in 1.25.15 - 1.27.2; 1.23.2 and 1.27.6 run it)");
}

// qk_norm: its default scale is the history's switch qk-norm-scale-10 (1
// before 1.0.4, 10 from it), read in parse_spec. 0.28.4 builds qk_norm with
// other parameters (use_qk_norm_attn's norms): measured from 0.32.3. The
// history's qk-norm-scaled-twice and qk-norm-learned-scales (2.17.1, 2.25.5,
// both bisected) say how queries and keys are scaled after the norm.
constexpr ReleaseVersion kQkNormMeasuredFrom{0, 32, 3};
const char* const kQkNormAppears = "0.28.4 with other parameters";

constexpr ReleaseVersion kPostEmbNormFrom{0, 32, 3};

// Decoder / Encoder with cross_attend, given a context, and the adaptive
// (conditioned) modules: measured against every pin from these on.
constexpr ReleaseVersion kCrossAttendMeasuredFrom{0, 28, 4};
constexpr ReleaseVersion kCrossAttnDimContextFrom{1, 26, 6};
constexpr ReleaseVersion kAdaptiveFrom{1, 30, 23};
// The hybrid module is measured from the pin 1.44.8 on: the history's
// hybrid-module-normed (2.0.1) says when its output and the attention's are
// RMS-normed per head before they are averaged. The learned mix (hybrid_mix)
// comes with the norms in 2.0.1 and is measured from 2.0.5.
constexpr ReleaseVersion kHybridFrom{1, 44, 8};
constexpr ReleaseVersion kHybridLearnedMixFrom{2, 0, 5};
// Bisected with `xcompat bisect --consumer cpp-native`: macaron's feed-forwards
// are laid out otherwise until 1.17.3 (1.18.0 on as the port); residual
// attention kept the logits before the bias until 1.9.2 (the history's
// residual-attn-carries-position-bias, a switch of the port); gate_residual
// is the same in every pin.
constexpr ReleaseVersion kMacaronFrom{1, 18, 0};
constexpr ReleaseVersion kGateResidualFrom{0, 28, 4};
constexpr ReleaseVersion kResidualAttnFrom{0, 28, 4};
const char* const kAdaptiveAppears = "1.27.0 - 1.30.23";
// package residual: the oldest releases measured IDENTICAL / CLOSE
constexpr ReleaseVersion kDepthScaleResidualFrom{2, 30, 5};
constexpr ReleaseVersion kResidualUpdatesFrom{2, 20, 0};  // orthog_residual, mv_split_residual, the GLU clamps
constexpr ReleaseVersion kUnetSkipsFrom{1, 35, 2};
constexpr ReleaseVersion kAttnResidualFrom{2, 30, 5};  // AttentionResidual (attn_aggregated_residuals)
constexpr ReleaseVersion kAttnPooledLast{2, 28, 5};    // AttentionAggregatedResidual, its last measured release

using LayersSetter = std::function<void(const json&, AttentionLayersOptions&, const ReleaseContext&)>;

// A boolean layers argument the port follows from release `from` on; before,
// UNSUPPORTED (it appears somewhere in `appears`).
LayersSetter measured_flag(const char* name, bool AttentionLayersOptions::*member, ReleaseVersion from,
                           const char* appears) {
  return [=](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
    require_measured_from(ctx, from, name, appears);
    o.*member = as_bool(v, name);
  };
}

// An integer layers argument (None: unset) the port follows from release
// `from` on; before, UNSUPPORTED (it appears somewhere in `appears`).
LayersSetter measured_width(const char* name, std::optional<int64_t> AttentionLayersOptions::*member, ReleaseVersion from,
                            const char* appears) {
  return [=](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
    require_measured_from(ctx, from, name, appears);
    if (v.is_null()) o.*member = std::nullopt;
    else o.*member = as_int(v, name);
  };
}

// Multi-latent attention (to_latent_q / to_latent_kv / to_rotateable_k),
// Attention's dim_out and the belief attention's orthogonal projections.
constexpr ReleaseVersion kLatentFrom{2, 0, 5};
const char* const kLatentAppears = "1.44.9 - 2.0.5";
constexpr ReleaseVersion kDimOutFrom{1, 37, 10};
const char* const kDimOutAppears = "1.35.3 - 1.37.10";
constexpr ReleaseVersion kOrthogFrom{2, 11, 24};
const char* const kOrthogAppears = "2.3.28 - 2.11.24";

using WrapperSetter = std::function<void(const json&, TransformerWrapperOptions&, const ReleaseContext&)>;

// Boolean and integer wrapper arguments, gated like measured_flag.
WrapperSetter wrapper_flag(const char* name, bool TransformerWrapperOptions::*member, ReleaseVersion from, const char* appears) {
  return [=](const json& v, TransformerWrapperOptions& o, const ReleaseContext& ctx) {
    require_measured_from(ctx, from, name, appears);
    o.*member = as_bool(v, name);
  };
}

WrapperSetter wrapper_int(const char* name, int64_t TransformerWrapperOptions::*member, ReleaseVersion from, const char* appears) {
  return [=](const json& v, TransformerWrapperOptions& o, const ReleaseContext& ctx) {
    require_measured_from(ctx, from, name, appears);
    o.*member = as_int(v, name);
  };
}

constexpr ReleaseVersion kAttnPoolFrom{2, 11, 24};
const char* const kAttnPoolAppears = "2.3.28 - 2.11.24";

const std::map<std::string, LayersSetter>& layers_arguments() {
  static const std::map<std::string, LayersSetter> table = {
      {"dim", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.dim = as_int(v, "dim"); }},
      {"depth", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.depth = as_int(v, "depth"); }},
      {"heads", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.heads = as_int(v, "heads"); }},
      {"use_scalenorm", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.use_scalenorm = as_bool(v, "use_scalenorm"); }},
      {"use_rmsnorm", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.use_rmsnorm = as_bool(v, "use_rmsnorm"); }},
      {"alibi_pos_bias", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.alibi_pos_bias = as_bool(v, "alibi_pos_bias"); }},
      {"alibi_num_heads", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.alibi_num_heads = as_int(v, "alibi_num_heads"); }},
      {"rel_pos_bias", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.rel_pos_bias = as_bool(v, "rel_pos_bias"); }},
      {"rel_pos_num_buckets", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.rel_pos_num_buckets = as_int(v, "rel_pos_num_buckets"); }},
      {"rel_pos_max_distance", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.rel_pos_max_distance = as_int(v, "rel_pos_max_distance"); }},
      {"rotary_pos_emb", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.rotary_pos_emb = as_bool(v, "rotary_pos_emb"); }},
      {"rotary_emb_dim", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.rotary_emb_dim = as_int(v, "rotary_emb_dim"); }},
      {"pre_norm", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.pre_norm = as_bool(v, "pre_norm"); }},
      {"pre_norm_has_final_norm",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         o.pre_norm_has_final_norm = as_bool(v, "pre_norm_has_final_norm");
         // Taken and ignored from 1.16.x; read from the release the history's args name.
         const HistoryChange& c = release_history().change("bare-layers-final-norm");
         if (!o.pre_norm_has_final_norm && c.args_since && ctx.release.version() < *c.args_since)
           throw NativeUnsupported("pre_norm_has_final_norm = false for release " + ctx.release.str() +
                                   " (read from " + c.args_since->str() + ")");
       }},
      {"sandwich_norm", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.sandwich_norm = as_bool(v, "sandwich_norm"); }},
      {"pre_and_post_norm", measured_flag("pre_and_post_norm", &AttentionLayersOptions::pre_and_post_norm, {2, 30, 5}, "2.20.1 - 2.30.5")},
      {"only_attn", measured_flag("only_attn", &AttentionLayersOptions::only_attn, {2, 30, 5}, "2.20.1 - 2.30.5")},
      {"attn_qk_norm", measured_flag("attn_qk_norm", &AttentionLayersOptions::attn_qk_norm, kQkNormMeasuredFrom, kQkNormAppears)},
      {"attn_qk_norm_groups",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kQkNormMeasuredFrom, "attn_qk_norm_groups", kQkNormAppears);
         o.attn_qk_norm_groups = as_int(v, "attn_qk_norm_groups");
       }},
      {"attn_qk_norm_scale",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kQkNormMeasuredFrom, "attn_qk_norm_scale", kQkNormAppears);
         o.attn_qk_norm_scale = as_number(v, "attn_qk_norm_scale");
       }},
      {"attn_qk_norm_dim_scale",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         // before the history's qk-norm-learned-scales the learned scales are
         // unused (2.17.1 - 2.25.4) or Attend's scale stays qk_norm_scale: not ported
         if (!ctx.is_new(kQkNormLearnedScales))
           throw NativeUnsupported("argument 'attn_qk_norm_dim_scale' for release " + ctx.release.str() + " (measured from " +
                                   kQkNormLearnedScales.change().at.str() + ", the history's qk-norm-learned-scales; it appears "
                                   "somewhere in 1.14.0 - 2.25.4, computed otherwise)");
         o.attn_qk_norm_dim_scale = as_bool(v, "attn_qk_norm_dim_scale");
       }},
      {"attn_gate_values",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.attn_gate_values = as_bool(v, "attn_gate_values"); }},
      {"attn_swiglu_values",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.attn_swiglu_values = as_bool(v, "attn_swiglu_values"); }},
      {"attn_gate_values_headwise", measured_flag("attn_gate_values_headwise", &AttentionLayersOptions::attn_gate_values_headwise, {2, 30, 5}, "2.20.1 - 2.30.5")},
      {"attn_output_gate", measured_flag("attn_output_gate", &AttentionLayersOptions::attn_output_gate, {2, 30, 5}, "2.20.1 - 2.30.5")},
      {"attn_output_gate_headwise", measured_flag("attn_output_gate_headwise", &AttentionLayersOptions::attn_output_gate_headwise, {2, 30, 5}, "2.20.1 - 2.30.5")},
      {"attn_gate_values_rank",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {2, 30, 5}, "attn_gate_values_rank", "2.20.1 - 2.30.5");
         if (!v.is_null()) o.attn_gate_values_rank = as_int(v, "attn_gate_values_rank");
       }},
      {"attn_output_gate_rank",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {2, 30, 5}, "attn_output_gate_rank", "2.20.1 - 2.30.5");
         if (!v.is_null()) o.attn_output_gate_rank = as_int(v, "attn_output_gate_rank");
       }},
      {"attn_low_rank_silu_gates", measured_flag("attn_low_rank_silu_gates", &AttentionLayersOptions::attn_low_rank_silu_gates, {2, 30, 5}, "2.20.1 - 2.30.5")},
      {"attn_flash",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         // F.scaled_dot_product_attention: the same function; the port's
         // explicit softmax differs in rounding only (CLOSE, not IDENTICAL)
         require_measured_from(ctx, {1, 14, 0}, "attn_flash", "1.0.5 - 1.14.0");
         o.attn_flash = as_bool(v, "attn_flash");
       }},
      {"attn_value_rmsnorm", measured_flag("attn_value_rmsnorm", &AttentionLayersOptions::attn_value_rmsnorm, {2, 11, 24}, "2.3.28 - 2.11.24")},
      {"ff_softclamp_value",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {2, 20, 0}, "ff_softclamp_value", "2.16.2 - 2.20.0");
         if (!v.is_null()) o.ff.softclamp_value = as_number(v, "ff_softclamp_value");
       }},
      {"use_dynamic_tanh", measured_flag("use_dynamic_tanh", &AttentionLayersOptions::use_dynamic_tanh, {2, 3, 27}, "2.0.6 - 2.3.27")},
      {"dynamic_tanh_init_alpha",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {2, 3, 27}, "dynamic_tanh_init_alpha", "2.0.6 - 2.3.27");
         o.dynamic_tanh_init_alpha = as_number(v, "dynamic_tanh_init_alpha");
       }},
      {"use_derf", measured_flag("use_derf", &AttentionLayersOptions::use_derf, {2, 11, 24}, "2.3.28 - 2.11.24")},
      {"attn_l2_distance", measured_flag("attn_l2_distance", &AttentionLayersOptions::attn_l2_distance, {1, 42, 17}, "1.31.5 - 1.42.17")},
      {"attn_head_learned_sink", measured_flag("attn_head_learned_sink", &AttentionLayersOptions::attn_head_learned_sink, {2, 11, 24}, "2.3.28 - 2.11.24")},
      {"attn_cog_signed", measured_flag("attn_cog_signed", &AttentionLayersOptions::attn_cog_signed, {2, 11, 24}, "2.3.28 - 2.11.24")},
      {"attn_laser", measured_flag("attn_laser", &AttentionLayersOptions::attn_laser, {1, 44, 8}, "1.42.18 - 1.44.8")},
      {"reinject_input", measured_flag("reinject_input", &AttentionLayersOptions::reinject_input, {1, 42, 17}, "1.31.5 - 1.42.17")},
      {"learned_reinject_input_gate", measured_flag("learned_reinject_input_gate", &AttentionLayersOptions::learned_reinject_input_gate, {1, 42, 17}, "1.31.5 - 1.42.17")},
      {"attn_softclamp_logits", measured_flag("attn_softclamp_logits", &AttentionLayersOptions::attn_softclamp_logits, {1, 42, 17}, "1.31.5 - 1.42.17")},
      {"attn_logit_softclamp_value",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {1, 42, 17}, "attn_logit_softclamp_value", "1.31.5 - 1.42.17");
         o.attn_logit_softclamp_value = as_number(v, "attn_logit_softclamp_value");
       }},
      {"add_value_residual",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         o.add_value_residual = as_bool(v, "add_value_residual");
         if (o.add_value_residual && !ctx.is_new(kValueResidualArgument))
           throw NativeUnsupported("layers argument 'add_value_residual' for release " + ctx.release.str() + " (it appears " +
                                   kValueResidualArgument.range() + ")");
       }},
      {"attn_rotary_embed_values",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         // Attention(rotary_embed_values) lives as long as the history's argument for it.
         const HistoryChange& c = kRotaryKeysOnly.change();
         if (!ctx.is_new(kRotaryKeysOnly) || (c.args_until && ctx.release.version() >= *c.args_until))
           throw NativeUnsupported("layers argument 'attn_rotary_embed_values' for release " + ctx.release.str() +
                                   " (it exists from " + c.at.str() + (c.args_until ? " until " + c.args_until->str() : "") + ")");
         o.rotary_embed_values = as_bool(v, "attn_rotary_embed_values");
       }},
      {"learned_value_residual_mix",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.learned_value_residual_mix = as_bool(v, "learned_value_residual_mix"); }},
      {"attn_dim_head", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.attn_dim_head = as_int(v, "attn_dim_head"); }},
      {"attn_num_mem_kv", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.attn_num_mem_kv = as_int(v, "attn_num_mem_kv"); }},
      {"attn_kv_heads",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_grouped_query_release(ctx, "attn_kv_heads");
         if (o.attn_kv_heads) throw NativeUnsupported("attn_kv_heads together with attn_one_kv_head (the releases assert against it)");
         o.attn_kv_heads = as_int(v, "attn_kv_heads");
       }},
      {"attn_one_kv_head",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_grouped_query_release(ctx, "attn_one_kv_head");
         if (!as_bool(v, "attn_one_kv_head")) return;
         if (o.attn_kv_heads) throw NativeUnsupported("attn_kv_heads together with attn_one_kv_head (the releases assert against it)");
         o.attn_kv_heads = 1;
       }},
      {"ff_mult", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.ff.mult = as_number(v, "ff_mult"); }},
      {"ff_glu", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.ff.glu = as_bool(v, "ff_glu"); }},
      {"ff_swish", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.ff.swish = as_bool(v, "ff_swish"); }},
      {"ff_relu_squared", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.ff.relu_squared = as_bool(v, "ff_relu_squared"); }},
      {"ff_no_bias", [](const json& v, AttentionLayersOptions& o, const ReleaseContext&) { o.ff.no_bias = as_bool(v, "ff_no_bias"); }},
      // Extra forward inputs (the spec's `inputs` table): cross-attention to a
      // given context, and the adaptive modules' condition.
      {"cross_attend",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kCrossAttendMeasuredFrom, "cross_attend", "0.28.4 - 2.31.10");
         o.cross_attend = as_bool(v, "cross_attend");
       }},
      {"cross_attn_dim_context",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kCrossAttnDimContextFrom, "cross_attn_dim_context", "1.19.1 - 1.26.6");
         o.cross_attn_dim_context = as_int(v, "cross_attn_dim_context");
       }},
      // rel_pos_kwargs: keyword arguments of the position bias module. The port
      // takes ALiBi's `slopes` (upstream's test_custom_alibi_across_heads).
      {"rel_pos_kwargs",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {1, 42, 17}, "rel_pos_kwargs", "1.31.5 - 1.42.17");
         if (!v.is_object()) throw NativeUnsupported("rel_pos_kwargs = " + v.dump() + " (expected a table)");
         for (auto& [k, x] : v.items()) {
           if (k != "slopes" || !x.is_array() || x.empty())
             throw NativeUnsupported("rel_pos_kwargs " + k + " = " + x.dump() + " (the port takes ALiBi's slopes = [numbers])");
           for (auto& s : x) o.alibi_slopes.push_back(as_number(s, "rel_pos_kwargs.slopes"));
         }
       }},
      // User-supplied modules, as a spec describes them: {module = "Sigmoid", ...}
      // (the driver's SPEC_MODULES).
      {"ff_custom_activation",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {2, 3, 27}, "ff_custom_activation", "2.0.5 - 2.3.27");
         static const std::map<std::string, Activation> kinds = {{"GELU", Activation::GELU}, {"SiLU", Activation::SiLU},
                                                                  {"Sigmoid", Activation::Sigmoid}, {"Tanh", Activation::Tanh},
                                                                  {"ReLU", Activation::ReLU}};
         const auto it = v.is_object() && v.size() == 1 ? kinds.find(v.value("module", "")) : kinds.end();
         if (it == kinds.end())
           throw NativeUnsupported("ff_custom_activation = " + v.dump() +
                                   " (the port takes {module = \"GELU\" | \"SiLU\" | \"Sigmoid\" | \"Tanh\" | \"ReLU\"})");
         o.ff.custom_activation = it->second;
       }},
      {"attn_hybrid_module",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kHybridFrom, "attn_hybrid_module", "1.42.18 - 1.44.8");
         if (!v.is_object() || v.value("module", "") != "GRU")
           throw NativeUnsupported("attn_hybrid_module = " + v.dump() + " (the port takes {module = \"GRU\", ...})");
         HybridOptions& h = o.attn_hybrid ? *o.attn_hybrid : o.attn_hybrid.emplace();
         for (auto& [k, x] : v.items()) {
           if (k == "module") continue;
           else if (k == "input_size") h.input_size = as_int(x, "attn_hybrid_module.input_size");
           else if (k == "hidden_size") h.hidden_size = as_int(x, "attn_hybrid_module.hidden_size");
           else if (k == "bidirectional") h.bidirectional = as_bool(x, "attn_hybrid_module.bidirectional");
           else if (k == "batch_first" && x == true) continue;
           else throw NativeUnsupported("attn_hybrid_module GRU argument " + k + " = " + x.dump() +
                                        " (the port takes input_size, hidden_size, bidirectional, batch_first = true)");
         }
       }},
      {"attn_hybrid_fold_axial_dim",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kHybridFrom, "attn_hybrid_fold_axial_dim", "1.42.18 - 1.44.8");
         (o.attn_hybrid ? *o.attn_hybrid : o.attn_hybrid.emplace()).fold_axial_dim = as_int(v, "attn_hybrid_fold_axial_dim");
       }},
      {"attn_hybrid_learned_mix",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kHybridLearnedMixFrom, "attn_hybrid_learned_mix", "2.0.1 - 2.0.5");
         (o.attn_hybrid ? *o.attn_hybrid : o.attn_hybrid.emplace()).learned_mix = as_bool(v, "attn_hybrid_learned_mix");
       }},
      {"use_adaptive_layernorm", measured_flag("use_adaptive_layernorm", &AttentionLayersOptions::use_adaptive_layernorm, kAdaptiveFrom, kAdaptiveAppears)},
      {"use_adaptive_rmsnorm", measured_flag("use_adaptive_rmsnorm", &AttentionLayersOptions::use_adaptive_rmsnorm, kAdaptiveFrom, kAdaptiveAppears)},
      {"use_adaptive_layerscale", measured_flag("use_adaptive_layerscale", &AttentionLayersOptions::use_adaptive_layerscale, kAdaptiveFrom, kAdaptiveAppears)},
      {"adaptive_condition_mlp", measured_flag("adaptive_condition_mlp", &AttentionLayersOptions::adaptive_condition_mlp, kAdaptiveFrom, kAdaptiveAppears)},
      {"adaptive_condition_mlp_expansion",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kAdaptiveFrom, "adaptive_condition_mlp_expansion", kAdaptiveAppears);
         o.adaptive_condition_mlp_expansion = as_int(v, "adaptive_condition_mlp_expansion");
       }},
      {"dim_condition",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kAdaptiveFrom, "dim_condition", kAdaptiveAppears);
         o.dim_condition = as_int(v, "dim_condition");
       }},
      // package hyper: several residual streams and layer integration (hyper_connections.hpp)
      {"num_residual_streams",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         o.num_residual_streams = as_int(v, "num_residual_streams");
         if (o.num_residual_streams == 1) return;  // the default: one stream, Residual
         require_measured_from(ctx, {1, 44, 8}, "num_residual_streams", "1.42.18 - 1.44.8");
       }},
      {"qkv_receive_diff_residuals", measured_flag("qkv_receive_diff_residuals", &AttentionLayersOptions::qkv_receive_diff_residuals, {1, 44, 8}, "1.42.18 - 1.44.8")},
      {"gated_multi_residual", measured_flag("gated_multi_residual", &AttentionLayersOptions::gated_multi_residual, {2, 28, 5}, "2.26.2 - 2.28.5")},
      {"integrate_layers", measured_flag("integrate_layers", &AttentionLayersOptions::integrate_layers, {2, 3, 27}, "2.0.6 - 2.3.27")},
      {"residual_fn_kwargs",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         // The residual class's keyword arguments: GatedMultiResidual's read_gate_rank,
         // MVSplitResidualUpdate's learned (and the init-only init_alpha / init_beta);
         // check_residual_routes / check_residual_variants pair them with their residual.
         if (!v.is_object()) throw NativeUnsupported("argument 'residual_fn_kwargs' = " + v.dump() + " (expected a table)");
         for (auto& [k, value] : v.items()) {
           if (k == "read_gate_rank") {
             require_measured_from(ctx, {2, 28, 5}, "residual_fn_kwargs.read_gate_rank", "2.26.2 - 2.28.5");
             o.residual_read_gate_rank = as_int(value, "read_gate_rank");
           } else if (k == "learned" || k == "init_alpha" || k == "init_beta") {
             require_measured_from(ctx, kResidualUpdatesFrom, "residual_fn_kwargs." + k, "2.16.2 - 2.20.0 for mv_split_residual");
             if (!o.mv_split_residual_learned) o.mv_split_residual_learned = false;
             if (k == "learned") o.mv_split_residual_learned = as_bool(value, "residual_fn_kwargs.learned");
             else no_forward_effect(value, "residual_fn_kwargs." + k);
           } else {
             throw NativeUnsupported("residual_fn_kwargs key '" + k +
                                     "' (the port takes read_gate_rank for gated_multi_residual; learned, init_alpha, "
                                     "init_beta for mv_split_residual)");
           }
         }
       }},
      // package latent: multi-latent attention, attention output width, belief attention
      {"attn_use_latent_q", measured_flag("attn_use_latent_q", &AttentionLayersOptions::attn_use_latent_q, kLatentFrom, kLatentAppears)},
      {"attn_use_latent_kv", measured_flag("attn_use_latent_kv", &AttentionLayersOptions::attn_use_latent_kv, kLatentFrom, kLatentAppears)},
      {"attn_dim_latent_q", measured_width("attn_dim_latent_q", &AttentionLayersOptions::attn_dim_latent_q, kLatentFrom, kLatentAppears)},
      {"attn_dim_latent_kv", measured_width("attn_dim_latent_kv", &AttentionLayersOptions::attn_dim_latent_kv, kLatentFrom, kLatentAppears)},
      {"attn_latent_rope_subheads",
       measured_width("attn_latent_rope_subheads", &AttentionLayersOptions::attn_latent_rope_subheads, kLatentFrom, kLatentAppears)},
      {"attn_dim_out", measured_width("attn_dim_out", &AttentionLayersOptions::attn_dim_out, kDimOutFrom, kDimOutAppears)},
      {"attn_orthog_projected_values",
       measured_flag("attn_orthog_projected_values", &AttentionLayersOptions::attn_orthog_projected_values, kOrthogFrom, kOrthogAppears)},
      {"attn_orthog_projected_values_per_head",
       measured_flag("attn_orthog_projected_values_per_head", &AttentionLayersOptions::attn_orthog_projected_values_per_head,
                     kOrthogFrom, kOrthogAppears)},
      // package posattn: positions (xpos, PoPE), data-dependent logit terms (CoPE,
      // forgetting-transformer ALiBi, the projected relative bias) and the
      // cross-attention functions (sigmoid, inverted)
      {"rotary_xpos",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_xpos_release(ctx, "rotary_xpos");
         o.rotary_xpos = as_bool(v, "rotary_xpos");
       }},
      {"rotary_xpos_scale_base",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_xpos_release(ctx, "rotary_xpos_scale_base");
         o.rotary_xpos_scale_base = as_number(v, "rotary_xpos_scale_base");
       }},
      {"polar_pos_emb", measured_flag("polar_pos_emb", &AttentionLayersOptions::polar_pos_emb, {2, 16, 1}, "2.11.25 - 2.16.1")},
      {"attn_use_cope", measured_flag("attn_use_cope", &AttentionLayersOptions::attn_use_cope, {1, 30, 23}, "1.27.23 - 1.30.23")},
      {"attn_cope_max_pos",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {1, 30, 23}, "attn_cope_max_pos", "1.27.23 - 1.30.23");
         o.attn_cope_max_pos = as_int(v, "attn_cope_max_pos");
       }},
      {"attn_cope_talking_heads",
       measured_flag("attn_cope_talking_heads", &AttentionLayersOptions::attn_cope_talking_heads, {1, 30, 23}, "1.27.23 - 1.30.23")},
      {"attn_data_dependent_alibi",
       measured_flag("attn_data_dependent_alibi", &AttentionLayersOptions::attn_data_dependent_alibi, {1, 42, 17}, "1.40.8 - 1.42.17")},
      {"attn_data_dependent_alibi_per_row",
       measured_flag("attn_data_dependent_alibi_per_row", &AttentionLayersOptions::attn_data_dependent_alibi_per_row, {1, 42, 17},
                     "1.40.8 - 1.42.17")},
      {"attn_data_dependent_alibi_per_row_dim_head",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {1, 42, 17}, "attn_data_dependent_alibi_per_row_dim_head", "1.40.8 - 1.42.17");
         o.attn_data_dependent_alibi_per_row_dim_head = as_int(v, "attn_data_dependent_alibi_per_row_dim_head");
       }},
      {"attn_use_rel_proj_pos_bias",
       measured_flag("attn_use_rel_proj_pos_bias", &AttentionLayersOptions::attn_use_rel_proj_pos_bias, {2, 25, 1}, "2.23.4 - 2.25.1")},
      {"attn_rel_proj_num_distance_basis",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {2, 25, 1}, "attn_rel_proj_num_distance_basis", "2.23.4 - 2.25.1");
         o.attn_rel_proj_num_distance_basis = as_int(v, "attn_rel_proj_num_distance_basis");
       }},
      {"attn_rel_proj_max_dist",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {2, 25, 1}, "attn_rel_proj_max_dist", "2.23.4 - 2.25.1");
         o.attn_rel_proj_max_dist = as_int(v, "attn_rel_proj_max_dist");
       }},
      {"cross_attn_sigmoid", measured_flag("cross_attn_sigmoid", &AttentionLayersOptions::cross_attn_sigmoid, {1, 37, 10}, "1.35.3 - 1.37.10")},
      {"cross_attn_inverted_attention",
       measured_flag("cross_attn_inverted_attention", &AttentionLayersOptions::cross_attn_inverted_attention, {2, 20, 0}, "2.16.2 - 2.20.0")},
      // package residual: the residual variants (residuals.hpp) and the GLU's soft clamps (feedforward.hpp)
      {"depth_scale_residual",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kDepthScaleResidualFrom, "depth_scale_residual", "2.28.6 - 2.30.5");
         if (v.is_boolean()) {
           // True: Scale(depth ** -0.5) at runtime in 2.30.5; only the init of the
           // output projections (no effect on a forward) in 2.31.10
           if (!v.get<bool>()) return;
           if (ctx.release > kDepthScaleResidualFrom && ctx.release < kNewestRelease)
             throw NativeUnsupported("depth_scale_residual = true for release " + ctx.release.str() +
                                     " (a runtime scale in 2.30.5, an init-only scale in 2.31.10: not bisected)");
           o.depth_scale_residual_by_depth = ctx.release == kDepthScaleResidualFrom;
           return;
         }
         o.depth_scale_residual = as_number(v, "depth_scale_residual");
       }},
      {"orthog_residual", measured_flag("orthog_residual", &AttentionLayersOptions::orthog_residual, kResidualUpdatesFrom, "2.16.2 - 2.20.0")},
      {"mv_split_residual", measured_flag("mv_split_residual", &AttentionLayersOptions::mv_split_residual, kResidualUpdatesFrom, "2.16.2 - 2.20.0")},
      {"unet_skips", measured_flag("unet_skips", &AttentionLayersOptions::unet_skips, kUnetSkipsFrom, "1.32.12 - 1.35.2")},
      {"attn_aggregated_residuals",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         // Three forms: 2.20.0 - 2.28.5 pool the layers with AttentionAggregatedResidual (an
         // Attention with rotary depth positions), 2.30.5 queries with a learned pseudo query,
         // 2.31.10 with the latest hidden; the changes in between are not bisected.
         require_measured_from(ctx, kResidualUpdatesFrom, "attn_aggregated_residuals", "2.16.2 - 2.20.0");
         const bool known = ctx.release <= kAttnPooledLast || ctx.release == kAttnResidualFrom || ctx.release == kNewestRelease;
         if (!known)
           throw NativeUnsupported("attn_aggregated_residuals for release " + ctx.release.str() +
                                   " (2.28.5 pools with an Attention, 2.30.5 queries with a learned pseudo query, 2.31.10 "
                                   "with the latest hidden: the changes in between are not bisected)");
         o.attn_aggregated_residuals = as_bool(v, "attn_aggregated_residuals");
         o.attn_aggregated_residual_form = ctx.release <= kAttnPooledLast      ? AttentionResidualForm::PooledAttention
                                           : ctx.release == kAttnResidualFrom ? AttentionResidualForm::PseudoQuery
                                                                              : AttentionResidualForm::LatestHidden;
       }},
      {"attn_aggregated_residual_kwargs",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         // AttentionResidual's lora_rank (2.30.5, 2.31.10); before, the keywords went to the pooling Attention
         require_measured_from(ctx, kAttnResidualFrom, "attn_aggregated_residual_kwargs",
                               "2.16.2 - 2.20.0 as the pooling Attention's keywords, not ported");
         if (!v.is_object()) throw NativeUnsupported("attn_aggregated_residual_kwargs = " + v.dump() + " (expected a table)");
         for (auto& [k, kv] : v.items()) {
           if (k != "lora_rank") throw NativeUnsupported("attn_aggregated_residual_kwargs key '" + k + "' (only lora_rank)");
           o.attn_aggregated_residual_lora_rank = as_int(kv, "attn_aggregated_residual_kwargs.lora_rank");
         }
       }},
      {"ff_glu_gate_softclamp_value",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kResidualUpdatesFrom, "ff_glu_gate_softclamp_value", "2.16.2 - 2.20.0");
         if (!v.is_null()) o.ff.glu_gate_softclamp_value = as_number(v, "ff_glu_gate_softclamp_value");
       }},
      {"ff_glu_softclamp",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kNewestRelease, "ff_glu_softclamp", "2.30.6 - 2.31.10");
         o.ff.glu_softclamp = as_bool(v, "ff_glu_softclamp");
       }},
      {"ff_glu_up_softclamp_value",
       [](const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kNewestRelease, "ff_glu_up_softclamp_value", "2.30.6 - 2.31.10");
         o.ff.glu_up_softclamp_value = as_number(v, "ff_glu_up_softclamp_value");
       }},
      // The common features issue 16 names: macaron feed-forwards, GRU-gated
      // residuals, residual attention (gates: the oldest pin measured).
      {"macaron", measured_flag("macaron", &AttentionLayersOptions::macaron, kMacaronFrom, "0.28.4, laid out otherwise until 1.17.3")},
      {"gate_residual", measured_flag("gate_residual", &AttentionLayersOptions::gate_residual, kGateResidualFrom, "0.28.4")},
      {"residual_attn", measured_flag("residual_attn", &AttentionLayersOptions::residual_attn, kResidualAttnFrom,
                                      "0.28.4")},
      // training only
      {"attn_dropout", [](const json& v, AttentionLayersOptions&, const ReleaseContext&) { no_forward_effect(v, "attn_dropout"); }},
      {"ff_dropout", [](const json& v, AttentionLayersOptions&, const ReleaseContext&) { no_forward_effect(v, "ff_dropout"); }},
      {"layer_dropout", [](const json& v, AttentionLayersOptions&, const ReleaseContext&) { no_forward_effect(v, "layer_dropout"); }},
      {"zero_init_branch_output", [](const json& v, AttentionLayersOptions&, const ReleaseContext&) { (void)as_bool(v, "zero_init_branch_output"); }},
      {"attn_zero_init_output", [](const json& v, AttentionLayersOptions&, const ReleaseContext&) { (void)as_bool(v, "attn_zero_init_output"); }},
      {"ff_zero_init_output", [](const json& v, AttentionLayersOptions&, const ReleaseContext&) { (void)as_bool(v, "ff_zero_init_output"); }},
  };
  return table;
}

const std::map<std::string, WrapperSetter>& wrapper_arguments() {
  static const std::map<std::string, WrapperSetter> table = {
      {"num_tokens", [](const json& v, TransformerWrapperOptions& o, const ReleaseContext&) { o.num_tokens = as_int(v, "num_tokens"); }},
      {"max_seq_len", [](const json& v, TransformerWrapperOptions& o, const ReleaseContext&) { o.max_seq_len = as_int(v, "max_seq_len"); }},
      {"use_abs_pos_emb", [](const json& v, TransformerWrapperOptions& o, const ReleaseContext&) { o.use_abs_pos_emb = as_bool(v, "use_abs_pos_emb"); }},
      {"num_memory_tokens", [](const json& v, TransformerWrapperOptions& o, const ReleaseContext&) { o.num_memory_tokens = as_int(v, "num_memory_tokens"); }},
      {"tie_embedding",
       [](const json& v, TransformerWrapperOptions& o, const ReleaseContext& ctx) {
         o.tie_embedding = as_bool(v, "tie_embedding");
         if (!o.tie_embedding) return;
         if (!ctx.is_new(kTieEmbeddingWorks))
           throw NativeUnsupported("tie_embedding for release " + ctx.release.str() + " (" + kTieEmbeddingWorks.name() + ", " + kTieEmbeddingWorks.range() + ": the release itself cannot run it)");
         o.tied_logits_scaled = ctx.is_new(kTiedLogitsScaled);
       }},
      {"emb_dropout", [](const json& v, TransformerWrapperOptions&, const ReleaseContext&) { no_forward_effect(v, "emb_dropout"); }},
      {"to_logits",
       [](const json& v, TransformerWrapperOptions& o, const ReleaseContext& ctx) {
         // A module, as xcompat's specs write one: {module = "Linear", bias = true}.
         const HistoryChange& c = kLogitsWithoutBias.change();
         if (c.args_since && ctx.release.version() < *c.args_since)
           throw NativeUnsupported("wrapper argument 'to_logits' for release " + ctx.release.str() + " (it exists from " +
                                   c.args_since->str() + ")");
         if (!v.is_object() || v.value("module", "") != "Linear")
           throw NativeUnsupported("wrapper argument 'to_logits' = " + v.dump() + " (only {module = \"Linear\", bias = ...})");
         o.to_logits_bias = v.value("bias", true);
       }},
      {"post_emb_norm",
       [](const json& v, TransformerWrapperOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kPostEmbNormFrom, "post_emb_norm", "0.32.3 - 2.31.10 in other layouts");
         o.post_emb_norm = as_bool(v, "post_emb_norm");
       }},
      {"average_pool_embed",
       [](const json& v, TransformerWrapperOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {1, 42, 17}, "average_pool_embed", "1.31.5 - 1.42.17");
         o.average_pool_embed = as_bool(v, "average_pool_embed");
       }},
      {"use_cls_token",
       [](const json& v, TransformerWrapperOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {1, 42, 17}, "use_cls_token", "1.31.5 - 1.42.17");
         o.use_cls_token = as_bool(v, "use_cls_token");
       }},
      {"num_cls_tokens",
       [](const json& v, TransformerWrapperOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {1, 42, 17}, "num_cls_tokens", "1.31.5 - 1.42.17");
         o.num_cls_tokens = as_int(v, "num_cls_tokens");
       }},
      {"squeeze_out_last_dim",
       [](const json& v, TransformerWrapperOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {1, 42, 17}, "squeeze_out_last_dim", "1.31.5 - 1.42.17");
         o.squeeze_out_last_dim = as_bool(v, "squeeze_out_last_dim");
       }},
      {"logits_dim",
       [](const json& v, TransformerWrapperOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, {1, 14, 0}, "logits_dim", "1.0.5 - 1.14.0");
         o.logits_dim = as_int(v, "logits_dim");
       }},
      {"tie_embedding_scale",
       [](const json& v, TransformerWrapperOptions& o, const ReleaseContext& ctx) {
         if (!ctx.is_new(kTiedLogitsScaled))
           throw NativeUnsupported("wrapper argument 'tie_embedding_scale' for release " + ctx.release.str() + " (it exists " +
                                   kTiedLogitsScaled.range() + ")");
         o.tie_embedding_scale = as_number(v, "tie_embedding_scale");
       }},
      // package wrapper: the 2.x wrapper's pooling, output heads and loops
      {"attn_pool", wrapper_flag("attn_pool", &TransformerWrapperOptions::attn_pool, kAttnPoolFrom, kAttnPoolAppears)},
      {"num_pooled_tokens", wrapper_int("num_pooled_tokens", &TransformerWrapperOptions::num_pooled_tokens, kAttnPoolFrom, kAttnPoolAppears)},
      {"attn_pool_depth", wrapper_int("attn_pool_depth", &TransformerWrapperOptions::attn_pool_depth, kAttnPoolFrom, kAttnPoolAppears)},
      {"dim_pooled_tokens",
       [](const json& v, TransformerWrapperOptions& o, const ReleaseContext& ctx) {
         require_measured_from(ctx, kAttnPoolFrom, "dim_pooled_tokens", kAttnPoolAppears);
         if (!v.is_null()) o.dim_pooled_tokens = as_int(v, "dim_pooled_tokens");
       }},
      {"mixture_of_softmax", wrapper_flag("mixture_of_softmax", &TransformerWrapperOptions::mixture_of_softmax, {1, 37, 10}, "1.35.3 - 1.37.10")},
      {"mixture_of_softmax_k", wrapper_int("mixture_of_softmax_k", &TransformerWrapperOptions::mixture_of_softmax_k, {1, 37, 10}, "1.35.3 - 1.37.10")},
      {"ff_deep_embed", wrapper_flag("ff_deep_embed", &TransformerWrapperOptions::ff_deep_embed, {2, 3, 27}, "2.0.6 - 2.3.27")},
      {"add_continuous_pred_head",
       wrapper_flag("add_continuous_pred_head", &TransformerWrapperOptions::add_continuous_pred_head, {2, 3, 27}, "2.0.6 - 2.3.27")},
      {"looped", wrapper_flag("looped", &TransformerWrapperOptions::looped, {2, 30, 5}, "2.16.2 - 2.20.0")},
      // Without memories passed in (mems) or returned (return_mems), as a
      // single forward runs, max_mem_len is never read: every pin.
      {"max_mem_len", [](const json& v, TransformerWrapperOptions&, const ReleaseContext&) { no_forward_effect(v, "max_mem_len"); }},
      // Only a call with a key-value cache reads it (the new tokens' position
      // offset); the port's cached decoding takes the new tokens alone anyway.
      {"input_not_include_cache",
       [](const json& v, TransformerWrapperOptions&, const ReleaseContext& ctx) {
         require_measured_from(ctx, {2, 16, 1}, "input_not_include_cache", "2.11.25 - 2.16.1");
         (void)as_bool(v, "input_not_include_cache");
       }},
      // training only: how many recycling steps a training forward samples
      // (with recycling = True, which an eval forward refuses without recycle_steps)
      {"train_max_recycle_steps",
       [](const json& v, TransformerWrapperOptions&, const ReleaseContext& ctx) {
         require_measured_from(ctx, {1, 37, 10}, "train_max_recycle_steps", "1.35.3 - 1.37.10");
         (void)as_int(v, "train_max_recycle_steps");
       }},
  };
  return table;
}

void apply_layers_argument(const std::string& key, const json& v, AttentionLayersOptions& o, const ReleaseContext& ctx,
                           const std::string& where) {
  auto it = layers_arguments().find(key);
  if (it == layers_arguments().end()) throw NativeUnsupported(where + " argument '" + key + "'");
  it->second(v, o, ctx);
}

void apply_wrapper_argument(const std::string& key, const json& v, TransformerWrapperOptions& o, const ReleaseContext& ctx,
                            const std::string& where) {
  auto it = wrapper_arguments().find(key);
  if (it == wrapper_arguments().end()) throw NativeUnsupported(where + " argument '" + key + "'");
  it->second(v, o, ctx);
}

void set_release_layout(TransformerWrapperOptions& o, const ReleaseContext& ctx) {
  o.logits_bias = o.to_logits_bias.value_or(!ctx.is_new(kLogitsWithoutBias));
}

const json& object_field(const json& spec, const char* name) {
  static const json empty = json::object();
  if (!spec.contains(name)) return empty;
  const json& v = spec.at(name);
  if (!v.is_object()) throw NativeUnsupported(std::string("spec field '") + name + "' that is not a table");
  return v;
}

// XTransformer routes enc_* / dec_* arguments: these become the wrapper's
// (pick_and_pop + pops in XTransformer.__init__, 0.28.4 - 2.31.10); all other
// ones go to Encoder / Decoder. (scaled_sinu_pos_emb and use_abs_pos_emb are
// routed to the wrapper only from somewhere after 1.0.4, so the port does not
// take them here.)
const std::vector<std::string> kEncoderWrapperArgs = {"num_tokens", "max_seq_len", "emb_dropout", "num_memory_tokens",
                                                      "use_abs_pos_emb"};
const std::vector<std::string> kDecoderWrapperArgs = {"num_tokens", "max_seq_len", "emb_dropout", "use_abs_pos_emb"};

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// ContinuousTransformerWrapper, ViTransformerWrapper and bare Decoder /
// Encoder: the layers as for a TransformerWrapper, the wrapper's own table.
// The layers' arguments and the forward's extra inputs, which every kind but
// an XTransformer reads the same way.
void read_layers_and_inputs(const json& spec, const json& extra, const ReleaseContext& ctx, ModelSpec& out) {
  out.inputs.context = extra.contains("context");
  out.inputs.context_mask = extra.value("context_mask", false);
  out.inputs.condition = extra.contains("condition");
  for (auto& [k, v] : object_field(spec, "layers").items()) apply_layers_argument(k, v, out.layers, ctx, "layers");
  if (out.layers.cross_attend && !out.inputs.context)
    throw NativeUnsupported("cross_attend without a context (the spec's inputs.context)");
  if (out.layers.needs_condition() && !out.inputs.condition)
    throw NativeUnsupported("an adaptive norm or layer scale without a condition (the spec's inputs.condition)");
}

ModelSpec parse_other_kind(const json& spec, const ReleaseContext& ctx, ModelSpec out) {
  const std::string model = spec.value("model", "");
  if (spec.contains("xtransformer")) throw NativeUnsupported("an `xtransformer` table in a " + model + " spec");
  const std::string cls = spec.value("layers_class", out.kind == ModelKind::Vit ? "encoder" : "");
  if (cls != "decoder" && cls != "encoder") throw NativeUnsupported("layers_class '" + cls + "'");
  out.layers.causal = cls == "decoder";
  out.layers.in_wrapper = out.kind != ModelKind::Layers;
  const json extra = spec.value("inputs", json::object());
  if (out.kind == ModelKind::Vit && (!extra.empty() || out.padding_mask))
    throw NativeUnsupported("a vit spec with a mask or extra inputs (its forward takes the images only)");
  read_layers_and_inputs(spec, extra, ctx, out);
  const json& wrapper = object_field(spec, "wrapper");
  if (out.kind == ModelKind::Layers && !wrapper.empty()) throw NativeUnsupported("wrapper arguments for bare attention layers");
  for (auto& [k, v] : wrapper.items()) {
    if (out.kind == ModelKind::Continuous) apply_continuous_argument(k, v, out.continuous, ctx);
    else apply_vit_argument(k, v, out.vit, ctx);
  }
  check_release_ranges(out.layers, out.padding_mask, ctx);
  check_layers(out.layers, "layers");
  if (out.kind == ModelKind::Continuous) check_continuous(out.continuous, out.layers, ctx);
  if (out.kind == ModelKind::Vit) check_vit(out.vit, out.layers, ctx);
  return out;
}

}  // namespace

ModelSpec parse_spec(const json& spec, const ReleaseContext& ctx) {
  check_release_in_range(ctx.release);
  ModelSpec out;
  const std::string model = spec.value("model", "");
  if (model == "decoder") out.kind = ModelKind::Decoder;
  else if (model == "encoder") out.kind = ModelKind::Encoder;
  else if (model == "xtransformer") out.kind = ModelKind::XTransformer;
  else if (model == "continuous") out.kind = ModelKind::Continuous;
  else if (model == "vit") out.kind = ModelKind::Vit;
  else if (model == "layers") out.kind = ModelKind::Layers;
  else throw NativeUnsupported("model kind '" + model + "'");

  const std::string dtype = spec.value("dtype", "float32");
  if (dtype != "float32") throw NativeUnsupported("dtype " + dtype + " (the port runs float32)");
  const std::string mask = spec.value("mask", "none");
  if (mask == "padding") out.padding_mask = true;
  else if (mask != "none") throw NativeUnsupported("mask '" + mask + "'");

  if (out.kind == ModelKind::Continuous || out.kind == ModelKind::Vit || out.kind == ModelKind::Layers)
    return parse_other_kind(spec, ctx, std::move(out));
  if (out.kind != ModelKind::XTransformer) {
    if (spec.contains("xtransformer")) throw NativeUnsupported("an `xtransformer` table in a " + model + " spec");
    out.layers.causal = out.kind == ModelKind::Decoder;
    read_layers_and_inputs(spec, spec.value("inputs", json::object()), ctx, out);
    for (auto& [k, v] : object_field(spec, "wrapper").items()) apply_wrapper_argument(k, v, out.wrapper, ctx, "wrapper");
    set_release_layout(out.wrapper, ctx);
    check_release_ranges(out.layers, out.padding_mask, ctx);
    check_layers(out.layers, "layers");
    check_wrapper(out.wrapper, out.layers, "wrapper");
    return out;
  }

  if (spec.contains("layers") || spec.contains("wrapper"))
    throw NativeUnsupported("`layers` / `wrapper` tables in an xtransformer spec");
  XTransformerOptions& x = out.xtransformer;
  x.enc_layers.causal = false;
  x.dec_layers.causal = true;
  x.dec_layers.cross_attend = true;
  x.enc.to_logits = !ctx.is_new(kEncoderReturnsOnlyEmbed);
  for (auto& [k, v] : object_field(spec, "xtransformer").items()) {
    if (k == "dim") {
      x.dim = as_int(v, "dim");
    } else if (k == "tie_token_emb") {
      x.tie_token_emb = as_bool(v, "tie_token_emb");
    } else if (k == "ignore_index" || k == "pad_value" || k == "cross_attn_tokens_dropout") {
      no_forward_effect(v, k);
    } else if (k.rfind("enc_", 0) == 0 || k.rfind("dec_", 0) == 0) {
      const bool enc = k[0] == 'e';
      const std::string name = k.substr(4);
      if (name == "dim") throw NativeUnsupported("xtransformer argument '" + k + "' (the release asserts `dim` is shared)");
      if (contains(enc ? kEncoderWrapperArgs : kDecoderWrapperArgs, name))
        apply_wrapper_argument(name, v, enc ? x.enc : x.dec, ctx, "xtransformer");
      else
        apply_layers_argument(name, v, enc ? x.enc_layers : x.dec_layers, ctx, "xtransformer " + std::string(enc ? "enc_" : "dec_"));
    } else {
      throw NativeUnsupported("xtransformer argument '" + k + "'");
    }
  }
  x.enc_layers.dim = x.dec_layers.dim = x.dim;
  check_release_ranges(x.enc_layers, out.padding_mask, ctx);
  check_release_ranges(x.dec_layers, out.padding_mask, ctx);
  set_release_layout(x.enc, ctx);
  set_release_layout(x.dec, ctx);
  check_layers(x.enc_layers, "encoder");
  check_layers(x.dec_layers, "decoder");
  check_wrapper(x.enc, x.enc_layers, "encoder");
  check_wrapper(x.dec, x.dec_layers, "decoder");
  return out;
}

std::vector<std::string> supported_wrapper_arguments() {
  std::vector<std::string> out;
  for (auto& [k, v] : wrapper_arguments()) out.push_back(k);
  return out;
}

std::vector<std::string> supported_layers_arguments() {
  std::vector<std::string> out;
  for (auto& [k, v] : layers_arguments()) out.push_back(k);
  return out;
}

std::vector<std::string> supported_xtransformer_arguments() {
  return {"dim", "tie_token_emb", "ignore_index", "pad_value", "cross_attn_tokens_dropout"};
}

json argument_table() {
  return {{"wrapper", supported_wrapper_arguments()},
          {"layers", supported_layers_arguments()},
          {"xtransformer", supported_xtransformer_arguments()},
          {"continuous", supported_continuous_arguments()},
          {"vit", supported_vit_arguments()}};
}

}  // namespace xcompat::native

#pragma once
// Every release switch the port knows: one behaviour or layout of
// x-transformers that changes at one release, with the release range it
// covers (see ReleaseSwitch in release.hpp). Grouped by the component that
// consults it; each switch is read where that component is built
// (`ctx.is_new(kRotaryInterleaved)`), and docs/NATIVE_PORT.md lists them all.
// No torch here, so tests and docs tooling can use the table.
//
// `{X}` alone: the boundary is exactly X (from the shared XT-HISTORY.md or
// the releases' sources). `{X}, {Y}`: first seen at X, last old at Y, the
// releases in between unknown (UNSUPPORTED when the switch matters), unless
// the trailing `true` marks the two ways as equal up to float rounding.
#include "harness/native/release.hpp"

namespace xcompat::native {

// --- norms (norms.cpp) -------------------------------------------------------

// LayerNorm layout. Up to 1.26.x: nn.LayerNorm(dim), keys `weight`, `bias`.
// 1.27.0: x_transformers.LayerNorm, `gamma` + a persistent zero `beta` buffer.
// 1.27.1 - 1.30.x: nn.LayerNorm(dim, bias = False) (key `weight`) when the
// producing torch is >= 2.1, the 1.27.0 class otherwise. From 1.31.0: `gamma`
// only (the zero `beta` buffer became non-persistent, then went away).
inline constexpr ReleaseSwitch kLayerNormCustomClass{"LayerNorm as x_transformers.LayerNorm (gamma + beta buffer)", {1, 27, 0}};
inline constexpr ReleaseSwitch kLayerNormTorchBiasless{"LayerNorm as nn.LayerNorm(bias = False) under torch >= 2.1", {1, 27, 1}};
inline constexpr ReleaseSwitch kLayerNormGammaOnly{"LayerNorm saves `gamma` only", {1, 31, 0}};
// LayerNorm computation: one fused F.layer_norm(x, weight, bias) up to
// 1.30.x; from 1.31.1 (unknown for 1.31.0) nn.LayerNorm(elementwise_affine =
// False)(x) * gamma. Same function, different rounding.
inline constexpr ReleaseSwitch kLayerNormSeparateAffine{
    "LayerNorm normalizes, then multiplies by gamma", {1, 31, 1}, {1, 30, 23}, true};
// Unit offset: from 1.31.3 AttentionLayers(norm_add_unit_offset = True) makes
// every norm store its scale minus one (gamma + 1 is applied).
inline constexpr ReleaseSwitch kNormUnitOffset{"norms store scale - 1 (norm_add_unit_offset = True)", {1, 31, 3}};
// RMSNorm up to 1.14.0: x / clamp(|x| * dim ** -0.5, 1e-8) * g; from 1.19.1
// (somewhere after 1.14.0): F.normalize(x) * dim ** 0.5 * g. Same function.
inline constexpr ReleaseSwitch kRMSNormNormalize{
    "RMSNorm as F.normalize(x) * dim ** 0.5 * g", {1, 19, 1}, {1, 14, 0}, true};
// ScaleNorm: up to 0.33.0 x / clamp(|x| * dim ** -0.5, 1e-5) * g; from 0.33.1
// x / clamp(|x|, 1e-5) * g (g initialised to dim ** -0.5); from 1.27.20
// F.normalize(x) * dim ** 0.5 * g. The same `g` means a different function
// in each era.
inline constexpr ReleaseSwitch kScaleNormUnscaled{"ScaleNorm divides by |x| (g holds dim ** -0.5)", {0, 33, 1}};
inline constexpr ReleaseSwitch kScaleNormNormalize{"ScaleNorm as F.normalize(x) * dim ** 0.5 * g", {1, 27, 20}};

// --- positions (positional.cpp, attention_layers.cpp) ------------------------

// Rotary: up to 1.19.x the first rotary_emb_dim features of q, k AND v are
// rotated; from 1.20.0 only q and k (v only with rotary_embed_values).
inline constexpr ReleaseSwitch kRotaryKeysOnly{"rotary embedding leaves values unrotated", {1, 20, 0}};
// Rotary feature pairing: up to 1.30.0 the halves (x1 | x2) rotate together
// (freqs = cat(f, f)); from 1.30.1 neighbouring features (x0 x1)(x2 x3)...
// (freqs interleaved). The same weights give different outputs.
inline constexpr ReleaseSwitch kRotaryInterleaved{"rotary embedding rotates interleaved feature pairs", {1, 30, 1}};
// Rotary width: up to 1.42.17 max(rotary_emb_dim or dim_head // 2, 32); from
// 1.42.18 rotary_emb_dim or dim_head // 2.
inline constexpr ReleaseSwitch kRotaryDimNoMinimum{"rotary_emb_dim no longer raised to at least 32", {1, 42, 18}};

// --- attention (attention.cpp) -----------------------------------------------

// Padding masks. Up to 1.0.4 the mask is q_mask * k_mask: a padded query row
// is fully masked (uniform attention over every key) and nothing is zeroed.
// From 1.14.0 (somewhere after 1.0.4) only keys are masked and the attention
// output of padded positions is set to 0 after to_out.
inline constexpr ReleaseSwitch kKeyPaddingMaskOnly{
    "padding masks mask keys only and zero padded positions' attention output", {1, 14, 0}, {1, 0, 4}};
// From 1.42.17 (somewhere after 1.31.4) Attend zeroes the output of a query
// whose keys are all masked (before: uniform attention over masked keys).
inline constexpr ReleaseSwitch kZeroFullyMaskedRows{
    "attention output zeroed for queries whose keys are all masked", {1, 42, 17}, {1, 31, 4}};
// Value residual (add_value_residual): up to 1.44.8 v * mix + first_v * (1 -
// mix); from 2.0.5 first_v.lerp(v, mix). Same function, different rounding.
inline constexpr ReleaseSwitch kValueResidualLerp{"value residual mixed with lerp", {2, 0, 5}, {1, 44, 8}, true};

// --- attention layers (attention_layers.cpp) ---------------------------------

// Up to 1.14.x the final norm is TransformerWrapper.norm, always an
// nn.LayerNorm (even with use_rmsnorm / use_scalenorm), and post-norm layers
// skip the last layer's post-main norm (the wrapper norm takes its place).
// From 1.15.0 it is AttentionLayers.final_norm = norm_fn() (Identity for
// post-norm) and every post-norm layer has its own post-main norm.
inline constexpr ReleaseSwitch kFinalNormInAttentionLayers{"final norm is AttentionLayers.final_norm of the chosen norm class", {1, 15, 0}};
// add_value_residual and learned_value_residual_mix appear between 1.31.4 and
// 1.42.17; learned_value_residual_mix defaults to True between 1.42.17 and 1.44.8.
inline constexpr ReleaseSwitch kValueResidualArgument{"AttentionLayers(add_value_residual)", {1, 42, 17}, {1, 31, 4}};
inline constexpr ReleaseSwitch kLearnedValueResidualMixDefault{"learned_value_residual_mix defaults to True", {1, 44, 8}, {1, 42, 17}};

// --- wrapper (transformer_wrapper.cpp, spec_options.cpp) ---------------------

// to_logits = nn.Linear(dim, num_tokens) up to 1.26.x; bias = False from 1.27.0.
inline constexpr ReleaseSwitch kLogitsWithoutBias{"to_logits without bias", {1, 27, 0}};
// tie_embedding: broken from 0.24.0 to 1.16.7 (`self.token_emb.weight` does
// not exist); t @ token_emb.emb.weight.t() from 1.16.8.
inline constexpr ReleaseSwitch kTieEmbeddingWorks{"tie_embedding computes t @ token_emb.emb.weight.t()", {1, 16, 8}};
// From 2.31.10 (somewhere after 2.16.1) tied logits are scaled by
// tie_embedding_scale = dim ** -0.5.
inline constexpr ReleaseSwitch kTiedLogitsScaled{"tied logits scaled by dim ** -0.5", {2, 31, 10}, {2, 16, 1}};

// --- encoder-decoder (xtransformer.cpp, spec_options.cpp) --------------------

// The encoder is TransformerWrapper(return_only_embed = True) (no to_logits)
// from 1.42.17, somewhere after 1.31.4; before, it has an unused to_logits.
inline constexpr ReleaseSwitch kEncoderReturnsOnlyEmbed{"XTransformer encoder without to_logits", {1, 42, 17}, {1, 31, 4}};

// --- parameter names (key_map.cpp) -------------------------------------------

// nn.Sequential `net` renamed `ff` in FeedForward at 0.33.0.
inline constexpr ReleaseSwitch kFeedForwardNamedFf{"FeedForward's Sequential named `ff` (was `net`)", {0, 33, 0}};
// From 1.18.0 FeedForward's Sequential drops its None slots (the
// nn.Identity post-activation norm), so project-out moves from ff.3 to ff.2.
inline constexpr ReleaseSwitch kFeedForwardFiltersNone{"FeedForward project-out at ff.2 (was ff.3)", {1, 18, 0}};

}  // namespace xcompat::native

#pragma once
// Every release switch the port knows: one behaviour or layout of
// x-transformers that changes at one release, named by its entry in the
// release history (matrix/history.toml), where the boundary, the reason and
// what carries a checkpoint across it are written once, for the port and
// `xcompat convert` alike. Grouped by the component that consults it; each
// switch is read where that component is built (`ctx.is_new(kRotaryInterleaved)`).
// Deleting an entry from the history makes the switch throw when consulted.
// No torch here, so tests and docs tooling can use the table.
#include "harness/native/release.hpp"

namespace xcompat::native {

// --- norms (norms.cpp) -------------------------------------------------------

// LayerNorm layout: nn.LayerNorm(dim) (`weight`, `bias`), then
// x_transformers.LayerNorm (`gamma` + a persistent zero `beta` buffer), then
// nn.LayerNorm(dim, bias = False) when the producing torch is >= 2.1, then
// `gamma` only.
inline constexpr ReleaseSwitch kLayerNormCustomClass{"layernorm-custom-class"};
inline constexpr ReleaseSwitch kLayerNormTorchBiasless{"layernorm-torch-biasless"};
inline constexpr ReleaseSwitch kLayerNormGammaOnly{"layernorm-gamma-only"};
// One fused F.layer_norm(x, weight, bias), then nn.LayerNorm(elementwise_affine
// = False)(x) * gamma: the same function, other rounding.
inline constexpr ReleaseSwitch kLayerNormSeparateAffine{"layernorm-separate-affine"};
// AttentionLayers(norm_add_unit_offset = True): norms store scale - 1.
inline constexpr ReleaseSwitch kNormUnitOffset{"norm-unit-offset"};
// RMSNorm as x / clamp(|x| * dim ** -0.5, 1e-8) * g, then F.normalize(x) *
// dim ** 0.5 * g: the same function.
inline constexpr ReleaseSwitch kRMSNormNormalize{"rmsnorm-normalize"};
// ScaleNorm: x / clamp(|x| * dim ** -0.5, 1e-5) * g, then x / clamp(|x|,
// 1e-5) * g (g holds dim ** -0.5), then F.normalize(x) * dim ** 0.5 * g. The
// same `g` means a different function in each era.
inline constexpr ReleaseSwitch kScaleNormUnscaled{"scalenorm-divides-by-norm"};
inline constexpr ReleaseSwitch kScaleNormNormalize{"scalenorm-normalize"};

// --- positions (positional.cpp, attention_layers.cpp) ------------------------

// Rotary: the first rotary_emb_dim features of q, k AND v, then q and k only.
inline constexpr ReleaseSwitch kRotaryKeysOnly{"rotary-values-unrotated"};
// Rotary feature pairing: the halves (x1 | x2), then neighbouring features.
inline constexpr ReleaseSwitch kRotaryInterleaved{"rotary-interleaved"};
// Rotary width max(rotary_emb_dim or dim_head // 2, 32), then without the 32.
inline constexpr ReleaseSwitch kRotaryDimNoMinimum{"rotary-no-minimum-width"};

// --- attention (attention.cpp) -----------------------------------------------

// qk_norm: Attend scales the normalised logits by qk_norm_scale = 10 by
// default; before, by 1.
inline constexpr ReleaseSwitch kQkNormScale10{"qk-norm-scale-10"};

// Padding masks: q_mask * k_mask (a padded query attends uniformly), then
// keys only, with padded positions' attention output zeroed.
inline constexpr ReleaseSwitch kKeyPaddingMaskOnly{"padding-mask-keys-only"};
// qk_norm: queries and keys also times qk_norm_scale (2.17.1), then times the
// learned per-dimension scales or nothing, with Attend's scale dim_head ** -0.5
// under qk_norm_dim_scale (2.25.5; before it the port refuses qk_norm_dim_scale).
inline constexpr ReleaseSwitch kQkNormScaledTwice{"qk-norm-scaled-twice"};
inline constexpr ReleaseSwitch kQkNormLearnedScales{"qk-norm-learned-scales"};
// Memory key / values with a relative position bias: from this release the
// memory columns are unbiased; the port follows only that behaviour
// (spec_checks.cpp refuses the releases before it).
inline constexpr ReleaseSwitch kMemoryKeysUnbiased{"mem-kv-unbiased"};
// attn_flash with a padding mask: computed otherwise than the explicit path
// (the port refuses it, spec_checks.cpp), then as it.
inline constexpr ReleaseSwitch kFlashPaddingMaskFixed{"flash-padding-mask-fixed"};
// A query whose keys are all masked: uniform attention, then a zero output.
inline constexpr ReleaseSwitch kZeroFullyMaskedRows{"zero-fully-masked-rows"};
// Value residual: v + first_v, then 0.5 * (v + first_v) (or a learned mix),
// then first_v.lerp(v, mix) (the same function, other rounding).
inline constexpr ReleaseSwitch kValueResidualHalved{"value-residual-halved"};
inline constexpr ReleaseSwitch kValueResidualLerp{"value-residual-lerp"};
// The learned mix: one per token (Linear(dim, 1)), then one per head.
inline constexpr ReleaseSwitch kValueResidualMixPerHead{"value-residual-mix-per-head"};
// The value gate (to_v_gate): a Linear with a bias, then without.
inline constexpr ReleaseSwitch kValueGateWithoutBias{"value-gate-without-bias"};
// Residual attention: the logits passed on are taken before the position
// bias, then after it (and the masks).
inline constexpr ReleaseSwitch kResidualAttnCarriesBias{"residual-attn-carries-position-bias"};
// The hybrid module's output and the attention's: averaged bare, then each
// RMS-normed per head first (hybrid_norms).
inline constexpr ReleaseSwitch kHybridModuleNormed{"hybrid-module-normed"};
// HyperConnection's mixing: tanh of the dynamic weights, then sigmoid reads
// and writes and a Sinkhorn-normalised residual mix (hyper_connections.hpp).
inline constexpr ReleaseSwitch kHyperConnectionsSinkhorn{"hyper-connections-sinkhorn"};

// --- attention layers (attention_layers.cpp, spec_options.cpp) ---------------

// TransformerWrapper.norm (always an nn.LayerNorm), then AttentionLayers.
// final_norm of the chosen class; post-norm layers: the wrapper norm stood in
// for the last layer's post-main norm.
inline constexpr ReleaseSwitch kFinalNormInAttentionLayers{"final-norm-in-attention-layers"};
// A bare Decoder / Encoder (no wrapper): no final norm, then one.
inline constexpr ReleaseSwitch kBareLayersFinalNorm{"bare-layers-final-norm"};
inline constexpr ReleaseSwitch kFinalNormFollowsRMSNorm{"final-norm-follows-rmsnorm"};
inline constexpr ReleaseSwitch kFinalNormFollowsScaleNorm{"final-norm-follows-scalenorm"};
inline constexpr ReleaseSwitch kPostNormLastLayerNorm{"post-norm-last-layer-norm"};
// AttentionLayers(add_value_residual), then learned_value_residual_mix, then
// learned_value_residual_mix = True by default.
inline constexpr ReleaseSwitch kValueResidualArgument{"value-residual-argument"};
inline constexpr ReleaseSwitch kValueResidualMixArgument{"value-residual-mix-learnable"};
inline constexpr ReleaseSwitch kLearnedValueResidualMixDefault{"value-residual-learned-mix"};

// --- wrapper (transformer_wrapper.cpp, spec_options.cpp) ---------------------

// to_logits = nn.Linear(dim, num_tokens), then bias = False.
inline constexpr ReleaseSwitch kLogitsWithoutBias{"logits-without-bias"};
// tie_embedding broken (`self.token_emb.weight` does not exist), then
// t @ token_emb.emb.weight.t().
inline constexpr ReleaseSwitch kTieEmbeddingWorks{"tie-embedding-works"};
// Tied logits scaled by tie_embedding_scale = dim ** -0.5.
inline constexpr ReleaseSwitch kTiedLogitsScaled{"tied-logits-scaled"};

// --- encoder-decoder (xtransformer.cpp, spec_options.cpp) --------------------

// The encoder is TransformerWrapper(return_only_embed = True): no to_logits.
inline constexpr ReleaseSwitch kEncoderReturnsOnlyEmbed{"encoder-without-logits"};

// Parameter names (FeedForward's `net` -> `ff`, `ff.3` -> `ff.2`, the norms'
// names) need no switch: the key map (key_map.cpp) applies the history's
// renames between the producing release and the port's layout.

}  // namespace xcompat::native

#pragma once
// What each entry of the release history does to a conversion that crosses
// it, one check per entry, on the few tensors the entry is about. The unit
// tier runs them with the checkout's history (every entry has its effect);
// the ablation (tests/native/test_history_ablation.cpp) deletes one entry at
// a time and requires some check to fail. A check returns "" when the
// effect is there, else what is missing.
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/convert/conversion.hpp"

namespace xcompat::test {

struct EntryEffect {
  std::string entry;
  std::function<std::string()> check;
};

namespace effects {

using json = nlohmann::json;

inline TensorInfo f32(const std::string& name, std::vector<int64_t> shape) { return {name, DType::F32, std::move(shape)}; }
inline const TensorInfo kEmb = f32("token_emb.emb.weight", {256, 32});
// An attention's query projection: where the width (dim) is read, and the
// anchor of what a change adds beside the layers.
inline const TensorInfo kQuery = f32("attn_layers.layers.0.1.to_q.weight", {256, 32});

inline json spec(json layers = json::object(), json wrapper = json::object(), const char* mask = nullptr) {
  json s = {{"model", "decoder"}, {"layers", {{"dim", 32}, {"depth", 2}, {"heads", 4}}}, {"wrapper", {{"num_tokens", 256}}}};
  for (auto& [k, v] : layers.items()) s["layers"][k] = v;
  for (auto& [k, v] : wrapper.items()) s["wrapper"][k] = v;
  if (mask) s["mask"] = mask;
  return s;
}

inline ConversionPlan plan(const char* from, const char* to, std::vector<TensorInfo> tensors, const json& s,
                           int torch_minor = 13) {
  ReleasePoint a{*Version::parse(from), 2, torch_minor}, b{*Version::parse(to), 2, torch_minor};
  return plan_conversion(release_history(), a, b, tensors, facts_from_spec(s));
}

inline const OutputTensor* output(const ConversionPlan& p, const std::string& name) {
  for (auto& o : p.outputs)
    if (o.info.name == name) return &o;
  return nullptr;
}

inline bool mentions(const std::vector<std::string>& lines, const std::string& needle) {
  for (auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

inline bool dropped(const ConversionPlan& p, const std::string& name, bool unused = false) {
  for (auto& d : p.dropped)
    if (d.name == name && d.unused == unused) return true;
  return false;
}

// "" when `name` comes from `source` through exactly these step kinds (with these values).
inline std::string made_from(const ConversionPlan& p, const std::string& name, const std::string& source,
                             std::vector<std::pair<TensorStep::Kind, double>> steps = {}) {
  const OutputTensor* o = output(p, name);
  if (!o) return name + " is not in the output (" + p.summary() + ")";
  if (o->sources != std::vector<std::string>{source}) return name + " is not made from " + source;
  if (o->steps.size() != steps.size()) return name + ": " + std::to_string(o->steps.size()) + " steps";
  for (std::size_t i = 0; i < steps.size(); ++i)
    if (o->steps[i].kind != steps[i].first || std::abs(o->steps[i].value - steps[i].second) > 1e-9)
      return name + ": step " + std::to_string(i) + " differs";
  return "";
}

inline std::string expect(bool ok, const std::string& what) { return ok ? "" : what; }

inline bool crosses_change(const ConversionPlan& p, const std::string& id) {
  return std::find(p.changes.begin(), p.changes.end(), id) != p.changes.end();
}

inline std::string all(std::initializer_list<std::string> results) {
  for (auto& r : results)
    if (!r.empty()) return r;
  return "";
}

}  // namespace effects

inline std::vector<EntryEffect> entry_effects() {
  using namespace effects;
  const double r32 = std::sqrt(32.0);
  const auto add = TensorStep::AddConstant, scale = TensorStep::Scale;
  return {
      {"attention-softmax-float32",
       [] { return expect(mentions(plan("0.32.2", "0.32.3", {kEmb}, spec()).rounding, "attention-softmax-float32"),
                          "no rounding named for the float32 softmax"); }},
      {"ff-net-renamed-ff",
       [] {
         auto p = plan("0.32.3", "0.33.0",
                       {kEmb, f32("attn_layers.layers.1.1.net.0.0.weight", {128, 32}),
                        f32("decoder.net.attn_layers.layers.2.1.net.3.bias", {32}),
                        f32("attn_layers.layers.0.1.fn.net.0.0.weight", {128, 32})}, spec({{"macaron", true}}));
         return all({made_from(p, "attn_layers.layers.1.1.ff.0.0.weight", "attn_layers.layers.1.1.net.0.0.weight"),
                     made_from(p, "decoder.net.attn_layers.layers.2.1.ff.3.bias",
                               "decoder.net.attn_layers.layers.2.1.net.3.bias"),
                     // a macaron layout's halved feed-forward, held by its Scale as `fn`
                     made_from(p, "attn_layers.layers.0.1.fn.ff.0.0.weight", "attn_layers.layers.0.1.fn.net.0.0.weight")});
       }},
      {"scalenorm-divides-by-norm",
       [r32, scale] {
         auto p = plan("0.33.0", "0.33.1", {kEmb, f32("attn_layers.layers.0.0.0.g", {1})}, spec({{"use_scalenorm", true}}));
         return made_from(p, "attn_layers.layers.0.0.0.g", "attn_layers.layers.0.0.0.g", {{scale, r32}});
       }},
      {"mem-kv-query-positions",
       [] { return expect(mentions(plan("1.0.1", "1.0.2", {kEmb}, spec({{"attn_num_mem_kv", 4}, {"rel_pos_bias", true}})).lost_behaviour,
                                   "mem-kv-query-positions"), "memory key / values with a relative bias: no loss named"); }},
      {"mem-kv-unbiased",
       [] { return expect(mentions(plan("1.27.22", "1.28.0", {kEmb}, spec({{"attn_num_mem_kv", 2}, {"alibi_pos_bias", true}})).lost_behaviour,
                                   "mem-kv-unbiased"), "memory key / values with a relative bias: no loss named at 1.28.0"); }},
      {"qk-norm-scaled-twice",
       [] { return expect(mentions(plan("2.17.0", "2.17.1", {kEmb}, spec({{"attn_qk_norm", true}})).lost_behaviour,
                                   "qk-norm-scaled-twice"), "qk_norm across 2.17.1: no loss named"); }},
      {"qk-norm-learned-scales",
       [] { return expect(mentions(plan("2.25.4", "2.25.5", {kEmb}, spec({{"attn_qk_norm", true}})).lost_behaviour,
                                   "qk-norm-learned-scales"), "qk_norm across 2.25.5: no loss named"); }},
      {"qk-norm-scale-10",
       [] { return expect(plan("1.0.3", "1.0.4", {kEmb}, spec({{"attn_qk_norm", true}})).args["layers"].value("attn_qk_norm_scale", 0) == 1,
                          "no attn_qk_norm_scale = 1 for B"); }},
      {"attention-cast-back",
       [] {
         // Its recipe is incomplete: 0.32.3 - 1.0.3 cannot run a half-precision model.
         const TensorInfo half{"token_emb.emb.weight", DType::BF16, {256, 32}};
         return all({expect(mentions(plan("1.0.4", "1.0.3", {half}, spec()).lost_behaviour, "cannot run a half-precision"),
                            "a bfloat16 downgrade into 1.0.3: not lossy"),
                     expect(!mentions(plan("1.0.4", "0.28.4", {half}, spec()).lost_behaviour, "cannot run a half-precision"),
                            "into 0.28.4 (before 0.32.3): said not to run"),
                     expect(!mentions(plan("1.0.4", "1.0.3", {kEmb}, spec()).lost_behaviour, "cannot run a half-precision"),
                            "float32: said not to run"),
                     expect(!mentions(plan("1.0.3", "1.0.4", {half}, spec()).lost_behaviour, "cannot run a half-precision"),
                            "upgrading into 1.0.4: said not to run")});
       }},
      {"entmax-removed",
       [] { return expect(mentions(plan("1.0.3", "1.0.4", {kEmb}, spec({{"attn_use_entmax15", true}})).lost_behaviour, "entmax"),
                          "entmax attention: no loss named"); }},
      {"padding-mask-keys-only",
       [] {
         return all({expect(mentions(plan("1.2.4", "1.4.0", {kEmb}, spec({}, {}, "padding")).lost_behaviour, "padded positions"),
                            "a padding mask: no loss named"),
                     expect(plan("1.2.4", "1.4.0", {kEmb}, spec()).lost_behaviour.empty(), "no mask: a loss named")});
       }},
      {"final-norm-in-attention-layers",
       [] { return made_from(plan("1.14.0", "1.15.0", {kEmb, f32("norm.weight", {32}), f32("norm.bias", {32})}, spec()),
                             "attn_layers.final_norm.bias", "norm.bias"); }},
      {"final-norm-follows-rmsnorm",
       [] {
         auto p = plan("1.14.0", "1.15.0", {kEmb, kQuery, f32("norm.weight", {32}), f32("norm.bias", {32})}, spec({{"use_rmsnorm", true}}));
         const OutputTensor* g = output(p, "attn_layers.final_norm.g");
         return all({expect(g && g->sources.empty() && g->fill == 1.0 && g->info.shape == std::vector<int64_t>{32},
                            "no RMSNorm g of ones"),
                     expect(!output(p, "attn_layers.final_norm.weight") && mentions(p.lost_behaviour, "final LayerNorm"),
                            "the LayerNorm is not dropped as lost")});
       }},
      {"final-norm-follows-scalenorm",
       [r32] {
         auto p = plan("1.14.0", "1.15.0", {kEmb, kQuery, f32("norm.weight", {32}), f32("norm.bias", {32})}, spec({{"use_scalenorm", true}}));
         const OutputTensor* g = output(p, "attn_layers.final_norm.g");
         return expect(g && std::abs(g->fill - r32) < 1e-9 && g->info.shape == std::vector<int64_t>{1},
                       "no ScaleNorm g of dim^1/2");
       }},
      {"post-norm-last-layer-norm",
       [] {
         std::vector<TensorInfo> t = {kEmb, f32("norm.weight", {32})};
         for (int i = 0; i < 4; ++i) t.push_back(f32("attn_layers.layers." + std::to_string(i) + ".1.x", {1}));
         return made_from(plan("1.14.0", "1.15.0", t, spec({{"pre_norm", false}})), "attn_layers.layers.3.0.2.weight",
                          "norm.weight");
       }},
      {"tie-embedding-works",
       [] { return expect(mentions(plan("1.16.7", "1.16.8", {kEmb}, spec({}, {{"tie_embedding", true}})).lost_behaviour, "tie_embedding"),
                          "tied embeddings before 1.16.8: no loss named"); }},
      {"rmsnorm-normalize",
       [] { return expect(mentions(plan("1.16.23", "1.17.0", {kEmb}, spec({{"use_rmsnorm", true}})).rounding, "rmsnorm-normalize"),
                          "no rounding named for RMSNorm"); }},
      {"ff-project-out-at-ff2",
       [] {
         const std::vector<TensorInfo> t = {kEmb, f32("attn_layers.layers.1.1.ff.3.weight", {32, 128})};
         return all({made_from(plan("1.17.9", "1.18.0", t, spec()), "attn_layers.layers.1.1.ff.2.weight",
                               "attn_layers.layers.1.1.ff.3.weight"),
                     made_from(plan("1.17.9", "1.18.0", t, spec({{"ff_post_act_ln", true}})), "attn_layers.layers.1.1.ff.3.weight",
                               "attn_layers.layers.1.1.ff.3.weight")});
       }},
      {"rotary-values-unrotated",
       [] {
         const std::vector<TensorInfo> t = {kEmb, f32("attn_layers.rotary_pos_emb.inv_freq", {16})};
         const json s = spec({{"rotary_pos_emb", true}});
         return all({expect(plan("1.19.1", "1.20.0", t, s).args["layers"].value("attn_rotary_embed_values", false),
                            "no attn_rotary_embed_values for B"),
                     expect(mentions(plan("1.19.1", "2.0.5", t, s).lost_behaviour, "rotary-values-unrotated"),
                            "into 2.x: no loss named")});
       }},
      {"layernorm-custom-class",
       [] {
         auto p = plan("1.26.6", "1.27.0", {kEmb, f32("attn_layers.layers.0.0.0.weight", {32}), f32("attn_layers.final_norm.bias", {32})}, spec());
         return all({made_from(p, "attn_layers.layers.0.0.0.gamma", "attn_layers.layers.0.0.0.weight"),
                     made_from(p, "attn_layers.final_norm.beta", "attn_layers.final_norm.bias")});
       }},
      {"logits-without-bias",
       [] {
         const std::vector<TensorInfo> t = {kEmb, f32("to_logits.weight", {256, 32}), f32("to_logits.bias", {256})};
         return all({expect(dropped(plan("1.26.6", "1.27.0", t, spec()), "to_logits.bias"), "to_logits.bias is not dropped"),
                     expect(plan("1.26.6", "1.42.8", t, spec()).args["wrapper"].contains("to_logits"),
                            "from 1.42.8 no to_logits module for B")});
       }},
      {"layernorm-torch-biasless",
       [] {
         const std::vector<TensorInfo> t = {kEmb, f32("attn_layers.final_norm.gamma", {32}), f32("attn_layers.final_norm.beta", {32})};
         auto p = plan("1.27.0", "1.27.1", t, spec());
         return all({expect(dropped(p, "attn_layers.final_norm.beta"), "beta is not dropped"),
                     made_from(p, "attn_layers.final_norm.weight", "attn_layers.final_norm.gamma"),
                     expect(plan("1.27.0", "1.27.1", t, spec(), 0).changes.empty(), "under torch 2.0 the layout changed")});
       }},
      {"scalenorm-normalize",
       [r32, scale] {
         return made_from(plan("1.27.19", "1.27.20", {kEmb, f32("attn_layers.final_norm.g", {1})}, spec({{"use_scalenorm", true}})),
                          "attn_layers.final_norm.g", "attn_layers.final_norm.g", {{scale, 1 / r32}});
       }},
      {"rotary-interleaved",
       [] {
         auto p = plan("1.30.0", "1.30.1", {kEmb, f32("attn_layers.rotary_pos_emb.inv_freq", {16}),
                                            f32("attn_layers.layers.0.1.to_k.weight", {256, 32})}, spec({{"rotary_pos_emb", true}}));
         const OutputTensor* k = output(p, "attn_layers.layers.0.1.to_k.weight");
         // With per-dimension qk-norm scales the recipe is incomplete: lossy, never "lossless".
         auto scaled = plan("1.30.0", "1.30.1", {kEmb, f32("attn_layers.rotary_pos_emb.inv_freq", {16}),
                                                 f32("attn_layers.layers.0.1.to_k.weight", {256, 32}),
                                                 f32("attn_layers.layers.0.1.qk_norm_q_scale", {4, 1, 64})},
                            spec({{"rotary_pos_emb", true}}));
         return all({expect(k && k->steps.size() == 1 && k->steps[0].kind == TensorStep::PermuteRows && k->steps[0].heads == 4 &&
                                k->steps[0].rot == 32 && k->steps[0].axis == 0,
                            "to_k's rows are not permuted per head over 32 rotary rows"),
                     expect(p.lost_behaviour.empty(), "without qk-norm scales: lossy"),
                     expect(mentions(scaled.lost_behaviour, "qk-norm scales"), "qk-norm scales: not lossy")});
       }},
      {"rotary-interleaved-values",
       [] {
         auto p = plan("1.30.0", "1.30.1", {kEmb, f32("attn_layers.rotary_pos_emb.inv_freq", {16}),
                                            f32("attn_layers.layers.0.1.to_out.weight", {32, 256})},
                       spec({{"rotary_pos_emb", true}, {"attn_rotary_embed_values", true}}));
         const OutputTensor* o = output(p, "attn_layers.layers.0.1.to_out.weight");
         return expect(o && o->steps.size() == 1 && o->steps[0].axis == 1, "to_out's columns are not permuted");
       }},
      {"layernorm-gamma-only",
       [] { return made_from(plan("1.30.23", "1.31.0", {kEmb, f32("attn_layers.layers.2.0.0.weight", {32})}, spec()),
                             "attn_layers.layers.2.0.0.gamma", "attn_layers.layers.2.0.0.weight"); }},
      {"layernorm-separate-affine",
       [] { return expect(mentions(plan("1.31.0", "1.31.1", {kEmb, f32("attn_layers.layers.0.0.0.gamma", {32})}, spec()).rounding,
                                   "layernorm-separate-affine"), "no rounding named for LayerNorm's affine"); }},
      {"norm-unit-offset",
       [add] { return made_from(plan("1.31.2", "1.31.3", {kEmb, f32("attn_layers.layers.0.0.0.gamma", {32})}, spec()),
                                "attn_layers.layers.0.0.0.gamma", "attn_layers.layers.0.0.0.gamma", {{add, -1.0}}); }},
      {"layerscale-unit-offset",
       [add] { return made_from(plan("1.31.7", "1.31.8", {kEmb, f32("attn_layers.layers.0.1.gamma", {32})}, spec({{"use_layerscale", true}})),
                                "attn_layers.layers.0.1.gamma", "attn_layers.layers.0.1.gamma", {{add, -1.0}}); }},
      {"zero-fully-masked-rows",
       [] { return expect(mentions(plan("1.31.14", "1.32.0", {kEmb}, spec({}, {}, "padding")).notes, "zero-fully-masked-rows"),
                          "no caveat for fully masked queries"); }},
      {"encoder-without-logits",
       [] {
         auto p = plan("1.35.1", "1.35.2", {f32("encoder.token_emb.emb.weight", {256, 32}), f32("encoder.to_logits.weight", {256, 32})},
                       json{{"model", "xtransformer"}, {"xtransformer", {{"dim", 32}}}});
         return all({expect(dropped(p, "encoder.to_logits.weight", true), "the encoder's to_logits is not dropped as unused"),
                     expect(p.outcome != ConversionOutcome::Lossy, "dropping an unused tensor is called lossy")});
       }},
      {"value-residual-argument",
       [] { return expect(mentions(plan("1.40.6", "1.40.7", {kEmb}, spec({{"add_value_residual", true}})).lost_behaviour,
                                   "value-residual-argument"), "no loss named before add_value_residual"); }},
      {"value-residual-halved",
       [] { return expect(mentions(plan("1.42.2", "1.42.3", {kEmb}, spec({{"add_value_residual", true}})).lost_behaviour,
                                   "value-residual-halved"), "no loss named for the halved residual"); }},
      {"value-residual-mix-learnable",
       [] { return expect(mentions(plan("1.42.14", "1.42.13", {kEmb}, spec({{"add_value_residual", true}, {"learned_value_residual_mix", true}})).lost_behaviour,
                                   "value-residual-mix-learnable"), "downgrading a learned mix: no loss named"); }},
      {"value-residual-mix-per-head",
       [] { return expect(mentions(plan("1.42.15", "1.42.16", {kEmb}, spec({{"add_value_residual", true}, {"learned_value_residual_mix", true}})).lost_behaviour,
                                   "value-residual-mix-per-head"), "a per-token mix to per-head: no loss named"); }},
      {"rotary-no-minimum-width",
       [] { return expect(plan("1.42.17", "1.42.18", {kEmb, f32("attn_layers.rotary_pos_emb.inv_freq", {16})}, spec({{"rotary_pos_emb", true}}))
                                  .args["layers"].value("rotary_emb_dim", 0) == 32, "no rotary_emb_dim = 32 for B"); }},
      {"value-residual-learned-mix",
       [] {
         const json s = spec({{"add_value_residual", true}});
         const std::vector<TensorInfo> mixed = {kEmb, f32("attn_layers.layers.2.1.to_value_residual_mix.0.weight", {4, 32})};
         return all({expect(plan("1.42.27", "1.42.28", {kEmb}, s).args["layers"].value("learned_value_residual_mix", true) == false,
                            "no learned_value_residual_mix = false for B"),
                     expect(plan("1.42.28", "1.42.27", mixed, s).args["layers"].value("learned_value_residual_mix", false),
                            "into 1.42.27: no learned_value_residual_mix = true"),
                     expect(dropped(plan("1.42.28", "1.42.15", mixed, s), "attn_layers.layers.2.1.to_value_residual_mix.0.weight"),
                            "into 1.42.15: the mix is not dropped")});
       }},
      {"value-residual-lerp",
       [] { return expect(mentions(plan("1.44.8", "2.0.0", {kEmb}, spec({{"add_value_residual", true}})).rounding, "value-residual-lerp"),
                          "no rounding named for lerp"); }},
      {"tied-logits-scaled",
       [r32, add, scale] {
         const std::vector<TensorInfo> t = {kEmb, f32("attn_layers.final_norm.gamma", {32})};
         const json s = spec({}, {{"tie_embedding", true}});
         return all({expect(plan("2.30.4", "2.30.5", t, s).args["wrapper"].value("tie_embedding_scale", 0.0) == 1.0,
                            "no tie_embedding_scale = 1.0 for B"),
                     made_from(plan("2.30.5", "2.30.4", t, s), "attn_layers.final_norm.gamma", "attn_layers.final_norm.gamma",
                               {{add, 1.0}, {scale, 1 / r32}, {add, -1.0}})});
       }},
      // The model kinds without tokens (issue 23): a ViT's patch embedding and
      // positions, a continuous wrapper's projections, bare layers' final norm.
      {"vit-dual-patch-norm",
       [] {
         const json vit = {{"model", "vit"}, {"layers", {{"dim", 32}}}};
         auto p = plan("1.7.17", "1.8.0", {kQuery, f32("patch_to_embedding.weight", {32, 48}), f32("patch_to_embedding.bias", {32})}, vit);
         const OutputTensor* in = output(p, "patch_to_embedding.0.weight");
         const OutputTensor* out = output(p, "patch_to_embedding.2.bias");
         return all({made_from(p, "patch_to_embedding.1.weight", "patch_to_embedding.weight"),
                     expect(in && in->fill == 1.0 && in->info.shape == std::vector<int64_t>{48}, "no LayerNorm(patch_dim) of ones"),
                     expect(out && out->fill == 0.0 && out->info.shape == std::vector<int64_t>{32}, "no LayerNorm(dim) bias of zeros"),
                     expect(mentions(p.lost_behaviour, "vit-dual-patch-norm"), "the norms' computation is not named as lost")});
       }},
      {"vit-position-per-patch",
       [] {
         const json vit = {{"model", "vit"}, {"layers", {{"dim", 32}}}};
         auto up = plan("1.15.2", "1.16.0", {kQuery, f32("pos_embedding", {1, 17, 32})}, vit);
         auto down = plan("1.16.0", "1.15.2", {kQuery, f32("pos_embedding", {1, 16, 32})}, vit);
         const OutputTensor* u = output(up, "pos_embedding");
         const OutputTensor* d = output(down, "pos_embedding");
         return all({expect(u && u->info.shape == std::vector<int64_t>{1, 16, 32} && u->steps.size() == 1 &&
                                u->steps[0].kind == TensorStep::Trim && up.outcome == ConversionOutcome::Lossless,
                            "upgrading: the never-read last position is not trimmed losslessly"),
                     expect(d && d->info.shape == std::vector<int64_t>{1, 17, 32} && d->steps.size() == 1 &&
                                d->steps[0].kind == TensorStep::Pad,
                            "downgrading: the last position is not padded")});
       }},
      {"continuous-projections-without-bias",
       [] {
         const json cont = {{"model", "continuous"}, {"layers", {{"dim", 32}}}};
         auto p = plan("1.26.6", "1.27.0", {kQuery, f32("project_in.weight", {32, 8}), f32("project_in.bias", {32}),
                                            f32("project_out.weight", {8, 32}), f32("project_out.bias", {8})}, cont);
         return all({expect(dropped(p, "project_in.bias") && dropped(p, "project_out.bias"), "the projections' biases are not dropped"),
                     made_from(p, "project_in.weight", "project_in.weight")});
       }},
      {"value-gate-without-bias",
       [] {
         const std::vector<TensorInfo> t = {kEmb, kQuery, f32("attn_layers.layers.0.1.to_v_gate.weight", {256, 32}),
                                            f32("attn_layers.layers.0.1.to_v_gate.bias", {256})};
         const json s = spec({{"attn_gate_values", true}});
         ReleasePoint a{*Version::parse("2.25.5"), 2, 13}, b{*Version::parse("2.26.0"), 2, 13};
         auto adapted = plan_conversion(release_history(), a, b, t, facts_from_spec(s), PlanOptions{true});
         auto down = plan("2.26.0", "2.25.5", {kEmb, kQuery, f32("attn_layers.layers.0.1.to_v_gate.weight", {256, 32})}, s);
         const OutputTensor* bias = output(down, "attn_layers.layers.0.1.to_v_gate.bias");
         return all({expect(dropped(plan("2.25.5", "2.26.0", t, s), "attn_layers.layers.0.1.to_v_gate.bias"),
                            "the value gate's bias is not dropped"),
                     expect(adapted.adapters.size() == 1 && adapted.adapters[0].kind == "output_bias" &&
                                adapted.adapters[0].module == "attn_layers.layers.0.1.to_v_gate",
                            "no output_bias adapter of to_v_gate"),
                     expect(bias && bias->fill == 0.0 && bias->info.shape == std::vector<int64_t>{256},
                            "downgrading: no zero bias of the gate's width")});
       }},
      {"residual-attn-carries-position-bias",
       [] {
         const json s = spec({{"residual_attn", true}, {"rel_pos_bias", true}});
         return all({expect(mentions(plan("1.9.2", "1.10.0", {kEmb}, s).lost_behaviour, "residual-attn-carries-position-bias"),
                            "residual attention with a relative bias: the change is not named as lost"),
                     expect(!crosses_change(plan("1.9.2", "1.10.0", {kEmb}, spec({{"residual_attn", true}})),
                                            "residual-attn-carries-position-bias"),
                            "residual attention without a position bias crosses it")});
       }},
      {"qk-norm-learned-temperature-removed",
       [] {
         const json s = spec({{"attn_qk_norm", true}});
         auto up = plan("0.30.0", "0.31.0", {kEmb, kQuery, f32("attn_layers.layers.0.1.scale", {1, 4, 1, 1})}, s);
         const auto down = plan("0.31.0", "0.30.0", {kEmb, kQuery}, s);
         const OutputTensor* back = output(down, "attn_layers.layers.0.1.scale");
         return all({expect(dropped(up, "attn_layers.layers.0.1.scale"), "the learned temperature is not dropped"),
                     expect(back && back->info.shape == std::vector<int64_t>{1, 4, 1, 1},
                            "downgrading: no temperature of one per head")});
       }},
      {"hybrid-module-normed",
       [] {
         auto up = plan("2.0.0", "2.0.1", {kEmb, kQuery, f32("attn_layers.layers.0.1.hybrid_module.fn.weight_ih_l0", {96, 32})},
                        spec({{"attn_dim_head", 8}}));
         const OutputTensor* g = output(up, "attn_layers.layers.0.1.hybrid_norms.1.gamma");
         return all({expect(g && g->fill == 0.0 && g->info.shape == std::vector<int64_t>{4, 1, 8},
                            "no per-head norm gain [heads, 1, dim_head] for the hybrid output"),
                     expect(mentions(up.lost_behaviour, "hybrid-module-normed"), "the normed sum is not named as lost")});
       }},
      {"flash-padding-mask-fixed",
       [] {
         return all({expect(mentions(plan("1.16.12", "1.16.14", {kEmb}, spec({{"attn_flash", true}}, {}, "padding")).lost_behaviour,
                                     "flash-padding-mask-fixed"),
                            "flash with a padding mask: the masking is not named as lost"),
                     expect(!crosses_change(plan("1.16.12", "1.16.14", {kEmb}, spec({{"attn_flash", true}})),
                                            "flash-padding-mask-fixed"),
                            "flash without a padding mask crosses it")});
       }},
      {"qk-norm-scales-per-head",
       [] {
         const json s = spec({{"attn_qk_norm", true}, {"attn_qk_norm_dim_scale", true}});
         const std::vector<TensorInfo> t = {kEmb, kQuery, f32("attn_layers.layers.0.1.qk_norm_q_scale", {64})};
         const auto up = plan("1.19.0", "1.19.1", t, s);
         const OutputTensor* q = output(up, "attn_layers.layers.0.1.qk_norm_q_scale");
         return all({expect(q && q->steps.size() == 1 && q->steps[0].kind == TensorStep::Tile && q->info.shape.size() == 3 &&
                                q->info.shape[1] == 1 && q->info.shape[2] == 64,
                            "the shared scales are not held once per head"),
                     expect(up.outcome != ConversionOutcome::Lossy, "tiling the shared scales is lossy"),
                     expect(plan("1.19.1", "1.19.0", {kEmb, kQuery, f32("attn_layers.layers.0.1.qk_norm_q_scale", {4, 1, 64})}, s)
                                    .outcome == ConversionOutcome::Lossy,
                            "one head's scales for all is not lossy"),
                     expect(!crosses_change(plan("1.19.0", "1.19.1", t, spec({{"attn_qk_norm", true}})), "qk-norm-scales-per-head"),
                            "qk_norm without per-dimension scales crosses it")});
       }},
      {"hyper-connections-sinkhorn",
       [] {
         const std::vector<TensorInfo> t = {kEmb, kQuery, f32("attn_layers.layers.0.2.dynamic_alpha_fn", {32, 5})};
         return all({expect(mentions(plan("2.12.2", "2.14.0", t, spec({{"num_residual_streams", 4}})).lost_behaviour,
                                     "hyper-connections-sinkhorn"),
                            "hyper-connections: the constrained mixing is not named as lost"),
                     expect(!crosses_change(plan("2.12.2", "2.14.0", {kEmb, kQuery}, spec()), "hyper-connections-sinkhorn"),
                            "a model without hyper-connections crosses it")});
       }},
      {"bare-layers-final-norm",
       [] {
         const json bare = {{"model", "layers"}, {"layers_class", "decoder"}, {"layers", {{"dim", 32}}}};
         auto up = plan("1.14.0", "1.15.0", {kQuery}, bare);
         const OutputTensor* w = output(up, "attn_layers.final_norm.weight");
         json post = bare;
         post["layers"]["pre_norm"] = false;
         return all({expect(w && w->fill == 1.0 && w->info.shape == std::vector<int64_t>{32}, "no final LayerNorm of ones"),
                     expect(mentions(up.lost_behaviour, "bare-layers-final-norm"), "the final norm is not named as lost"),
                     expect(plan("1.14.0", "2.5.6", {kQuery}, bare).args["layers"].value("pre_norm_has_final_norm", true) == false,
                            "into 2.5.6: no pre_norm_has_final_norm = false"),
                     expect(!crosses_change(plan("1.14.0", "1.15.0", {kQuery}, post), "bare-layers-final-norm"),
                            "a post-norm stack (no final norm either way) crosses it"),
                     expect(!crosses_change(plan("1.14.0", "1.15.0", {kEmb, kQuery}, spec()), "bare-layers-final-norm"),
                            "a TransformerWrapper crosses it")});
       }},
  };
}

}  // namespace xcompat::test

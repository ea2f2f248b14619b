// The conversion engine on its own: key patterns, the history file's
// validation, the planner's decisions for features no catalogue spec has
// (each history entry's effect, so deleting one fails here), and the
// tensor arithmetic. Real checkpoints are converted in the native tier
// (test_native_conversion.cpp) and through the releases (test_convert_cli.cpp).
#include <cstring>
#include <fstream>
#include <set>

#include "catch.hpp"
#include "conversion_effects.hpp"
#include "harness/convert/adapter_file.hpp"
#include "harness/convert/conversion.hpp"
#include "harness/convert/input_checks.hpp"
#include "harness/convert/published.hpp"
#include "harness/convert/tensor_math.hpp"
#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"
#include "support.hpp"

using namespace xcompat;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

Version v(const char* s) { return *Version::parse(s); }
ReleasePoint at(const char* s) { return ReleasePoint{v(s)}; }

// A decoder's tensors as a release of the 1.x era names them (dim 32, 2
// layers of attention + feed-forward, 4 heads of 64). Names and shapes only:
// what the planner reads.
std::vector<TensorInfo> decoder(const std::string& p = "", const std::string& norm = "gamma", bool rotary = false) {
  std::vector<TensorInfo> t = {{p + "token_emb.emb.weight", DType::F32, {256, 32}},
                               {p + "attn_layers.final_norm." + norm, DType::F32, {32}}};
  for (int i : {0, 2}) {
    const std::string l = p + "attn_layers.layers." + std::to_string(i);
    t.push_back({l + ".0.0." + norm, DType::F32, {32}});
    for (auto w : {"to_q", "to_k", "to_v"}) t.push_back({l + ".1." + w + ".weight", DType::F32, {256, 32}});
    t.push_back({l + ".1.to_out.weight", DType::F32, {32, 256}});
    const std::string f = p + "attn_layers.layers." + std::to_string(i + 1);
    t.push_back({f + ".0.0." + norm, DType::F32, {32}});
    t.push_back({f + ".1.ff.0.0.weight", DType::F32, {128, 32}});
    t.push_back({f + ".1.ff.2.weight", DType::F32, {32, 128}});
  }
  if (rotary) t.push_back({p + "attn_layers.rotary_pos_emb.inv_freq", DType::F32, {16}});
  return t;
}

json decoder_spec(json layers = json::object()) {
  json s = {{"model", "decoder"}, {"layers", {{"dim", 32}, {"depth", 2}, {"heads", 4}}}, {"wrapper", {{"num_tokens", 256}}}};
  for (auto& [k, val] : layers.items()) s["layers"][k] = val;
  return s;
}

ConversionPlan plan(const char* from, const char* to, const std::vector<TensorInfo>& t, const json& spec) {
  return plan_conversion(release_history(), at(from), at(to), t, facts_from_spec(spec));
}

bool has(const std::vector<std::string>& v, const std::string& needle) {
  for (auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

// A float32 tensor with these values.
TensorData f32(std::vector<int64_t> shape, const std::vector<float>& values) {
  TensorData t{DType::F32, std::move(shape), {}};
  t.bytes.resize(values.size() * sizeof(float));
  std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

bool crosses(const ConversionPlan& p, const std::string& id) {
  return std::find(p.changes.begin(), p.changes.end(), id) != p.changes.end();
}

// Writes `body` (after a format line) as a history file and loads it.
ReleaseHistory load_text(const test::TempDir& dir, const std::string& body) {
  const fs::path path = dir / "history.toml";
  std::ofstream(path) << "format = 1\ncovers = [\"0.28.4\", \"2.31.10\"]\n" << body;
  return load_history(path);
}

}  // namespace

TEST_CASE("key patterns match whole keys and render from their captures", "[unit]") {
  const KeyPattern rename("{p}attn_layers.layers.{i}.1.net.{*rest}");
  auto c = rename.match("decoder.net.attn_layers.layers.3.1.net.0.proj.weight");
  REQUIRE(c);
  CHECK(c->at("p") == "decoder.net.");
  CHECK(c->at("i") == "3");
  CHECK(c->at("rest") == "0.proj.weight");
  CHECK(KeyPattern("{p}attn_layers.layers.{i}.1.ff.{*rest}").render(*c) ==
        "decoder.net.attn_layers.layers.3.1.ff.0.proj.weight");
  CHECK_FALSE(rename.match("attn_layers.layers.3.1.net"));           // {*rest} after a dot: something must follow
  CHECK_FALSE(rename.match("xattn_layers.layers.3.1.net.0.weight"));  // anchored
  CHECK_FALSE(KeyPattern("{i}.weight").match("1.2.weight"));          // one segment, no dots
  const KeyPattern alt("{p}attn_layers.final_norm.{param:gamma|g}");
  CHECK(alt.match("attn_layers.final_norm.g"));
  CHECK_FALSE(alt.match("attn_layers.final_norm.weight"));
  CHECK_THROWS_AS(KeyPattern("a.{b"), Error);
  CHECK_THROWS_AS(KeyPattern("a.{}"), Error);
  CHECK_THROWS_AS(KeyPattern("a.{B}"), Error);
  CHECK_THROWS_AS(KeyPattern("{x:a|}"), Error);
  CHECK_THROWS_AS(KeyPattern("{i}.w").render({}), Error);
}

TEST_CASE("a history file is validated: every field known, every op complete", "[unit]") {
  test::TempDir dir;
  const std::string ok = "[[change]]\nid = \"x\"\nkind = \"layout\"\nat = \"1.0.0\"\nreason = \"r\"\n";
  CHECK(load_text(dir, ok).changes.size() == 1);
  auto refused = [&](const std::string& body, const std::string& says) {
    INFO(body);
    CHECK_THROWS_WITH(load_text(dir, body), Catch::Contains(says));
  };
  refused(ok + "colour = \"red\"\n", "change 'x': unknown field 'colour'");
  refused("[[change]]\nid = \"x\"\nkind = \"odd\"\nat = \"1.0.0\"\nreason = \"r\"\n", "kind must be");
  refused("[[change]]\nid = \"x\"\nkind = \"layout\"\nat = \"1.0.0\"\n", "needs its one-line `reason`");
  refused("[[change]]\nid = \"x\"\nkind = \"layout\"\nat = \"1.0\"\nreason = \"r\"\n", "not an X.Y.Z release");
  refused(ok + "after = \"1.0.0\"\n", "`after` must come before `at`");
  refused(ok + ok, "change 'x' twice");
  refused(ok + "ops = [{ op = \"twist\", from = \"a\" }]\n", "unknown op 'twist'");
  refused(ok + "ops = [{ op = \"rename\", from = \"a\" }]\n", "one `from` and one `to`");
  refused(ok + "ops = [{ op = \"scale\", from = \"a\", value = \"dim ** 2\" }]\n", "\"dim ** 0.5\"");
  // A value or shape that names the model's width needs the history's `width`.
  refused(ok + "ops = [{ op = \"scale\", from = \"a\", value = \"dim ** 0.5\" }]\n", "no `width`");
  refused("width = [\"{p}a.weight\"]\n" + ok, "width '{p}a.weight'");
  CHECK(load_text(dir, "width = [\"{p}a.weight:1\"]\n" + ok + "ops = [{ op = \"scale\", from = \"a\", value = \"dim ** 0.5\" }]\n")
            .width.size() == 1);
  refused(ok + "ops = [{ op = \"trim\", from = \"a\", axis = 1 }]\n", "a `count` of 1 or more");
  refused(ok + "ops = [{ op = \"repeat\", from = \"a\", shape = [2, 3] }]\n", "the `old_shape` it tiles");
  refused(ok + "ops = [{ op = \"rename\", from = \"{a\", to = \"b\" }]\n", "'{' without '}'");
  refused(ok + "args = { model = { x = 1 } }\n", "per section");
  refused(ok + "when_shape = \"a:0\"\n", "shape condition");
  refused(ok + "ops = [{ op = \"fold\", from = \"a\", into = \"b\" }]\n", "`through` (the matrix between)");
  refused(ok + "ops = [{ op = \"fold\", from = \"a\", to = \"b\", through = \"w\" }]\n", "writes `into`, not `to`");
  refused(ok + "ops = [{ op = \"drop\", from = \"a\", into = \"b\" }]\n", "belong to a fold");
  refused(ok + "adapters = [{ kind = \"magic\", from = \"a\", module = \"m\" }]\n", "kind must be output_bias");
  refused(ok + "adapters = [{ kind = \"output_bias\", from = \"a\" }]\n", "needs `from`");
  CHECK(load_text(dir, ok + "adapters = [{ kind = \"output_bias\", from = \"{p}a.bias\", module = \"{p}a\" }]\n")
            .changes[0].adapters.size() == 1);
  CHECK(load_text(dir, ok + "ops = [{ op = \"fold\", from = \"a\", into = \"b\", through = \"w\" }]\n")
            .changes[0].ops[0].to_json() == json{{"op", "fold"}, {"from", {"a"}}, {"into", {"b"}}, {"through", "w"}});
  CHECK_THROWS_WITH(load_history(dir / "missing.toml"), Catch::Contains("no release history at"));
  // The checkout's own history loads, and covers the pinned range.
  const ReleaseHistory& h = release_history();
  CHECK(h.oldest == v("0.28.4"));
  CHECK(h.newest == v("2.31.10"));
  CHECK(h.changes.size() >= 30);
  for (auto& c : h.changes) {
    INFO(c.id);
    CHECK(!c.exercised.empty());
  }
}

TEST_CASE("the chain between two releases: boundary order up, reverse order down, refused inside a gap", "[unit]") {
  const Chain up = change_chain(release_history(), at("0.28.4"), at("2.31.10"));
  REQUIRE(up.up.size() >= 20);
  CHECK(up.down.empty());
  for (std::size_t i = 1; i < up.up.size(); ++i) CHECK(up.up[i - 1]->at <= up.up[i]->at);
  const Chain down = change_chain(release_history(), at("2.31.10"), at("0.28.4"));
  REQUIRE(down.down.size() == up.up.size());
  for (std::size_t i = 0; i < up.up.size(); ++i) CHECK(down.down[i] == up.up[up.up.size() - 1 - i]);
  CHECK(change_chain(release_history(), at("1.31.4"), at("1.31.4")).up.empty());

  test::TempDir dir;
  const ReleaseHistory gap = load_text(dir, "[[change]]\nid = \"mask\"\nkind = \"behaviour\"\nat = \"1.14.0\"\n"
                                            "after = \"1.0.4\"\nreason = \"r\"\n");
  CHECK_THAT(change_chain(gap, at("1.7.0"), at("2.0.0")).refused, Catch::Contains("1.7.0 lies inside that range"));
  CHECK(change_chain(gap, at("1.0.4"), at("2.0.0")).refused.empty());
}

TEST_CASE("renames, unit offsets and the final norm carry a 1.14 decoder to the newest layout", "[unit]") {
  // A 1.14.0 LayerNorm decoder: nn.LayerNorm weight / bias, the wrapper norm, ff.3.
  std::vector<TensorInfo> t;
  for (auto& i : decoder("", "weight")) {
    if (i.name.find(".ff.2.") != std::string::npos) i.name.replace(i.name.find(".ff.2."), 6, ".ff.3.");
    if (i.name == "attn_layers.final_norm.weight") i.name = "norm.weight";
    t.push_back(i);
  }
  const auto p = plan("1.14.0", "2.31.10", t, decoder_spec());
  REQUIRE(p.outcome == ConversionOutcome::Lossless);
  std::set<std::string> names;
  for (auto& o : p.outputs) names.insert(o.info.name);
  CHECK(names.count("attn_layers.final_norm.gamma"));
  CHECK(names.count("attn_layers.layers.1.1.ff.2.weight"));
  CHECK(names.count("attn_layers.layers.0.0.0.gamma"));
  for (auto& o : p.outputs)
    if (o.info.name.find("gamma") != std::string::npos) {
      INFO(o.info.name);
      REQUIRE(o.steps.size() == 1);  // norm-unit-offset: gamma - 1
      CHECK(o.steps[0].kind == TensorStep::AddConstant);
      CHECK(o.steps[0].value == -1.0);
    }
  // Post-norm: the wrapper's norm becomes the last layer's post-main norm.
  std::vector<TensorInfo> post = t;
  for (auto& i : post)
    if (i.name.find(".0.0.weight") != std::string::npos) i.name.replace(i.name.find(".0.0.weight"), 11, ".0.2.weight");
  std::erase_if(post, [](auto& i) { return i.name == "attn_layers.layers.3.0.2.weight"; });
  const auto pp = plan("1.14.0", "2.31.10", post, decoder_spec({{"pre_norm", false}}));
  REQUIRE(pp.outcome == ConversionOutcome::Lossless);
  bool last = false;
  for (auto& o : pp.outputs) last |= o.info.name == "attn_layers.layers.3.0.2.gamma" && o.sources == std::vector<std::string>{"norm.weight"};
  CHECK(last);
}

TEST_CASE("each entry the catalogue does not exercise has its effect", "[unit]") {
  const auto t = decoder();
  // qk-norm-scale-10: B is told the old scale; downgrading, A the new one.
  auto qk = plan("1.0.3", "1.0.4", t, decoder_spec({{"attn_qk_norm", true}}));
  CHECK(qk.args["layers"]["attn_qk_norm_scale"] == 1);
  CHECK(plan("1.0.4", "1.0.3", t, decoder_spec({{"attn_qk_norm", true}})).args["layers"]["attn_qk_norm_scale"] == 10);
  CHECK_FALSE(crosses(plan("1.0.3", "1.0.4", t, decoder_spec()), "qk-norm-scale-10"));
  // mem-kv-query-positions: with memory key / values and a relative bias, lossy.
  auto mem = plan("1.0.1", "1.0.2", t, decoder_spec({{"attn_num_mem_kv", 4}, {"alibi_pos_bias", true}}));
  CHECK(has(mem.lost_behaviour, "mem-kv-query-positions"));
  CHECK_FALSE(crosses(plan("1.0.1", "1.0.2", t, decoder_spec({{"attn_num_mem_kv", 4}})), "mem-kv-query-positions"));
  CHECK_FALSE(crosses(plan("1.0.1", "1.0.2", t, decoder_spec({{"attn_num_mem_kv", 0}, {"rel_pos_bias", true}})),
                      "mem-kv-query-positions"));
  // entmax-removed: nothing newer computes entmax.
  CHECK(has(plan("1.0.3", "1.0.4", t, decoder_spec({{"attn_use_entmax15", true}})).lost_behaviour, "entmax-removed"));
  // layerscale-unit-offset: LayerScale's gamma - 1 at 1.31.8.
  auto ls = decoder();
  ls.push_back({"attn_layers.layers.0.1.gamma", DType::F32, {32}});
  bool stepped = false;
  for (auto& o : plan("1.31.7", "1.31.8", ls, decoder_spec({{"use_layerscale", true}})).outputs)
    stepped |= o.info.name == "attn_layers.layers.0.1.gamma" && o.steps.size() == 1 && o.steps[0].value == -1.0;
  CHECK(stepped);
  // Value residual: before 1.40.7 none, before 1.42.3 added whole, a learned
  // mix from 1.42.14, per head from 1.42.16.
  const json vr = decoder_spec({{"add_value_residual", true}});
  CHECK(has(plan("1.40.7", "1.42.3", t, vr).lost_behaviour, "value-residual-halved"));
  CHECK(has(plan("1.42.3", "1.40.7", t, vr).lost_behaviour, "value-residual-halved"));
  CHECK(has(plan("1.40.6", "1.40.7", t, vr).lost_behaviour, "value-residual-argument"));
  const json learned = decoder_spec({{"add_value_residual", true}, {"learned_value_residual_mix", true}});
  CHECK(has(plan("1.42.14", "1.42.13", t, learned).lost_behaviour, "value-residual-mix-learnable"));
  CHECK(has(plan("1.42.15", "1.42.16", t, learned).lost_behaviour, "value-residual-mix-per-head"));
  // zero-fully-masked-rows: a caveat for padded inputs, not a loss.
  CHECK_FALSE(has(plan("1.31.4", "1.32.0", t, decoder_spec()).notes, "zero-fully-masked-rows"));
  json padded = decoder_spec();
  padded["mask"] = "padding";
  CHECK(has(plan("1.31.4", "1.32.0", t, padded).notes, "zero-fully-masked-rows"));
  // rotary-no-minimum-width: B keeps the old width of 32; downgrading a
  // narrower rotary is lossy.
  const json rot = decoder_spec({{"rotary_pos_emb", true}});
  CHECK(plan("1.42.17", "1.42.18", decoder("", "gamma", true), rot).args["layers"]["rotary_emb_dim"] == 32);
  auto narrow = decoder("", "gamma", true);
  narrow.back().shape = {8};
  CHECK(has(plan("1.42.18", "1.42.17", narrow, rot).lost_behaviour, "rotary-no-minimum-width"));
  CHECK_FALSE(crosses(plan("1.42.18", "1.42.17", decoder("", "gamma", true), rot), "rotary-no-minimum-width"));
}

TEST_CASE("XTransformer: each model is judged by its own arguments and keys", "[unit]") {
  auto t = decoder("encoder.", "gamma", true);
  for (auto& i : decoder("decoder.net.")) t.push_back(i);
  const json spec = {{"model", "xtransformer"},
                     {"xtransformer",
                      {{"dim", 32}, {"enc_depth", 2}, {"dec_depth", 2}, {"enc_heads", 4}, {"dec_heads", 4},
                       {"enc_rotary_pos_emb", true}, {"dec_use_rmsnorm", true}}}};
  const auto p = plan("1.30.0", "1.30.1", t, spec);
  // rotary-interleaved permutes the encoder's queries and keys only.
  for (auto& o : p.outputs) {
    INFO(o.info.name);
    const bool q_or_k = o.info.name.find(".to_q.") != std::string::npos || o.info.name.find(".to_k.") != std::string::npos;
    CHECK((q_or_k && o.info.name.rfind("encoder.", 0) == 0) == !o.steps.empty());
  }
  CHECK(spec_for_prefix(spec, "decoder.net.")["layers"]["use_rmsnorm"] == true);
  CHECK_FALSE(spec_for_prefix(spec, "encoder.")["layers"].contains("use_rmsnorm"));
}

TEST_CASE("a model built with the other side's arguments crosses nothing", "[unit]") {
  const json built = decoder_spec({{"rotary_pos_emb", true}, {"attn_rotary_embed_values", true}});
  const auto down = plan("1.26.6", "1.19.1", decoder("", "gamma", true), built);
  CHECK_FALSE(crosses(down, "rotary-values-unrotated"));
  CHECK(has(down.notes, "already computes as 1.19.1 does"));
  CHECK(has(plan("1.26.6", "1.19.1", decoder("", "gamma", true), decoder_spec({{"rotary_pos_emb", true}})).lost_behaviour,
            "rotary-values-unrotated"));
}

TEST_CASE("dropping a tensor is lossless only when it holds what B implies", "[unit]") {
  const std::vector<TensorInfo> t = {{"token_emb.emb.weight", DType::F32, {4, 2}},
                                     {"to_logits.weight", DType::F32, {4, 2}},
                                     {"to_logits.bias", DType::F32, {4}}};
  for (double bias : {0.0, 0.25}) {
    auto p = plan("1.26.6", "1.27.0", t, json::object());
    REQUIRE(p.outcome == ConversionOutcome::Lossy);  // not known until the bias is read
    TensorMap in;
    for (auto& i : t) in[i.name] = filled(i.dtype, i.shape, i.name == "to_logits.bias" ? bias : 1.0);
    TensorMap out;
    const auto lost = run_conversion(p, [&](const std::string& n) { return in.at(n); },
                                     [&](const TensorInfo& i, const TensorData& d) { out[i.name] = d; });
    CHECK(out.count("to_logits.bias") == 0);
    if (bias == 0.0) {
      CHECK(lost.empty());
      CHECK(p.outcome == ConversionOutcome::Lossless);
    } else {
      REQUIRE(lost.size() == 1);
      CHECK(lost[0].first == "to_logits.bias");
      CHECK(lost[0].second == 0.25);
      CHECK(p.outcome == ConversionOutcome::Lossy);
    }
  }
  // From 1.42.8 B takes a to_logits with a bias: nothing is dropped.
  const auto with_module = plan("1.26.6", "2.31.10", t, json::object());
  CHECK(with_module.args["wrapper"]["to_logits"]["bias"] == true);
}

namespace {

// A 1.26.x pre-norm decoder with LayerNorm biases, as numbers: attention
// layer 0 and feed-forward layer 1 (dim 2, inner 3), the final norm and
// to_logits (4 tokens).
TensorMap biased_decoder(float attention_bias) {
  TensorMap m;
  m["token_emb.emb.weight"] = filled(DType::F32, {4, 2}, 0.5);
  m["attn_layers.layers.0.0.0.weight"] = filled(DType::F32, {2}, 1.0);
  m["attn_layers.layers.0.0.0.bias"] = filled(DType::F32, {2}, attention_bias);
  for (auto w : {"to_q", "to_k", "to_v"}) m[std::string("attn_layers.layers.0.1.") + w + ".weight"] = filled(DType::F32, {2, 2}, 0.1);
  m["attn_layers.layers.0.1.to_out.weight"] = filled(DType::F32, {2, 2}, 0.1);
  m["attn_layers.layers.1.0.0.weight"] = filled(DType::F32, {2}, 1.0);
  m["attn_layers.layers.1.0.0.bias"] = f32({2}, {0.5f, -1.0f});
  m["attn_layers.layers.1.1.ff.0.0.weight"] = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  m["attn_layers.layers.1.1.ff.0.0.bias"] = f32({3}, {0.25f, 0, -0.25f});
  m["attn_layers.layers.1.1.ff.2.weight"] = filled(DType::F32, {2, 3}, 0.1);
  m["attn_layers.final_norm.weight"] = filled(DType::F32, {2}, 1.0);
  m["attn_layers.final_norm.bias"] = f32({2}, {1.0f, 2.0f});
  m["to_logits.weight"] = f32({4, 2}, {1, 0, 0, 1, 1, 1, -1, 1});
  m["to_logits.bias"] = f32({4}, {0, 0, 0, 0.5f});
  return m;
}

std::vector<TensorInfo> infos_of(const TensorMap& m) {
  std::vector<TensorInfo> out;
  for (auto& [name, t] : m) out.push_back({name, t.dtype, t.shape});
  return out;
}

TensorMap run(ConversionPlan& p, const TensorMap& in, std::vector<std::pair<std::string, double>>* lost = nullptr) {
  TensorMap out;
  auto l = run_conversion(p, [&](const std::string& n) { return in.at(n); },
                          [&](const TensorInfo& i, const TensorData& d) { out[i.name] = d; });
  if (lost) *lost = l;
  return out;
}

}  // namespace

TEST_CASE("folds: a feed-forward's norm bias into its first bias, the final norm's into to_logits", "[unit]") {
  const TensorMap in = biased_decoder(0.0f);
  const json spec = decoder_spec();
  auto p = plan_conversion(release_history(), at("1.26.6"), at("2.31.10"), infos_of(in), facts_from_spec(spec));
  CHECK(p.folded.size() == 2);
  std::vector<std::pair<std::string, double>> lost;
  const TensorMap out = run(p, in, &lost);
  INFO(p.summary());
  CHECK(lost.empty());  // the attention norm's bias is zero: dropping it loses nothing
  CHECK(p.outcome == ConversionOutcome::LosslessWithArgs);
  // b + W beta: [0.25 + 0.5 - 2, 0 + 1.5 - 4, -0.25 + 2.5 - 6]
  CHECK(out.at("attn_layers.layers.1.1.ff.0.0.bias").to_doubles() == std::vector<double>{-1.25, -2.5, -3.75});
  // to_logits: [0 + 1, 0 + 2, 0 + 3, 0.5 + 1]
  CHECK(out.at("to_logits.bias").to_doubles() == std::vector<double>{1, 2, 3, 1.5});
  CHECK(out.count("attn_layers.layers.1.0.0.bias") == 0);
  CHECK(out.count("attn_layers.final_norm.bias") == 0);

  // The attention layer's norm bias has no fold: a non-zero one is lost.
  auto q = plan_conversion(release_history(), at("1.26.6"), at("2.31.10"), infos_of(in), facts_from_spec(spec));
  run(q, biased_decoder(0.5f), &lost);
  REQUIRE(lost.size() == 1);
  CHECK(lost[0].first == "attn_layers.layers.0.0.0.bias");
  CHECK(q.outcome == ConversionOutcome::Lossy);

  // Token shifting pads after the norm, where beta was never added: no fold.
  auto shifted = plan_conversion(release_history(), at("1.26.6"), at("2.31.10"), infos_of(in),
                                 facts_from_spec(decoder_spec({{"shift_tokens", 1}})));
  CHECK(shifted.folded.size() == 1);  // the final norm's only
  run(shifted, in, &lost);
  CHECK(lost.size() == 1);
  // Without the spec the fold is made, and the outcome says what it assumed.
  auto unknown = plan_conversion(release_history(), at("1.26.6"), at("2.31.10"), infos_of(in), {});
  CHECK(unknown.folded.size() == 2);
  CHECK(has(unknown.undecided, "!layers.shift_tokens"));

  // Before 1.42.8 B's to_logits has no bias: the final norm's bias has nowhere to go.
  auto old_b = plan_conversion(release_history(), at("1.26.6"), at("1.30.23"), infos_of(in), facts_from_spec(spec));
  CHECK(old_b.folded.size() == 1);
  CHECK(old_b.outcome == ConversionOutcome::Lossy);

  // Back down, the fold needs no inverse: A's bias is zero and the sum stays.
  const json b_spec = spec_with_args(spec, p.args);
  auto down = plan_conversion(release_history(), at("2.31.10"), at("1.26.6"), infos_of(out), facts_from_spec(b_spec));
  const TensorMap back = run(down, out);
  CHECK(back.at("attn_layers.layers.1.0.0.bias").to_doubles() == std::vector<double>{0, 0});
  CHECK(back.at("attn_layers.layers.1.1.ff.0.0.bias").to_doubles() == std::vector<double>{-1.25, -2.5, -3.75});
  CHECK(back.at("to_logits.bias").to_doubles() == std::vector<double>{1, 2, 3, 1.5});
}

TEST_CASE("adapters: what no fold reaches is kept for a module of B's model, when the caller accepts it", "[unit]") {
  const json spec = decoder_spec();
  const TensorMap in = biased_decoder(0.5f);
  auto plan_with = [&](const char* to, bool adapters) {
    return plan_conversion(release_history(), at("1.26.6"), at(to), infos_of(in), facts_from_spec(spec),
                           PlanOptions{adapters});
  };
  // Without adapters the attention norm's bias is lost.
  auto lossy = plan_with("2.31.10", false);
  std::vector<std::pair<std::string, double>> lost;
  run(lossy, in, &lost);
  CHECK(lossy.outcome == ConversionOutcome::Lossy);
  CHECK(lossy.adapters.empty());

  auto adapted = plan_with("2.31.10", true);
  REQUIRE(adapted.adapters.size() == 1);
  const AdaptedTensor& a = adapted.adapters[0];
  CHECK(a.name == "attn_layers.layers.0.0.0.bias");
  CHECK(a.module == "attn_layers.layers.0.0.0");
  CHECK(a.key == "attn_layers.layers.0.0.0.xcompat_output_bias");
  CHECK(a.kind == "output_bias");
  CHECK(a.change_id == "layernorm-torch-biasless");
  const TensorMap out = run(adapted, in, &lost);
  CHECK(lost.empty());
  CHECK(adapted.outcome == ConversionOutcome::Adapted);
  CHECK(std::string(conversion_outcome_name(adapted.outcome)) == "lossless with an adapter");
  CHECK(out.at(a.key).to_doubles() == std::vector<double>{0.5, 0.5});
  CHECK(adapted.to_json()["adapters"][0]["module"] == "attn_layers.layers.0.0.0");
  // The feed-forward's bias still folds: adapters only take what folds cannot.
  CHECK(adapted.folded.size() == 2);

  // A bias that holds what B implies needs no adapter: dropped after all.
  const TensorMap zero = biased_decoder(0.0f);
  auto unneeded = plan_with("2.31.10", true);
  REQUIRE(unneeded.outcome == ConversionOutcome::Adapted);
  const TensorMap plain = run(unneeded, zero, &lost);
  CHECK(unneeded.adapters.empty());
  CHECK(plain.count(a.key) == 0);
  CHECK(unneeded.outcome == ConversionOutcome::LosslessWithArgs);

  // Before 1.42.8 nothing in B takes the logits bias or the final norm's:
  // both are adapted on their modules (to_logits, the final norm).
  auto old_b = plan_with("1.30.23", true);
  std::set<std::string> modules;
  for (auto& t : old_b.adapters) modules.insert(t.module);
  CHECK(modules == std::set<std::string>{"attn_layers.layers.0.0.0", "attn_layers.final_norm", "to_logits"});
  run(old_b, in, &lost);
  CHECK(old_b.outcome == ConversionOutcome::Adapted);
}

TEST_CASE("every adapter of the history takes its tensor, and without it the tensor is lost", "[unit]") {
  // Each adapter alone: a model holding only its tensor (with the tensors
  // its change's drop reads), converted across the change with adapters
  // accepted. Deleting the adapter must lose the tensor: each one is proven
  // to be what carries it.
  int checked = 0;
  for (std::size_t ci = 0; ci < release_history().changes.size(); ++ci) {
    const HistoryChange& c = release_history().changes[ci];
    for (std::size_t ai = 0; ai < c.adapters.size(); ++ai) {
      const HistoryAdapter& a = c.adapters[ai];
      if (!a.carries_tensor()) continue;  // a behaviour: the next test case
      INFO(c.id << ": " << a.from.text());
      KeyPattern::Captures caps = {{"p", ""}, {"i", "0"}, {"k", "0"}, {"n", "0"}};
      const std::string bias = a.from.render(caps);
      std::vector<TensorInfo> t = {{"token_emb.emb.weight", DType::F32, {256, 32}},
                                   {"attn_layers.layers.0.1.to_q.weight", DType::F32, {256, 32}},
                                   {bias, DType::F32, {32}}};
      const Version before = *published_neighbours(c.at).first;
      // A change that matters for some arguments only: a spec built with them.
      ModelFacts facts;
      if (!c.when_arg.empty()) {
        json spec = decoder_spec();
        for (std::size_t at = 0; at < c.when_arg.size();) {
          const std::size_t end = std::min(c.when_arg.find(',', at), c.when_arg.size());
          const std::string cond = c.when_arg.substr(at, end - at);
          REQUIRE(cond.rfind("layers.", 0) == 0);  // what this test knows how to satisfy
          REQUIRE(cond.find_first_of("=!|") == std::string::npos);
          spec["layers"][cond.substr(7)] = true;
          at = end + 1;
        }
        facts = facts_from_spec(spec);
      }
      auto carried = plan_conversion(release_history(), ReleasePoint{before}, ReleasePoint{c.at}, t, facts, PlanOptions{true});
      INFO(carried.summary());
      REQUIRE(carried.adapters.size() == 1);
      CHECK(carried.adapters[0].name == bias);
      CHECK(carried.adapters[0].module == a.module.render(caps));

      ReleaseHistory without = release_history();
      without.changes[ci].adapters.erase(without.changes[ci].adapters.begin() + static_cast<std::ptrdiff_t>(ai));
      auto lost = plan_conversion(without, ReleasePoint{before}, ReleasePoint{c.at}, t, facts, PlanOptions{true});
      CHECK(lost.adapters.empty());
      CHECK(std::any_of(lost.dropped.begin(), lost.dropped.end(), [&](auto& d) { return d.name == bias && !d.unused; }));
      ++checked;
    }
  }
  CHECK(checked >= 7);
}

TEST_CASE("a behaviour adapter: 2.x rotates each attention's values as releases before 1.20.0 did", "[unit]") {
  const auto t = decoder("", "gamma", true);
  const json spec = decoder_spec({{"rotary_pos_emb", true}});
  auto with = [&](const char* to, bool adapters) {
    return plan_conversion(release_history(), at("1.14.0"), at(to), t, facts_from_spec(spec), PlanOptions{adapters});
  };
  auto lost_rotation = [](const ConversionPlan& p) {
    return std::any_of(p.lost_behaviour.begin(), p.lost_behaviour.end(),
                       [](auto& l) { return l.rfind("rotary-values-unrotated", 0) == 0; });
  };
  auto rotating = [](const ConversionPlan& p) {
    std::set<std::string> m;
    for (auto& a : p.adapters)
      if (a.kind == "rotate_values") {
        CHECK(a.key.empty());  // no tensor
        CHECK(a.change_id == "rotary-values-unrotated");
        m.insert(a.module);
      }
    return m;
  };
  const auto plain = with("2.31.10", false);
  CHECK(lost_rotation(plain));
  CHECK(rotating(plain).empty());
  const auto adapted = with("2.31.10", true);
  CHECK_FALSE(lost_rotation(adapted));
  CHECK(rotating(adapted) == std::set<std::string>{"attn_layers.layers.0.1", "attn_layers.layers.2.1"});
  // Before 2.0.0 B's own argument rotates them: no adapter.
  const auto by_args = with("1.31.4", true);
  CHECK(rotating(by_args).empty());
  CHECK(by_args.args["layers"]["attn_rotary_embed_values"] == true);
  // Deleting the adapter from the history loses the rotation again.
  ReleaseHistory without = release_history();
  for (auto& c : without.changes)
    if (c.id == "rotary-values-unrotated") c.adapters.clear();
  CHECK(lost_rotation(plan_conversion(without, at("1.14.0"), at("2.31.10"), t, facts_from_spec(spec), PlanOptions{true})));
}

TEST_CASE("an adapter that holds only for some models: uniform padded queries, not with memory key / values", "[unit]") {
  const auto t = decoder();
  auto encoder = [](json layers) {
    json s = decoder_spec(std::move(layers));
    s["model"] = "encoder";
    s["mask"] = "padding";
    return s;
  };
  auto adapted = [&](const json& spec) {
    return plan_conversion(release_history(), at("1.2.4"), at("1.4.0"), t, facts_from_spec(spec), PlanOptions{true});
  };
  auto uniform = [](const ConversionPlan& p) {
    int n = 0;
    for (auto& a : p.adapters) n += a.kind == "uniform_padded_queries";
    return n;
  };
  const auto plain = adapted(encoder(json::object()));
  CHECK(uniform(plain) == 2);
  CHECK_FALSE(has(plain.lost_behaviour, "padding-mask-keys-only"));
  // The older releases attended to the memory alone at padded queries: no
  // adapter restores that, and the loss is named.
  const auto memory = adapted(encoder({{"attn_num_mem_kv", 4}}));
  CHECK(uniform(memory) == 0);
  CHECK(has(memory.lost_behaviour, "padding-mask-keys-only"));
  CHECK(memory.outcome == ConversionOutcome::Lossy);
  // An adapter's when_arg is read and written back.
  test::TempDir dir;
  const auto h = load_text(dir, "[[change]]\nid = \"x\"\nkind = \"behaviour\"\nat = \"1.0.0\"\nreason = \"r\"\n"
                                "adapters = [{ kind = \"identity\", from = \"a.weight\", module = \"a\", when_arg = \"layers.x\" }]\n");
  CHECK(h.changes.at(0).adapters.at(0).when_arg == "layers.x");
  CHECK(h.changes.at(0).adapters.at(0).to_json()["when_arg"] == "layers.x");
}

TEST_CASE("adapter.py: the template with the conversion's adapters written in", "[unit]") {
  const std::string tmpl = "import torch\nADAPTERS = []\nFROM, TO = \"\", \"\"\ndef adapt(model): pass\n";
  const json adapters = json::array({{{"module", "model.attn_layers.layers.0.0.0"}, {"kind", "output_bias"},
                                      {"shape", {32}}, {"change", "layernorm-torch-biasless"}}});
  const std::string text = adapter_file_text(tmpl, adapters, "0.28.4", "2.31.10", "xcompat convert m.pt");
  CHECK_THAT(text, Catch::Contains("ADAPTERS = [\n    (\"model.attn_layers.layers.0.0.0\", \"output_bias\", (32, ), "
                                   "\"layernorm-torch-biasless\"),\n]\n"));
  CHECK_THAT(text, Catch::Contains("FROM, TO = \"0.28.4\", \"2.31.10\"\n"));
  CHECK_THAT(text, Catch::StartsWith("# Written by `xcompat convert m.pt`"));
  CHECK_THAT(text, Catch::Contains("def adapt(model): pass"));
  CHECK_THROWS_WITH(adapter_file_text("import torch\n", adapters, "a", "b", "c"), Catch::Contains("no line starting"));
  // The checkout's template is the one the Python package runs.
  CHECK(test::slurp(project_root() / "harness/python/xcompat_adapter.py").find("\nADAPTERS = []") != std::string::npos);
}

TEST_CASE("a fold's product is summed in double and rounded once to the bias's dtype", "[unit]") {
  TensorData b = f32({2}, {1.0f, 0.0f});
  add_product(b, f32({2, 3}, {1e8f, 1.0f, -1e8f, 0.1f, 0.2f, 0.3f}), f32({3}, {1, 1, 1}));
  CHECK(b.to_doubles()[0] == 2.0);  // float32 accumulation would lose the 1
  CHECK(b.to_doubles()[1] == static_cast<double>(static_cast<float>(double(0.1f) + double(0.2f) + double(0.3f))));
  CHECK_THROWS_WITH(add_product(b, f32({3, 2}, {0, 0, 0, 0, 0, 0}), f32({2}, {0, 0})), Catch::Contains("do not fit"));
}

TEST_CASE("rotary rows: halves become pairs within each head, and back", "[unit]") {
  // 2 heads of 4 rows, rotary over the first 4 rows of each head, 1 column.
  const TensorData t = f32({8, 1}, {0, 1, 2, 3, 4, 5, 6, 7});
  TensorStep s;
  s.kind = TensorStep::PermuteRows;
  s.heads = 2;
  s.rot = 4;
  TensorData p = t;
  apply_step(p, s);
  // Head 0: halves (0 1 | 2 3) -> pairs (0 2 1 3); head 1 likewise.
  CHECK(p.to_doubles() == std::vector<double>{0, 2, 1, 3, 4, 6, 5, 7});
  s.inverse = true;
  apply_step(p, s);
  CHECK(p.to_doubles() == t.to_doubles());
  // Columns: the same permutation on a projection's inputs (to_out).
  TensorData c = f32({1, 8}, {0, 1, 2, 3, 4, 5, 6, 7});
  TensorStep cs = s;
  cs.inverse = false;
  cs.axis = 1;
  apply_step(c, cs);
  CHECK(c.to_doubles() == std::vector<double>{0, 2, 1, 3, 4, 6, 5, 7});
}

TEST_CASE("rotary rows under grouped-query attention: keys are permuted over their own, fewer heads", "[unit]") {
  // 4 query heads of 64, 2 key / value heads (attn_kv_heads = 2): to_k holds
  // 128 rows, 2 heads. Permuting it as 4 heads of 32 would pair the wrong rows.
  const std::vector<TensorInfo> t = {{"token_emb.emb.weight", DType::F32, {256, 32}},
                                     {"attn_layers.layers.0.1.to_q.weight", DType::F32, {256, 32}},
                                     {"attn_layers.layers.0.1.to_k.weight", DType::F32, {128, 32}},
                                     {"attn_layers.rotary_pos_emb.inv_freq", DType::F32, {16}}};
  const json spec = decoder_spec({{"rotary_pos_emb", true}, {"attn_kv_heads", 2}});
  auto p = plan_conversion(release_history(), at("1.30.0"), at("1.30.1"), t, facts_from_spec(spec));
  INFO(p.summary());
  auto heads_of = [&](const std::string& name) -> int64_t {
    for (auto& o : p.outputs)
      if (o.info.name == name)
        for (auto& step : o.steps)
          if (step.kind == TensorStep::PermuteRows) return step.heads;
    return -1;
  };
  CHECK(heads_of("attn_layers.layers.0.1.to_q.weight") == 4);
  CHECK(heads_of("attn_layers.layers.0.1.to_k.weight") == 2);
}

TEST_CASE("the model's width (dim) is read from its attention layers, for every kind", "[unit]") {
  const json scalenorm = decoder_spec({{"use_scalenorm", true}});
  auto scale_of = [](const ConversionPlan& p, const std::string& name) {
    for (auto& o : p.outputs)
      if (o.info.name == name && o.steps.size() == 1 && o.steps[0].kind == TensorStep::Scale) return o.steps[0].value;
    return 0.0;
  };
  const TensorInfo g{"attn_layers.layers.0.0.0.g", DType::F32, {1}};
  const TensorInfo q{"attn_layers.layers.0.1.to_q.weight", DType::F32, {256, 32}};
  // A continuous or bare-layers model: no token embedding, the layers say 32.
  CHECK(scale_of(plan("0.33.0", "0.33.1", {g, q}, scalenorm), g.name) == Approx(std::sqrt(32.0)));
  // An embedding narrower than the model (emb_dim 16, dim 32): the norms are dim wide.
  const TensorInfo narrow_emb{"token_emb.emb.weight", DType::F32, {256, 16}};
  CHECK(scale_of(plan("0.33.0", "0.33.1", {narrow_emb, g, q}, scalenorm), g.name) == Approx(std::sqrt(32.0)));
  // An XTransformer's two models each by their own layers.
  const TensorInfo eg{"encoder.attn_layers.layers.0.0.0.g", DType::F32, {1}};
  const TensorInfo eq{"encoder.attn_layers.layers.0.1.to_q.weight", DType::F32, {256, 64}};
  CHECK(scale_of(plan("0.33.0", "0.33.1", {eg, eq, g, q}, scalenorm), eg.name) == Approx(8.0));
  // Nothing to read it from: refused, naming the change.
  const ConversionPlan none = plan("0.33.0", "0.33.1", {g}, scalenorm);
  CHECK(none.outcome == ConversionOutcome::Refused);
  CHECK_THAT(none.refused, Catch::Contains("scalenorm-divides-by-norm") && Catch::Contains("width"));
}

TEST_CASE("trim keeps the first entries along an axis, and pad appends the fill", "[unit]") {
  // [2, 3, 2]: two blocks of three positions of two features.
  const TensorData t = f32({2, 3, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  TensorStep trim;
  trim.kind = TensorStep::Trim;
  trim.axis = 1;
  trim.count = 1;
  TensorData p = t;
  apply_step(p, trim);
  CHECK(p.shape == std::vector<int64_t>{2, 2, 2});
  CHECK(p.to_doubles() == std::vector<double>{0, 1, 2, 3, 6, 7, 8, 9});
  TensorStep pad = trim;
  pad.kind = TensorStep::Pad;
  pad.value = -1;
  apply_step(p, pad);
  CHECK(p.shape == std::vector<int64_t>{2, 3, 2});
  CHECK(p.to_doubles() == std::vector<double>{0, 1, 2, 3, -1, -1, 6, 7, 8, 9, -1, -1});
  // The last axis: one feature fewer per position.
  TensorData last = t;
  trim.axis = 2;
  apply_step(last, trim);
  CHECK(last.to_doubles() == std::vector<double>{0, 2, 4, 6, 8, 10});
}

TEST_CASE("repeat: a scale shared by the heads is held once per head, and the first head's comes back", "[unit]") {
  TensorStep tile;
  tile.kind = TensorStep::Tile;
  tile.shape = {3, 1, 2};
  TensorData t = f32({2}, {0.5f, -2.0f});
  apply_step(t, tile);
  CHECK(t.shape == std::vector<int64_t>{3, 1, 2});
  CHECK(t.to_doubles() == std::vector<double>{0.5, -2, 0.5, -2, 0.5, -2});
  TensorStep first;
  first.kind = TensorStep::FirstCopy;
  first.shape = {2};
  TensorData per_head = f32({3, 1, 2}, {1, 2, 3, 4, 5, 6});
  apply_step(per_head, first);
  CHECK(per_head.shape == std::vector<int64_t>{2});
  CHECK(per_head.to_doubles() == std::vector<double>{1, 2});
  TensorStep wrong = tile;
  wrong.shape = {3, 1, 3};  // 9 is no multiple of 2
  TensorData v = f32({2}, {1, 2});
  CHECK_THROWS_WITH(apply_step(v, wrong), Catch::Contains("cannot tile"));

  // qk-norm-scales-per-head (1.19.1): [dim_head] -> [heads, 1, dim_head].
  const json spec = decoder_spec({{"attn_qk_norm", true}, {"attn_qk_norm_dim_scale", true}, {"attn_dim_head", 8}});
  auto scales = [](std::vector<int64_t> shape) {
    auto t = decoder();
    for (int i : {0, 2})
      for (auto w : {"q", "k"})
        t.push_back({"attn_layers.layers." + std::to_string(i) + ".1.qk_norm_" + w + "_scale", DType::F32, shape});
    return t;
  };
  const auto up = plan("1.19.0", "1.19.1", scales({8}), spec);
  CHECK(crosses(up, "qk-norm-scales-per-head"));
  CHECK_FALSE(has(up.lost_behaviour, "qk-norm-scales-per-head"));  // exact: nothing is lost
  int tiled = 0;
  for (auto& o : up.outputs)
    if (o.info.name.find("qk_norm_") != std::string::npos) {
      CHECK(o.info.shape == std::vector<int64_t>{4, 1, 8});
      REQUIRE(o.steps.size() == 1);
      CHECK(o.steps[0].kind == TensorStep::Tile);
      ++tiled;
    }
  CHECK(tiled == 4);
  const auto down = plan("1.19.1", "1.19.0", scales({4, 1, 8}), spec);
  CHECK(has(down.lost_behaviour, "qk-norm-scales-per-head"));  // the first head's only
  for (auto& o : down.outputs)
    if (o.info.name.find("qk_norm_") != std::string::npos) CHECK(o.info.shape == std::vector<int64_t>{8});
  // A scale of another width than the spec's heads says is refused, not tiled wrong.
  CHECK(plan("1.19.0", "1.19.1", scales({6}), spec).outcome == ConversionOutcome::Refused);
}

TEST_CASE("convert's input checks: published releases, the layout of A, a spec that fits", "[unit]") {
  CHECK_NOTHROW(check_release(release_history(), v("1.31.4"), "--to"));
  CHECK_THROWS_WITH(check_release(release_history(), v("1.31.99"), "--to"), Catch::Contains("no such release"));
  CHECK_THROWS_WITH(check_release(release_history(), v("0.20.0"), "--from"), Catch::Contains("covers 0.28.4 to 2.31.10"));
  // Newer names claimed by an older release come back renamed; older names claimed by a newer one are stale.
  const auto t = decoder();
  CHECK(layout_mismatches(release_history(), at("2.31.10"), t, facts_from_spec(decoder_spec())).empty());
  CHECK_FALSE(layout_mismatches(release_history(), at("0.28.4"), t, facts_from_spec(decoder_spec())).empty());
  auto old = t;
  old[2].name = "attn_layers.layers.0.0.0.weight";
  CHECK_THAT(layout_mismatches(release_history(), at("2.31.10"), old, facts_from_spec(decoder_spec())).front(),
             Catch::Contains("named as before"));
  CHECK(spec_misfits(decoder_spec(), t).empty());
  CHECK_THAT(spec_misfits(decoder_spec({{"dim", 64}}), t).front(), Catch::Contains("dim 64 in the spec"));
  CHECK_THAT(spec_misfits(decoder_spec({{"depth", 3}}), t).front(), Catch::Contains("depth 3 in the spec makes 6 layers"));
  CHECK_THAT(spec_misfits(decoder_spec({{"heads", 8}}), t).front(), Catch::Contains("8 heads of 64"));
}

TEST_CASE("every entry of the release history has its effect on a conversion that crosses it", "[unit]") {
  const auto effects = test::entry_effects();
  std::set<std::string> covered;
  for (auto& e : effects) {
    INFO(e.entry);
    REQUIRE(release_history().find(e.entry) != nullptr);  // the table names real entries
    CHECK(e.check() == "");
    covered.insert(e.entry);
  }
  // A new entry comes with its effect here.
  for (auto& c : release_history().changes) {
    INFO(c.id << " has no effect check in tests/conversion_effects.hpp");
    CHECK(covered.count(c.id) == 1);
  }
}

TEST_CASE("the port's gap list is empty: every boundary of the release history is an exact release", "[unit]") {
  // An unbisected boundary (`after`) makes the port answer UNSUPPORTED for
  // releases inside it and the converter refuse them; `xcompat bisect` finds
  // the release. None is left.
  const ReleaseHistory& h = release_history();
  for (auto& c : h.changes) {
    INFO(c.id << " " << c.boundary());
    CHECK(c.exact());
  }
}

TEST_CASE("lossless is qualified when an argument condition cannot be decided without the spec", "[unit]") {
  // entmax-removed (1.0.4) matters only for a model built with attn_use_entmax15.
  const std::vector<TensorInfo> t = decoder();
  const ConversionPlan blind = plan_conversion(release_history(), at("1.0.3"), at("1.0.4"), t, ModelFacts{});
  INFO(blind.summary());
  CHECK(std::find_if(blind.undecided.begin(), blind.undecided.end(),
                     [](auto& u) { return u.find("entmax-removed") != std::string::npos; }) != blind.undecided.end());
  CHECK(blind.outcome != ConversionOutcome::Lossy);  // a float32 model that crosses attention-cast-back loses nothing
  CHECK_THAT(blind.outcome_line(), Catch::Contains(", unless the model was built with"));
  // With the spec it is decided: nothing undecided, no qualification.
  const ConversionPlan known = plan("1.0.3", "1.0.4", t, decoder_spec());
  CHECK(known.undecided.empty());
  CHECK(known.outcome_line().find("unless") == std::string::npos);
}

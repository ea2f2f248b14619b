// Where the models sit in a container (harness/convert/locate.hpp), and the
// stretches of behaviour `check` answers for when the saving release is not
// known. The names are those real files hold (the release-made corpus of
// tests/release/test_user_checkpoints.cpp checks the same on real files);
// here each rule is shown to be able to fail.
#include <algorithm>

#include "catch.hpp"
#include "harness/check/check_file.hpp"
#include "harness/convert/history.hpp"
#include "harness/convert/locate.hpp"
#include "harness/core/error.hpp"

using namespace xcompat;
using json = nlohmann::json;

namespace {

// A two-layer Decoder's tensors as 2.x names them, under `p` (+ `layers` for a bare one).
std::vector<TensorInfo> wrapper(const std::string& p, bool cross = false) {
  std::vector<TensorInfo> t = {{p + "token_emb.emb.weight", DType::F32, {64, 32}},
                               {p + "pos_emb.emb.weight", DType::F32, {16, 32}}};
  int i = 0;
  for (int layer = 0; layer < 2; ++layer) {
    for (int a = 0; a < (cross ? 2 : 1); ++a, ++i) {
      t.push_back({p + "attn_layers.layers." + std::to_string(i) + ".0.0.gamma", DType::F32, {32}});
      t.push_back({p + "attn_layers.layers." + std::to_string(i) + ".1.to_q.weight", DType::F32, {32, 32}});
    }
    t.push_back({p + "attn_layers.layers." + std::to_string(i) + ".1.ff.0.0.weight", DType::F32, {128, 32}});
    ++i;
  }
  t.push_back({p + "attn_layers.final_norm.gamma", DType::F32, {32}});
  return t;
}

std::vector<TensorInfo> bare_layers(const std::string& p) {
  std::vector<TensorInfo> out;
  for (auto& t : wrapper("")) {
    if (t.name.rfind("attn_layers.", 0) != 0) continue;
    out.push_back({p + t.name.substr(12), t.dtype, t.shape});
  }
  return out;
}

std::vector<TensorInfo> join(std::vector<std::vector<TensorInfo>> parts) {
  std::vector<TensorInfo> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST_CASE("locate: a flat state dict is one TransformerWrapper at the top level, nothing else", "[unit]") {
  const Located l = locate_models(wrapper(""));
  REQUIRE(l.models.size() == 1);
  CHECK(l.models[0].kind == ModelKind::TransformerWrapper);
  CHECK(l.models[0].prefix.empty());
  CHECK(l.others.empty());
  CHECK(l.models[0].tensors.size() == wrapper("").size());
}

TEST_CASE("locate: the usual containers and wrappers, by prefix, the rest passed by", "[unit]") {
  const std::vector<TensorInfo> optimizer = {{"optimizer.state.0.exp_avg", DType::F32, {64, 32}},
                                             {"optimizer.state.0.step", DType::F32, {}}};
  for (const std::string p : {"net.", "model.net.", "state_dict.model.net.", "module.", "_orig_mod.", "ema.ema_model."}) {
    INFO(p);
    const Located l = locate_models(join({wrapper(p), optimizer}));
    REQUIRE(l.models.size() == 1);
    CHECK(l.models[0].prefix == p);
    CHECK(l.models[0].file_name_of.at("token_emb.emb.weight") == p + "token_emb.emb.weight");
    CHECK(l.models[0].in_file("attn_layers.layers.0.0.0.weight") == p + "attn_layers.layers.0.0.0.weight");
    CHECK(l.others.size() == 2);
  }
  // The model and its EMA copy: two models, picked by --key.
  const Located two = locate_models(join({wrapper("model."), wrapper("ema.ema_model.")}));
  REQUIRE(two.models.size() == 2);
  CHECK(models_under(two, "").size() == 2);
  REQUIRE(models_under(two, "ema").size() == 1);
  CHECK(models_under(two, "ema")[0]->prefix == "ema.ema_model.");
  CHECK_THROWS_AS(models_under(two, "optimizer"), Error);
}

TEST_CASE("locate: XTransformer only when both sides are x-transformers models, the decoder cross-attending",
          "[unit]") {
  const Located x = locate_models(join({wrapper("encoder."), wrapper("decoder.net.", true)}));
  REQUIRE(x.models.size() == 1);
  CHECK(x.models[0].kind == ModelKind::XTransformer);
  CHECK(x.models[0].file_name_of.count("decoder.net.token_emb.emb.weight") == 1);

  // An application's own `encoder` (a GRU) beside an x-transformers decoder is not an XTransformer.
  const std::vector<TensorInfo> gru = {{"encoder.weight_ih_l0", DType::F32, {96, 32}},
                                       {"encoder.weight_hh_l0", DType::F32, {96, 32}}};
  const Located app = locate_models(join({gru, wrapper("decoder.net.", true)}));
  REQUIRE(app.models.size() == 1);
  CHECK(app.models[0].kind == ModelKind::TransformerWrapper);
  CHECK(app.models[0].prefix == "decoder.net.");
  CHECK(app.others.size() == 2);
  // Two TransformerWrappers named encoder / decoder.net, the decoder without cross-attention: two models.
  const Located pair = locate_models(join({wrapper("encoder."), wrapper("decoder.net.")}));
  CHECK(pair.models.size() == 2);
}

TEST_CASE("locate: bare attention layers among an application's own, canonically under attn_layers.", "[unit]") {
  const std::vector<TensorInfo> own = {{"embed.weight", DType::F32, {64, 32}},
                                       {"head.weight", DType::F32, {64, 32}},
                                       {"layers.0.weight", DType::F32, {32, 32}}};  // the app's own ModuleList
  const Located l = locate_models(join({own, bare_layers("decoder.")}));
  REQUIRE(l.models.size() == 1);
  const LocatedModel& m = l.models[0];
  CHECK(m.kind == ModelKind::AttentionLayers);
  CHECK(m.prefix == "decoder.");
  CHECK(m.file_name_of.at("attn_layers.layers.0.1.to_q.weight") == "decoder.layers.0.1.to_q.weight");
  CHECK(m.in_file("attn_layers.final_norm.weight") == "decoder.final_norm.weight");
  CHECK_THROWS_AS(m.in_file("token_emb.emb.weight"), Error);
  CHECK(l.others.size() == 3);

  // ContinuousTransformerWrapper and ViTransformerWrapper by their own tensors.
  auto continuous = join({bare_layers("c.attn_layers."), {{"c.project_in.weight", DType::F32, {32, 8}}}});
  auto vit = join({bare_layers("v.attn_layers."),
                   {{"v.pos_embedding", DType::F32, {1, 16, 32}}, {"v.patch_to_embedding.weight", DType::F32, {32, 48}}}});
  const Located cv = locate_models(join({continuous, vit}));
  REQUIRE(cv.models.size() == 2);
  CHECK(cv.models[0].kind == ModelKind::ContinuousTransformerWrapper);
  CHECK(cv.models[1].kind == ModelKind::ViTransformerWrapper);
}

TEST_CASE("check: the stretches of a range split at every change that concerns the model", "[unit]") {
  const ReleaseHistory& h = release_history();
  const ReleaseRange range{*Version::parse("1.31.0"), *Version::parse("2.31.10"), ""};
  const json spec = {{"model", "decoder"}, {"layers", {{"dim", 32}, {"depth", 2}}}, {"wrapper", {{"num_tokens", 64}}}};
  const auto stretches = behaviour_stretches(h, {range}, wrapper(""), spec);
  REQUIRE(stretches.size() > 1);
  CHECK(stretches.front().first == range.first);
  CHECK(stretches.back().second == range.last);
  // 1.31.1 and 2.31.10 compute differently with this model (norm-unit-offset at 1.31.3): never one stretch.
  auto stretch_of = [&](const std::string& v) {
    const auto ver = *Version::parse(v);
    for (std::size_t i = 0; i < stretches.size(); ++i)
      if (stretches[i].first <= ver && ver <= stretches[i].second) return i;
    return stretches.size();
  };
  CHECK(stretch_of("1.31.1") != stretch_of("2.31.10"));
  CHECK(stretch_of("1.31.1") < stretches.size());
  // Consecutive, without gaps or overlaps.
  for (std::size_t i = 1; i < stretches.size(); ++i) CHECK(stretches[i - 1].second < stretches[i].first);
  // A change that concerns only another argument does not split: with rounding-only changes
  // counted for bfloat16, a bfloat16 model has at least as many stretches.
  json bf = spec;
  bf["dtype"] = "bfloat16";
  CHECK(behaviour_stretches(h, {range}, wrapper(""), bf).size() >= stretches.size());
}

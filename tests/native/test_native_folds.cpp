// Folds (matrix/history.toml, op "fold") proven on real checkpoints: a
// LayerNorm bias that B's bias-less LayerNorm has no place for is absorbed
// into the bias of the linear layer that reads the norm, and B computes what
// A computed. The release made the checkpoint; the port, which reproduces
// each release on the catalogue, computes A's outputs on it (with the
// attention layers' norm biases zeroed, which no fold can carry) and B's on
// the converted tensors. Without the folds the same conversion is lossy and
// B's outputs drift: the folds are what carries it.
#include <set>

#include "harness/convert/conversion.hpp"
#include "harness/convert/tensor_math.hpp"
#include "native_test_support.hpp"

using namespace native_test;

namespace {

TensorMap convert_with(const ReleaseHistory& h, const TensorMap& in, const ReleasePoint& from, const ReleasePoint& to,
                       const json& spec, ConversionPlan& plan) {
  std::vector<TensorInfo> infos;
  for (auto& [name, t] : in) infos.push_back({name, t.dtype, t.shape});
  plan = plan_conversion(h, from, to, infos, facts_from_spec(spec));
  TensorMap out;
  if (plan.outcome == ConversionOutcome::Refused) return out;
  run_conversion(plan, [&](const std::string& n) { return in.at(n); },
                 [&](const TensorInfo& i, const TensorData& d) { out[i.name] = d; });
  return out;
}

TensorData port_logits(const json& spec, const std::string& release, const json& meta, const TensorMap& tensors,
                       const TensorMap& inputs) {
  json m = meta;
  m["release"] = release;
  native::NativePort port(spec, native::release_context_from_meta(m));
  const auto report = port.load(tensors);
  REQUIRE(report.empty());
  return port.forward(inputs);
}

// The checkpoint as a user of A could have trained it, minus what no fold
// carries: the pre-norm biases of the attention layers (a layer without a
// feed-forward's keys) and of a norm after the embedding.
TensorMap zero_unfoldable_biases(const TensorMap& in) {
  std::set<std::string> ff_layers;
  for (auto& [name, _] : in)
    if (auto at = name.find(".1.ff."); at != std::string::npos) ff_layers.insert(name.substr(0, at));
    else if (auto net = name.find(".1.net."); net != std::string::npos) ff_layers.insert(name.substr(0, net));
  TensorMap out = in;
  for (auto& [name, t] : out) {
    const auto at = name.find(".0.0.bias");
    const bool pre_norm_bias = at != std::string::npos && at + 9 == name.size();
    if ((pre_norm_bias && !ff_layers.count(name.substr(0, at))) || name == "post_emb_norm.bias")
      t = filled(t.dtype, t.shape, 0.0);
  }
  return out;
}

ReleaseHistory without_folds(ReleaseHistory h) {
  for (auto& c : h.changes) std::erase_if(c.ops, [](const HistoryOp& op) { return op.kind == OpKind::Fold; });
  return h;
}

}  // namespace

TEST_CASE("folds carry the feed-forward's and the final norm's LayerNorm biases into B exactly", "[native]") {
  int proven = 0;
  double worst_nmse = 0;
  for (const char* spec_name : {"decoder-absolute", "decoder-glu", "decoder-alibi", "decoder-t5-relpos"}) {
    for (const auto& f : catalogue_fixtures_of(spec_name)) {
      if (!f.ready() || !(*Version::parse(f.release) < *Version::parse("1.27.0"))) continue;
      const json meta = read_json_file(f.dir + "/meta.json");
      const json spec = meta.at("spec");
      const TensorMap inputs = read_safetensors(f.dir + "/inputs.safetensors");
      const TensorMap a = zero_unfoldable_biases(read_safetensors(f.dir + "/model.safetensors"));
      const ReleasePoint from = release_point(*Version::parse(f.release), meta.at("versions").value("torch", ""));
      const TensorData reference = port_logits(spec, f.release, meta, a, inputs);
      for (const char* target : {"1.44.8", "2.31.10"}) {
        INFO(spec_name << " " << f.release << " -> " << target);
        const ReleasePoint to{*Version::parse(target)};
        ConversionPlan plan;
        const TensorMap b = convert_with(release_history(), a, from, to, spec, plan);
        INFO(plan.summary());
        // Every feed-forward's norm bias and the final norm's are folded, and nothing else is lost.
        CHECK(plan.folded.size() >= 2);
        REQUIRE(plan.outcome == ConversionOutcome::LosslessWithArgs);
        const json b_spec = spec_with_args(spec, plan.args);
        const auto judged = compare_and_judge(port_logits(b_spec, target, meta, b, inputs), reference,
                                              float32_policy(spec_name));
        INFO((judged.metrics ? "nmse " + std::to_string(judged.metrics->nmse) + ", max_abs " + std::to_string(judged.metrics->max_abs) : judged.reason));
        CHECK(passes(judged.verdict));
        if (judged.metrics) worst_nmse = std::max(worst_nmse, judged.metrics->nmse);

        // Ablated: the same history without its folds drops the biases, says
        // so, and B computes something else.
        const ScopedReleaseHistory ablated(without_folds(release_history()));
        ConversionPlan unfolded;
        const TensorMap lost = convert_with(release_history(), a, from, to, spec, unfolded);
        CHECK(unfolded.folded.empty());
        const auto measured = measure_dropped(unfolded, [&](const std::string& n) { return a.at(n); });
        CHECK(unfolded.outcome == ConversionOutcome::Lossy);
        CHECK(measured.size() >= 2);
        const auto drifted = compare_and_judge(port_logits(b_spec, target, meta, lost, inputs), reference,
                                               float32_policy(spec_name));
        CHECK_FALSE(passes(drifted.verdict));
        ++proven;
      }
    }
  }
  // 0.28.4, 1.0.4, 1.14.0 and 1.26.6 (the era releases before 1.27.0), to two targets, four specs.
  CHECK(proven >= 24);
  // Within float32 rounding: what the port reads as CLOSE, and no more.
  CHECK(worst_nmse < 1e-10);
  WARN(proven << " folded conversions reproduced A; worst nmse " << worst_nmse);
}

// The port against outputs computed by real releases, one catalogue spec
// (feature) at a time, over releases from every era the port's switches
// separate. A pair the release itself cannot build (its fixture is
// UNSUPPORTED) is skipped; every other pair must be IDENTICAL or CLOSE.
#include "native_test_support.hpp"

using namespace native_test;

namespace {

// Checks every era release's fixture of `spec`; returns how many were checked.
int check_spec_across_eras(const std::string& spec, const std::string& checkpoint = "model.safetensors") {
  int checked = 0;
  for (const auto& f : catalogue_fixtures_of(spec)) {
    if (!f.ready()) continue;
    const PortCell c = evaluate_with_port(f.dir, checkpoint);
    INFO(describe(f, c));
    CHECK(passes(c.verdict));
    ++checked;
  }
  return checked;
}

}  // namespace

TEST_CASE("absolute positions, LayerNorm and pre-norm match every era", "[native]") {
  CHECK(check_spec_across_eras("decoder-absolute") == static_cast<int>(era_releases().size()));
}

TEST_CASE("the torch.save checkpoint loads as the safetensors one does", "[native]") {
  CHECK(check_spec_across_eras("decoder-absolute", "model.pt") == static_cast<int>(era_releases().size()));
}

TEST_CASE("rotary embeddings match across the 1.20.0 and 1.30.1 changes", "[native]") {
  CHECK(check_spec_across_eras("decoder-rotary") == static_cast<int>(era_releases().size()));
}

TEST_CASE("ALiBi positional bias matches every era", "[native]") {
  CHECK(check_spec_across_eras("decoder-alibi") == static_cast<int>(era_releases().size()));
}

TEST_CASE("T5 relative position bias matches every era", "[native]") {
  CHECK(check_spec_across_eras("decoder-t5-relpos") == static_cast<int>(era_releases().size()));
}

TEST_CASE("GLU feed-forward matches every era", "[native]") {
  CHECK(check_spec_across_eras("decoder-glu") == static_cast<int>(era_releases().size()));
}

TEST_CASE("RMSNorm matches across the unit-offset change of 1.31.3", "[native]") {
  CHECK(check_spec_across_eras("decoder-rmsnorm") == static_cast<int>(era_releases().size()));
}

TEST_CASE("ScaleNorm matches across its changes at 0.33.1 and 1.27.20", "[native]") {
  CHECK(check_spec_across_eras("decoder-scalenorm") == static_cast<int>(era_releases().size()));
}

TEST_CASE("post-norm matches across the final-norm move of 1.15.0", "[native]") {
  CHECK(check_spec_across_eras("decoder-postnorm") == static_cast<int>(era_releases().size()));
}

TEST_CASE("memory key / values and memory tokens match every era", "[native]") {
  CHECK(check_spec_across_eras("decoder-memory-kv") == static_cast<int>(era_releases().size()));
}

TEST_CASE("tied embeddings match wherever the release can run them", "[native]") {
  // tie_embedding is broken in the releases themselves from 0.24.0 to 1.16.7
  int checked = check_spec_across_eras("decoder-tied");
  CHECK(checked >= 6);
  for (const auto& f : catalogue_fixtures_of("decoder-tied"))
    if (f.release == "0.28.4" || f.release == "1.14.0") CHECK_FALSE(f.ready());
}

TEST_CASE("an encoder with a padding mask matches across the masking change", "[native]") {
  CHECK(check_spec_across_eras("encoder-padmask") == static_cast<int>(era_releases().size()));
}

TEST_CASE("the XTransformer encoder-decoder with cross-attention matches every era", "[native]") {
  CHECK(check_spec_across_eras("xtransformer-cross") == static_cast<int>(era_releases().size()));
}

TEST_CASE("value residual matches from the releases that have it", "[native]") {
  CHECK(check_spec_across_eras("decoder-value-residual") >= 1);  // 1.44.8, 2.31.10 among the era releases
}

TEST_CASE("the wide decoder (rotary + GLU + RMSNorm) matches every era", "[native]") {
  CHECK(check_spec_across_eras("decoder-wide") == static_cast<int>(era_releases().size()));
}

TEST_CASE("every catalogue fixture of the era releases is reproduced", "[native]") {
  int checked = 0, unsupported_by_release = 0;
  for (const auto& f : catalogue_fixtures()) {
    if (!f.ready()) {
      ++unsupported_by_release;
      continue;
    }
    const PortCell c = evaluate_with_port(f.dir);
    INFO(describe(f, c));
    CHECK(passes(c.verdict));
    ++checked;
  }
  CHECK(checked > 100);
  CHECK(unsupported_by_release > 0);  // tie_embedding and value residual in old releases
}

TEST_CASE("the trace names every layer's activations and ends in the logits", "[native]") {
  const auto refs = catalogue_fixtures_of("xtransformer-cross");
  REQUIRE_FALSE(refs.empty());
  const FixtureRef& f = refs.back();
  REQUIRE(f.ready());
  const json meta = read_json_file(f.dir + "/meta.json");
  native::NativePort port(meta.at("spec"), native::release_context_from_meta(meta));
  REQUIRE(port.load(native::read_checkpoint_file(f.dir + "/model.safetensors")).empty());
  const auto inputs = read_safetensors(f.dir + "/inputs.safetensors");
  const auto trace = port.trace(inputs);
  std::vector<std::string> names;
  for (const auto& [name, t] : trace) names.push_back(name);
  auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  CHECK(has("encoder.attn_layers.layers.0.1.q"));
  CHECK(has("encoder.attn_layers.final_norm"));
  CHECK(has("decoder.net.attn_layers.layers.1.1.sim"));  // the cross-attention of the first block
  CHECK(has("decoder.net.attn_layers.layers.2.1.ff.0"));
  REQUIRE(names.back() == "decoder.net.to_logits");
  const auto ref = read_safetensors(f.dir + "/outputs.safetensors").at("logits");
  CHECK(compare_and_judge(trace.back().second, ref, float32_policy(f.spec)).verdict == Verdict::Identical);
}

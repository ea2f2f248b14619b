// The Python module's entry points without Python (harness/pymodule/
// api_core.hpp): what a caller hands over is refused as an xcompat::Error,
// never another exception (pybind11 would raise those untyped), and a plan
// says which outputs are inputs unchanged (they stay the caller's objects).
#include "catch.hpp"
#include "harness/convert/input_checks.hpp"
#include "harness/core/error.hpp"
#include "harness/pymodule/api_core.hpp"

using namespace xcompat;
using api::InfoTuple;

namespace {
// A 1.31.4-layout decoder of depth 1: attention, feed-forward, final norm.
std::vector<InfoTuple> small_decoder(const std::string& layer0 = "0") {
  return {{"token_emb.emb.weight", "float32", {64, 16}},
          {"attn_layers.layers." + layer0 + ".0.0.gamma", "float32", {16}},
          {"attn_layers.layers." + layer0 + ".1.to_q.weight", "float32", {16, 16}},
          {"attn_layers.layers." + layer0 + ".1.to_k.weight", "float32", {16, 16}},
          {"attn_layers.layers." + layer0 + ".1.to_v.weight", "float32", {16, 16}},
          {"attn_layers.layers." + layer0 + ".1.to_out.weight", "float32", {16, 16}},
          {"attn_layers.layers.1.0.0.gamma", "float32", {16}},
          {"attn_layers.layers.1.1.ff.0.0.weight", "float32", {64, 16}},
          {"attn_layers.layers.1.1.ff.0.0.bias", "float32", {64}},
          {"attn_layers.layers.1.1.ff.2.weight", "float32", {16, 64}},
          {"attn_layers.layers.1.1.ff.2.bias", "float32", {16}},
          {"attn_layers.final_norm.gamma", "float32", {16}},
          {"to_logits.weight", "float32", {64, 16}}};
}
}  // namespace

TEST_CASE("api: a dtype or shape no checkpoint holds is an Error naming the tensor", "[unit]") {
  CHECK_THROWS_WITH(api::tensor_infos({{"w", "complex64", {2}}}), Catch::Contains("tensor 'w' has dtype complex64"));
  CHECK_THROWS_WITH(api::tensor_infos({{"w", "float32", {-1, 2}}}), Catch::Contains("impossible shape"));
  CHECK_THROWS_AS(api::release_arg("1.2", "from_"), UnknownRelease);
}

TEST_CASE("api: layer numbers that are not numbers never escape as another exception", "[unit]") {
  // Found by fuzz_api: "layers.ye2." threw std::invalid_argument from std::stoll.
  for (const std::string odd : {"ye2", "99999999999999999999999", "-1", ""}) {
    INFO(odd);
    try {
      api::fingerprint_state_dict(small_decoder(odd), "", "state dict", "");
      api::plan_state_dict(small_decoder(odd), "1.31.4", "", "2.31.10", "", "", false, "keep", "state dict", "from_");
    } catch (const Error&) {
    }
  }
}

TEST_CASE("api: unknown releases are UnknownRelease; a plan marks what passes unchanged", "[unit]") {
  CHECK_THROWS_AS(api::plan_state_dict(small_decoder(), "1.31.99", "", "2.31.10", "", "", false, "keep", "sd", "from_"),
                  UnknownRelease);
  CHECK_THROWS_AS(api::plan_state_dict(small_decoder(), "1.31.4", "", "9.9.9", "", "", false, "keep", "sd", "from_"),
                  UnknownRelease);
  const PlannedModels p =
      api::plan_state_dict(small_decoder(), "1.31.4", "", "1.31.4", "", "", false, "keep", "sd", "from_");
  const auto outputs = api::planned_outputs(p);
  REQUIRE(outputs.size() == small_decoder().size());
  for (auto& [info, same] : outputs) CHECK(same == info.name);  // no change between a release and itself
  // Across norm-unit-offset (1.31.3) the norms' scales are computed (minus one); nothing else changes.
  const PlannedModels up =
      api::plan_state_dict(small_decoder(), "1.31.2", "", "1.31.4", "", "", false, "keep", "sd", "from_");
  for (auto& [info, same] : api::planned_outputs(up)) {
    INFO(info.name);
    CHECK(same.empty() == (info.name.find("gamma") != std::string::npos));
  }
}

// What the port refuses, and that it refuses out loud: UNSUPPORTED naming the
// feature, never a silently different model. Also the release switches
// themselves, and the worker end to end.
#include <chrono>

#include "harness/worker/worker_process.hpp"
#include "harness/core/consumers.hpp"
#include "native_test_support.hpp"

using namespace native_test;
using native::NativePort;
using native::NativeUnsupported;
using native::ReleaseContext;
using native::ReleaseVersion;

namespace {
ReleaseContext ctx(const std::string& release) {
  ReleaseContext c;
  c.release = ReleaseVersion::parse(release);
  c.set_torch_version("2.13.0");
  return c;
}

json decoder_spec(json layers = json::object(), json wrapper = json::object()) {
  json spec = {{"name", "t"}, {"model", "decoder"}, {"seed", 1}, {"batch", 2}, {"seq_len", 8}, {"mask", "none"}};
  spec["wrapper"] = {{"num_tokens", 64}, {"max_seq_len", 16}};
  spec["layers"] = {{"dim", 32}, {"depth", 1}, {"heads", 4}};
  for (auto& [k, v] : layers.items()) spec["layers"][k] = v;
  for (auto& [k, v] : wrapper.items()) spec["wrapper"][k] = v;
  return spec;
}

// The NativeUnsupported text building `spec` for `release` raises ("" when it builds).
std::string refusal(const json& spec, const std::string& release) {
  try {
    NativePort port(spec, ctx(release));
    return "";
  } catch (const NativeUnsupported& e) {
    return e.what();
  }
}
}  // namespace

TEST_CASE("release switches read their boundaries from the release history", "[native]") {
  using native::Era;
  using native::era_of;
  const auto v = ReleaseVersion::parse;
  CHECK(era_of(native::kRotaryInterleaved, v("1.30.0")) == Era::Old);
  CHECK(era_of(native::kRotaryInterleaved, v("1.30.1")) == Era::New);
  CHECK(era_of(native::kKeyPaddingMaskOnly, v("1.2.4")) == Era::Old);
  CHECK(era_of(native::kKeyPaddingMaskOnly, v("1.4.0")) == Era::New);
  CHECK(native::kFinalNormInAttentionLayers.range() == "at 1.15.0");
  CHECK(native::kFinalNormInAttentionLayers.name() == release_history().change("final-norm-in-attention-layers").reason);
  CHECK_THROWS_AS(ReleaseVersion::parse("2.0.0rc1"), NativeUnsupported);
  CHECK_THROWS_AS(ReleaseVersion::parse("unknown"), NativeUnsupported);
}

TEST_CASE("a change not bisected yet: releases inside its range are UNSUPPORTED unless it only rounds", "[native]") {
  using native::Era;
  const auto v = ReleaseVersion::parse;
  HistoryChange c;
  c.id = "masking";
  c.kind = "behaviour";
  c.reason = "padding masks mask keys only";
  c.at = *Version::parse("1.14.0");
  c.after = *Version::parse("1.0.4");
  CHECK(native::era_of(c, v("1.0.4")) == Era::Old);
  CHECK(native::era_of(c, v("1.7.0")) == Era::Unknown);
  CHECK(native::era_of(c, v("1.14.0")) == Era::New);
  CHECK_THROWS_WITH(native::is_new(c, v("1.7.0")),
                    "release 1.7.0: it is not known whether it has 'padding masks mask keys only' (changed somewhere "
                    "between 1.0.4 and 1.14.0)");
  c.kind = "rounding";
  CHECK(native::is_new(c, v("1.7.0")));  // the same function either way: the new form
}

TEST_CASE("a release outside the port's range is UNSUPPORTED", "[native]") {
  CHECK(refusal(decoder_spec(), "0.28.3").find("release 0.28.3") != std::string::npos);
  CHECK(refusal(decoder_spec(), "2.32.0").find("release 2.32.0") != std::string::npos);
  CHECK(refusal(decoder_spec(), "0.28.4").empty());
  CHECK(refusal(decoder_spec(), "2.31.10").empty());
}

TEST_CASE("an argument the port does not handle is UNSUPPORTED, named", "[native]") {
  CHECK(refusal(decoder_spec({{"shift_tokens", 1}}), "2.31.10") == "layers argument 'shift_tokens'");
  CHECK(refusal(decoder_spec({}, {{"l2norm_embed", true}}), "2.31.10") == "wrapper argument 'l2norm_embed'");
  CHECK(refusal(decoder_spec({{"attn_gumbel_softmax", true}}), "2.31.10") == "layers argument 'attn_gumbel_softmax'");
  CHECK(refusal(decoder_spec({{"heads", 4.5}}), "2.31.10").find("expected an integer") != std::string::npos);
  json xt = {{"name", "x"}, {"model", "xtransformer"}, {"mask", "none"},
             {"xtransformer", {{"dim", 32}, {"enc_num_tokens", 10}, {"enc_depth", 1}, {"enc_max_seq_len", 8},
                               {"dec_num_tokens", 10}, {"dec_depth", 1}, {"dec_max_seq_len", 8}, {"dec_num_memory_tokens", 2}}}};
  // XTransformer routes dec_num_memory_tokens to the Decoder, which has no such argument
  CHECK(refusal(xt, "2.31.10") == "xtransformer dec_ argument 'num_memory_tokens'");
  json other = decoder_spec();
  other["dtype"] = "bfloat16";
  CHECK(refusal(other, "2.31.10").find("dtype bfloat16") != std::string::npos);
}

TEST_CASE("combinations whose release semantics are not measured are UNSUPPORTED", "[native]") {
  // memory key / values with a bias: the port follows the history's mem-kv-unbiased (1.28.0) on only
  CHECK(refusal(decoder_spec({{"attn_num_mem_kv", 2}, {"alibi_pos_bias", true}}), "1.27.0").find("mem-kv-unbiased") != std::string::npos);
  CHECK(refusal(decoder_spec({{"attn_num_mem_kv", 2}, {"alibi_pos_bias", true}}), "2.31.10").empty());
  CHECK(refusal(decoder_spec({{"use_rmsnorm", true}, {"use_scalenorm", true}}), "1.0.4").find("use_scalenorm") != std::string::npos);
  // add_value_residual: absent before 1.40.7; a learned mix is an argument from 1.42.14
  CHECK(refusal(decoder_spec({{"add_value_residual", true}}), "1.31.4").find("add_value_residual") != std::string::npos);
  CHECK(refusal(decoder_spec({{"add_value_residual", true}}), "1.40.6").find("add_value_residual") != std::string::npos);
  CHECK(refusal(decoder_spec({{"add_value_residual", true}}), "1.40.7").empty());
  CHECK(refusal(decoder_spec({{"add_value_residual", true}, {"learned_value_residual_mix", true}}), "1.42.13")
            .find("learned value residual mix") != std::string::npos);
  CHECK(refusal(decoder_spec({{"add_value_residual", true}, {"learned_value_residual_mix", true}}), "1.42.14").empty());
  // tie_embedding: broken in the releases themselves before 1.16.8
  CHECK(refusal(decoder_spec({}, {{"tie_embedding", true}}), "1.16.7").find("tie_embedding") != std::string::npos);
  CHECK(refusal(decoder_spec({}, {{"tie_embedding", true}}), "1.16.8").empty());
  // rotary wider than a head (0.28.4 - 1.42.17 raise rotary_emb_dim to 32)
  CHECK(refusal(decoder_spec({{"rotary_pos_emb", true}, {"attn_dim_head", 16}}), "1.31.4").find("rotary") != std::string::npos);
  CHECK(refusal(decoder_spec({{"rotary_pos_emb", true}, {"attn_dim_head", 16}}), "2.31.10").empty());
  // grouped-query attention: measured from 1.19.1; one_kv_head was computed otherwise in 1.14.0 - 1.15.0
  CHECK(refusal(decoder_spec({{"attn_one_kv_head", true}}), "1.14.0").find("grouped-query") != std::string::npos);
  CHECK(refusal(decoder_spec({{"attn_one_kv_head", true}}), "1.19.1").empty());
  CHECK(refusal(decoder_spec({{"attn_kv_heads", 3}}), "2.31.10").find("divide") != std::string::npos);
  CHECK(refusal(decoder_spec({{"attn_kv_heads", 2}, {"attn_num_mem_kv", 2}}), "2.31.10").find("grouped-query") !=
        std::string::npos);
  // qk_norm: 0.28.4 builds it with other parameters; from 0.32.3 the history's
  // qk-norm-scale-10 decides its scale; its per-dimension scales changed at 2.25.5
  CHECK(refusal(decoder_spec({{"attn_qk_norm", true}}), "0.28.4").find("attn_qk_norm") != std::string::npos);
  CHECK(refusal(decoder_spec({{"attn_qk_norm", true}}), "1.0.3").empty());
  CHECK(refusal(decoder_spec({{"attn_qk_norm", true}}), "1.0.4").empty());
  CHECK(refusal(decoder_spec({{"attn_qk_norm", true}, {"attn_qk_norm_dim_scale", true}}), "2.25.4")
            .find("attn_qk_norm_dim_scale") != std::string::npos);
  CHECK(refusal(decoder_spec({{"attn_qk_norm", true}, {"attn_qk_norm_dim_scale", true}}), "2.25.5").empty());
  CHECK(refusal(decoder_spec({{"attn_qk_norm", true}, {"attn_qk_norm_groups", 32}}), "2.31.10").find("groups") !=
        std::string::npos);
  // the flash path with a padding mask: bisected, 1.16.12 masks otherwise
  json padded = decoder_spec({{"attn_flash", true}});
  padded["mask"] = "padding";
  CHECK(refusal(padded, "1.16.12").find("padding mask") != std::string::npos);
  CHECK(refusal(padded, "1.16.14").empty());
  CHECK(refusal(decoder_spec({{"attn_flash", true}}), "1.14.0").empty());
  // sandwich_norm needs pre-norm, as every release asserts
  CHECK(refusal(decoder_spec({{"sandwich_norm", true}, {"pre_norm", false}}), "2.31.10").find("sandwich_norm") !=
        std::string::npos);
  CHECK(refusal(decoder_spec({{"sandwich_norm", true}}), "0.28.4").empty());
}

TEST_CASE("a padding mask from a release inside an unbisected masking change is UNSUPPORTED at run time", "[native]") {
  // The history as it stood before the boundary was bisected: somewhere in (1.0.4, 1.14.0].
  ReleaseHistory h = release_history();
  for (auto& c : h.changes)
    if (c.id == "padding-mask-keys-only") {
      c.at = *Version::parse("1.14.0");
      c.after = *Version::parse("1.0.4");
    }
  const ScopedReleaseHistory unbisected(std::move(h));
  // encoder-padmask's own weights, presented as a 1.7.0 checkpoint (1.0.4 < 1.7.0 < 1.14.0)
  const auto refs = make_fixtures({"1.0.4"}, {"encoder-padmask", "decoder-absolute"});
  for (const auto& f : refs) {
    REQUIRE(f.ready());
    json meta = read_json_file(f.dir + "/meta.json");
    meta["release"] = "1.7.0";
    const PortCell c = evaluate_with_port(f.dir, "model.safetensors", meta);
    INFO(describe(f, c));
    if (f.spec == "encoder-padmask") {
      CHECK(c.verdict == Verdict::Unsupported);
      CHECK(c.unsupported.find("padding mask") != std::string::npos);
    } else {
      CHECK(passes(c.verdict));  // no mask: the unknown switch does not matter
    }
  }
}

TEST_CASE("the cpp-native worker: hello, info, evaluate and an UNSUPPORTED reply", "[native]") {
  const auto refs = make_fixtures({"2.31.10"}, {"decoder-rotary"});
  REQUIRE(refs.at(0).ready());
  WorkerProcess w({XCOMPAT_BIN, "worker", "--consumer", "cpp-native"}, "cpp-native");
  const auto timeout = std::chrono::seconds(120);
  const json meta = read_json_file(refs[0].dir + "/meta.json");
  const json tol = float32_policy("decoder-rotary").to_json();

  auto info = w.request({{"op", "info"}}, timeout);
  REQUIRE(info.ok());
  CHECK(info.body.at("info").at("consumer") == "cpp-native");
  CHECK(w.hello().at("consumer") == "cpp-native");
  CHECK(w.hello().at("torch").get<std::string>().rfind("2.", 0) == 0);
  // The port's identity is its sources' hash, the same the command line puts in cpp-native cells' keys.
  CHECK(w.hello().at("identity") == native_consumer().version);

  for (const char* checkpoint : {"model.safetensors", "model.pt"}) {
    auto r = w.request({{"op", "evaluate"}, {"spec", meta.at("spec")}, {"fixture_dir", refs[0].dir},
                        {"checkpoint", checkpoint}, {"tolerance", tol}, {"repeats", 2}}, timeout);
    REQUIRE(r.ok());
    INFO(r.body.dump());
    CHECK(r.body.at("verdict") == "IDENTICAL");
    CHECK(r.body.at("latency_ms").get<double>() > 0);
  }

  json spec = meta.at("spec");
  spec["layers"]["shift_tokens"] = 1;
  auto u = w.request({{"op", "evaluate"}, {"spec", spec}, {"fixture_dir", refs[0].dir}, {"tolerance", tol}}, timeout);
  REQUIRE(u.ok());
  CHECK(u.body.at("verdict") == "UNSUPPORTED");
  CHECK(u.body.at("error") == "cpp-native does not support layers argument 'shift_tokens'");

  auto bad = w.request({{"op", "evaluate"}, {"spec", meta.at("spec")}, {"fixture_dir", "/nonexistent"}, {"tolerance", tol}}, timeout);
  CHECK(bad.fault == WorkerFault::Exception);  // an error, not a verdict
}

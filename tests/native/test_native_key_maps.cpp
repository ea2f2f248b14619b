// The key maps: how each release range names what the port registers, on
// names alone and on the real checkpoints of releases before and after
// every rename.
#include "native_test_support.hpp"

using namespace native_test;
using native::KeyMap;
using native::ReleaseContext;
using native::ReleaseVersion;

namespace {
ReleaseContext ctx(const std::string& release, const std::string& torch = "2.13.0") {
  ReleaseContext c;
  c.release = ReleaseVersion::parse(release);
  c.set_torch_version(torch);
  return c;
}

json decoder(json layers = json::object()) {
  json spec = {{"model", "decoder"}, {"layers", {{"dim", 32}, {"depth", 2}, {"heads", 4}}}};
  for (auto& [k, v] : layers.items()) spec["layers"][k] = v;
  return spec;
}

// A decoder of depth 2: layers 0 - 3, the last one 3.
KeyMap key_map(const std::string& release, const std::string& torch = "2.13.0", const json& spec = decoder()) {
  return KeyMap(ctx(release, torch), spec, {{"", 3}, {"encoder.", 3}, {"decoder.net.", 5}});
}

std::vector<std::string> ids(const KeyMap& m) {
  std::vector<std::string> out;
  for (auto& d : m.descriptions()) out.push_back(d.substr(0, d.find(':')));
  return out;
}
}  // namespace

TEST_CASE("0.28.4 names: net, net.3, the wrapper norm and nn.LayerNorm weight / bias", "[native]") {
  const KeyMap m = key_map("0.28.4");
  CHECK(m.to_port("attn_layers.layers.1.1.net.0.0.weight") == "attn_layers.layers.1.1.ff.0.0.weight");
  CHECK(m.to_port("attn_layers.layers.1.1.net.3.bias") == "attn_layers.layers.1.1.ff.2.bias");
  CHECK(m.to_port("attn_layers.layers.1.1.net.0.proj.weight") == "attn_layers.layers.1.1.ff.0.proj.weight");
  CHECK(m.to_port("norm.weight") == "attn_layers.final_norm.gamma");
  CHECK(m.to_port("norm.bias") == "attn_layers.final_norm.beta");
  CHECK(m.to_port("attn_layers.layers.0.0.0.weight") == "attn_layers.layers.0.0.0.gamma");
  CHECK(m.to_port("attn_layers.layers.2.0.2.bias") == "attn_layers.layers.2.0.2.beta");
  CHECK(m.to_port("attn_layers.layers.0.0.0.g") == "attn_layers.layers.0.0.0.g");  // RMSNorm / ScaleNorm
  CHECK(m.to_port("attn_layers.layers.0.1.to_q.weight") == "attn_layers.layers.0.1.to_q.weight");
  CHECK(m.to_port("to_logits.weight") == "to_logits.weight");
  CHECK(m.to_port("token_emb.emb.weight") == "token_emb.emb.weight");
  CHECK(m.to_port("encoder.norm.weight") == "encoder.attn_layers.final_norm.gamma");
  CHECK(m.to_port("decoder.net.attn_layers.layers.2.1.net.3.weight") == "decoder.net.attn_layers.layers.2.1.ff.2.weight");
  // and back, for the load report
  CHECK(m.to_release("attn_layers.layers.1.1.ff.2.bias") == "attn_layers.layers.1.1.net.3.bias");
  CHECK(m.to_release("attn_layers.final_norm.gamma") == "norm.weight");
  CHECK(m.to_release("decoder.net.attn_layers.final_norm.beta") == "decoder.net.norm.bias");
}

TEST_CASE("post-norm before 1.15.0: the wrapper norm is the last layer's post-main norm", "[native]") {
  const KeyMap m = key_map("1.14.0", "2.13.0", decoder({{"pre_norm", false}}));
  CHECK(m.to_port("norm.weight") == "attn_layers.layers.3.0.2.gamma");
  CHECK(m.to_port("attn_layers.layers.1.0.2.weight") == "attn_layers.layers.1.0.2.gamma");
  CHECK(m.to_release("attn_layers.layers.3.0.2.beta") == "norm.bias");
  CHECK(m.to_release("attn_layers.layers.1.0.2.beta") == "attn_layers.layers.1.0.2.bias");  // not the last layer
  // A pre-norm spec keeps the wrapper norm as the final norm.
  CHECK(key_map("1.14.0").to_port("norm.weight") == "attn_layers.final_norm.gamma");
}

TEST_CASE("the renames each release range needs, named by their history entries", "[native]") {
  CHECK(ids(key_map("0.32.3")) == std::vector<std::string>{"ff-net-renamed-ff", "final-norm-in-attention-layers",
                                                            "ff-project-out-at-ff2", "layernorm-custom-class",
                                                            "layernorm-torch-biasless", "layernorm-gamma-only"});
  CHECK(key_map("0.33.0").to_port("attn_layers.layers.1.1.ff.3.weight") == "attn_layers.layers.1.1.ff.2.weight");
  CHECK(key_map("1.14.0").to_port("norm.bias") == "attn_layers.final_norm.beta");
  CHECK(key_map("1.15.0").to_port("norm.bias") == "norm.bias");  // no wrapper norm any more: unexpected
  CHECK(key_map("1.17.9").to_port("attn_layers.layers.1.1.ff.3.weight") == "attn_layers.layers.1.1.ff.2.weight");
  CHECK(key_map("1.18.0").to_port("attn_layers.layers.1.1.ff.3.weight") == "attn_layers.layers.1.1.ff.3.weight");
  CHECK(key_map("1.26.6").to_release("attn_layers.final_norm.beta") == "attn_layers.final_norm.bias");
  // 1.27.0: gamma and the persistent beta buffer, saved as such
  CHECK(key_map("1.27.0").to_release("attn_layers.final_norm.gamma") == "attn_layers.final_norm.gamma");
  CHECK(key_map("1.27.0").to_release("attn_layers.final_norm.beta") == "attn_layers.final_norm.beta");
  // 1.27.1 - 1.30.x: nn.LayerNorm(bias = False) under torch >= 2.1, the 1.27.0 class before
  CHECK(key_map("1.30.23", "2.13.0").to_port("attn_layers.final_norm.weight") == "attn_layers.final_norm.gamma");
  CHECK(key_map("1.30.23", "2.13.0").to_release("attn_layers.final_norm.gamma") == "attn_layers.final_norm.weight");
  CHECK(key_map("1.30.23", "2.0.1").to_release("attn_layers.final_norm.gamma") == "attn_layers.final_norm.gamma");
  CHECK(key_map("1.31.0").descriptions().empty());
  CHECK(key_map("2.31.10").descriptions().empty());
}

TEST_CASE("real checkpoints of every layout map onto the port exactly, and back", "[native]") {
  const std::vector<std::string> releases = {"0.28.4", "0.32.3", "1.0.4", "1.14.0", "1.26.6", "1.27.0", "1.30.23", "1.31.4"};
  const auto refs = make_fixtures(releases, {"decoder-absolute", "decoder-postnorm", "decoder-glu", "xtransformer-cross"});
  int checked = 0;
  for (const auto& f : refs) {
    if (!f.ready()) continue;
    const json meta = read_json_file(f.dir + "/meta.json");
    native::NativePort port(meta.at("spec"), native::release_context_from_meta(meta));
    const auto names = port.state_shapes();
    const auto checkpoint = read_safetensors(f.dir + "/model.safetensors");
    CHECK(checkpoint.size() == names.size());
    for (const auto& [key, tensor] : checkpoint) {
      const std::string mapped = port.key_map().to_port(key);
      INFO(f.spec << " " << f.release << ": " << key << " -> " << mapped);
      REQUIRE(names.count(mapped) == 1);
      CHECK(names.at(mapped) == tensor.shape);
      CHECK(port.key_map().to_release(mapped) == key);
    }
    CHECK(port.load(checkpoint).empty());
    ++checked;
  }
  CHECK(checked == static_cast<int>(releases.size() * 4));
}

TEST_CASE("a checkpoint read as another release's layout is LOAD_FAIL naming the keys", "[native]") {
  const auto refs = make_fixtures({"0.32.3", "1.26.6"}, {"decoder-absolute"});
  for (const auto& f : refs) {
    REQUIRE(f.ready());
    json meta = read_json_file(f.dir + "/meta.json");
    meta["release"] = f.release == "0.32.3" ? "1.19.1" : "1.31.4";
    const PortCell c = evaluate_with_port(f.dir, "model.safetensors", meta);
    INFO(describe(f, c));
    REQUIRE(c.verdict == Verdict::LoadFail);
    auto has = [](const std::vector<std::string>& v, const std::string& k) { return std::find(v.begin(), v.end(), k) != v.end(); };
    if (f.release == "0.32.3") {
      // `net` and the wrapper `norm` are not 1.19.1 names; 1.19.1's own names are missing
      CHECK(has(c.report.unexpected, "attn_layers.layers.1.1.net.0.0.weight"));
      CHECK(has(c.report.unexpected, "norm.weight"));
      CHECK(has(c.report.missing, "attn_layers.layers.1.1.ff.0.0.weight"));
      CHECK(has(c.report.missing, "attn_layers.final_norm.weight"));
    } else {
      // biases and nn.LayerNorm names are gone by 1.31.4
      CHECK(has(c.report.unexpected, "to_logits.bias"));
      CHECK(has(c.report.unexpected, "attn_layers.layers.0.0.0.weight"));
      CHECK(has(c.report.missing, "attn_layers.layers.0.0.0.gamma"));
    }
  }
}

TEST_CASE("a mis-shaped parameter is reported as the checkpoint names it", "[native]") {
  const auto refs = make_fixtures({"0.28.4"}, {"decoder-absolute"});
  REQUIRE(refs.at(0).ready());
  json meta = read_json_file(refs[0].dir + "/meta.json");
  json spec = meta.at("spec");
  spec["layers"]["attn_dim_head"] = 32;  // the checkpoint's to_q is [256, 32], this spec's [128, 32]
  const PortCell c = evaluate_with_port(refs[0].dir, "model.safetensors", nullptr, spec);
  INFO(describe(refs[0], c));
  REQUIRE(c.verdict == Verdict::LoadFail);
  CHECK(std::find(c.report.misshaped.begin(), c.report.misshaped.end(),
                  "attn_layers.layers.0.1.to_q.weight: checkpoint [256, 32] vs model [128, 32]") != c.report.misshaped.end());
}

// Conversions checked end to end without Python: every catalogue checkpoint
// of every era release, converted by the release history to every other era
// release, built by the port as that release (with the arguments the
// conversion names), must reproduce the producer's own outputs whenever the
// conversion says nothing is lost. Round trips through the newest release
// give the checkpoint back; converting twice changes nothing.
#include <map>
#include <set>

#include "harness/convert/conversion.hpp"
#include "harness/convert/locate.hpp"
#include "harness/convert/tensor_math.hpp"
#include "harness/worker/worker_process.hpp"
#include "native_test_support.hpp"
#include "support.hpp"

using namespace native_test;

namespace {

// A bare Decoder / Encoder (a "layers" spec) is converted under the
// `attn_layers.` root its wrapper would give it, as convert and the sweep do.
bool bare(const json& spec) { return spec.value("model", "") == "layers"; }

TensorMap rooted(const TensorMap& m, bool bare_layers) {
  if (!bare_layers) return m;
  TensorMap out;
  for (auto& [name, t] : m) out[root_bare_layers_name(name)] = t;
  return out;
}

std::vector<TensorInfo> infos(const TensorMap& m) {
  std::vector<TensorInfo> out;
  for (auto& [name, t] : m) out.push_back({name, t.dtype, t.shape});
  return out;
}

ReleasePoint point(const std::string& release, const json& meta) {
  return release_point(*Version::parse(release), meta.at("versions").value("torch", ""));
}


struct Converted {
  ConversionPlan plan;
  TensorMap tensors;
};

Converted convert(const TensorMap& given, const ReleasePoint& from, const ReleasePoint& to, const json& spec,
                  PlanOptions options = {}) {
  Converted c;
  const TensorMap in = rooted(given, bare(spec));
  c.plan = plan_conversion(release_history(), from, to, infos(in), facts_from_spec(spec), options);
  if (c.plan.outcome == ConversionOutcome::Refused) return c;
  run_conversion(c.plan, [&](const std::string& n) { return in.at(n); }, [&](const TensorInfo& i, const TensorData& d) {
    c.tensors[bare(spec) ? unroot_bare_layers_name(i.name) : i.name] = d;
  });
  return c;
}

// The port, built as release `to` (and adapted), on converted tensors and the producer's inputs.
PortCell evaluate(const FixtureRef& f, const json& meta, const Converted& c, const std::string& to,
                  const std::vector<native::PortAdapter>& adapters = {}) {
  json m = meta;
  m["release"] = to;
  return evaluate_port_on(f.dir, m, spec_with_args(meta.at("spec"), c.plan.args), [&] { return c.tensors; }, adapters);
}

// The plan's adapters as the converted file names their modules (the sweep
// and `convert --adapter` hand them over so).
std::vector<native::PortAdapter> adapters_of(const ConversionPlan& plan, const json& spec) {
  std::vector<native::PortAdapter> out;
  for (auto& a : plan.adapters)
    out.push_back({bare(spec) && a.module.rfind("attn_layers.", 0) == 0 ? a.module.substr(12) : a.module, a.kind,
                   a.shape, a.change_id});
  return out;
}

bool carries_tensor(const native::PortAdapter& a) { return a.kind == "output_bias" || a.kind == "layer_norm"; }

}  // namespace

TEST_CASE("every conversion that loses nothing reproduces the producer's outputs in the port", "[native]") {
  int reproduced = 0, lossy = 0, refused = 0, unsupported = 0;
  // Every model kind is carried by the same history (the kinds without
  // tokens read under their own names, bare layers under attn_layers.).
  std::map<std::string, int> reproduced_by_kind;
  for (const auto& f : catalogue_fixtures()) {
    if (!f.ready()) continue;
    const json meta = read_json_file(f.dir + "/meta.json");
    const TensorMap in = read_safetensors(f.dir + "/model.safetensors");
    for (const auto& to : era_releases()) {
      if (to == f.release) continue;
      const Converted c = convert(in, point(f.release, meta), ReleasePoint{*Version::parse(to)}, meta.at("spec"));
      INFO(f.spec << " " << f.release << " -> " << to << ": " << c.plan.summary());
      if (c.plan.outcome == ConversionOutcome::Refused) {
        ++refused;
        continue;
      }
      if (c.plan.outcome == ConversionOutcome::Lossy) {
        ++lossy;
        continue;
      }
      const PortCell cell = evaluate(f, meta, c, to);
      INFO(describe(f, cell));
      if (cell.verdict == Verdict::Unsupported) {
        ++unsupported;  // the port cannot build the spec as B (a feature, or an argument B lacks)
        continue;
      }
      CHECK(passes(cell.verdict));
      ++reproduced;
      ++reproduced_by_kind[meta.at("spec").value("model", "")];
    }
  }
  INFO(reproduced << " reproduced, " << lossy << " lossy, " << refused << " refused, " << unsupported << " unsupported");
  // Not vacuous: most pairs of era releases convert losslessly, for every kind.
  CHECK(reproduced >= 500);
  CHECK(refused == 0);
  for (const char* kind : {"decoder", "encoder", "xtransformer", "continuous", "vit", "layers"}) {
    INFO(kind);
    CHECK(reproduced_by_kind[kind] > 0);
  }
}

TEST_CASE("every conversion an adapter makes whole reproduces the producer's outputs in the port, adapted", "[native]") {
  // The port built as B takes the adapters xcompat_adapter.adapt gives B's
  // model (adapters.hpp): the same modules, the same parameters, A's function.
  int adapted = 0, still_lossy = 0, unsupported = 0, broken_seen = 0;
  std::map<std::string, int> by_kind;
  for (const auto& f : catalogue_fixtures()) {
    if (!f.ready()) continue;
    const json meta = read_json_file(f.dir + "/meta.json");
    const TensorMap in = read_safetensors(f.dir + "/model.safetensors");
    for (const auto& to : era_releases()) {
      if (to == f.release) continue;
      const Converted c = convert(in, point(f.release, meta), ReleasePoint{*Version::parse(to)}, meta.at("spec"),
                                  PlanOptions{.adapters = true});
      if (c.plan.adapters.empty()) continue;
      INFO(f.spec << " " << f.release << " -> " << to << ": " << c.plan.summary());
      if (c.plan.outcome != ConversionOutcome::Adapted) {
        ++still_lossy;  // something no adapter carries (a computation B lacks)
        continue;
      }
      const auto adapters = adapters_of(c.plan, meta.at("spec"));
      const PortCell cell = evaluate(f, meta, c, to, adapters);
      INFO(describe(f, cell));
      if (cell.verdict == Verdict::Unsupported) {
        ++unsupported;
        continue;
      }
      CHECK(passes(cell.verdict));
      ++adapted;
      for (auto& a : adapters) ++by_kind[a.kind];
      // The break injected: B's port with the adapters' parameters but none
      // of their computation is B itself, and computes something else.
      std::vector<native::PortAdapter> inert;
      for (auto a : adapters) {
        if (a.kind == "output_bias" || a.kind == "layer_norm") inert.push_back(a);
      }
      if (inert.size() < adapters.size()) {
        const PortCell broken = evaluate(f, meta, c, to, inert);
        CHECK_FALSE(passes(broken.verdict));
        ++broken_seen;
      }
    }
  }
  std::string kinds;
  for (auto& [kind, n] : by_kind) kinds += " " + kind + " " + std::to_string(n);
  WARN(adapted << " adapted conversions reproduced A in the port, " << still_lossy << " still lossy, " << unsupported
               << " unsupported, " << broken_seen << " broken by withholding the behaviour adapters; adapters:" << kinds);
  CHECK(adapted >= 100);
  // Every adapter kind the catalogue's conversions use is read by the port.
  for (const char* kind : {"output_bias", "layer_norm", "identity", "rotate_values", "uniform_padded_queries"}) {
    INFO(kind);
    CHECK(by_kind[kind] > 0);
  }
  CHECK(broken_seen > 0);
}

TEST_CASE("an adapted conversion without its adapters does not load in the port", "[native]") {
  // The tensors an adapter carries have no place in B's own model: a strict
  // load names them, as load_state_dict(strict = True) would in Python.
  for (const auto& f : catalogue_fixtures_of("decoder-absolute")) {
    if (f.release != "0.28.4") continue;
    const json meta = read_json_file(f.dir + "/meta.json");
    const TensorMap in = read_safetensors(f.dir + "/model.safetensors");
    const Converted c = convert(in, point(f.release, meta), ReleasePoint{*Version::parse("2.31.10")}, meta.at("spec"),
                                PlanOptions{.adapters = true});
    REQUIRE(c.plan.outcome == ConversionOutcome::Adapted);
    const PortCell bare_b = evaluate(f, meta, c, "2.31.10");
    CHECK(bare_b.verdict == Verdict::LoadFail);
    bool names_adapter_key = false;
    for (auto& k : bare_b.report.unexpected) names_adapter_key |= k.find("xcompat_") != std::string::npos;
    CHECK(names_adapter_key);
    // An adapter of a module the model does not have is refused, not ignored.
    std::vector<native::PortAdapter> wrong = adapters_of(c.plan, meta.at("spec"));
    wrong.push_back({"attn_layers.layers.99.1", "rotate_values", {}, "rotary-values-unrotated"});
    CHECK(evaluate(f, meta, c, "2.31.10", wrong).verdict == Verdict::Unsupported);
  }
}

TEST_CASE("the cpp-native worker reads an adapted conversion as B's adapted model", "[native]") {
  // The request the sweep's adapted path sends a release worker, sent to the
  // port: the release converted to, the conversion's arguments, its adapters.
  const auto refs = make_fixtures({"0.28.4"}, {"decoder-rotary"});
  REQUIRE(refs.at(0).ready());
  const FixtureRef& f = refs[0];
  const json meta = read_json_file(f.dir + "/meta.json");
  const Converted c = convert(read_safetensors(f.dir + "/model.safetensors"), point(f.release, meta),
                              ReleasePoint{*Version::parse("2.31.10")}, meta.at("spec"), PlanOptions{.adapters = true});
  REQUIRE(c.plan.outcome == ConversionOutcome::Adapted);
  xcompat::test::TempDir tmp;
  const std::string file = (tmp.path / "adapted-2.31.10.safetensors").string();
  write_safetensors(file, c.tensors, {});
  json adapters = json::array();
  bool rotates = false;
  for (auto& a : adapters_of(c.plan, meta.at("spec"))) {
    adapters.push_back({{"module", a.module}, {"kind", a.kind}, {"shape", a.shape}, {"change", a.change}});
    rotates |= a.kind == "rotate_values";
  }
  REQUIRE(rotates);  // 2.x rotates no values: the adapter's computation, not only its tensors

  WorkerProcess w({XCOMPAT_BIN, "worker", "--consumer", "cpp-native"}, "cpp-native");
  const auto timeout = std::chrono::seconds(120);
  json request = {{"op", "evaluate"},      {"spec", meta.at("spec")}, {"fixture_dir", f.dir},
                  {"checkpoint", file},    {"release", "2.31.10"},    {"args", c.plan.args},
                  {"adapters", adapters},  {"tolerance", float32_policy("decoder-rotary").to_json()}};
  auto r = w.request(request, timeout);
  REQUIRE(r.ok());
  INFO(r.body.dump());
  CHECK(passes(verdict_from_name(r.body.at("verdict").get<std::string>())));

  request.erase("adapters");  // B's own model has no place for the adapters' tensors
  r = w.request(request, timeout);
  REQUIRE(r.ok());
  CHECK(r.body.at("verdict") == "LOAD_FAIL");

  request["adapters"] = json::array({{{"module", "to_logits"}, {"kind", "fold_everything"}}});
  r = w.request(request, timeout);
  CHECK(r.fault == WorkerFault::Exception);
  CHECK(r.error.find("unknown adapter kind 'fold_everything'") != std::string::npos);
}

TEST_CASE("a round trip through the newest release gives the checkpoint back", "[native]") {
  const ReleasePoint newest{release_history().newest};
  int checked = 0;
  for (const auto& f : catalogue_fixtures()) {
    if (!f.ready()) continue;
    const json meta = read_json_file(f.dir + "/meta.json");
    const TensorMap in = read_safetensors(f.dir + "/model.safetensors");
    const ReleasePoint a = point(f.release, meta);
    const Converted up = convert(in, a, newest, meta.at("spec"));
    REQUIRE(up.plan.outcome != ConversionOutcome::Refused);
    // The newest release's model is built with the arguments the way up named.
    const Converted back = convert(up.tensors, newest, a, spec_with_args(meta.at("spec"), up.plan.args));
    REQUIRE(back.plan.outcome != ConversionOutcome::Refused);
    INFO(f.spec << " " << f.release << " -> " << newest.release.str() << " -> back: " << up.plan.summary());
    CHECK(infos(back.tensors).size() == in.size());
    std::set<std::string> dropped;  // what the way up could not hold comes back as B implies it
    for (auto& d : up.plan.dropped) dropped.insert(bare(meta.at("spec")) ? unroot_bare_layers_name(d.name) : d.name);
    for (auto& [name, t] : in) {
      INFO(name);
      REQUIRE(back.tensors.count(name) == 1);
      const TensorData& b = back.tensors.at(name);
      CHECK(b.dtype == t.dtype);
      CHECK(b.shape == t.shape);
      // A fold keeps the function, not the tensors: the bias it moved comes
      // back as the sum (test_native_folds.cpp proves the function).
      if (dropped.count(name) || !up.plan.lost_behaviour.empty() || !up.plan.folded.empty()) continue;
      // Renames and permutations are exact; x - 1 + 1 and x * s / s round at most once each way.
      double scale = 0, worst = 0;
      const auto x = t.to_doubles(), y = b.to_doubles();
      for (std::size_t i = 0; i < x.size(); ++i) {
        scale = std::max(scale, std::fabs(x[i]));
        worst = std::max(worst, std::fabs(x[i] - y[i]));
      }
      CHECK(worst <= 4e-7 * std::max(1.0, scale));
    }
    ++checked;
  }
  CHECK(checked >= 100);
}

TEST_CASE("converting is idempotent: to its own release, and a converted checkpoint again", "[native]") {
  for (const auto& f : catalogue_fixtures_of("decoder-absolute")) {
    REQUIRE(f.ready());
    const json meta = read_json_file(f.dir + "/meta.json");
    const TensorMap in = read_safetensors(f.dir + "/model.safetensors");
    const ReleasePoint a = point(f.release, meta);
    const Converted same = convert(in, a, a, meta.at("spec"));
    CHECK(same.plan.outcome == ConversionOutcome::Unchanged);
    CHECK(same.tensors.size() == in.size());
    for (auto& [name, t] : in) CHECK(same.tensors.at(name).bytes == t.bytes);

    const ReleasePoint b{*Version::parse("2.31.10")};
    const Converted once = convert(in, a, b, meta.at("spec"));
    const Converted twice = convert(in, a, b, meta.at("spec"));
    CHECK(once.tensors.size() == twice.tensors.size());
    for (auto& [name, t] : once.tensors) CHECK(twice.tensors.at(name).bytes == t.bytes);
    // The converted checkpoint is a 2.31.10 checkpoint: converting it to 2.31.10 changes nothing.
    const Converted again = convert(once.tensors, b, b, meta.at("spec"));
    CHECK(again.plan.outcome == ConversionOutcome::Unchanged);
  }
}

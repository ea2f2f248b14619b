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
#include "native_test_support.hpp"

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

Converted convert(const TensorMap& given, const ReleasePoint& from, const ReleasePoint& to, const json& spec) {
  Converted c;
  const TensorMap in = rooted(given, bare(spec));
  c.plan = plan_conversion(release_history(), from, to, infos(in), facts_from_spec(spec));
  if (c.plan.outcome == ConversionOutcome::Refused) return c;
  run_conversion(c.plan, [&](const std::string& n) { return in.at(n); }, [&](const TensorInfo& i, const TensorData& d) {
    c.tensors[bare(spec) ? unroot_bare_layers_name(i.name) : i.name] = d;
  });
  return c;
}

// The port, built as release `to`, on converted tensors and the producer's inputs.
PortCell evaluate(const FixtureRef& f, const json& meta, const Converted& c, const std::string& to) {
  json m = meta;
  m["release"] = to;
  return evaluate_port_on(f.dir, m, spec_with_args(meta.at("spec"), c.plan.args), [&] { return c.tensors; });
}

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

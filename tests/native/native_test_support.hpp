#pragma once
// Shared by the [native] tests: real fixtures made by real releases through
// `xcompat fixtures` (cached under the state dir, so only the first run
// starts release workers), and one cell evaluated with the port and judged
// by the project's own comparison under the float32 policy of
// matrix/pins.toml.
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "harness/checkpoint/safetensors.hpp"
#include "harness/core/compare.hpp"
#include "harness/core/pins.hpp"
#include "harness/core/spec.hpp"
#include "harness/core/paths.hpp"
#include "harness/native/native_port.hpp"
#include "harness/native/release_switches.hpp"

namespace native_test {

using nlohmann::json;
using namespace xcompat;

struct FixtureRef {
  std::string release, spec, state, dir, reason;
  bool ready() const { return state == "fixture"; }
};

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// `xcompat fixtures --json --release V ... --spec S ... [--specs-file F]`.
// FAILs the test when the command fails or prints no JSON.
inline std::vector<FixtureRef> make_fixtures(const std::vector<std::string>& releases, const std::vector<std::string>& specs,
                                             const std::string& specs_file = "") {
  // The port computes in float32 (bfloat16 is UNSUPPORTED, with its reason).
  std::string cmd = shell_quote(XCOMPAT_BIN) + " fixtures --json -j 2 --dtype float32";
  for (auto& r : releases) cmd += " --release " + shell_quote(r);
  for (auto& s : specs) cmd += " --spec " + shell_quote(s);
  if (!specs_file.empty()) cmd += " --specs-file " + shell_quote(specs_file);
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  INFO(cmd << "\n" << out);
  REQUIRE(rc == 0);
  json j = json::parse(out);
  std::vector<FixtureRef> refs;
  for (auto& f : j.at("fixtures"))
    refs.push_back({f.at("release"), f.at("spec"), f.at("state"), f.at("dir"), f.value("reason", "")});
  return refs;
}

inline json read_json_file(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return json::parse(in);
}

struct PortCell {
  std::string unsupported;  // the NativeUnsupported text, when the port refused
  LoadReport report;
  Verdict verdict = Verdict::Error;
  std::optional<Metrics> metrics;
};

inline Tolerance float32_policy(const std::string& spec) {
  static const Pins pins = load_pins(default_pins_path());
  return pins.tolerance_for(spec, "cpp-native", "float32");
}

// The port built as `meta`'s release for `spec`, on the tensors `checkpoint()`
// gives, run on the fixture's inputs in `dir` and judged against its outputs.
template <class Tensors>
PortCell evaluate_port_on(const std::string& dir, const json& meta, const json& spec, Tensors&& checkpoint,
                          const std::vector<native::PortAdapter>& adapters = {}) {
  PortCell cell;
  try {
    native::NativePort port(spec, native::release_context_from_meta(meta));
    port.adapt(adapters);
    cell.report = port.load(checkpoint());
    if (!cell.report.empty()) {
      cell.verdict = Verdict::LoadFail;
      return cell;
    }
    const auto logits = port.forward(read_safetensors(dir + "/inputs.safetensors"));
    const auto ref = read_safetensors(dir + "/outputs.safetensors").at("logits");
    auto c = compare_and_judge(logits, ref, float32_policy(spec.value("name", "")));
    cell.verdict = c.verdict;
    cell.metrics = c.metrics;
  } catch (const native::NativeUnsupported& e) {
    cell.unsupported = e.what();
    cell.verdict = Verdict::Unsupported;
  }
  return cell;
}

// What the cpp-native worker does with a fixture, in process: build the spec
// for the release in `meta` (or `meta_override`), load the checkpoint through
// the key map, run forward, compare with the release's own outputs.
inline PortCell evaluate_with_port(const std::string& dir, const std::string& checkpoint = "model.safetensors",
                                   const json& meta_override = nullptr, const json& spec_override = nullptr) {
  const json meta = meta_override.is_null() ? read_json_file(dir + "/meta.json") : meta_override;
  const json spec = spec_override.is_null() ? meta.at("spec") : spec_override;
  return evaluate_port_on(dir, meta, spec, [&] { return native::read_checkpoint_file(dir + "/" + checkpoint); });
}

inline std::string describe(const FixtureRef& f, const PortCell& c) {
  std::string s = f.spec + " " + f.release + " -> cpp-native: " + verdict_name(c.verdict);
  if (c.metrics)
    s += " (nmse " + std::to_string(c.metrics->nmse) + ", max_abs " + std::to_string(c.metrics->max_abs) + ")";
  if (!c.unsupported.empty()) s += ": " + c.unsupported;
  for (auto& k : c.report.missing) s += "\n  missing " + k;
  for (auto& k : c.report.unexpected) s += "\n  unexpected " + k;
  for (auto& k : c.report.misshaped) s += "\n  misshaped " + k;
  return s;
}

// Releases across the eras the port's switches separate (see docs/NATIVE_PORT.md).
inline const std::vector<std::string>& era_releases() {
  static const std::vector<std::string> r = {"0.28.4", "1.0.4", "1.14.0", "1.26.6", "1.27.0", "1.30.23", "1.31.1", "1.31.4", "1.44.8", "2.31.10"};
  return r;
}

// Every catalogue spec from every era release, made once per test run.
inline const std::vector<FixtureRef>& catalogue_fixtures() {
  static const std::vector<FixtureRef> refs = make_fixtures(era_releases(), {});
  return refs;
}

inline std::vector<FixtureRef> catalogue_fixtures_of(const std::string& spec) {
  std::vector<FixtureRef> out;
  for (auto& f : catalogue_fixtures())
    if (f.spec == spec) out.push_back(f);
  return out;
}

inline bool passes(Verdict v) { return v == Verdict::Identical || v == Verdict::Close; }

}  // namespace native_test

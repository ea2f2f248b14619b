// Checkpoints as users save them, made by the releases themselves
// (tests/data/make_user_checkpoints.py, run in each release's sandbox):
// through AutoregressiveWrapper, training dicts with an optimizer state, a
// Lightning .ckpt, EMA copies, DDP and torch.compile prefixes, Continuous and
// ViT wrappers, an application model holding a bare Decoder, two models in
// one application, torch.save(model), safetensors, XTransformer.
//
//   - fingerprint names every model of every file, at its place, with its
//     kind, and a range of releases holding the one that saved it;
//   - check --to B gives, for each file, the verdict the matrix gives for
//     the same spec and pair (a sweep of the same spec, made fresh by the
//     release);
//   - where that is CONVERTED, `xcompat convert` writes a file of the same
//     container shape that B loads strictly (with the arguments the
//     conversion names) and that reproduces A's outputs.
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "harness/convert/conversion.hpp"
#include "harness/core/paths.hpp"
#include "release_support.hpp"

using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace xcompat;

namespace {

std::string shq(const fs::path& p) { return "'" + p.string() + "'"; }
std::string python() { return shq(default_venv() / "bin" / "python"); }

// The corpus `release` makes: generated once per test process.
fs::path corpus_of(const std::string& release) {
  static test::TempDir root;
  const fs::path out = root / release;
  if (!fs::exists(out / "manifest.json")) {
    const auto r = test::run_command("PYTHONPATH=" + shq(release_sandbox(release)) + " " + python() + " " +
                                     shq(project_root() / "tests" / "data" / "make_user_checkpoints.py") +
                                     " --out " + shq(out) + " 2>&1");
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
  }
  return out;
}

json manifest_of(const fs::path& corpus) { return json::parse(test::slurp(corpus / "manifest.json")); }

// A model's place in the file as xcompat's readers name it: the container path, then the prefix.
std::string place_of(const json& model) {
  std::string key = model.value("container_key", "");
  for (auto& c : key)
    if (c == '/') c = '.';
  return (key.empty() ? "" : key + ".") + model.value("prefix", "");
}

std::string key_arg(const std::string& place) {
  return place.empty() ? "" : " --key " + place.substr(0, place.size() - 1);
}

// JSON (a catalogue-form spec) as a TOML value, for a specs file.
std::string toml_value(const json& v) {
  if (v.is_object()) {
    std::string s;
    for (auto& [k, x] : v.items()) s += (s.empty() ? "" : ", ") + k + " = " + toml_value(x);
    return "{ " + s + " }";
  }
  if (v.is_array()) {
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : ", ") + toml_value(x);
    return "[" + s + "]";
  }
  return v.dump();
}

std::string spec_table(const json& spec) {
  std::string s = "[[spec]]\n";
  for (auto& [k, v] : spec.items()) s += k + " = " + toml_value(v) + "\n";
  return s + "\n";
}

}  // namespace

TEST_CASE("user checkpoints: fingerprint finds every model, where it sits, in files of every era", "[release]") {
  test::TempDir state;
  // One release of every era the matrix covers (matrix/pins.toml).
  for (const std::string release : {"0.28.4", "1.0.4", "1.14.0", "1.26.6", "1.27.0", "1.30.23", "1.31.1", "1.42.17",
                                    "2.0.5", "2.31.10"}) {
    const fs::path corpus = corpus_of(release);
    const json manifest = manifest_of(corpus);
    for (auto& s : manifest["skipped"]) WARN(release << " cannot make " << s["shape"] << ": " << s["reason"]);
    for (auto& f : manifest["files"]) {
      INFO(release << " " << f["file"]);
      auto r = test::xcompat(state.path, "fingerprint --json " + shq(corpus / f["file"].get<std::string>()), true);
      INFO(r.out);
      REQUIRE(r.exit_code == 0);
      const json fp = json::parse(r.out);
      std::map<std::string, json> found;
      for (auto& m : fp["models"]) found[m["prefix"].get<std::string>()] = m;
      CHECK(found.size() == f["models"].size());  // no model missed, none invented
      for (auto& m : f["models"]) {
        const std::string place = place_of(m);
        INFO("model at '" << place << "'");
        REQUIRE(found.count(place) == 1);
        const json& got = found[place];
        CHECK(got["kind"] == m["kind"]);
        CHECK(test::in_ranges(got, release));
        if (m["spec"].is_object() && m["kind"] == "TransformerWrapper") {
          for (auto& a : got["args"])
            if (a["certain"] == true && (a["name"] == "dim" || a["name"] == "num_tokens" || a["name"] == "depth")) {
              const json& section = m["spec"][a["section"].get<std::string>()];
              CHECK(section[a["name"].get<std::string>()] == a["value"]);
            }
        }
      }
      // The application's own tensors, the EMA's counters: named as passing through, never a model's.
      std::set<std::string> others(fp["others"].begin(), fp["others"].end());
      for (auto& o : f["other_tensors"]) {
        std::string name = o.get<std::string>();
        for (auto& c : name)
          if (c == '/') c = '.';
        CHECK(others.count(name) == 1);
      }
    }
  }
}

TEST_CASE("user checkpoints: check gives the matrix's verdict, and convert carries the container to B exactly",
          "[release]") {
  test::TempDir state;
  const std::string to = "2.31.10";
  for (const std::string release : {"0.28.4", "1.19.1", "1.30.23", "1.31.1", "2.16.1"}) {
    const fs::path corpus = corpus_of(release);
    const json manifest = manifest_of(corpus);
    // The matrix's cells for the corpus's specs and this pair: a sweep of the same specs.
    std::string specs;
    std::set<std::string> names;
    for (auto& f : manifest["files"])
      for (auto& m : f["models"])
        if (m["spec"].is_object() && names.insert(m["spec"]["name"].get<std::string>()).second) specs += spec_table(m["spec"]);
    const fs::path specs_file = state / ("specs-" + release + ".toml");
    std::ofstream(specs_file) << specs;
    const fs::path db = state / ("sweep-" + release + ".db");
    auto sw = test::xcompat(state.path, "sweep --no-progress --dtype float32 --specs-file " + shq(specs_file) + " --release " +
                                            release + " --consumer " + to + " --db " + shq(db), true);
    INFO(sw.out);
    REQUIRE((sw.exit_code == 0 || sw.exit_code == 3));
    const auto cells = test::cells_by(db, [](const CellKey& k) { return k.spec; });

    for (auto& f : manifest["files"]) {
      const json& m = f["models"][0];
      if (!m["spec"].is_object()) continue;
      const std::string file = (corpus / f["file"].get<std::string>()).string(), place = place_of(m);
      INFO(release << " " << f["file"] << " model at '" << place << "'");
      const fs::path spec_json = state / ("spec-" + release + "-" + f["shape"].get<std::string>() + ".json");
      std::ofstream(spec_json) << m["spec"].dump();
      auto c = test::xcompat(state.path, "check --json --no-native " + shq(file) + " --from " + release + " --to " + to +
                                             key_arg(place) + " --spec-args " + shq(spec_json) + " --db " +
                                             shq(state / "checks.db"));
      INFO(c.out);
      REQUIRE((c.exit_code == 0 || c.exit_code == 3));
      const json answer = json::parse(c.out);
      const std::string spec_name = m["spec"]["name"];
      REQUIRE(cells.count(spec_name) == 1);
      const CellResult& cell = cells.at(spec_name);
      CHECK(answer["release"]["verdict"] == verdict_name(cell.verdict));
      if (cell.direct_verdict) CHECK(answer["release"]["direct_verdict"] == verdict_name(*cell.direct_verdict));
      if (answer["release"]["verdict"] != "CONVERTED") continue;

      // Converted as the user would: the whole container, every model in it, the optimizer state dropped.
      const fs::path out = state / ("converted-" + release + "-" + f["file"].get<std::string>());
      // Models of one architecture (a model and its EMA copy) convert together; others one by one.
      bool one_spec = true;
      for (auto& other : f["models"]) one_spec = one_spec && other["spec"] == m["spec"];
      auto cv = test::xcompat(state.path, "convert --json " + shq(file) + " --from " + release + " --to " + to +
                                              (one_spec ? "" : key_arg(place)) + " --spec-args " + shq(spec_json) +
                                              " --optimizer drop --out " + shq(out));
      INFO(cv.out);
      REQUIRE(cv.exit_code == 0);
      const json plan = json::parse(cv.out);
      // The container keeps its shape; what the conversion invalidates is said.
      if (f["format"] == "pt") CHECK(plan["container"] == "the same container shape");
      std::string models, dropped;
      for (auto& mc : plan["models"]) models += (models.empty() ? "" : "/") + mc["prefix"].get<std::string>();
      for (auto& o : plan["optimizer"]) dropped += (dropped.empty() ? "" : "/") + o.get<std::string>();
      if (!plan["optimizer"].empty()) CHECK(plan["optimizer_action"] == "dropped");
      const fs::path built = state / ("built-" + release + "-" + f["shape"].get<std::string>() + ".json");
      std::ofstream(built) << spec_with_args(m["spec"], plan["args"]).dump();
      auto v = test::run_command("PYTHONPATH=" + shq(release_sandbox(to)) + ":" + shq(python_driver_dir()) + " " +
                                 python() + " " + shq(project_root() / "tests" / "data" / "verify_converted.py") +
                                 " --converted " + shq(out) + " --prefix '" + place + "' --spec " + shq(built) +
                                 " --reference " + shq(answer["reference_dir"].get<std::string>()) +
                                 (f["format"] == "pt" ? " --original " + shq(file) + " --models '" + models +
                                                            "' --dropped '" + dropped + "'"
                                                      : std::string()) +
                                 " 2>&1");
      INFO(v.out);
      REQUIRE(v.exit_code == 0);
      const json verified = json::parse(v.out.substr(v.out.rfind('{')));
      CHECK(verified["loaded"] == true);
      CHECK(verified["close"] == true);
      if (f["format"] == "pt") {
        CHECK(verified["kept_same"] == true);  // the step, the epoch, the app's own layers, the other model: as they were
      }
    }
  }
}

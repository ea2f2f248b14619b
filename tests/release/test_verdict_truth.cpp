// Verdict truth through the real workers and the sweep: non-finite outputs
// are verdicts (never an abort), arguments a release drops are UNSUPPORTED
// (never a silently different model), the two checkpoint formats are cells
// of their own, and a cache hit is only ever a result of the same inputs.
#include <unistd.h>

#include <fstream>
#include <map>

#include "catch.hpp"
#include "harness/core/paths.hpp"
#include "matrix/store.hpp"
#include "support.hpp"

using namespace xcompat;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A sweep's summary; its exit status 0 or 3 (a regression), or 4 where
// the caller expects nothing to be measured.
json sweep(const fs::path& state, const std::string& args, const std::string& env = "", bool nothing_measured = false) {
  auto r = test::run_command(env + " XCOMPAT_STATE='" + state.string() + "' '" XCOMPAT_BIN "' sweep --json " + args);
  INFO(r.out);
  if (nothing_measured) REQUIRE(r.exit_code == 4);
  else REQUIRE((r.exit_code == 0 || r.exit_code == 3));
  return json::parse(r.out);
}

// Replaces a cached fixture's checkpoint with a mutated one (meta.json's
// hashes updated): to the sweep, a producer that saved these tensors.
void mutate_in_place(const fs::path& fixture, const std::string& mutation) {
  const fs::path tmp = fixture.string() + ".mutating";
  auto r = test::run_command("'" + (default_venv() / "bin" / "python").string() + "' '" XCOMPAT_TEST_DATA
                             "/mutate_fixture.py' '" + fixture.string() + "' '" + tmp.string() + "' " + mutation);
  REQUIRE(r.exit_code == 0);
  fs::remove_all(fixture);
  fs::rename(tmp, fixture);
}

fs::path fixture_dir_of(const fs::path& state, const std::string& release, const std::string& spec) {
  for (auto& e : fs::directory_iterator(state / "fixtures" / release))
    if (e.path().filename().string().rfind(spec + "-float32-", 0) == 0) return e.path();
  FAIL("no fixture of " << spec << " by " << release);
  return {};
}

}  // namespace

TEST_CASE("a NaN weight is a DRIFT cell with its reason, and the sweep completes", "[release]") {
  test::TempDir state;
  const std::string plan = "--release 2.31.10 --consumer 2.31.10,cpp-native --spec decoder-absolute --dtype float32 "
                           "--no-progress --db '" + (state / "m.db").string() + "'";
  REQUIRE(test::xcompat(state.path, "fixtures --release 2.31.10 --spec decoder-absolute --dtype float32").exit_code == 0);
  mutate_in_place(fixture_dir_of(state.path, "2.31.10", "decoder-absolute"), "nan");

  const json s = sweep(state.path, plan);
  CHECK(s["evaluated"] == 2);
  Store store((state / "m.db").string(), false);
  const auto runs = store.runs();
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].status == "complete");
  for (auto& r : store.matrix_as_of()) {
    INFO(r.cell.line());
    CHECK(r.cell.verdict == Verdict::Drift);
    CHECK_THAT(r.cell.error, Catch::Contains("NaN"));
    REQUIRE(r.cell.metrics);
    CHECK(std::isnan(r.cell.metrics->max_abs));  // stored and read back as NaN, not as "no figure"
  }
}

TEST_CASE("a release that drops an argument cannot build the spec; one that routes it can", "[release]") {
  test::TempDir state;
  auto r = test::xcompat(state.path,
                         "fixtures --json --specs-file '" XCOMPAT_TEST_DATA "/verdict_specs.toml' "
                         "--release 0.28.4,1.0.4,1.26.6,2.31.10");
  REQUIRE(r.exit_code == 0);
  std::map<std::string, json> row;
  const json listing = json::parse(r.out);
  for (auto& f : listing["fixtures"]) row[f["spec"].get<std::string>() + " " + f["release"].get<std::string>()] = f;
  for (auto release : {"0.28.4", "1.0.4"}) {
    INFO(release);
    const json& f = row.at(std::string("xtransformer-no-enc-abs ") + release);
    CHECK(f["state"] == "UNSUPPORTED");
    CHECK_THAT(f["reason"].get<std::string>(), Catch::Contains("release ignores xtransformer argument 'enc_use_abs_pos_emb'"));
  }
  CHECK(row.at("xtransformer-no-enc-abs 2.31.10")["state"] == "fixture");
  // cross_attn_ reaches cross-attention from 1.2x on; 0.28.4 drops it.
  CHECK(row.at("xtransformer-cross-dim-head 1.26.6")["state"] == "fixture");
  CHECK(row.at("xtransformer-cross-dim-head 2.31.10")["state"] == "fixture");
  CHECK_THAT(row.at("xtransformer-cross-dim-head 0.28.4")["reason"].get<std::string>(),
             Catch::Contains("ignores xtransformer argument 'dec_cross_attn_dim_head'"));
}

TEST_CASE("a release failing on its own spec is ERROR, never UNSUPPORTED", "[release]") {
  // tie_embedding is broken in the releases themselves from 0.24.0 to 1.16.7.
  test::TempDir state;
  // Its only cell is ERROR: the sweep measured nothing and exits 4.
  sweep(state.path, "--release 1.0.4 --consumer 1.0.4 --spec decoder-tied --dtype float32 --no-progress --db '" +
                        (state / "m.db").string() + "'", "", true);
  Store store((state / "m.db").string(), false);
  auto m = store.matrix_as_of();
  REQUIRE(m.size() == 1);
  CHECK(m[0].cell.verdict == Verdict::Error);
  CHECK_THAT(m[0].cell.error, Catch::Contains("fails on decoder-tied"));
  CHECK_THAT(m[0].cell.error, Catch::Contains("AttributeError"));
}

TEST_CASE("pt and safetensors cells live side by side in one matrix", "[release]") {
  test::TempDir state;
  const std::string db = " --db '" + (state / "m.db").string() + "'";
  // The readers only: the checks of a producer's own model read its .pt alone.
  const std::string readers = " --consumer 1.31.1,1.31.4,cpp-native";
  const json first = sweep(state.path, "--release 1.31.1,1.31.4 --spec decoder-absolute --dtype float32 "
                                       "--checkpoint pt --no-progress" + readers + db);
  CHECK(first["evaluated"] == 6);  // 2 producers x 3 consumers
  const json both = sweep(state.path, "--release 1.31.1,1.31.4 --spec decoder-absolute --dtype float32 "
                                      "--checkpoint pt,safetensors --no-progress" + readers + db);
  CHECK(both["reused"] == 6);      // the pt cells, as recorded
  CHECK(both["evaluated"] == 6);   // the safetensors cells are new
  Store store((state / "m.db").string(), false);
  std::map<std::string, int> by_format;
  for (auto& r : store.matrix_as_of()) {
    ++by_format[r.cell.key.checkpoint];
    // 1.31.1 -> 1.31.4: same keys, unit-offset norms: a real DRIFT end to end,
    // which the conversion (norm-unit-offset: g - 1) carries.
    if (r.cell.key.producer == "1.31.1" && r.cell.key.consumer == "1.31.4") {
      CHECK(r.cell.direct_verdict == Verdict::Drift);
      CHECK(r.cell.verdict == Verdict::Converted);
    }
  }
  CHECK(by_format["pt"] == 6);
  CHECK(by_format["safetensors"] == 6);
  // Reused cells are recorded in the run that reused them.
  CHECK(store.runs().back().results == 12);
}

TEST_CASE("editing a spec, the driver, the venv or the port re-evaluates exactly the cells it affects", "[release]") {
  test::TempDir state;
  const fs::path specs = state / "specs.toml";
  fs::copy_file(default_specs_path(), specs);
  const std::string db = " --db '" + (state / "m.db").string() + "'";
  const std::string plan = "--release 1.31.4,2.31.10 --consumer 1.31.4,2.31.10,cpp-native "
                           "--spec decoder-absolute,decoder-glu --dtype float32 --no-progress --specs-file '" +
                           specs.string() + "'" + db;
  CHECK(sweep(state.path, plan)["evaluated"] == 12);
  CHECK(sweep(state.path, plan)["evaluated"] == 0);

  SECTION("a spec edit that leaves the producer's bytes unchanged re-evaluates that spec's cells") {
    std::string text = test::slurp(specs);
    const std::string from = "features = [\"glu-feedforward\"]";
    REQUIRE(text.find(from) != std::string::npos);
    text.replace(text.find(from), from.size(), "features = [\"glu-feedforward\", \"edited\"]");
    std::ofstream(specs) << text;
    const json s = sweep(state.path, plan);
    CHECK(s["evaluated"] == 6);  // decoder-glu: 2 producers x 3 consumers
    CHECK(s["reused"] == 6);
  }
  SECTION("the port's sources re-evaluate the cpp-native cells only") {
    const json s = sweep(state.path, plan, "XCOMPAT_TEST_HOOKS=1 XCOMPAT_TEST_PORT_IDENTITY=port-edited");
    CHECK(s["evaluated"] == 4);  // 2 specs x 2 producers
    CHECK(s["reused"] == 8);
  }
  SECTION("the driver's source re-evaluates the release consumers' cells and remakes the fixtures") {
    // A root whose driver differs by one comment; everything else is the checkout's.
    const fs::path root = state / "root";
    fs::create_directories(root / "harness" / "python");
    std::ofstream(root / "harness" / "python" / "xcompat_driver.py")
        << test::slurp(python_driver_dir() / "xcompat_driver.py") << "\n# edited\n";
    fs::copy_file(python_driver_dir() / "xcompat_deploy.py", root / "harness" / "python" / "xcompat_deploy.py");
    fs::create_directories(root / "matrix");
    fs::copy_file(project_root() / "matrix" / "history.toml", root / "matrix" / "history.toml");
    const std::string env = "XCOMPAT_ROOT='" + root.string() + "' XCOMPAT_RELEASES='" +
                            release_sandboxes().string() + "' XCOMPAT_VENV='" + default_venv().string() +
                            "'";
    const json s = sweep(state.path, plan + " --pins '" + default_pins_path().string() + "'", env);
    CHECK(s["evaluated"] == 8);  // the release consumers' cells
    CHECK(s["reused"] == 4);     // cpp-native reads fixtures whose bytes did not change
    CHECK(s["timing"]["fixtures_s"].get<double>() > 0);  // the fixtures were made again by the new driver
  }
  SECTION("one field of one history entry re-evaluates the converted cells whose chain crosses it") {
    // A field no summary of the entry shows (its note): only the entry as
    // written names it. layerscale-unit-offset (1.31.8) lies between the two
    // releases; ff-net-renamed-ff (0.33.0) below both.
    auto edited = [&](const std::string& id) {
      std::string text = test::slurp(project_root() / "matrix" / "history.toml");
      const std::string entry = "id = \"" + id + "\"\n";
      REQUIRE(text.find(entry) != std::string::npos);
      text.insert(text.find(entry) + entry.size(), "note = \"edited by a test\"\n");
      const fs::path path = state / ("history-" + id + ".toml");
      std::ofstream(path) << text;
      return "XCOMPAT_HISTORY='" + path.string() + "'";
    };
    // The port reads its switches by id from anywhere in the file: its 4
    // cells follow the whole file. The release consumers' cells follow their chain.
    const json crossing = sweep(state.path, plan, edited("layerscale-unit-offset"));
    CHECK(crossing["evaluated"] == 8);  // 1.31.4 <-> 2.31.10 x 2 specs, and cpp-native's 4
    CHECK(crossing["reused"] == 4);     // each release reading its own checkpoints
    const json below = sweep(state.path, plan, edited("ff-net-renamed-ff"));
    CHECK(below["evaluated"] == 4);  // cpp-native's only
    CHECK(below["reused"] == 8);
    // Converted files are keyed the same way: one per pair and format, the
    // one the last history made (the others are removed as it is written).
    std::map<std::string, int> per_pair;
    if (fs::exists(state / "converted"))
      for (auto& e : fs::recursive_directory_iterator(state / "converted")) {
        const std::string name = e.path().filename().string();
        if (!e.is_regular_file() || name.ends_with(".json")) continue;
        ++per_pair[e.path().parent_path().string() + "/" + name.substr(0, name.find('-')) + e.path().extension().string()];
      }
    for (auto& [pair, n] : per_pair) {
      INFO(pair);
      CHECK(n == 1);
    }
  }
  SECTION("the venv's distributions re-evaluate the release consumers' cells") {
    // The same venv plus one more distribution, through symlinks.
    const fs::path venv = state / "venv";
    const fs::path site = venv_site_packages(venv);
    fs::create_directories(site);
    fs::create_directories(venv / "bin");
    fs::create_symlink(fs::canonical(default_venv() / "bin" / "python"), venv / "bin" / "python");
    for (auto& e : fs::directory_iterator(venv_site_packages(default_venv())))
      fs::create_symlink(e.path(), site / e.path().filename());
    fs::create_directories(site / "xcompat_test_extra-1.0.dist-info");
    const json s = sweep(state.path, plan, "XCOMPAT_VENV='" + venv.string() + "'");
    CHECK(s["evaluated"] == 8);
    CHECK(s["reused"] == 4);
  }
}

TEST_CASE("after a policy change and back, every reader shows what the last sweep says", "[release]") {
  // A -> B -> A: the third sweep reuses A's results and records them in its
  // own run, so query (which reads the latest run) agrees with its summary.
  test::TempDir state;
  const fs::path pins_b = state / "pins-b.toml";
  std::ofstream(pins_b) << test::slurp(default_pins_path())
                        << "\n[[override]]\nspec = \"decoder-absolute\"\nconsumer = \"1.31.4\"\nrtol = 10.0\n"
                           "atol = 10.0\nnmse = 10.0\nreason = \"test: anything goes\"\n";
  const std::string db = " --db '" + (state / "m.db").string() + "'";
  const std::string plan = "--release 1.31.1 --consumer 1.31.4 --spec decoder-absolute --dtype float32 --no-progress";
  const json a = sweep(state.path, plan + db);
  const json b = sweep(state.path, plan + db + " --pins '" + pins_b.string() + "'");
  const json again = sweep(state.path, plan + db);
  CHECK(a["verdicts"]["CONVERTED"] == 1);  // the unit-offset DRIFT, converted
  CHECK(b["verdicts"]["CLOSE"] == 1);      // the override makes the direct path pass
  CHECK(again["reused"] == 1);
  CHECK(again["verdicts"]["CONVERTED"] == 1);
  auto q = test::xcompat(state.path, "query --json --from 1.31.1 --to 1.31.4" + db);
  REQUIRE(q.exit_code == 0);
  CHECK(json::parse(q.out)["specs"][0]["verdict"] == "CONVERTED");
  CHECK(json::parse(q.out)["specs"][0]["direct_verdict"] == "DRIFT");
}

TEST_CASE("a flaky cell is never reused as settled: it is evaluated again until two runs agree", "[release][mutation]") {
  // The consumer's answer alternates between calls (XCOMPAT_TEST_FLAKY):
  // off by 1% on every odd call, right on every even one.
  test::TempDir state;
  const fs::path pins = state / "pins.toml";  // a tolerance override: a new key, so the cell is evaluated
  std::ofstream(pins) << test::slurp(default_pins_path())
                      << "\n[[override]]\nspec = \"decoder-absolute\"\nconsumer = \"2.31.10\"\nrtol = 1.3e-6\n"
                         "atol = 1e-5\nnmse = 2e-9\nreason = \"test: a new key\"\n";
  const std::string plan = "--release 2.31.10 --consumer 2.31.10 --spec decoder-absolute --dtype float32 "
                           "--checkpoint pt --no-progress --db '" + (state / "m.db").string() + "'";
  const std::string flaky = "XCOMPAT_TEST_HOOKS=1 XCOMPAT_TEST_FLAKY='" + (state / "calls").string() + "'";
  const json settled = sweep(state.path, plan);
  REQUIRE(settled["verdicts"]["IDENTICAL"] == 1);

  // Call 1 drifts (a change from IDENTICAL: re-run), call 2 does not: flaky.
  const std::string junit = (state / "junit.xml").string();
  const json first = sweep(state.path, plan + " --pins '" + pins.string() + "' --junit '" + junit + "'", flaky);
  CHECK(first["evaluated"] == 1);
  CHECK(first["flaky"] == 1);
  CHECK_THAT(test::slurp(junit), Catch::Contains("<property name=\"flaky\" value=\"true\"/>"));
  // The same inputs again: not reused, run twice (calls 3 and 4), still flaky.
  const json second = sweep(state.path, plan + " --pins '" + pins.string() + "'", flaky);
  CHECK(second["reused"] == 0);
  CHECK(second["evaluated"] == 1);
  CHECK(second["rerun"] == 1);
  CHECK(second["flaky"] == 1);
  // The consumer steadies: two agreeing runs settle the cell, which is then reused.
  const json steady = sweep(state.path, plan + " --pins '" + pins.string() + "'");
  CHECK(steady["evaluated"] == 1);
  CHECK(steady["rerun"] == 1);
  CHECK(steady["flaky"] == 0);
  CHECK(steady["verdicts"]["IDENTICAL"] == 1);
  CHECK(sweep(state.path, plan + " --pins '" + pins.string() + "'")["reused"] == 1);

  // diff names the flaky runs.
  auto d = test::xcompat(state.path, "diff --json 1 2 --db '" + (state / "m.db").string() + "'");
  REQUIRE(d.exit_code == 0);
  CHECK(json::parse(d.out)["flaky"].size() == 1);
}

TEST_CASE("a reader that cannot build the model counts against the pair; a producer that cannot has nothing to load",
          "[release][mutation]") {
  // decoder-value-residual: 2.31.10 builds it, 0.28.4 has no value residual.
  test::TempDir state;
  const std::string db = " --db '" + (state / "m.db").string() + "'";
  sweep(state.path, "--release 0.28.4,2.31.10 --consumer 0.28.4,cpp-native --spec decoder-value-residual "
                    "--dtype float32 --checkpoint pt --no-progress" + db);
  Store store((state / "m.db").string(), false);
  std::map<std::string, CellResult> cells;
  for (auto& r : store.matrix_as_of()) cells[r.cell.key.producer + " " + r.cell.key.consumer] = r.cell;
  REQUIRE(cells.count("2.31.10 0.28.4"));
  const CellResult& down = cells["2.31.10 0.28.4"];
  INFO(down.line());
  CHECK(down.verdict == Verdict::LoadFail);  // the checkpoint exists and does not load there
  CHECK_THAT(down.error, Catch::Contains("release 0.28.4 cannot build decoder-value-residual"));
  REQUIRE(down.causes.is_array());
  CHECK(down.causes[0]["kind"] == "unbuildable");
  CHECK(!down.conversion.is_object());  // no conversion is tried: none gives 0.28.4 the model
  // Nothing to load: not comparable, whoever reads it.
  CHECK(cells["0.28.4 0.28.4"].verdict == Verdict::Unsupported);
  CHECK(cells["0.28.4 cpp-native"].verdict == Verdict::Unsupported);
  // query counts it: the downgrade breaks.
  auto q = test::xcompat(state.path, "query --json --from 2.31.10 --to 0.28.4" + db);
  REQUIRE(q.exit_code == 0);
  INFO(q.out);
  CHECK(json::parse(q.out)["overall"] == "breaks");
}

TEST_CASE("rounding is a cause only within what rounding makes of the model; beyond it, unexplained", "[release]") {
  // 1.30.23 -> 1.31.1: the LayerNorm bias goes (1.31.0, zero in a fresh
  // model: dropped losslessly), and layernorm-separate-affine computes the
  // same function with other rounding. A reader off by 1% is beyond any
  // rounding, and its converted DRIFT must not be called rounding.
  // In bfloat16 the consumer measures its own rounding too (both sides'
  // roundings bound the cell): the skew is beyond them as well.
  const std::string dtype = GENERATE(std::string("float32"), std::string("bfloat16"));
  INFO(dtype);
  test::TempDir state;
  const std::string plan = "--release 1.30.23 --consumer 1.31.1 --spec decoder-absolute --dtype " + dtype +
                           " --checkpoint pt --no-progress --db '" + (state / "m.db").string() + "'";
  // 1% is beyond any float32 rounding; bfloat16 rounds about that much itself (each side ~0.6% RMS here), so
  // its reader is off by 10%.
  sweep(state.path, plan, std::string("XCOMPAT_TEST_HOOKS=1 XCOMPAT_TEST_OUTPUT_SKEW=") + (dtype == "float32" ? "1e-2" : "1e-1"));
  Store store((state / "m.db").string(), false);
  const auto m = store.matrix_as_of();
  REQUIRE(m.size() == 1);
  const CellResult& c = m[0].cell;
  INFO(c.line() << "\n" << c.causes.dump(1) << "\n" << c.conversion.dump(1));
  CHECK_FALSE(verdict_passes(c.verdict));
  REQUIRE(c.causes.is_array());
  bool beyond = false;
  for (auto& cause : c.causes)
    beyond |= cause["kind"] == "unexplained" && cause["detail"].get<std::string>().find("rounding alone makes") != std::string::npos;
  CHECK(beyond);
  // The producer measured the bound: its model in float64 against float32.
  bool measured = false;
  for (auto& e : fs::recursive_directory_iterator(state / "fixtures"))
    if (e.path().filename() == "meta.json") {
      const json meta = json::parse(test::slurp(e.path()));
      if (meta.contains("rounding")) {
        measured = true;
        CHECK(meta["rounding"]["reference"] == (dtype == "float32" ? "float64" : "float32"));
        CHECK(meta["rounding"]["nmse"].get<double>() < (dtype == "float32" ? 1e-9 : 1e-3));
      }
    }
  CHECK(measured);
}

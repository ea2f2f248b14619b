// The deployment consumers: a release exports its own fixture model
// (torch.jit.trace -> cpp-torchscript; torch.export + AOTInductor ->
// cpp-export), libtorch runs the artifact, and the cell compares it with the
// release's eager outputs. An artifact that computes something else
// (injected) is DRIFT; a model that does not export is ERROR with the
// construct that failed; an artifact changed after export is not run.
#include <fstream>
#include <map>

#include "catch.hpp"
#include "matrix/store.hpp"
#include "release_support.hpp"

using namespace xcompat;
namespace fs = std::filesystem;

namespace {

std::map<std::string, CellResult> cells_of(const fs::path& db) {
  return test::cells_by(db, [](const CellKey& k) { return k.consumer + " " + k.producer + " " + k.spec; });
}

std::vector<fs::path> files_named(const fs::path& root, const std::string& name) {
  std::vector<fs::path> out;
  for (auto& e : fs::recursive_directory_iterator(root))
    if (e.path().filename() == name) out.push_back(e.path());
  return out;
}

bool has_warning(const CellResult& c, const std::string& part) {
  for (auto& w : c.warnings)
    if (w.find(part) != std::string::npos) return true;
  return false;
}

const std::string kPlan = "sweep --no-progress -j 2 --release 2.31.10 --dtype float32 --spec decoder-rmsnorm "
                          "--consumer cpp-torchscript,cpp-export";

}  // namespace

TEST_CASE("cpp-torchscript and cpp-export run each release's artifact in C++ against its eager outputs", "[release]") {
  test::TempDir t;
  auto r = test::xcompat(t.path, kPlan + " --db '" + (t / "m.db").string() + "'");
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  auto cells = cells_of(t / "m.db");
  REQUIRE(cells.size() == 2);
  for (const char* c : {"cpp-torchscript", "cpp-export"}) {
    const CellResult& cell = cells[std::string(c) + " 2.31.10 decoder-rmsnorm"];
    INFO(c << ": " << cell.error);
    CHECK(verdict_passes(cell.verdict));
    CHECK(cell.verdict != Verdict::Converted);
    REQUIRE(cell.metrics);
    CHECK(cell.metrics->max_abs < 1e-4);
  }
  // torch.jit.trace is deprecated in this torch: the cell says so.
  CHECK(has_warning(cells["cpp-torchscript 2.31.10 decoder-rmsnorm"], "Warning"));

  // Kept with the fixture, stamped with the release, and reused.
  const auto packages = files_named(t.path, "model.pt2");
  REQUIRE(packages.size() == 1);
  const json record = json::parse(std::ifstream(packages[0].parent_path() / "export.json"));
  CHECK(record["status"] == "ok");
  CHECK(record["stamp"]["x_transformers"] == "2.31.10");
  CHECK(record["inputs"] == json::array({"x"}));
  auto again = test::xcompat(t.path, kPlan + " --db '" + (t / "again.db").string() + "'", true);
  INFO(again.out);
  CHECK(again.out.find("exporting deployment artifacts") == std::string::npos);
  CHECK(cells_of(t / "again.db")["cpp-export 2.31.10 decoder-rmsnorm"].verdict ==
        cells["cpp-export 2.31.10 decoder-rmsnorm"].verdict);

  // An artifact changed after export is refused, not run.
  const auto scripts = files_named(t.path, "model.ts");
  REQUIRE(scripts.size() == 1);
  {
    std::fstream f(scripts[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x7f');
  }
  auto tampered = test::xcompat(t.path, kPlan + " --db '" + (t / "tampered.db").string() + "'");
  INFO(tampered.out);
  const CellResult& bad = cells_of(t / "tampered.db")["cpp-torchscript 2.31.10 decoder-rmsnorm"];
  CHECK(bad.verdict == Verdict::Error);
  CHECK(bad.error.find("does not match its sha256") != std::string::npos);
}

TEST_CASE("an artifact that computes something else is DRIFT; a model that does not export is ERROR with its construct",
          "[release]") {
  test::TempDir t;
  // Weights moved by 1e-2 before exporting, and a data-dependent branch in
  // the exported forward: tracing bakes the branch in (and computes the
  // moved weights), torch.export refuses it.
  auto r = test::run_command("XCOMPAT_STATE='" + t.path.string() +
                             "' XCOMPAT_TEST_HOOKS=1 XCOMPAT_TEST_DEPLOY_SKEW=1e-2 XCOMPAT_TEST_EXPORT_BRANCH=1 '" XCOMPAT_BIN
                             "' " + kPlan + " --db '" + (t / "m.db").string() + "' 2>&1");
  INFO(r.out);
  auto cells = cells_of(t / "m.db");
  const CellResult& traced = cells["cpp-torchscript 2.31.10 decoder-rmsnorm"];
  CHECK(traced.verdict == Verdict::Drift);
  const CellResult& exported = cells["cpp-export 2.31.10 decoder-rmsnorm"];
  INFO(exported.error);
  CHECK(exported.verdict == Verdict::Error);
  CHECK(exported.error.find("does not export decoder-rmsnorm") != std::string::npos);
  CHECK(exported.error.find("if bool(tensors[0].sum() != self.exported_on)") != std::string::npos);  // the construct
  REQUIRE(exported.causes.is_array());
  CHECK(exported.causes[0]["kind"] == "export");
  // A failed export is a finding, kept: the next sweep does not try again.
  CHECK(files_named(t.path, "model.pt2").empty());
  auto again = test::run_command("XCOMPAT_STATE='" + t.path.string() + "' '" XCOMPAT_BIN "' " + kPlan + " --db '" +
                                 (t / "m.db").string() + "' 2>&1");
  INFO(again.out);
  CHECK(again.out.find("exporting deployment artifacts") == std::string::npos);
}

// A full disk while exporting is the machine's failure: ERROR with that
// cause, never kept, and the next sweep exports.
TEST_CASE("a full disk while exporting is ERROR, retried by the next sweep", "[release]") {
  test::TempDir t;
  const std::string plan = "sweep --json --no-progress --release 2.31.10 --dtype float32 --spec decoder-rmsnorm "
                           "--consumer cpp-torchscript --db '" + (t / "m.db").string() + "'";
  auto full = test::run_command("XCOMPAT_STATE='" + t.path.string() +
                                "' XCOMPAT_TEST_HOOKS=1 XCOMPAT_TEST_EXPORT_ENVIRONMENT=torchscript '" XCOMPAT_BIN "' " +
                                plan);
  INFO(full.out);
  CHECK(full.exit_code == 4);  // the only cell is ERROR: nothing was measured
  {
    auto cells = cells_of(t / "m.db");
    const CellResult& c = cells["cpp-torchscript 2.31.10 decoder-rmsnorm"];
    INFO(c.error);
    CHECK(c.verdict == Verdict::Error);
    CHECK_THAT(c.error, Catch::Contains("the disk is full"));
    REQUIRE(c.causes.is_array());
    CHECK(c.causes[0]["kind"] == "environment");
  }
  CHECK(files_named(t.path, "export.json").empty());  // nothing recorded as the release's finding
  auto fixed = test::run_command("XCOMPAT_STATE='" + t.path.string() + "' '" XCOMPAT_BIN "' " + plan);
  INFO(fixed.out);
  REQUIRE(fixed.exit_code == 0);
  const auto j = nlohmann::json::parse(fixed.out);
  CHECK(j["evaluated"] == 1);
  CHECK(j["reused"] == 0);
  CHECK(verdict_passes(cells_of(t / "m.db")["cpp-torchscript 2.31.10 decoder-rmsnorm"].verdict));
}

TEST_CASE("a trace that baked in data-dependent control flow is DRIFT on inputs it was not traced on, with its cause",
          "[release][mutation]") {
  // The hook's branch: inputs other than those exported on add 1 to the
  // outputs. The trace took the other branch, and keeps it.
  test::TempDir t;
  const std::string plan = "sweep --no-progress --release 2.31.10 --dtype float32 --spec decoder-rmsnorm "
                           "--consumer cpp-torchscript --db '" + (t / "m.db").string() + "'";
  auto r = test::run_command("XCOMPAT_STATE='" + t.path.string() + "' XCOMPAT_TEST_HOOKS=1 XCOMPAT_TEST_EXPORT_BRANCH=1 '"
                             XCOMPAT_BIN "' " + plan + " 2>&1");
  INFO(r.out);
  auto cells = cells_of(t / "m.db");
  const CellResult& traced = cells["cpp-torchscript 2.31.10 decoder-rmsnorm"];
  INFO(traced.error);
  CHECK(traced.verdict == Verdict::Drift);
  CHECK_THAT(traced.error, Catch::StartsWith("on inputs it was not traced on"));
  CHECK_THAT(traced.error, Catch::Contains("the tracer's check"));
  REQUIRE(traced.causes.is_array());
  CHECK(traced.causes[0]["kind"] == "baked-in");
  CHECK(has_warning(traced, "TracerWarning"));  // the tracer said so while tracing
  // The record says how the probe was drawn: another seed, another length.
  const auto records = files_named(t.path, "export.json");
  REQUIRE(records.size() == 1);
  const auto record = nlohmann::json::parse(test::slurp(records[0]));
  CHECK(record["probe"]["seq_len"].is_number());
  CHECK(record.contains("trace_check"));
}

TEST_CASE("without a branch, a trace passes on its own inputs and on the probe's", "[release]") {
  test::TempDir t;
  auto r = test::xcompat(t.path, "sweep --no-progress --release 2.31.10 --dtype float32 --spec decoder-rmsnorm "
                                 "--consumer cpp-torchscript --db '" + (t / "m.db").string() + "'");
  INFO(r.out);
  const CellResult& traced = cells_of(t / "m.db")["cpp-torchscript 2.31.10 decoder-rmsnorm"];
  INFO(traced.error);
  CHECK(verdict_passes(traced.verdict));
  const auto record = nlohmann::json::parse(test::slurp(files_named(t.path, "export.json").at(0)));
  CHECK(record["probe"]["seq_len"].is_number());  // it was run on another length too
  CHECK_FALSE(record.contains("trace_check"));
}

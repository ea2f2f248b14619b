// Sweeps over real releases: resume after a kill, shard + merge, the cache,
// JUnit, the upgrade query.
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "catch.hpp"
#include "matrix/store.hpp"
#include "support.hpp"
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

using namespace xcompat;
using json = nlohmann::json;

namespace {
const std::string kPlan = "--release 1.0.4,1.31.4,2.31.10 --spec decoder-absolute --spec decoder-glu --dtype float32 "
                          "--consumer 1.0.4 --consumer 1.31.4,2.31.10 --no-progress";

// The matrix as comparable values: cell -> verdict, every figure exactly
// (hexadecimal floats: equal strings are equal doubles) and the load report.
std::map<std::string, std::string> matrix_of(const fs::path& db) {
  Store s(db.string(), false);
  std::map<std::string, std::string> m;
  for (auto& r : s.matrix_as_of()) {
    const auto& c = r.cell;
    std::string v = verdict_name(c.verdict);
    if (c.metrics)
      v += fmt::format(" {:a} {:a} {:a} {:a} {:a} {:a} {}", c.metrics->max_abs, c.metrics->max_rel,
                       c.metrics->mean_abs, c.metrics->nmse, c.metrics->cosine, c.metrics->top1, c.metrics->bitwise);
    m[c.key.str()] = v + " " + c.load_report.to_json().dump() + " " + c.error;
  }
  return m;
}

json sweep_json(const fs::path& state, const std::string& args) {
  auto r = test::xcompat(state, "sweep --json " + args);
  INFO(r.out);
  REQUIRE((r.exit_code == 0 || r.exit_code == 3));
  return json::parse(r.out);
}
}  // namespace

TEST_CASE("a sweep killed mid-way resumes to the same matrix as an uninterrupted one", "[release]") {
  test::TempDir whole, interrupted;
  sweep_json(whole.path, kPlan + " --db " + (whole / "m.db").string());
  const auto expected = matrix_of(whole / "m.db");
  REQUIRE(expected.size() == 18);

  // Fixtures first, so the kill lands in the cell phase.
  REQUIRE(test::xcompat(interrupted.path, "fixtures --release 1.0.4 --release 1.31.4 --release 2.31.10 "
                                          "--spec decoder-absolute --spec decoder-glu").exit_code == 0);
  // SIGKILL right after the 7th cell is committed (fault injection hook).
  auto killed = test::run_command("XCOMPAT_TEST_KILL_AFTER_CELLS=7 XCOMPAT_STATE='" + interrupted.path.string() +
                                  "' '" XCOMPAT_BIN "' sweep -j 1 " + kPlan + " --db '" +
                                  (interrupted / "m.db").string() + "'");
  CHECK(killed.exit_code == 128 + 9);
  {
    Store s((interrupted / "m.db").string());
    auto runs = s.runs();
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].status == "interrupted");
    CHECK(runs[0].results == 7);  // every acknowledged cell survived the kill
  }
  auto resumed = sweep_json(interrupted.path, kPlan + " --db " + (interrupted / "m.db").string());
  CHECK(resumed["reused"].get<int>() + resumed["evaluated"].get<int>() == 18);
  CHECK(matrix_of(interrupted / "m.db") == expected);
}

TEST_CASE("shards plus merge equal a single sweep; a repeated sweep starts no worker", "[release]") {
  test::TempDir state;
  const auto single = state / "single.db";
  auto first = sweep_json(state.path, kPlan + " --db " + single.string() + " --junit " + (state / "j.xml").string());
  CHECK(first["evaluated"] == 18);
  // Where the time went: every stage measured, the cell work accounted for.
  const json& t = first["timing"];
  for (auto key : {"worker_start_s", "fixtures_s", "build_load_s", "forward_s", "compare_s", "database_s", "lanes_s"})
    CHECK(t[key].get<double>() >= 0);
  CHECK(t["worker_start_s"].get<double>() > 0);
  CHECK(t["forward_s"].get<double>() > 0);
  CHECK(t["build_load_s"].get<double>() > 0);
  CHECK(t["fixtures_s"].get<double>() > 0);  // a fresh state dir: the sweep made its fixtures
  CHECK(t["lanes_s"].get<double>() >= t["build_load_s"].get<double>() + t["forward_s"].get<double>());

  auto again = sweep_json(state.path, kPlan + " --db " + single.string());
  CHECK(again["workers_started"] == 0);
  CHECK(again["reused"] == 18);
  CHECK(again["regressions"].empty());

  for (auto k : {"1/3", "2/3", "3/3"})
    sweep_json(state.path, kPlan + " --shard " + k + " --db " + (state / (std::string("s") + k[0] + ".db")).string());
  auto merged = test::xcompat(state.path, "merge " + (state / "merged.db").string() + " " +
                                              (state / "s1.db").string() + " " + (state / "s2.db").string() + " " +
                                              (state / "s3.db").string());
  REQUIRE(merged.exit_code == 0);
  CHECK(matrix_of(state / "merged.db") == matrix_of(single));

  // JUnit: one test case per cell.
  std::ifstream junit(state / "j.xml");
  std::string xml((std::istreambuf_iterator<char>(junit)), std::istreambuf_iterator<char>());
  size_t cases = 0;
  for (size_t at = 0; (at = xml.find("<testcase", at)) != std::string::npos; ++at) ++cases;
  CHECK(cases == 18);

  // The upgrade answer, from the same database.
  auto q = test::xcompat(state.path, "query --json --from 1.0.4 --to 2.31.10 --db " + single.string());
  REQUIRE(q.exit_code == 0);
  auto answer = json::parse(q.out);
  // 1.x -> 2.x: the keys moved; converted, the trained-like LayerNorm
  // biases have no place in 2.31.10 (the plain conversion is lossy, and
  // says so); adapters of 2.31.10's norms carry them: ADAPTED.
  CHECK(answer["overall"] == "safe with an adapter");
  CHECK(answer["specs"].size() == 2);
  for (auto& s : answer["specs"]) {
    CHECK(s["direct_verdict"] == "LOAD_FAIL");
    CHECK(s["verdict"] == "ADAPTED");
    CHECK(s["conversion"]["outcome"] == "lossy");
    CHECK(s["conversion"]["lost"].dump().find("attn_layers.layers.0.0.0.bias dropped") != std::string::npos);
    CHECK_THAT(s["conversion"]["command"].get<std::string>(),
               Catch::StartsWith("xcompat convert model.pt --from 1.0.4 --to 2.31.10"));
  }
  // Back down, nothing is lost: the older LayerNorm takes a zero bias.
  auto down = json::parse(test::xcompat(state.path, "query --json --from 2.31.10 --to 1.0.4 --db " + single.string()).out);
  CHECK(down["overall"] == "safe after conversion");
  for (auto& s : down["specs"]) CHECK(s["verdict"] == "CONVERTED");
  auto same = json::parse(test::xcompat(state.path, "query --json --from 2.31.10 --to 2.31.10 --db " +
                                                        single.string()).out);
  CHECK(same["overall"] == "safe");
  CHECK(same["score"] == 1.0);
}

TEST_CASE("a corrupt or foreign database file is refused before any work", "[release]") {
  test::TempDir state;
  std::ofstream(state / "bad.db") << "definitely not sqlite, but long enough to have a header";
  auto r = test::xcompat(state.path, "sweep " + kPlan + " --db " + (state / "bad.db").string(), true);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.out, Catch::Contains("not an xcompat matrix"));
  auto q = test::xcompat(state.path, "query --from 1.0.4 --to 2.31.10 --db " + (state / "missing.db").string(), true);
  CHECK(q.exit_code == 2);
  CHECK_THAT(q.out, Catch::Contains("no matrix at"));
}

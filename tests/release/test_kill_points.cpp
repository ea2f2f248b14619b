// Kill anywhere (harness/core/fault_points.hpp): a sweep SIGKILLed at each
// named point, then run again, ends with the matrix an uninterrupted sweep
// makes, value for value; the file stays whole; no half-written fixture,
// converted checkpoint or report is ever used. Merge and report are killed
// at their own points. Every point of fault_point_names() is exercised here.
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "fixtures/fixture_cache.hpp"
#include "harness/core/fault_points.hpp"
#include "matrix/store.hpp"
#include "release_support.hpp"

using namespace xcompat;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Two releases reading each other's decoder-rmsnorm and cpp-native: 6
// cells, 1.19.1 -> 2.31.10 through a conversion (L→V), fixtures made anew.
const std::string kSweep = "sweep --no-progress --dtype float32 --release 1.19.1,2.31.10 --spec decoder-rmsnorm "
                           "--consumer 1.19.1,2.31.10,cpp-native";

test::CommandResult run(const fs::path& state, const std::string& args, const std::string& kill_at = "") {
  std::string env = "XCOMPAT_STATE='" + state.string() + "' ";
  if (!kill_at.empty()) env += "XCOMPAT_TEST_HOOKS=1 XCOMPAT_TEST_KILL_AT='" + kill_at + "' ";
  return test::run_command(env + "'" XCOMPAT_BIN "' " + args + " 2>&1");
}

// Whole and used only whole: integrity ok, every run finished or interrupted,
// every fixture in the cache matching its recorded hashes.
void check_whole(const fs::path& state, const fs::path& db) {
  Store s(db.string(), false);
  CHECK(s.integrity_check() == "ok");
  const auto runs = s.runs();
  REQUIRE_FALSE(runs.empty());
  CHECK(runs.back().status == "complete");
  for (auto& r : runs) CHECK(r.status != "running");
  for (auto& rel : fs::directory_iterator(state / "fixtures"))
    for (auto& dir : fs::directory_iterator(rel.path())) {
      if (!fs::exists(dir.path() / "meta.json")) continue;  // a killed maker's temporary: never looked up
      Fixture f;
      f.dir = dir.path();
      f.meta = json::parse(std::ifstream(dir.path() / "meta.json"));
      std::string why;
      INFO(dir.path().string());
      CHECK(verify_fixture_files(f, why));
    }
}

}  // namespace

TEST_CASE("a sweep killed at any point resumes to the matrix an uninterrupted sweep makes", "[release]") {
  test::TempDir base;
  auto b = run(base.path, kSweep + " --db " + (base / "m.db").string());
  INFO(b.out);
  REQUIRE((b.exit_code == 0 || b.exit_code == 3));
  const json expected = test::matrix_of(base / "m.db");
  REQUIRE(expected.size() == 6);
  REQUIRE(expected.dump().find("CONVERTED") != std::string::npos);  // the converted path is on the way

  std::set<std::string> exercised;
  for (const std::string& point : fault_point_names()) {
    if (point.rfind("merge.", 0) == 0 || point.rfind("report.", 0) == 0 || point.rfind("gc.", 0) == 0)
      continue;  // below
    INFO("kill at " << point);
    test::TempDir state;
    const std::string db = " --db " + (state / "m.db").string();
    auto killed = run(state.path, kSweep + db, point);
    INFO(killed.out);
    CHECK(killed.exit_code == 128 + 9);  // SIGKILL: the point was reached
    auto resumed = run(state.path, kSweep + db);
    INFO(resumed.out);
    REQUIRE((resumed.exit_code == 0 || resumed.exit_code == 3));
    CHECK(test::matrix_of(state / "m.db") == expected);
    check_whole(state.path, state / "m.db");
    exercised.insert(point);
  }
  // Every point is exercised: the sweep's here, merge's and report's below.
  std::set<std::string> elsewhere = {"merge.mid-transaction", "report.mid-pages", "report.before-publish",
                                     "report.after-publish", "gc.mid-transaction"};
  for (auto& p : fault_point_names()) CHECK((exercised.count(p) + elsewhere.count(p)) == 1);
  CHECK(exercised.size() >= 17);
}

namespace {
// The baseline sweep in `state`: its matrix.
json baseline(const fs::path& state) {
  auto b = run(state, kSweep + " --db " + (state / "m.db").string());
  INFO(b.out);
  REQUIRE((b.exit_code == 0 || b.exit_code == 3));
  return test::matrix_of(state / "m.db");
}
}  // namespace

TEST_CASE("merge killed inside its transaction adds nothing; merged again, nothing is lost or doubled", "[release]") {
  test::TempDir base;
  const json expected = baseline(base.path);
  {
    test::TempDir& state = base;
    for (const char* shard : {"1/2", "2/2"}) {
      auto r = run(state.path, kSweep + " --shard " + shard + " --db " + (state / ("s" + std::string(1, shard[0]) + ".db")).string());
      REQUIRE((r.exit_code == 0 || r.exit_code == 3));
    }
    const std::string merge = "merge " + (state / "out.db").string() + " " + (state / "s1.db").string() + " " +
                              (state / "s2.db").string();
    CHECK(run(state.path, merge, "merge.mid-transaction").exit_code == 128 + 9);
    {
      Store out((state / "out.db").string(), false);
      CHECK(out.integrity_check() == "ok");
      CHECK(out.matrix_as_of().empty());  // the transaction rolled back whole
    }
    REQUIRE(run(state.path, merge).exit_code == 0);
    REQUIRE(run(state.path, merge).exit_code == 0);  // twice: nothing doubled
    CHECK(test::matrix_of(state / "out.db") == expected);
    Store out((state / "out.db").string(), false);
    int64_t results = 0;
    for (auto& r : out.runs()) results += r.results;
    CHECK(results == 6);
  }
}

TEST_CASE("gc killed inside its transaction drops nothing; run again, it drops the old runs", "[release]") {
  test::TempDir base;
  baseline(base.path);
  const std::string db = (base / "m.db").string();
  for (int i = 0; i < 2; ++i) REQUIRE(run(base.path, kSweep + " --db " + db).exit_code == 0);  // runs 2, 3: reused
  const json before = test::matrix_of(base / "m.db");
  CHECK(run(base.path, "gc --keep-runs 1 --db " + db, "gc.mid-transaction").exit_code == 128 + 9);
  {
    Store s(db, false);
    CHECK(s.integrity_check() == "ok");
    CHECK(s.runs().size() == 3);  // the transaction rolled back whole
  }
  CHECK(test::matrix_of(base / "m.db") == before);
  auto g = run(base.path, "gc --keep-runs 1 --db " + db);
  INFO(g.out);
  REQUIRE(g.exit_code == 0);
  Store s(db, false);
  CHECK(s.runs().size() == 1);
  CHECK(test::matrix_of(base / "m.db") == before);
}

TEST_CASE("a report killed while rendering leaves the previous site whole", "[release]") {
  test::TempDir base;
  baseline(base.path);
  {
    const fs::path site = base / "site";
    REQUIRE(run(base.path, "report --db " + (base / "m.db").string() + " --out " + site.string()).exit_code == 0);
    const std::string before = test::slurp(site / "index.html");
    for (const char* point : {"report.mid-pages", "report.before-publish"}) {
      INFO(point);
      CHECK(run(base.path, "report --db " + (base / "m.db").string() + " --out " + site.string(), point).exit_code ==
            128 + 9);
      CHECK(test::slurp(site / "index.html") == before);  // the old site, untouched
      CHECK(fs::exists(site / "history.html"));
    }
    CHECK(run(base.path, "report --db " + (base / "m.db").string() + " --out " + site.string(),
              "report.after-publish").exit_code == 128 + 9);
    CHECK(fs::exists(site / "index.html"));  // the new site, whole
    REQUIRE(run(base.path, "report --db " + (base / "m.db").string() + " --out " + site.string()).exit_code == 0);
    // What the killed renders left beside the site is gone.
    int leftovers = 0;
    for (auto& e : fs::directory_iterator(base.path))
      leftovers += e.path().filename().string().rfind("site.", 0) == 0;
    CHECK(leftovers == 0);
  }
}

// History by change (schema v9): a run records a reference per planned cell,
// outcomes and texts are stored once, spans say over which runs an outcome
// held. Every reader must see what a copy per run would have shown: these
// tests compare against that, for the orders runs can record in, for gc, and
// for a database written by the previous schema.
#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "harness/core/error.hpp"
#include "matrix/run_change.hpp"
#include "matrix/store.hpp"
#include "support.hpp"

using namespace xcompat;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

void register_all(Store& s, int releases = 3) {
  for (int i = 0; i < releases; ++i) {
    const std::string v = "1." + std::to_string(i) + ".0";
    s.register_release({v, {}, "test"});
    s.register_consumer({v, "python", v});
  }
  for (auto name : {"dec", "enc"}) {
    Spec sp;
    sp.name = name;
    sp.definition = {{"name", name}};
    s.register_spec(sp);
  }
}

CellResult result(const std::string& spec, const std::string& p, const std::string& c, Verdict v,
                  const std::string& key) {
  CellResult r;
  r.key = {spec, p, c};
  r.verdict = v;
  r.cache_key = key;
  if (v == Verdict::Close || v == Verdict::Drift) r.metrics = Metrics{1e-3, 1e-2, 1e-4, v == Verdict::Drift ? 0.3 : 1e-10, 0.99, 1.0, false};
  if (v == Verdict::LoadFail) {
    r.load_report.missing = {"attn_layers.final_norm.weight"};
    r.error = "Error(s) in loading state_dict: missing attn_layers.final_norm.weight";
  }
  return r;
}

int64_t count(const std::string& db, const std::string& table) {
  sql::Db d(db, false);
  auto st = d.prepare("SELECT COUNT(*) FROM " + table);
  st.step();
  return st.int_at(0);
}

// What a reader is shown of the matrix as of a run, cell by cell.
json shown(Store& s, int64_t run) {
  json out = json::object();
  for (auto& r : s.matrix_as_of(run)) {
    json j = r.cell.to_json();
    j["run"] = r.run_id;
    out[r.cell.key.str()] = j;
  }
  return out;
}

json diff_json(Store& s, int64_t a, int64_t b) {
  auto d = diff_runs(s, a, b);
  json j = json::object();
  for (auto [name, list] : {std::pair{"regressed", &d.regressed}, {"fixed", &d.fixed}, {"changed", &d.changed},
                            {"flaky", &d.flaky}}) {
    j[name] = json::array();
    for (auto& c : *list) j[name].push_back({c.key.str(), c.before_name(), verdict_name(c.after)});
  }
  return j;
}

json history_json(Store& s, const CellKey& k, int64_t from_run = 0) {
  json j = json::array();
  for (auto& r : s.history(k))
    if (r.run_id >= from_run) j.push_back({r.run_id, verdict_name(r.cell.verdict), r.cell.reused, r.cell.cache_key});
  return j;
}

}  // namespace

TEST_CASE("a cell that comes out the same is stored once, and every run still shows it", "[unit]") {
  test::TempDir dir;
  const std::string db = (dir / "m.db").string();
  {
    Store s(db);
    register_all(s);
    for (int run = 1; run <= 5; ++run) {
      const int64_t id = s.begin_run({});
      s.record(id, {result("dec", "1.0.0", "1.1.0", Verdict::LoadFail, "k-load"),
                    result("dec", "1.0.0", "1.0.0", Verdict::Identical, "k-same")});
      s.finish_run(id, "complete");
    }
    for (auto& r : s.runs()) CHECK(r.results == 2);
    const auto h = s.history({"dec", "1.0.0", "1.1.0"});
    REQUIRE(h.size() == 5);
    CHECK(!h[0].cell.reused);  // run 1 evaluated it; runs 2-5 reused its outcome
    for (size_t i = 1; i < h.size(); ++i) CHECK(h[i].cell.reused);
    CHECK(h[3].run_id == 4);
    CHECK(h[4].cell.load_report.missing == std::vector<std::string>{"attn_layers.final_norm.weight"});
    for (int64_t run = 1; run <= 5; ++run) {
      auto m = s.matrix_as_of(run);
      REQUIRE(m.size() == 2);
      for (auto& r : m) CHECK(r.run_id == run);
    }
  }
  CHECK(count(db, "outcomes") == 2);
  CHECK(count(db, "spans") == 2);
  CHECK(count(db, "cell_sets") == 1);  // five runs of one plan share one set
  CHECK(count(db, "texts") == 3);      // the load report, the error, and the empty load report once
}

TEST_CASE("a run that does not plan a cell shows the cell's earlier result, from the run that recorded it", "[unit]") {
  test::TempDir dir;
  Store s((dir / "m.db").string());
  register_all(s);
  auto x = result("dec", "1.0.0", "1.1.0", Verdict::Identical, "kx");
  auto y = result("enc", "1.0.0", "1.1.0", Verdict::Identical, "ky");
  const int64_t r1 = s.begin_run({});
  s.record(r1, {x, y});
  const int64_t r2 = s.begin_run({});
  s.record(r2, {y});  // a --spec enc sweep
  const int64_t r3 = s.begin_run({});
  s.record(r3, {x});
  for (auto r : {r1, r2, r3}) s.finish_run(r, "complete");
  auto m = s.matrix_as_of(r2);
  REQUIRE(m.size() == 2);
  CHECK(m[0].cell.key.spec == "dec");
  CHECK(m[0].run_id == r1);  // not run 2: run 2 did not record it
  CHECK(m[1].run_id == r2);
  const auto h = s.history(x.key);
  REQUIRE(h.size() == 2);
  CHECK(h[0].run_id == r1);
  CHECK(h[1].run_id == r3);
  CHECK(s.runs()[1].results == 1);
}

TEST_CASE("runs that record out of order (two sweeps on one file) each keep their own result", "[unit]") {
  test::TempDir dir;
  Store s((dir / "m.db").string());
  register_all(s);
  auto v1 = result("dec", "1.0.0", "1.1.0", Verdict::Identical, "k1");
  auto v2 = result("dec", "1.0.0", "1.1.0", Verdict::Drift, "k2");
  const int64_t r1 = s.begin_run({}), r2 = s.begin_run({}), r3 = s.begin_run({});
  s.record(r1, {v1});
  s.record(r3, {v1});  // run 3 records before run 2: one span 1..3
  s.record(r2, {v2});  // run 2 lands inside it, with another outcome: split
  CHECK(s.matrix_as_of(r1)[0].cell.verdict == Verdict::Identical);
  CHECK(s.matrix_as_of(r2)[0].cell.verdict == Verdict::Drift);
  CHECK(s.matrix_as_of(r2)[0].run_id == r2);
  CHECK(s.matrix_as_of(r3)[0].cell.verdict == Verdict::Identical);
  CHECK(s.matrix_as_of(r3)[0].run_id == r3);
  const auto h = s.history(v1.key);
  REQUIRE(h.size() == 3);
  CHECK(h[1].cell.verdict == Verdict::Drift);
  CHECK(diff_json(s, r1, r2)["regressed"].size() == 1);
  CHECK(diff_json(s, r2, r3)["fixed"].size() == 1);

  // A newer run recorded first, an older one after it with the same outcome.
  auto other = result("enc", "1.0.0", "1.1.0", Verdict::Close, "k3");
  const int64_t r4 = s.begin_run({}), r5 = s.begin_run({});
  s.record(r5, {other});
  s.record(r4, {other});
  const auto h2 = s.history(other.key);
  REQUIRE(h2.size() == 2);
  CHECK(h2[0].run_id == r4);
  // The very same outcome (cache key, figures, latency) can only have come
  // from run 5's record: run 4 reused it.
  CHECK(h2[0].cell.reused);
  CHECK(!h2[1].cell.reused);
  CHECK(h2[1].run_id == r5);
}

TEST_CASE("a cell recorded twice in one run keeps its last result", "[unit]") {
  test::TempDir dir;
  Store s((dir / "m.db").string());
  register_all(s);
  const int64_t r1 = s.begin_run({});
  s.record(r1, {result("dec", "1.0.0", "1.1.0", Verdict::Identical, "a")});
  const int64_t r2 = s.begin_run({});
  s.record(r2, {result("dec", "1.0.0", "1.1.0", Verdict::Identical, "a")});
  s.record(r2, {result("dec", "1.0.0", "1.1.0", Verdict::Close, "b")});  // re-run in the same run
  s.finish_run(r2, "complete");
  const auto h = s.history({"dec", "1.0.0", "1.1.0"});
  REQUIRE(h.size() == 2);
  CHECK(h[0].cell.verdict == Verdict::Identical);
  CHECK(h[1].cell.verdict == Verdict::Close);
  CHECK(h[1].run_id == r2);
  CHECK(s.runs()[1].results == 1);
}

namespace {
// 12 runs over 12 cells: cells change, flip back, go unplanned for a while.
void twelve_runs(Store& s) {
  register_all(s);
  const std::vector<std::string> rel = {"1.0.0", "1.1.0", "1.2.0"};
  for (int run = 1; run <= 12; ++run) {
    const int64_t id = s.begin_run({{"run", run}});
    std::vector<CellResult> batch;
    int k = 0;
    for (auto spec : {"dec", "enc"})
      for (auto& p : rel)
        for (auto& c : {rel[0], rel[2]}) {
          ++k;
          if (k % 5 == 0 && run % 4 == 2) continue;  // not planned this run
          const bool changed = (run + k) % 7 == 0 || (k == 3 && run >= 6);
          const Verdict v = changed ? (k % 2 ? Verdict::Drift : Verdict::LoadFail) : Verdict::Identical;
          batch.push_back(result(spec, p, c, v, "k" + std::to_string(k) + (changed ? "-c" + std::to_string(run) : "")));
          batch.back().flaky = k == 4 && run == 7;
        }
    s.record(id, std::vector<CellResult>(batch.begin(), batch.begin() + 5));  // two batches, like a sweep
    s.record(id, std::vector<CellResult>(batch.begin() + 5, batch.end()));
    s.finish_run(id, "complete");
  }
}
}  // namespace

TEST_CASE("gc drops old runs; every kept run shows what it showed, and diffs between kept runs stay", "[unit]") {
  test::TempDir dir;
  const std::string db = (dir / "m.db").string();
  std::map<int64_t, json> before_shown, before_diff;
  std::map<std::string, json> before_history;
  std::vector<CellKey> keys;
  {
    Store s(db);
    twelve_runs(s);
    for (int64_t r = 8; r <= 12; ++r) before_shown[r] = shown(s, r);
    for (int64_t r = 9; r <= 12; ++r) before_diff[r] = diff_json(s, r - 1, r);
    for (auto& r : s.matrix_as_of()) keys.push_back(r.cell.key);
    for (auto& k : keys) before_history[k.str()] = history_json(s, k, 8);
  }
  const int64_t outcomes = count(db, "outcomes");
  Store s(db);
  SECTION("by count") {
    auto dry = s.gc({5, std::nullopt, true});
    CHECK(dry.runs_dropped == 7);
    CHECK(s.runs().size() == 12);  // a dry run changes nothing
    auto g = s.gc({5, std::nullopt, false});
    CHECK(g.oldest_kept == 8);
    CHECK(g.runs_dropped == 7);
    CHECK(g.outcomes_dropped > 0);
  }
  SECTION("by age") {
    {
      sql::Db raw(db);
      raw.exec("UPDATE runs SET started_at = '2020-01-01T00:00:00Z' WHERE id < 8");
    }
    auto g = s.gc({std::nullopt, 30, false});
    CHECK(g.oldest_kept == 8);
  }
  REQUIRE(s.runs().size() == 5);
  CHECK(s.runs().front().id == 8);
  CHECK(count(db, "outcomes") < outcomes);
  for (int64_t r = 8; r <= 12; ++r) CHECK(shown(s, r) == before_shown[r]);
  for (int64_t r = 9; r <= 12; ++r) CHECK(diff_json(s, r - 1, r) == before_diff[r]);
  for (auto& k : keys) CHECK(history_json(s, k, 8) == before_history[k.str()]);
  CHECK(s.integrity_check() == "ok");
  // Recording goes on after a gc.
  const int64_t next = s.begin_run({});
  s.record(next, {result("dec", "1.0.0", "1.0.0", Verdict::Close, "after-gc")});
  CHECK(s.history({"dec", "1.0.0", "1.0.0"}).back().run_id == next);
}

TEST_CASE("gc keeps the newest run whatever it is asked, and refuses nonsense", "[unit]") {
  test::TempDir dir;
  Store s((dir / "m.db").string());
  twelve_runs(s);
  CHECK_THROWS_WITH(s.gc({}), Catch::Contains("--keep-runs N or --keep-days D"));
  CHECK_THROWS_WITH(s.gc({0, std::nullopt, false}), Catch::Contains("at least 1"));
  {
    sql::Db raw(s.path());
    raw.exec("UPDATE runs SET started_at = '2020-01-01T00:00:00Z'");
  }
  const int64_t live = s.begin_run({});  // a sweep of this (live) process, still recording
  CHECK_THROWS_WITH(s.gc({1, std::nullopt, false}), Catch::Contains("run 13 is still being recorded"));
  s.finish_run(live, "complete");
  auto g = s.gc({std::nullopt, 1, false});
  CHECK(g.oldest_kept == 13);
  CHECK(s.runs().size() == 1);
  CHECK(s.matrix_as_of().size() == 12);  // every cell still shows its latest result, from runs now gone
}

TEST_CASE("merge replays shard runs through the writer: outcomes already here are shared", "[unit]") {
  test::TempDir dir;
  const std::string a = (dir / "a.db").string(), b = (dir / "b.db").string(), out = (dir / "out.db").string();
  for (auto path : {a, b}) {
    Store s(path);
    register_all(s);
    const int64_t id = s.begin_run({});
    s.record(id, {result(path == a ? "dec" : "enc", "1.0.0", "1.1.0", Verdict::LoadFail, path)});
    s.finish_run(id, "complete");
  }
  Store o(out);
  CHECK(o.merge_from(a) == 1);
  CHECK(o.merge_from(b) == 1);
  CHECK(o.merge_from(b) == 0);  // the same shard twice adds nothing
  auto m = o.matrix_as_of();
  REQUIRE(m.size() == 2);
  CHECK(m[0].cell.load_report.missing.size() == 1);
  CHECK(count(out, "texts") == 2);  // the shards' identical load report and error, once each
}

TEST_CASE("a database written at schema v8 migrates and shows the same runs, diffs, queries and report", "[unit]") {
  // tests/data/store_v8: a real v8 matrix and what xcompat at v8 showed of it.
  const fs::path data = fs::path(XCOMPAT_SOURCE_DIR) / "tests" / "data" / "store_v8";
  test::TempDir dir;
  const fs::path db = dir / "m.db";
  fs::copy_file(data / "matrix-v8.db", db);
  {
    sql::Db raw(db.string(), false);
    auto st = raw.prepare("PRAGMA user_version");
    st.step();
    REQUIRE(st.int_at(0) == 8);
  }
  const std::string at = " --db '" + db.string() + "' --json";
  auto same = [&](const std::string& args, const fs::path& expected) {
    INFO(args);
    auto r = test::xcompat(dir.path, args + at);
    REQUIRE(r.exit_code == 0);
    CHECK(json::parse(r.out) == json::parse(test::slurp(expected)));
  };
  same("runs", data / "expected" / "runs.json");  // the first open migrates
  {
    Store s(db.string(), false);
    CHECK(s.schema_version() == kSchemaVersion);
  }
  for (int a = 1; a <= 5; ++a)
    for (int b = a + 1; b <= 5; ++b)
      same(fmt::format("diff {} {}", a, b), data / "expected" / fmt::format("diff-{}-{}.json", a, b));
  for (auto p : {"1.14.0", "1.19.1", "2.31.10"})
    for (auto c : {"1.14.0", "1.19.1", "2.31.10", "cpp-native"})
      same(fmt::format("query --from {} --to {}", p, c), data / "expected" / fmt::format("query-{}-{}.json", p, c));
  auto r = test::xcompat(dir.path, "report --format markdown --db '" + db.string() + "' --out '" +
                                       (dir / "md").string() + "'");
  REQUIRE(r.exit_code == 0);
  // The upgrade guide and the ADAPTED verdict (its legend entry and its
  // zero count) came after v8: the rest of the page is as it was.
  auto without_guide = [](std::string md) {
    const auto at = md.find("## Upgrade guide\n");
    if (at != std::string::npos) md.erase(at, md.find("\n## ", at + 1) + 1 - at);
    for (const std::string later : {" · `A` ADAPTED", "| A ADAPTED | 0 |\n"})
      if (const auto a = md.find(later); a != std::string::npos) md.erase(a, later.size());
    return md;
  };
  const std::string page = test::slurp(dir / "md" / "COMPATIBILITY.md");
  CHECK(page.find("## Upgrade guide") != std::string::npos);
  CHECK(without_guide(page) == test::slurp(data / "expected" / "markdown" / "COMPATIBILITY.md"));
}

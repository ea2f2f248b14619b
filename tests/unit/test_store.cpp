// The SQLite store: migrations, corruption, runs, merge.
#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

#include "catch.hpp"
#include "harness/core/error.hpp"
#include "matrix/store.hpp"
#include "support.hpp"

using namespace xcompat;

namespace {
Spec spec(const std::string& name) {
  Spec s;
  s.name = name;
  s.definition = {{"name", name}, {"model", "decoder"}};
  return s;
}

CellResult cell(const std::string& spec_name, const std::string& producer, const std::string& consumer, Verdict v,
                const std::string& cache_key) {
  CellResult c;
  c.key = {spec_name, producer, consumer, "cpu", "float32"};
  c.verdict = v;
  c.cache_key = cache_key;
  if (v == Verdict::Close || v == Verdict::Drift) c.metrics = Metrics{1e-3, 1e-2, 1e-4, 1e-7, 0.99, 1.0, false};
  if (v == Verdict::LoadFail) c.load_report.missing = {"attn_layers.final_norm.weight"};
  return c;
}

void register_all(Store& s) {
  for (auto v : {"1.0.0", "2.0.0"}) s.register_release({v, {}, "test"});
  s.register_spec(spec("dec"));
  s.register_spec(spec("enc"));
  for (auto v : {"1.0.0", "2.0.0"}) s.register_consumer({v, "python", v});
}
}  // namespace

TEST_CASE("a new database is created at the current schema version", "[unit]") {
  test::TempDir dir;
  Store s((dir / "m.db").string());
  CHECK(s.schema_version() == kSchemaVersion);
}

TEST_CASE("a version-1 database migrates forward and keeps its rows", "[unit]") {
  test::TempDir dir;
  const std::string path = (dir / "old.db").string();
  {
    sql::Db db(path);
    migrate(db, 1);  // the schema as the first release of xcompat wrote it
    db.exec("INSERT INTO releases (version) VALUES ('1.0.0')");
    db.exec("INSERT INTO specs (name, definition, hash) VALUES ('dec', '{}', 'h')");
    db.exec("INSERT INTO consumers (name, kind, version) VALUES ('1.0.0', 'python', 'v')");
    db.exec("INSERT INTO runs (uuid, started_at, status, harness_version) VALUES ('u1', 't', 'complete', '0.0.1')");
    db.exec("INSERT INTO results (run_id, spec_id, producer_id, consumer_id, device, dtype, verdict, cache_key, "
            "recorded_at) VALUES (1, 1, 1, 1, 'cpu', 'float32', 'IDENTICAL', 'k1', 't')");
  }
  Store s(path);
  CHECK(s.schema_version() == kSchemaVersion);
  auto m = s.matrix_as_of();
  REQUIRE(m.size() == 1);
  CHECK(m[0].cell.verdict == Verdict::Identical);
  CHECK(m[0].cell.tolerance_override.empty());  // the v2 column, defaulted
  CHECK(s.find_cached("k1").has_value());
}

TEST_CASE("a database from a newer xcompat is refused, untouched", "[unit]") {
  test::TempDir dir;
  const std::string path = (dir / "new.db").string();
  {
    sql::Db db(path);
    db.exec("PRAGMA user_version = 99");
  }
  CHECK_THROWS_WITH(Store(path), Catch::Contains("newer than this xcompat"));
  sql::Db db(path);
  auto st = db.prepare("PRAGMA user_version");
  st.step();
  CHECK(st.int_at(0) == 99);
}

TEST_CASE("a file that is not a database, or a damaged one, gives a clear error", "[unit]") {
  test::TempDir dir;
  const auto text = dir / "notes.db";
  std::ofstream(text) << "this is not a database at all, just some text that is long enough";
  CHECK_THROWS_WITH(Store(text.string()), Catch::Contains("not an xcompat matrix"));

  // A real store with its pages overwritten in the middle.
  const auto damaged = dir / "damaged.db";
  {
    Store s(damaged.string());
    register_all(s);
    auto run = s.begin_run({});
    std::vector<CellResult> many;
    for (int i = 0; i < 400; ++i) many.push_back(cell(i % 2 ? "dec" : "enc", "1.0.0", "2.0.0", Verdict::Close,
                                                      "k" + std::to_string(i)));
    s.record(run, {many.begin(), many.begin() + 1});
    s.finish_run(run, "complete");
    s.checkpoint();
  }
  {
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 10);
    std::string junk(3000, '\xAB');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  CHECK_THROWS_AS(Store(damaged.string()), Error);
}

TEST_CASE("the matrix as of a run shows each cell's latest result up to that run", "[unit]") {
  test::TempDir dir;
  Store s((dir / "m.db").string());
  register_all(s);
  auto r1 = s.begin_run({});
  s.record(r1, {cell("dec", "1.0.0", "2.0.0", Verdict::Close, "a"), cell("enc", "1.0.0", "2.0.0", Verdict::Close, "b")});
  s.finish_run(r1, "complete");
  auto r2 = s.begin_run({});
  s.record(r2, {cell("dec", "1.0.0", "2.0.0", Verdict::LoadFail, "c")});
  s.finish_run(r2, "complete");

  auto now = s.matrix_as_of();
  REQUIRE(now.size() == 2);
  for (auto& r : now) {
    if (r.cell.key.spec == "dec") {
      CHECK(r.cell.verdict == Verdict::LoadFail);
      CHECK(r.cell.load_report.missing.size() == 1);
    } else {
      CHECK(r.cell.verdict == Verdict::Close);  // not re-run in r2: still shown
    }
  }
  auto then = s.matrix_as_of(r1);
  for (auto& r : then) CHECK(r.cell.verdict == Verdict::Close);
  CHECK(s.history({"dec", "1.0.0", "2.0.0", "cpu", "float32"}).size() == 2);
  CHECK(s.recording_runs() == std::vector<int64_t>{r1, r2});  // the run before r2 that recorded anything is r1
}

TEST_CASE("a run left running by a killed process is marked interrupted on the next open", "[unit]") {
  test::TempDir dir;
  const std::string path = (dir / "m.db").string();
  // A child process begins a run, records a cell and dies without finishing it.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    Store s(path);
    register_all(s);
    auto r = s.begin_run({});
    s.record(r, {cell("dec", "1.0.0", "2.0.0", Verdict::Identical, "a")});
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  Store s(path);
  auto runs = s.runs();
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].status == "interrupted");
  CHECK(runs[0].results == 1);  // what it recorded is kept
}

TEST_CASE("a run whose process still lives is another sweep's: opening the file leaves it running", "[unit]") {
  test::TempDir dir;
  const std::string path = (dir / "m.db").string();
  Store first(path);
  register_all(first);
  const auto r = first.begin_run({});
  Store second(path);  // a second sweep on the same file, while the first goes on
  REQUIRE(second.runs().size() == 1);
  CHECK(second.runs()[0].status == "running");
  first.finish_run(r, "complete");
  CHECK(second.runs()[0].status == "complete");
}

TEST_CASE("merge folds shard databases without duplicates", "[unit]") {
  test::TempDir dir;
  const std::string a = (dir / "a.db").string(), b = (dir / "b.db").string(), out = (dir / "out.db").string();
  for (auto [path, spec_name] : {std::pair{a, "dec"}, std::pair{b, "enc"}}) {
    Store s(path);
    register_all(s);
    auto r = s.begin_run({});
    s.record(r, {cell(spec_name, "1.0.0", "2.0.0", Verdict::Close, std::string("k-") + spec_name),
                 cell(spec_name, "2.0.0", "1.0.0", Verdict::LoadFail, std::string("l-") + spec_name)});
    s.finish_run(r, "complete");
  }
  Store merged(out);
  CHECK(merged.merge_from(a) == 2);
  CHECK(merged.merge_from(b) == 2);
  CHECK(merged.merge_from(a) == 0);  // same run again: nothing added
  CHECK(merged.matrix_as_of().size() == 4);
  CHECK(merged.runs().size() == 2);
  CHECK(merged.find_cached("l-enc").has_value());
}

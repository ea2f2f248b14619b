// The schema, as forward migrations. Version N's step takes a database at
// N-1 to N inside one transaction; PRAGMA user_version records where it is.
// Never edit a released step: add the next one.
#include <fmt/format.h>

#include <cmath>

#include "harness/core/error.hpp"
#include "matrix/result_writer.hpp"
#include "matrix/store.hpp"

namespace xcompat {

namespace {

// v1: releases, specs, consumers, fixtures, runs and results.
constexpr const char* kV1 = R"sql(
CREATE TABLE releases (
  id INTEGER PRIMARY KEY, version TEXT NOT NULL UNIQUE, reason TEXT NOT NULL DEFAULT '');
CREATE TABLE specs (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, definition TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE consumers (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, version TEXT NOT NULL);
CREATE TABLE fixtures (
  id INTEGER PRIMARY KEY,
  spec_id INTEGER NOT NULL REFERENCES specs(id),
  release_id INTEGER NOT NULL REFERENCES releases(id),
  key TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', content_hash TEXT,
  UNIQUE (spec_id, release_id, key));
CREATE TABLE runs (
  id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE,
  started_at TEXT NOT NULL, finished_at TEXT,
  status TEXT NOT NULL CHECK (status IN ('running', 'interrupted', 'complete')),
  harness_version TEXT NOT NULL, args TEXT NOT NULL DEFAULT '{}');
CREATE TABLE results (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  spec_id INTEGER NOT NULL REFERENCES specs(id),
  producer_id INTEGER NOT NULL REFERENCES releases(id),
  consumer_id INTEGER NOT NULL REFERENCES consumers(id),
  device TEXT NOT NULL, dtype TEXT NOT NULL,
  verdict TEXT NOT NULL CHECK (verdict IN
    ('IDENTICAL','CLOSE','CONVERTED','DRIFT','LOAD_FAIL','ERROR','UNSUPPORTED')),
  max_abs REAL, max_rel REAL, mean_abs REAL, nmse REAL, cosine REAL, top1 REAL,
  latency_ms REAL, load_report TEXT NOT NULL DEFAULT '{}', error TEXT NOT NULL DEFAULT '',
  cache_key TEXT NOT NULL, flaky INTEGER NOT NULL DEFAULT 0,
  recorded_at TEXT NOT NULL,
  UNIQUE (run_id, spec_id, producer_id, consumer_id, device, dtype));
CREATE INDEX results_by_cache_key ON results (cache_key);
)sql";

// v2: the tolerance override note and the bitwise flag on results, and the
// index that makes "latest result of each cell" a single index walk.
constexpr const char* kV2 = R"sql(
ALTER TABLE results ADD COLUMN tolerance_note TEXT NOT NULL DEFAULT '';
ALTER TABLE results ADD COLUMN bitwise INTEGER NOT NULL DEFAULT 0;
CREATE INDEX results_by_cell ON results (spec_id, producer_id, consumer_id, device, dtype, run_id);
)sql";

// v3: the upgrade query (one producer, one consumer) walks this index
// instead of every result.
constexpr const char* kV3 = R"sql(
CREATE INDEX results_by_pair ON results (producer_id, consumer_id, spec_id, device, dtype, run_id);
)sql";

// v4: one name for the override's reason everywhere (code, JSON, column).
constexpr const char* kV4 = R"sql(
ALTER TABLE results RENAME COLUMN tolerance_note TO tolerance_override;
)sql";

// v5: the checkpoint format joins a cell's identity (pt and safetensors cells
// side by side), and a run records the cells it reused by cache key. SQLite
// cannot change a UNIQUE constraint in place: the table is rebuilt.
constexpr const char* kV5 = R"sql(
CREATE TABLE results_v5 (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  spec_id INTEGER NOT NULL REFERENCES specs(id),
  producer_id INTEGER NOT NULL REFERENCES releases(id),
  consumer_id INTEGER NOT NULL REFERENCES consumers(id),
  device TEXT NOT NULL, dtype TEXT NOT NULL, checkpoint TEXT NOT NULL DEFAULT 'pt',
  verdict TEXT NOT NULL CHECK (verdict IN
    ('IDENTICAL','CLOSE','CONVERTED','DRIFT','LOAD_FAIL','ERROR','UNSUPPORTED')),
  max_abs REAL, max_rel REAL, mean_abs REAL, nmse REAL, cosine REAL, top1 REAL,
  latency_ms REAL, load_report TEXT NOT NULL DEFAULT '{}', error TEXT NOT NULL DEFAULT '',
  cache_key TEXT NOT NULL, flaky INTEGER NOT NULL DEFAULT 0,
  recorded_at TEXT NOT NULL,
  tolerance_override TEXT NOT NULL DEFAULT '', bitwise INTEGER NOT NULL DEFAULT 0,
  reused INTEGER NOT NULL DEFAULT 0,
  UNIQUE (run_id, spec_id, producer_id, consumer_id, device, dtype, checkpoint));
INSERT INTO results_v5 (id, run_id, spec_id, producer_id, consumer_id, device, dtype, checkpoint, verdict,
  max_abs, max_rel, mean_abs, nmse, cosine, top1, latency_ms, load_report, error, cache_key, flaky, recorded_at,
  tolerance_override, bitwise, reused)
SELECT id, run_id, spec_id, producer_id, consumer_id, device, dtype, 'pt', verdict,
  max_abs, max_rel, mean_abs, nmse, cosine, top1, latency_ms, load_report, error, cache_key, flaky, recorded_at,
  tolerance_override, bitwise, 0 FROM results;
DROP TABLE results;
ALTER TABLE results_v5 RENAME TO results;
CREATE INDEX results_by_cache_key ON results (cache_key);
CREATE INDEX results_by_cell ON results (spec_id, producer_id, consumer_id, device, dtype, checkpoint, run_id);
CREATE INDEX results_by_pair ON results (producer_id, consumer_id, spec_id, device, dtype, checkpoint, run_id);
)sql";

// v6: the converted path of a cell (direct verdict, the conversion as JSON)
// and the classified causes of a direct verdict that does not pass.
constexpr const char* kV6 = R"sql(
ALTER TABLE results ADD COLUMN direct_verdict TEXT;
ALTER TABLE results ADD COLUMN conversion TEXT;
ALTER TABLE results ADD COLUMN causes TEXT;
)sql";

// v7: checks of users' own checkpoints (`xcompat check`), apart from the
// catalogue's matrix: one row per path (direct with its converted path, and
// cpp-native) of one file (by content hash) against one consumer.
constexpr const char* kV7 = R"sql(
CREATE TABLE checks (
  id INTEGER PRIMARY KEY,
  file_sha256 TEXT NOT NULL, file_name TEXT NOT NULL,
  checked_at TEXT NOT NULL, harness_version TEXT NOT NULL,
  from_release TEXT NOT NULL, from_source TEXT NOT NULL,
  consumer TEXT NOT NULL, path TEXT NOT NULL CHECK (path IN ('release', 'cpp-native')),
  spec TEXT NOT NULL,
  verdict TEXT NOT NULL CHECK (verdict IN
    ('IDENTICAL','CLOSE','CONVERTED','DRIFT','LOAD_FAIL','ERROR','UNSUPPORTED')),
  direct_verdict TEXT, result TEXT NOT NULL);
CREATE INDEX checks_by_file ON checks (file_sha256, checked_at);
)sql";

// v8: which process runs a run ("host:pid:start-time"), so that a sweep
// opening the file marks as interrupted only runs whose process is gone, not
// those of another sweep still going.
constexpr const char* kV8 = R"sql(
ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
)sql";

// v9: history by change, not by copy. A result is stored once, shared by
// every run where its cell came out the same (outcomes), long texts once by
// content (texts), and each run keeps which cells it recorded (run_cells ->
// cell_sets) and over which runs each outcome held (spans). The v8 results
// are replayed through ResultWriter in recording order, then dropped.
// Text references and spans.outcome_id carry no REFERENCES clause on
// purpose: enforcing them on `xcompat gc`'s deletes would need an index per
// column (a scan of every outcome per deleted text otherwise); gc deletes
// children first.
constexpr const char* kV9 = R"sql(
CREATE TABLE texts (id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE cells (
  id INTEGER PRIMARY KEY,
  spec_id INTEGER NOT NULL REFERENCES specs(id),
  producer_id INTEGER NOT NULL REFERENCES releases(id),
  consumer_id INTEGER NOT NULL REFERENCES consumers(id),
  device TEXT NOT NULL, dtype TEXT NOT NULL, checkpoint TEXT NOT NULL,
  UNIQUE (spec_id, producer_id, consumer_id, device, dtype, checkpoint));
CREATE INDEX cells_by_pair ON cells (producer_id, consumer_id, spec_id);
CREATE TABLE outcomes (
  id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE,
  cell_id INTEGER NOT NULL REFERENCES cells(id),
  verdict TEXT NOT NULL CHECK (verdict IN
    ('IDENTICAL','CLOSE','CONVERTED','DRIFT','LOAD_FAIL','ERROR','UNSUPPORTED')),
  max_abs REAL, max_rel REAL, mean_abs REAL, nmse REAL, cosine REAL, top1 REAL,
  bitwise INTEGER NOT NULL DEFAULT 0, latency_ms REAL NOT NULL DEFAULT 0,
  load_report INTEGER, error INTEGER, cache_key TEXT NOT NULL, flaky INTEGER NOT NULL DEFAULT 0,
  tolerance_override TEXT NOT NULL DEFAULT '', direct_verdict TEXT, conversion INTEGER, causes INTEGER,
  first_run INTEGER NOT NULL, recorded_at TEXT NOT NULL,
  warnings INTEGER);
CREATE INDEX outcomes_by_cache_key ON outcomes (cache_key);
CREATE TABLE spans (
  cell_id INTEGER NOT NULL REFERENCES cells(id), first_run INTEGER NOT NULL, last_run INTEGER NOT NULL,
  outcome_id INTEGER NOT NULL, runs INTEGER NOT NULL,
  PRIMARY KEY (cell_id, first_run)) WITHOUT ROWID;
CREATE TABLE cell_sets (id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, size INTEGER NOT NULL, cells BLOB NOT NULL);
CREATE TABLE run_cells (
  run_id INTEGER NOT NULL REFERENCES runs(id), set_id INTEGER NOT NULL REFERENCES cell_sets(id),
  PRIMARY KEY (run_id, set_id)) WITHOUT ROWID;
)sql";

// v10: the ADAPTED verdict (a lossy conversion carried by an adapter of B's
// model). SQLite cannot change a CHECK constraint in place: outcomes and
// checks are rebuilt with every row and id as they were.
constexpr const char* kV10 = R"sql(
CREATE TABLE outcomes_v10 (
  id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE,
  cell_id INTEGER NOT NULL REFERENCES cells(id),
  verdict TEXT NOT NULL CHECK (verdict IN
    ('IDENTICAL','CLOSE','CONVERTED','ADAPTED','DRIFT','LOAD_FAIL','ERROR','UNSUPPORTED')),
  max_abs REAL, max_rel REAL, mean_abs REAL, nmse REAL, cosine REAL, top1 REAL,
  bitwise INTEGER NOT NULL DEFAULT 0, latency_ms REAL NOT NULL DEFAULT 0,
  load_report INTEGER, error INTEGER, cache_key TEXT NOT NULL, flaky INTEGER NOT NULL DEFAULT 0,
  tolerance_override TEXT NOT NULL DEFAULT '', direct_verdict TEXT, conversion INTEGER, causes INTEGER,
  first_run INTEGER NOT NULL, recorded_at TEXT NOT NULL,
  warnings INTEGER);
INSERT INTO outcomes_v10 SELECT id, digest, cell_id, verdict, max_abs, max_rel, mean_abs, nmse, cosine, top1,
  bitwise, latency_ms, load_report, error, cache_key, flaky, tolerance_override, direct_verdict, conversion, causes,
  first_run, recorded_at, warnings FROM outcomes;
DROP TABLE outcomes;
ALTER TABLE outcomes_v10 RENAME TO outcomes;
CREATE INDEX outcomes_by_cache_key ON outcomes (cache_key);
CREATE TABLE checks_v10 (
  id INTEGER PRIMARY KEY,
  file_sha256 TEXT NOT NULL, file_name TEXT NOT NULL,
  checked_at TEXT NOT NULL, harness_version TEXT NOT NULL,
  from_release TEXT NOT NULL, from_source TEXT NOT NULL,
  consumer TEXT NOT NULL, path TEXT NOT NULL CHECK (path IN ('release', 'cpp-native')),
  spec TEXT NOT NULL,
  verdict TEXT NOT NULL CHECK (verdict IN
    ('IDENTICAL','CLOSE','CONVERTED','ADAPTED','DRIFT','LOAD_FAIL','ERROR','UNSUPPORTED')),
  direct_verdict TEXT, result TEXT NOT NULL);
INSERT INTO checks_v10 SELECT id, file_sha256, file_name, checked_at, harness_version, from_release, from_source,
  consumer, path, spec, verdict, direct_verdict, result FROM checks;
DROP TABLE checks;
ALTER TABLE checks_v10 RENAME TO checks;
CREATE INDEX checks_by_file ON checks (file_sha256, checked_at);
)sql";

// Reads a v8 results row as the v8 store did (store_reads.cpp at schema 8).
CellResult v8_row(const sql::Stmt& st) {
  CellResult c;
  c.verdict = verdict_from_name(st.text_at(4));
  if (!st.is_null(8)) {
    auto figure = [&](int i) { return st.is_text(i) ? figure_from_json(st.text_at(i), NAN) : st.real_at(i); };
    Metrics m;
    m.max_abs = figure(5), m.max_rel = figure(6), m.mean_abs = figure(7), m.nmse = figure(8);
    m.cosine = figure(9), m.top1 = figure(10);
    m.bitwise = st.int_at(11) != 0;
    c.metrics = m;
  }
  c.latency_ms = st.real_at(12);
  try {
    c.load_report = LoadReport::from_json(nlohmann::json::parse(st.text_at(13)));
  } catch (const nlohmann::json::exception&) {
  }
  c.error = st.text_at(14);
  c.cache_key = st.text_at(15);
  c.flaky = st.int_at(16) != 0;
  c.tolerance_override = st.text_at(17);
  if (!st.is_null(18)) c.direct_verdict = verdict_from_name(st.text_at(18));
  for (auto [i, field] : {std::pair{19, &c.conversion}, {20, &c.causes}})
    if (!st.is_null(i)) {
      try {
        *field = nlohmann::json::parse(st.text_at(i));
      } catch (const nlohmann::json::exception&) {
      }
    }
  return c;
}

void replay_v8_results(sql::Db& db) {
  ResultWriter w(db);
  auto st = db.prepare(
      "SELECT r.run_id, r.spec_id, r.producer_id, r.consumer_id, r.verdict, r.max_abs, r.max_rel, r.mean_abs, "
      "r.nmse, r.cosine, r.top1, r.bitwise, r.latency_ms, r.load_report, r.error, r.cache_key, r.flaky, "
      "r.tolerance_override, r.direct_verdict, r.conversion, r.causes, r.device, r.dtype, r.checkpoint, "
      "r.recorded_at FROM results r ORDER BY r.run_id, r.id");
  int64_t run = 0;
  std::vector<int64_t> cells;
  auto close_run = [&] {
    w.add_cells(run, cells);
    cells.clear();
  };
  while (st.step()) {
    const int64_t r = st.int_at(0);
    if (r != run) {
      if (run) close_run();
      run = r;
    }
    CellResult c = v8_row(st);
    c.key.device = st.text_at(21), c.key.dtype = st.text_at(22), c.key.checkpoint = st.text_at(23);
    const int64_t cell = w.cell(st.int_at(1), st.int_at(2), st.int_at(3), c.key);
    w.observe(run, cell, w.outcome(cell, c, run, st.text_at(24)));
    cells.push_back(cell);
  }
  if (run) close_run();
  db.exec("DROP TABLE results");
}

struct Step {
  const char* sql;
  void (*then)(sql::Db&) = nullptr;  // data the SQL alone cannot carry forward
};
const Step kSteps[] = {{kV1}, {kV2}, {kV3}, {kV4}, {kV5}, {kV6}, {kV7}, {kV8}, {kV9, replay_v8_results}, {kV10}};
static_assert(std::size(kSteps) == kSchemaVersion);

int user_version(sql::Db& db) {
  auto st = db.prepare("PRAGMA user_version");
  st.step();
  return static_cast<int>(st.int_at(0));
}

}  // namespace

void migrate(sql::Db& db, int target) {
  const int have = user_version(db);
  if (have > kSchemaVersion)
    throw Error(fmt::format("database {} has schema version {}, newer than this xcompat understands ({}); "
                            "use a newer xcompat",
                            db.path(), have, kSchemaVersion));
  if (have == 0 && target > 0) {
    // A new file: every step in one transaction, so the journal holds each
    // page once (a new database must fit where little room is left).
    sql::Transaction tx(db);
    if (user_version(db) == 0) {  // another process may have created it meanwhile
      for (int v = 1; v <= target; ++v) {
        db.exec(kSteps[v - 1].sql);
        if (kSteps[v - 1].then) kSteps[v - 1].then(db);
      }
      db.exec(fmt::format("PRAGMA user_version = {}", target));
    }
    tx.commit();
    if (user_version(db) >= target) return;
  }
  for (int v = have + 1; v <= target; ++v) {
    sql::Transaction tx(db);
    // Another process may have migrated it meanwhile (two sweeps creating one
    // file): the version read under the write lock decides.
    if (user_version(db) >= v) continue;
    db.exec(kSteps[v - 1].sql);
    if (kSteps[v - 1].then) kSteps[v - 1].then(db);
    db.exec(fmt::format("PRAGMA user_version = {}", v));
    tx.commit();
  }
  // The v9 replay leaves the v8 results' pages free: give them back once.
  if (have > 0 && have < 9 && target >= 9) db.exec("VACUUM");
}

}  // namespace xcompat

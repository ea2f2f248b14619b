// The schema, as forward migrations. Version N's step takes a database at
// N-1 to N inside one transaction; PRAGMA user_version records where it is.
// Never edit a released step: add the next one.
#include <fmt/format.h>

#include "harness/core/error.hpp"
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

constexpr const char* kSteps[] = {kV1, kV2, kV3, kV4, kV5, kV6, kV7, kV8};

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
  for (int v = have + 1; v <= target; ++v) {
    sql::Transaction tx(db);
    // Another process may have migrated it meanwhile (two sweeps creating one
    // file): the version read under the write lock decides.
    if (user_version(db) >= v) continue;
    db.exec(kSteps[v - 1]);
    db.exec(fmt::format("PRAGMA user_version = {}", v));
    tx.commit();
  }
}

}  // namespace xcompat

#pragma once
// The matrix store: every run and every cell result, in SQLite.
// Schema and migrations: matrix/schema.cpp (documented in docs/DATABASE.md).
//
// History is kept by change, not by copy: a run records, for every cell it
// planned, a reference to an outcome stored once (matrix/result_writer.hpp;
// docs/DATABASE.md, "History by change").
//
// Run lifecycle:  begin_run() -> running --finish_run(complete)--> complete
//                                 running --(process killed)--> left "running";
//                                 the next open marks it "interrupted".
// The matrix "as of" a run R is, for every cell, its latest result recorded
// by a run <= R; a cell a run did not plan keeps showing its earlier result.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/core/cell.hpp"
#include "harness/core/consumers.hpp"
#include "harness/core/pins.hpp"
#include "harness/core/spec.hpp"
#include "matrix/sqlite.hpp"

namespace xcompat {

class ResultWriter;
namespace store_columns {
class TextCache;
}

inline constexpr int kSchemaVersion = 10;

struct RunInfo {
  int64_t id = 0;
  std::string uuid, started_at, finished_at, status, harness_version, args;
  int64_t results = 0;
  nlohmann::json to_json() const;
};

// One stretch of a cell's history, light: the runs run_id..last_run_id over
// which it came out the same (`runs` of them recorded it). A flaky result is
// one row per run that recorded it.
struct TimelineRow {
  CellKey key;
  int64_t run_id = 0, last_run_id = 0, runs = 1;
  Verdict verdict = Verdict::Error;
  bool flaky = false;
};

// `xcompat gc`: which runs to keep. The newest run, and every run still
// running, are always kept.
struct GcRequest {
  std::optional<int64_t> keep_runs;  // the N newest runs
  std::optional<int64_t> keep_days;  // runs started in the last D days
  bool dry_run = false;
};
struct GcResult {
  int64_t oldest_kept = 0, runs_dropped = 0, spans_dropped = 0, outcomes_dropped = 0, texts_dropped = 0;
  int64_t bytes_before = 0, bytes_after = 0;
  nlohmann::json to_json() const;
};

// One path of `xcompat check` on a user's file (table `checks`).
struct CheckRecord {
  std::string file_sha256, file_name, checked_at, from_release, from_source, consumer;
  std::string path;  // "release" (direct, with its converted path) or "cpp-native"
  nlohmann::json spec;
  CellResult cell;
};

struct StoredResult {
  int64_t run_id = 0;
  std::string recorded_at;
  CellResult cell;
};

class Store {
 public:
  // Opens or creates the database and migrates it forward. `create` false
  // is a reader's open: the file must exist, and runs are left as they are. A file that is not
  // a database, is corrupt, or comes from a newer xcompat is an Error that
  // says so; nothing is written to it then. Opening reads no more than the
  // schema and each table's first page (milliseconds at any size): damage
  // deeper in the file is reported by the statement that meets it.
  explicit Store(const std::string& path, bool create = true);
  ~Store();

  int schema_version();
  // PRAGMA integrity_check over the whole file: "ok", or what is wrong.
  std::string integrity_check();

  // Registers what a run is about (idempotent).
  void register_release(const Release& r);
  void register_spec(const Spec& s);
  void register_consumer(const Consumer& c);

  int64_t begin_run(const nlohmann::json& args);
  void finish_run(int64_t run_id, const std::string& status);

  // Records a batch in one transaction.
  void record(int64_t run_id, const std::vector<CellResult>& cells);

  // The result already recorded under this cache key, if any.
  std::optional<CellResult> find_cached(const std::string& cache_key);
  // The latest result of each cell as of `run_id` (all runs when 0).
  std::vector<StoredResult> matrix_as_of(int64_t run_id = 0);
  // matrix_as_of() without figures and texts: key, verdict, flaky, run and
  // reused only (what a diff reads).
  std::vector<StoredResult> verdicts_as_of(int64_t run_id = 0);
  // The latest result of each cell saved by `producer` and read by
  // `consumer` (one spec when `spec` is set): the upgrade query's rows.
  std::vector<StoredResult> latest_for_pair(const std::string& producer, const std::string& consumer,
                                            const std::string& spec = "");
  bool has_producer(const std::string& version);
  bool has_consumer(const std::string& name);
  // Every recorded result of one cell, oldest first: one per run that
  // recorded it.
  std::vector<StoredResult> history(const CellKey& key);
  // What the cell's latest result did as it was: its direct verdict when it
  // went through a conversion, else its verdict (a light history().back()),
  // and whether that result was flagged flaky.
  struct LatestDirect {
    Verdict verdict;
    bool flaky = false;
  };
  std::optional<LatestDirect> latest_direct_verdict(const CellKey& key);
  std::vector<RunInfo> runs();
  std::optional<RunInfo> run(int64_t id);
  int64_t latest_run_id();
  // The runs that recorded at least one result, ascending.
  std::vector<int64_t> recording_runs();
  // What the store knows about the specs, releases and consumers it holds.
  std::map<std::string, std::string> spec_definitions();  // name -> definition (JSON text)
  std::map<std::string, std::string> release_reasons();   // version -> why it is pinned
  std::vector<Consumer> consumers();
  // Every cell's history, cell by cell, oldest first within a cell.
  void for_each_result_in_cell_order(const std::function<void(const TimelineRow&)>& fn);

  // Checks of users' checkpoints, apart from the matrix's runs.
  void record_check(const CheckRecord& c);
  std::vector<CheckRecord> checks_of(const std::string& file_sha256);  // oldest first

  // Folds another store's runs and results into this one; runs already here
  // (same uuid) are skipped. Returns the number of results added.
  int64_t merge_from(const std::string& other_path);

  // Drops old runs (matrix/store_gc.cpp). Every result a kept run shows, the
  // matrix as of each kept run, and the history between kept runs stay as
  // they were; the file is vacuumed after.
  GcResult gc(const GcRequest& req);

  // Moves the WAL into the main file (tests and benchmarks that copy it).
  void checkpoint();
  const std::string& path() const { return db_.path(); }

 private:
  int64_t id_of(const char* table, const char* column, const std::string& value);
  // A prepared statement kept for the store's lifetime (hot reads), reset.
  sql::Stmt& cached(const std::string& sql);
  ResultWriter& writer();
  // "host:pid:start-time" of this process; whether such a process still runs.
  static std::string this_process_owner();
  static bool owner_alive(const std::string& owner);
  void recover_interrupted_runs();

  sql::Db db_;
  std::map<std::string, int64_t> id_cache_;
  std::map<std::string, sql::Stmt> stmts_;
  std::unique_ptr<ResultWriter> writer_;
  std::unique_ptr<store_columns::TextCache> texts_;  // find_cached()'s, per store
};

// The schema's forward migrations; schema.cpp. Exposed for tests that build
// an old database on purpose.
void migrate(sql::Db& db, int target_version = kSchemaVersion);

}  // namespace xcompat

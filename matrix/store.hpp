#pragma once
// The matrix store: every run and every cell result, in SQLite.
// Schema and migrations: matrix/schema.cpp (documented in docs/DATABASE.md).
//
// Run lifecycle:  begin_run() -> running --finish_run(complete)--> complete
//                                 running --(process killed)--> left "running";
//                                 the next open marks it "interrupted".
// The matrix "as of" a run R is, for every cell, its latest result recorded
// by a run <= R; a sweep that skips cached cells records nothing for them,
// and they keep showing their earlier result.
#include <functional>
#include <map>
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

inline constexpr int kSchemaVersion = 8;

struct RunInfo {
  int64_t id = 0;
  std::string uuid, started_at, finished_at, status, harness_version, args;
  int64_t results = 0;
  nlohmann::json to_json() const;
};

// One result, light: what the report's history needs of every row.
struct TimelineRow {
  CellKey key;
  int64_t run_id = 0;
  Verdict verdict = Verdict::Error;
  bool flaky = false;
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
  // The latest result of each cell saved by `producer` and read by
  // `consumer` (one spec when `spec` is set): the upgrade query's rows.
  std::vector<StoredResult> latest_for_pair(const std::string& producer, const std::string& consumer,
                                            const std::string& spec = "");
  bool has_producer(const std::string& version);
  bool has_consumer(const std::string& name);
  // Every recorded result of one cell, oldest first.
  std::vector<StoredResult> history(const CellKey& key);
  std::vector<RunInfo> runs();
  std::optional<RunInfo> run(int64_t id);
  int64_t latest_run_id();
  // The runs that recorded at least one result, ascending.
  std::vector<int64_t> recording_runs();
  // What the store knows about the specs, releases and consumers it holds.
  std::map<std::string, std::string> spec_definitions();  // name -> definition (JSON text)
  std::map<std::string, std::string> release_reasons();   // version -> why it is pinned
  std::vector<Consumer> consumers();
  // Every result ever recorded, cell by cell, oldest first within a cell.
  void for_each_result_in_cell_order(const std::function<void(const TimelineRow&)>& fn);

  // Checks of users' checkpoints, apart from the matrix's runs.
  void record_check(const CheckRecord& c);
  std::vector<CheckRecord> checks_of(const std::string& file_sha256);  // oldest first

  // Folds another store's runs and results into this one; runs already here
  // (same uuid) are skipped. Returns the number of results added.
  int64_t merge_from(const std::string& other_path);

  // Moves the WAL into the main file (tests and benchmarks that copy it).
  void checkpoint();
  const std::string& path() const { return db_.path(); }

 private:
  int64_t id_of(const char* table, const char* column, const std::string& value);
  // "host:pid:start-time" of this process; whether such a process still runs.
  static std::string this_process_owner();
  static bool owner_alive(const std::string& owner);
  void recover_interrupted_runs();

  sql::Db db_;
  std::map<std::string, int64_t> id_cache_;
};

// The schema's forward migrations; schema.cpp. Exposed for tests that build
// an old database on purpose.
void migrate(sql::Db& db, int target_version = kSchemaVersion);

}  // namespace xcompat

#pragma once
// What the reports show, read from a matrix store in a handful of queries:
// the current matrix (the latest result of every cell), each cell's history
// reduced to its transitions, the runs, and the upgrade answers for every
// (producer, consumer) pair. Read-only: nothing is written to the store.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/core/cell.hpp"
#include "matrix/query.hpp"
#include "matrix/run_change.hpp"
#include "matrix/store.hpp"

namespace xcompat::report {

using VerdictCounts = std::array<int64_t, kVerdictCount>;

struct ReleaseInfo {
  std::string version, reason;
};

struct ConsumerInfo {
  std::string name, kind, version;
  int rank = -1;  // release order when the consumer is a release, else -1
};

// One entry of a cell's history: a result whose verdict differs from the one
// before it (or the first result, or a result marked flaky), together with
// how long that verdict then held.
struct HistoryStep {
  int64_t run_id = 0;
  Verdict verdict = Verdict::Error;
  std::optional<Verdict> before;  // absent for the cell's first result
  bool flaky = false;
  int64_t last_run_id = 0;  // the last run that recorded the same verdict in a row
  int64_t results = 1;      // results recorded in that span
};

// A verdict change between consecutive runs (or a flaky result), as
// classify() (matrix/run_change.hpp) names it; never ChangeKind::New (new
// cells are counted in RunSummary, not listed).
struct RunChange {
  ChangeKind kind = ChangeKind::Changed;
  int64_t run_id = 0, before_run = 0;
  int cell = 0;  // index into ReportData::current
  Verdict before = Verdict::Error, after = Verdict::Error;
  bool flaky = false;
};

struct RunSummary {
  int64_t new_cells = 0, flaky = 0, regressed = 0, fixed = 0, changed = 0;
};

// One spec at one (device, dtype, checkpoint): a producer x consumer grid.
struct Grid {
  std::string spec, device, dtype, checkpoint;
  std::string slug;   // file name stem of its page (unique, safe)
  std::string label;  // "spec", or "spec (bfloat16)" ... when the spec has several variants
  std::vector<int32_t> cells;  // [producer * consumers + consumer] -> index into current, or -1
  VerdictCounts counts{};
  int64_t total = 0, flaky = 0, min_run = 0, max_run = 0;
};

struct ReportData {
  std::string db_path;
  std::vector<RunInfo> runs;
  std::map<int64_t, size_t> run_index;  // run id -> index into runs
  std::map<std::string, std::string> spec_definition;  // spec name -> its definition (JSON text)
  std::vector<ReleaseInfo> releases;    // every release that appears, in release order
  std::map<std::string, int> release_rank;
  std::vector<std::string> producers;    // releases whose checkpoints were loaded, in release order
  std::vector<ConsumerInfo> consumers;  // releases in release order, then the other consumers
  std::vector<StoredResult> current;     // the latest result of every cell
  std::vector<std::vector<HistoryStep>> history;  // per current cell
  std::vector<Grid> grids;               // ordered by spec, device, dtype, checkpoint
  std::vector<int> cell_grid, cell_producer, cell_consumer;  // per current cell
  std::vector<RunChange> changes;        // ordered by run (newest first), then kind
  std::map<int64_t, RunSummary> run_summary;
  VerdictCounts counts{};
  int64_t history_rows = 0;

  const RunInfo* run(int64_t id) const;
  std::string run_time(int64_t id) const;  // started_at, or "" if unknown
  int rank_of(const std::string& release) const;  // -1 if not a release
};

ReportData load_report_data(Store& store);

// The upgrade answer for every (producer, consumer) pair present, computed with
// upgrade_summary() (the counts and overall answer of `xcompat query`, without
// its rows) on each pair's cells.
std::map<std::pair<std::string, std::string>, UpgradeAnswer> all_upgrade_answers(const ReportData& d);

}  // namespace xcompat::report

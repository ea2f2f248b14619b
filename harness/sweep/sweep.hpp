#pragma once
// The sweep: fixtures for every (spec, producer) in the plan, then every cell
// evaluated by its consumer's worker, recorded in batches, compared with the
// previous run.
//
//   planned --run_sweep()--> fixtures --> cells --> complete
//   (killed at any point: the run stays "running" and the next open of the
//    store marks it "interrupted"; recorded cells are kept, and the next
//    sweep skips them by cache key)
#include <functional>
#include <string>
#include <vector>

#include "harness/core/cell.hpp"
#include "harness/sweep/plan.hpp"
#include "matrix/store.hpp"

namespace xcompat {

struct SweepOptions {
  int jobs = 1;
  Shard shard;
  std::chrono::milliseconds cell_timeout{std::chrono::seconds(120)};
  bool progress_bar = false;  // a terminal: one updating line; else a line per cell
  bool quiet = false;
  std::string checkpoint = "model.pt";  // which fixture file consumers load
};

struct CellChange {
  CellKey key;
  std::string before, after;  // verdict names ("" when the cell is new)
  bool flaky = false;
};

struct SweepSummary {
  int64_t run_id = 0;
  int64_t planned = 0, reused = 0, evaluated = 0, rerun = 0, flaky = 0;
  int workers_started = 0;
  double seconds = 0, worker_start_seconds = 0;
  std::map<std::string, int64_t> verdicts;  // over the planned cells, as recorded now
  std::vector<CellChange> regressions;      // passing before, not passing now
  std::vector<CellResult> results;          // every planned cell's current result
};

SweepSummary run_sweep(Plan& plan, const Pins& pins, Store& store, const SweepOptions& opts,
                       const nlohmann::json& run_args);

// Cells whose verdict differs between the matrix as of two runs.
struct MatrixDiff {
  std::vector<CellChange> regressed, fixed, changed, flaky;
};
MatrixDiff diff_runs(Store& store, int64_t before_run, int64_t after_run);

}  // namespace xcompat

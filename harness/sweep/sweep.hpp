#pragma once
// The sweep: fixtures for every (spec, producer) in the plan, then every cell
// evaluated by its consumer's worker, recorded in batches, compared with the
// previous run.
//
//   planned --run_sweep()--> fixtures (fixtures/fixture_phase.hpp)
//           --> cells (cell_phase.hpp) --> complete
//   (killed at any point: the run stays "running" and the next open of the
//    store marks it "interrupted"; recorded cells are kept, and the next
//    sweep skips them by cache key)
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "harness/core/cell.hpp"
#include "harness/sweep/plan.hpp"
#include "matrix/run_change.hpp"
#include "matrix/store.hpp"

namespace xcompat {

struct SweepOptions {
  int jobs = 1;
  Shard shard;
  std::chrono::milliseconds cell_timeout{std::chrono::seconds(120)};
  bool progress_bar = false;  // a terminal: one updating line; else a line per cell
  bool quiet = false;
};

// Where a sweep's time went. Phases overlap across -j lanes, so these are
// lane-seconds (summed over lanes), next to the wall time of the whole run.
struct SweepTiming {
  double worker_start = 0;  // starting workers (fork from a zygote, or spawn), hello included
  double fixtures = 0;      // make_fixture requests (building models, forward, writing files)
  double exports = 0;       // export_artifact requests (tracing, torch.export, AOTInductor compiles)
  double build_load = 0;    // consumers building the spec and loading the checkpoint
  double forward = 0;       // consumers' forward passes (all repeats)
  double compare = 0;       // judging outputs against the reference
  double database = 0;      // store reads and writes of the sweep's own process
  double conversion = 0;    // converted paths: converting checkpoints and evaluating them
  double lanes = 0;         // lane-seconds of the cell phase in all (the rest is protocol and overhead)
  nlohmann::json to_json() const;
  std::string line() const;  // "worker start 1.2 s, fixtures 0.0 s, ..."
};

struct SweepSummary {
  int64_t run_id = 0;
  int64_t previous_run = 0;  // the latest run before this one (0: none)
  int64_t planned = 0, reused = 0, evaluated = 0, rerun = 0, flaky = 0;
  int workers_started = 0;
  double seconds = 0, worker_start_seconds = 0;
  SweepTiming timing;
  std::map<std::string, int64_t> verdicts;  // over the planned cells, as recorded now
  std::vector<CellChange> regressions;      // passing before, not passing now
  std::vector<CellResult> results;          // every planned cell's current result
};

SweepSummary run_sweep(Plan& plan, const Pins& pins, Store& store, const SweepOptions& opts,
                       const nlohmann::json& run_args);

}  // namespace xcompat

#pragma once
// The cell phase of a sweep. Each planned cell is decided from its fixtures
// (UNSUPPORTED when the producer or a consuming release cannot build the
// spec, ERROR when the producer's fixture could not be made), answered from
// the store when its cache key is already recorded, and otherwise evaluated
// by its consumer's worker: one worker per consumer, `jobs` consumers at a
// time. Results go to the store through the Recorder as they come.
#include <map>

#include "fixtures/artifact_phase.hpp"
#include "fixtures/fixture_phase.hpp"
#include "harness/convert/history.hpp"
#include "harness/sweep/progress.hpp"
#include "harness/sweep/recorder.hpp"
#include "harness/sweep/sweep.hpp"
#include "harness/worker/worker_pool.hpp"

namespace xcompat {

// A worker fault (crash, timeout, failed start) as the cell's ERROR; else
// the evaluate reply's outcome (an unreadable reply is that cell's ERROR).
CellResult cell_result_of(const CellKey& key, const WorkerReply& reply);

struct CellPhase {
  const Plan& plan;
  const Pins& pins;
  const FixturePhase& fixtures;
  const ArtifactPhase& artifacts;  // the deployment consumers' (cpp-torchscript, cpp-export)
  const SweepOptions& opts;
  WorkerPool& pool;
  Recorder& recorder;
  Progress& progress;
  const ReleaseHistory& history;  // for the converted paths

  // Fills summary's counters and timing; returns every planned cell's result.
  std::map<CellKey, CellResult> run(SweepSummary& summary);
};

}  // namespace xcompat

#include "harness/sweep/sweep.hpp"

#include <fmt/format.h>

#include <deque>
#include <set>

#include "harness/core/fault_points.hpp"
#include "fixtures/fixture_phase.hpp"
#include "harness/core/error.hpp"
#include "harness/sweep/cell_phase.hpp"
#include "harness/sweep/progress.hpp"
#include "harness/sweep/recorder.hpp"
#include "harness/worker/worker_pool.hpp"

namespace xcompat {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Each cell needs its producer's fixture and, for a release consumer, its
// own (to tell "cannot build this spec" apart from a real outcome).
// A release that is not pinned (installed with `xcompat install`) lives in
// `unpinned`, which must outlive the needs.
std::vector<FixtureNeed> fixture_needs(const Plan& plan, const Pins& pins, std::deque<Release>& unpinned) {
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  std::vector<FixtureNeed> needs;
  auto release_of = [&](const std::string& version) -> const Release* {
    if (const Release* r = pins.find(version)) return r;
    for (auto& r : plan.producers)
      if (r.version == version) return &r;
    for (auto& r : unpinned)
      if (r.version == version) return &r;
    const auto installed = with_installed(pins, {version});
    if (installed.back().version != version) throw Error("release " + version + " is neither pinned nor installed");
    return &unpinned.emplace_back(installed.back());
  };
  auto need = [&](const std::string& version, const Spec* spec) {
    if (!seen.insert({version, spec->name, spec->dtype()}).second) return;
    needs.push_back({release_of(version), spec});
  };
  for (auto& cell : plan.cells) {
    need(cell.producer->version, cell.spec);
    if (cell.consumer->kind == "python") need(cell.consumer->name, cell.spec);
  }
  return needs;
}

// Each deployment cell needs its producer's artifact, made of a Ready fixture.
std::vector<ArtifactNeed> artifact_needs(const Plan& plan, const FixturePhase& fixtures) {
  std::vector<ArtifactNeed> needs;
  for (auto& cell : plan.cells) {
    if (cell.consumer->kind != "deploy") continue;
    const Fixture& fx = fixtures.at(cell.producer->version, *cell.spec);
    if (fx.state == Fixture::State::Ready)
      needs.push_back({cell.producer, cell.spec, &fx, artifact_kind(cell.consumer->name)});
  }
  return needs;
}

// Planned cells that passed as of the previous run and do not now.
std::vector<CellChange> regressions(Store& store, int64_t previous_run, const std::map<CellKey, CellResult>& now) {
  std::vector<CellChange> out;
  if (previous_run <= 0) return out;
  std::vector<StoredResult> after;  // what a diff reads: key, verdict, flaky
  after.reserve(now.size());
  for (auto& [_, c] : now) {
    StoredResult r;
    r.cell.key = c.key;
    r.cell.verdict = c.verdict;
    r.cell.flaky = c.flaky;
    after.push_back(std::move(r));
  }
  for (auto& ch : diff_matrices(store.verdicts_as_of(previous_run), after, previous_run).regressed) out.push_back(ch);
  return out;
}

}  // namespace

SweepSummary run_sweep(Plan& plan, const Pins& pins, Store& store, const SweepOptions& opts, const json& run_args) {
  const auto t0 = Clock::now();
  SweepSummary summary;
  summary.planned = static_cast<int64_t>(plan.cells.size());
  for (auto& r : plan.producers) store.register_release(r);
  for (auto& r : pins.releases) store.register_release(r);
  for (auto& s : plan.specs) store.register_spec(s);
  for (auto& c : plan.consumers) store.register_consumer(c);
  const int64_t previous_run = store.latest_run_id();
  summary.previous_run = previous_run;
  summary.run_id = store.begin_run(run_args);
  fault_point("sweep.after-begin-run");

  WorkerPool pool;
  std::deque<Release> unpinned;
  Progress progress(summary.planned, opts.progress_bar, opts.quiet);
  bool announced = false;
  const FixturePhase fixtures =
      ensure_fixtures(pins, fixture_needs(plan, pins, unpinned), pool, opts.jobs, [&](const FixtureEvent& e) {
        if (!e.cached && !announced) {
          announced = true;
          progress.note("making fixtures");
        }
      });
  summary.timing.fixtures = fixtures.making_seconds;
  fault_point("sweep.after-fixtures");
  const ArtifactPhase artifacts = ensure_artifacts(artifact_needs(plan, fixtures), pool, opts.jobs,
                                                   [&] { progress.note("exporting deployment artifacts"); });
  summary.timing.exports = artifacts.making_seconds;

  Recorder recorder(store, summary.run_id);
  const auto current =
      CellPhase{plan, pins, fixtures, artifacts, opts, pool, recorder, progress, release_history()}.run(summary);
  recorder.flush();
  pool.stop_all();
  fault_point("sweep.before-finish");
  store.finish_run(summary.run_id, "complete");
  fault_point("sweep.after-finish");

  summary.workers_started = pool.starts();
  summary.worker_start_seconds = summary.timing.worker_start = pool.start_seconds();
  summary.timing.database = recorder.db_seconds();
  for (auto& [key, c] : current) {
    ++summary.verdicts[verdict_name(c.verdict)];
    summary.results.push_back(c);
  }
  summary.regressions = regressions(store, previous_run, current);
  summary.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return summary;
}

json SweepTiming::to_json() const {
  return {{"worker_start_s", worker_start}, {"fixtures_s", fixtures}, {"exports_s", exports}, {"build_load_s", build_load},
          {"forward_s", forward},           {"compare_s", compare},   {"database_s", database},
          {"conversion_s", conversion},     {"lanes_s", lanes}};
}

std::string SweepTiming::line() const {
  return fmt::format("worker start {:.1f} s, fixtures {:.1f} s, exports {:.1f} s, build+load {:.1f} s, forward {:.1f} s, "
                     "compare {:.1f} s, conversion {:.1f} s, database {:.1f} s (lane-seconds; cell phase {:.1f} lane-s)",
                     worker_start, fixtures, exports, build_load, forward, compare, conversion, database, lanes);
}

}  // namespace xcompat

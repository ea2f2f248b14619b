#include "harness/sweep/cell_phase.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>

#include "harness/core/fault_points.hpp"
#include "harness/core/parallel.hpp"
#include "harness/convert/causes.hpp"
#include "harness/sweep/converted_path.hpp"
#include "harness/worker/cell_reply.hpp"

namespace xcompat {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// What the fixtures alone say about a cell, before any worker is asked.
struct Decision {
  CellResult outcome;      // the result when `run` is false (key, verdict, error set)
  bool run = false;        // the consumer must evaluate it
  bool retry = false;      // the outcome is the machine's, not the release's: never reused
  std::string content;     // what the cache key hashes of the fixtures
};

// A deployment cell's artifact: its record is part of what the cell read;
// a model that does not export is the cell's finding (ERROR with its cause).
void decide_artifact(Decision& d, const PlannedCell& cell, const ArtifactPhase& artifacts) {
  const Artifact* a = artifacts.find(cell.producer->version, *cell.spec, artifact_kind(cell.consumer->name));
  if (!a || a->state == Artifact::State::Missing) {
    d.run = false;
    d.outcome.verdict = Verdict::Error;
    d.outcome.error = fmt::format("no {} artifact from {}", cell.consumer->name, cell.producer->version);
    d.content += "|artifact-missing";
  } else if (a->state == Artifact::State::Fault) {
    // A crash or timeout while exporting says nothing lasting: the key
    // names the fault, and the next sweep exports again.
    d.run = false;
    d.retry = true;
    d.outcome.verdict = Verdict::Error;
    d.outcome.error = fmt::format("exporting for {} failed in the worker: {}", cell.consumer->name, a->fault);
    d.outcome.causes = causes_json({{"environment", "", a->fault.substr(0, 300)}});
    d.content += "|artifact-fault";
  } else if (a->state == Artifact::State::Failed) {
    d.run = false;
    d.outcome.verdict = Verdict::Error;
    d.outcome.error = fmt::format("{} {} does not export {} ({}): {}", cell.consumer->name == "cpp-export"
                                      ? "torch.export + AOTInductor:" : "torch.jit.trace:",
                                  cell.producer->version, cell.spec->name, cell.key.dtype, a->failure());
    d.outcome.causes = causes_json({{"export", a->record.value("construct", ""), a->failure().substr(0, 300)}});
    d.content += "|artifact:" + a->content_hash;
  } else {
    d.content += "|artifact:" + a->content_hash;
  }
  if (a && a->record.is_object())  // a fault has no record
    for (auto& w : a->record.value("warnings", json::array()))
      if (w.is_string()) d.outcome.warnings.push_back(w.get<std::string>());
}

// Why an error is the machine's rather than the release's ("the disk is
// full"), or "": text from a deployment artifact's load or a forward pass.
// (Exports classify their own, with the exception in hand:
// harness/python/xcompat_deploy.py environment_failure.)
std::string machine_failure(const std::string& error) {
  static const std::pair<const char*, const char*> kMarkers[] = {
      {"No space left on device", "the disk is full"},   {"Disk quota exceeded", "the disk is full"},
      {"Cannot allocate memory", "memory is exhausted"}, {"std::bad_alloc", "memory is exhausted"},
      {"MemoryError", "memory is exhausted"},            {"[environment]", "the machine failed"}};
  for (auto& [marker, why] : kMarkers)
    if (error.find(marker) != std::string::npos) return why;
  return "";
}

// A half-precision cell's tolerance, calibrated on what rounding alone
// makes of this model (measured by its producer against float32, the
// fixture's `rounding`): two evaluations of the same function, each off
// by that much, may differ by twice it (four times in nmse), elementwise by
// twice its largest difference. So a same-function rounding difference is
// CLOSE, and a real difference, far larger, stays DRIFT. float32 keeps
// the pins' tolerance (its rounding, against float64, is far below it).
Tolerance calibrated(Tolerance tol, const Fixture& fx) {
  if (fx.state != Fixture::State::Ready || fx.meta.value("dtype", "float32") == "float32") return tol;
  const json r = fx.meta.value("rounding", json::object());
  if (!r.contains("nmse") || !r["nmse"].is_number() || !r.contains("max_abs") || !r["max_abs"].is_number()) return tol;
  const double nmse = 4 * r["nmse"].get<double>(), atol = 2 * r["max_abs"].get<double>();
  if (nmse <= tol.nmse && atol <= tol.atol) return tol;
  tol.nmse = std::max(tol.nmse, nmse);
  tol.atol = std::max(tol.atol, atol);
  const std::string why = fmt::format("calibrated on this model's {} rounding (nmse {:.2g}, max abs {:.2g} against {})",
                                      fx.meta.value("dtype", ""), r["nmse"].get<double>(), r["max_abs"].get<double>(),
                                      r.value("reference", "float32"));
  tol.reason = tol.reason.empty() ? why : tol.reason + "; " + why;
  return tol;
}

// A checkpoint exists and its reader cannot build the model it holds (the
// release lacks an argument, the port a feature): the checkpoint does not
// load there. A failure of the pair, counted against it everywhere (as
// LOAD_FAIL with the cause "unbuildable"), unlike a spec the producer
// cannot build, which has nothing to load (UNSUPPORTED, not comparable).
// The decode checks and the deployment artifacts are the producer's own
// model: theirs stays UNSUPPORTED (not applicable to that release).
void consumer_cannot_build(CellResult& r, const PlannedCell& cell, const std::string& reason) {
  if (cell.consumer->kind != "python" && cell.consumer->kind != "cpp") return;
  r.verdict = Verdict::LoadFail;
  r.error = fmt::format("{} cannot build {}: {}", cell.consumer->label(), cell.spec->name, reason);
  r.causes = causes_json({{"unbuildable", "", reason.substr(0, 300)}});
}

Decision decide(const PlannedCell& cell, const FixturePhase& fixtures, const ArtifactPhase& artifacts) {
  Decision d;
  d.outcome.key = cell.key;
  const Fixture& fx = fixtures.at(cell.producer->version, *cell.spec);
  d.content = fx.state == Fixture::State::Ready ? fx.content_hash : "state:" + fx.reason;
  if (fx.state == Fixture::State::Unsupported) {
    d.outcome.verdict = Verdict::Unsupported;
    d.outcome.error =
        fmt::format("producer {} cannot build {}: {}", cell.producer->version, cell.spec->name, fx.reason);
  } else if (fx.state == Fixture::State::Broken) {
    // The release has what the spec asks for but fails on it: a finding
    // about the producer, not a gap in it.
    d.outcome.verdict = Verdict::Error;
    d.outcome.error = fmt::format("producer {} fails on {}: {}", cell.producer->version, cell.spec->name, fx.reason);
  } else if (fx.state != Fixture::State::Ready) {
    d.outcome.verdict = Verdict::Error;
    d.outcome.error = fmt::format("no fixture from {}: {}", cell.producer->version, fx.reason);
  } else if (cell.consumer->kind == "python" &&
             fixtures.at(cell.consumer->name, *cell.spec).state == Fixture::State::Unsupported) {
    consumer_cannot_build(d.outcome, cell, fixtures.at(cell.consumer->name, *cell.spec).reason);
    d.content += "|consumer-unbuildable";
  } else {
    d.run = true;
    if (cell.consumer->kind == "deploy") decide_artifact(d, cell, artifacts);
  }
  return d;
}

}  // namespace

// A worker fault (crash, timeout, failed start) as the cell's ERROR; else
// the reply's outcome.
CellResult cell_result_of(const CellKey& key, const WorkerReply& reply) {
  if (!reply.ok()) {
    CellResult c;
    c.key = key;
    c.verdict = Verdict::Error;
    c.error = fmt::format("[{}] {}", worker_fault_name(reply.fault), reply.error);
    return c;
  }
  try {
    return CellReply::from_json(reply.body).result(key);
  } catch (const std::exception& e) {  // one bad reply is one ERROR cell, never the end of the sweep
    CellResult c;
    c.key = key;
    c.verdict = Verdict::Error;
    c.error = std::string("[protocol] unreadable evaluate reply: ") + e.what();
    return c;
  }
}

std::map<CellKey, CellResult> CellPhase::run(SweepSummary& summary) {
  // Grouped by consumer, so each worker is one thread's.
  std::map<std::string, std::vector<const PlannedCell*>> by_consumer;
  for (auto& cell : plan.cells) by_consumer[cell.consumer->name].push_back(&cell);
  std::vector<std::string> order;
  for (auto& c : plan.consumers)
    if (by_consumer.count(c.name)) order.push_back(c.name);

  std::mutex m;  // guards summary and current
  std::map<CellKey, CellResult> current;
  auto count = [&](const CellResult& r, int64_t SweepSummary::*counter) {
    std::lock_guard lock(m);
    ++(summary.*counter);
    current[r.key] = r;
  };

  // decode-cache runs each producer's code: by producer, so that one of its
  // workers is alive at a time (stable: the plan's order within a producer).
  for (auto& [name, cells] : by_consumer)
    if (!cells.empty() && cells.front()->consumer->kind == "decode")
      std::stable_sort(cells.begin(), cells.end(),
                       [](const PlannedCell* a, const PlannedCell* b) { return a->producer->version < b->producer->version; });

  parallel_for(order.size(), opts.jobs, [&](std::size_t ci, int) {
    const auto lane_t0 = Clock::now();
    std::string decode_worker;  // the producer whose decode-cache worker is alive
    for (const PlannedCell* cell : by_consumer[order[ci]]) {
      const Tolerance tol = calibrated(pins.tolerance_for(cell->spec->name, cell->consumer->name, cell->key.dtype),
                                       fixtures.at(cell->producer->version, *cell->spec));
      Decision d = decide(*cell, fixtures, artifacts);
      const std::string key = cell_cache_key(cell->key, *cell->spec, d.content, *cell->consumer, tol,
                                             conversion_identity(history, *cell));

      if (auto cached = recorder.with_store([&](Store& s) { return s.find_cached(key); })) {
        // Recorded in this run too, marked reused: every reader of the run
        // (query, report, diff) then sees what this sweep's summary says.
        // Recorded as the stored outcome unless this changes it (a flaky
        // flag is not carried over).
        if (cached->flaky || cached->key != cell->key) cached->stored_outcome = 0;
        cached->key = cell->key;
        cached->reused = true;
        cached->flaky = false;
        recorder.add(*cached);
        progress.cell(*cached, true);
        count(*cached, &SweepSummary::reused);
        continue;
      }

      CellResult result = d.outcome;
      result.cache_key = d.retry ? "retry:" + key : key;
      if (d.run) {
        const Fixture& fx = fixtures.at(cell->producer->version, *cell->spec);
        const bool decode = cell->consumer->kind == "decode";
        json request =
            decode ? json{{"op", "decode_parity"}, {"spec", cell->spec->definition}, {"fixture_dir", fx.dir.string()},
                          {"tolerance", tol.to_json()}, {"steps", 8}}
                   : json{{"op", "evaluate"}, {"spec", cell->spec->definition}, {"fixture_dir", fx.dir.string()},
                          {"checkpoint", "model." + cell->key.checkpoint}, {"tolerance", tol.to_json()}};
        if (cell->consumer->kind == "cpp-decode")  // the port reads the fixture's safetensors
          request = {{"op", "decode_parity"}, {"spec", cell->spec->definition}, {"fixture_dir", fx.dir.string()},
                     {"checkpoint", "model.safetensors"}, {"tolerance", tol.to_json()}, {"steps", 8}};
        if (cell->consumer->kind == "deploy") {
          const Artifact* a = artifacts.find(cell->producer->version, *cell->spec, artifact_kind(cell->consumer->name));
          request["artifact_dir"] = a->dir.string();
        }
        // A decode-cache cell is the producing release's own check: a worker
        // of that release runs it, of its own (the release's lane may be
        // using the release's worker at the same time). The lane is ordered
        // by producer, so one such worker is alive at a time.
        if (decode && decode_worker != cell->producer->version) {
          if (!decode_worker.empty()) pool.release("decode-cache:" + decode_worker);
          decode_worker = cell->producer->version;
        }
        WorkerProcess& w = decode ? pool.get(release_consumer(*cell->producer), "decode-cache:" + decode_worker)
                                  : pool.get(*cell->consumer);
        fault_point("cell.before-evaluate");
        WorkerReply reply = w.request(request, opts.cell_timeout);
        // A crash, timeout or failed start is retried once on a fresh worker
        // before it counts: on a loaded machine a slow start is not a finding.
        if (!reply.ok() && reply.fault != WorkerFault::Exception) reply = w.request(request, opts.cell_timeout);
        if (reply.ok()) {
          const json t = reply.body.value("timing", json::object());
          std::lock_guard lock(m);
          summary.timing.build_load += (t.value("build_ms", 0.0) + t.value("load_ms", 0.0)) / 1e3;
          summary.timing.forward += t.value("forward_ms", 0.0) / 1e3;
          summary.timing.compare += t.value("compare_ms", 0.0) / 1e3;
        }
        result = cell_result_of(cell->key, reply);
        if (result.verdict == Verdict::Unsupported) consumer_cannot_build(result, *cell, result.error);
        // An artifact that computes as the release only on the inputs it was
        // made from: what it baked in is the cause.
        if (cell->consumer->kind == "deploy" &&
            ((result.verdict == Verdict::Drift && result.error.rfind("on inputs it was not", 0) == 0) ||
             (result.verdict == Verdict::Error && result.error.find("does not run on other inputs") != std::string::npos)))
          result.causes = causes_json({{"baked-in", "", result.error.substr(0, 600)}});
        for (auto& warning : w.hello().value("import_warnings", json::array()))
          if (warning.is_string()) result.warnings.push_back(warning.get<std::string>());
        // What the exporter warned about (torch.jit.trace's deprecation, say).
        result.warnings.insert(result.warnings.end(), d.outcome.warnings.begin(), d.outcome.warnings.end());
        // A worker fault says nothing lasting about the cell: record it, but
        // let the next sweep try again.
        const bool infrastructure_fault =
            (!reply.ok() && reply.fault != WorkerFault::Exception) ||
            (result.verdict == Verdict::Error && !machine_failure(result.error).empty());
        result.cache_key = infrastructure_fault ? "retry:" + key : key;
        if (const std::string why = machine_failure(result.error); result.verdict == Verdict::Error && !why.empty())
          result.causes = causes_json({{"environment", "", why}});
        // A verdict that differs from the cell's last recorded one is checked
        // again before it is believed; disagreement means flaky. A cell whose
        // last result was flaky is always run twice: it settles only when two
        // runs agree. Compared before any conversion: with the stored direct
        // verdict (a CONVERTED cell's LOAD_FAIL is no change).
        auto before = recorder.with_store([&](Store& s) { return s.latest_direct_verdict(cell->key); });
        const bool changed = before && before->verdict != result.verdict &&
                             (!result.direct_verdict || before->verdict != *result.direct_verdict);
        if (!infrastructure_fault && before && (changed || before->flaky)) {
          CellResult again = cell_result_of(cell->key, w.request(request, opts.cell_timeout));
          if (again.verdict == Verdict::Unsupported) consumer_cannot_build(again, *cell, again.error);
          std::lock_guard lock(m);
          ++summary.rerun;
          if (again.verdict != result.verdict ||
              (again.metrics && result.metrics && again.metrics->nmse != result.metrics->nmse)) {
            result.flaky = true;
            ++summary.flaky;
          }
        }
        // A flaky result is recorded, never reused: under another key, so the
        // next sweep evaluates the cell again instead of settling on it.
        if (result.flaky) result.cache_key = "flaky:" + key;
      }
      if (d.run) fault_point("cell.after-evaluate");
      if (d.run && wants_conversion(*cell, result)) {
        fault_point("cell.before-conversion");
        const auto t0 = Clock::now();
        add_converted_path(result, *cell, fixtures.at(cell->producer->version, *cell->spec), history,
                           pool.get(*cell->consumer), tol, opts.cell_timeout);
        std::lock_guard lock(m);
        summary.timing.conversion += std::chrono::duration<double>(Clock::now() - t0).count();
      }
      if (result.verdict == Verdict::Error && result.causes.empty())
        result.causes = causes_json({{"error", "", result.error.substr(0, result.error.find('\n')).substr(0, 300)}});
      result.tolerance_override = tol.reason;
      recorder.add(result);
      progress.cell(result, false);
      count(result, &SweepSummary::evaluated);
    }
    pool.release(order[ci]);
    if (!decode_worker.empty()) pool.release("decode-cache:" + decode_worker);
    std::lock_guard lock(m);
    summary.timing.lanes += std::chrono::duration<double>(Clock::now() - lane_t0).count();
  });
  return current;
}

}  // namespace xcompat

#include "harness/sweep/sweep.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "fixtures/fixture_cache.hpp"
#include "harness/core/error.hpp"
#include "harness/core/parallel.hpp"
#include "harness/worker/worker_process.hpp"

namespace xcompat {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kBatchSize = 64;          // cells per write transaction
constexpr auto kBatchInterval = std::chrono::seconds(2);  // ... or this old
constexpr auto kFixtureTimeout = std::chrono::seconds(180);

// Workers by consumer name, started lazily, shared by the fixture and cell
// phases so a release's interpreter is started once per sweep.
class WorkerPool {
 public:
  WorkerProcess& get(const Consumer& c) {
    std::lock_guard lock(m_);
    auto& w = workers_[c.name];
    if (!w) w = std::make_unique<WorkerProcess>(worker_command(c), c.label());
    return *w;
  }
  void release(const std::string& name) {
    std::unique_ptr<WorkerProcess> w;
    {
      std::lock_guard lock(m_);
      auto it = workers_.find(name);
      if (it == workers_.end()) return;
      account(*it->second);
      w = std::move(it->second);
      workers_.erase(it);
    }
  }
  void stop_all() {
    std::lock_guard lock(m_);
    for (auto& [_, w] : workers_) account(*w);
    workers_.clear();
  }
  int starts = 0;
  double start_seconds = 0;

 private:
  void account(const WorkerProcess& w) {
    starts += w.starts();
    start_seconds += w.start_seconds_total();
  }
  std::mutex m_;
  std::map<std::string, std::unique_ptr<WorkerProcess>> workers_;
};

class Progress {
 public:
  Progress(int64_t total, bool bar, bool quiet) : total_(total), bar_(bar), quiet_(quiet) {}
  void cell(const CellResult& c, bool reused) {
    std::lock_guard lock(m_);
    ++done_;
    if (quiet_) return;
    if (bar_) {
      if (done_ % 8 == 0 || done_ == total_) {
        const int width = 30;
        const int filled = static_cast<int>(width * done_ / std::max<int64_t>(total_, 1));
        fmt::print(stderr, "\r[{}{}] {}/{} cells  {:<60.60}", std::string(filled, '#'),
                   std::string(width - filled, '.'), done_, total_, c.line());
        if (done_ == total_) fmt::print(stderr, "\n");
      }
    } else if (!reused) {
      fmt::print(stderr, "[{}/{}] {}\n", done_, total_, c.line());
    }
  }
  void note(const std::string& s) {
    std::lock_guard lock(m_);
    if (!quiet_) fmt::print(stderr, "{}{}\n", bar_ ? "\r" : "", s);
  }

 private:
  std::mutex m_;
  int64_t total_, done_ = 0;
  bool bar_, quiet_;
};

// Adds the scope's duration to a counter (the caller holds its lock).
struct Timed {
  double& into;
  Clock::time_point t0 = Clock::now();
  explicit Timed(double& d) : into(d) {}
  ~Timed() { into += std::chrono::duration<double>(Clock::now() - t0).count(); }
};

// Batches results and writes them in one transaction per batch.
class Recorder {
 public:
  Recorder(Store& store, int64_t run_id) : store_(store), run_id_(run_id) {
    // Fault injection for the resume tests: die by SIGKILL, like an OOM kill
    // or a cancelled CI job, right after the N-th cell is committed.
    if (const char* n = std::getenv("XCOMPAT_TEST_KILL_AFTER_CELLS")) kill_after_ = std::atol(n);
  }
  void add(const CellResult& c) {
    std::lock_guard lock(m_);
    pending_.push_back(c);
    if (pending_.size() >= kBatchSize || Clock::now() - last_ > kBatchInterval || kill_after_ > 0) flush_locked();
    if (kill_after_ > 0 && (recorded_ += 1) >= kill_after_) ::kill(getpid(), SIGKILL);
  }
  void flush() {
    std::lock_guard lock(m_);
    flush_locked();
  }
  template <class F>
  auto with_store(F&& f) {
    std::lock_guard lock(m_);
    Timed t(db_seconds_);
    return f(store_);
  }
  double db_seconds() {
    std::lock_guard lock(m_);
    return db_seconds_;
  }

 private:
  void flush_locked() {
    Timed t(db_seconds_);
    store_.record(run_id_, pending_);
    pending_.clear();
    last_ = Clock::now();
  }
  Store& store_;
  int64_t run_id_;
  std::mutex m_;
  std::vector<CellResult> pending_;
  Clock::time_point last_ = Clock::now();
  long kill_after_ = 0, recorded_ = 0;
  double db_seconds_ = 0;
};

CellResult from_reply(const CellKey& key, const WorkerReply& reply) {
  CellResult c;
  c.key = key;
  if (!reply.ok()) {
    c.verdict = Verdict::Error;
    c.error = fmt::format("[{}] {}", worker_fault_name(reply.fault), reply.error);
    return c;
  }
  const json& b = reply.body;
  c.verdict = verdict_from_name(b.value("verdict", "ERROR"));
  if (b.contains("metrics") && b["metrics"].is_object()) c.metrics = Metrics::from_json(b["metrics"]);
  c.latency_ms = b.value("latency_ms", 0.0);
  c.load_report = LoadReport::from_json(b.value("load_report", json::object()));
  c.error = b.value("error", "");
  return c;
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
  const int64_t run_id = store.begin_run(run_args);
  summary.run_id = run_id;

  // Phase 1: fixtures. Each cell needs its producer's fixture and, for a
  // release consumer, its own (to tell "cannot build this spec" apart).
  std::set<std::pair<std::string, std::string>> needed;  // (release, spec)
  for (auto& cell : plan.cells) {
    needed.insert({cell.producer->version, cell.spec->name});
    if (cell.consumer->kind == "python") needed.insert({cell.consumer->name, cell.spec->name});
  }
  std::map<std::pair<std::string, std::string>, Fixture> fixtures;
  std::map<std::string, std::vector<std::string>> missing_by_release;
  const auto spec_by_name = [&](const std::string& n) -> const Spec& {
    for (auto& s : plan.specs)
      if (s.name == n) return s;
    throw Error("spec " + n + " not in plan");
  };
  for (auto& [version, spec_name] : needed) {
    const Release* rel = pins.find(version);
    if (!rel) throw Error("release " + version + " is not pinned in the policy file");
    Fixture f = lookup_fixture(pins, *rel, spec_by_name(spec_name));
    if (f.state == Fixture::State::Missing) missing_by_release[version].push_back(spec_name);
    fixtures[{version, spec_name}] = std::move(f);
  }

  WorkerPool pool;
  Progress progress(summary.planned, opts.progress_bar, opts.quiet);
  std::vector<std::string> releases_to_fill;
  for (auto& [v, _] : missing_by_release) releases_to_fill.push_back(v);
  if (!releases_to_fill.empty())
    progress.note(fmt::format("making fixtures for {} release(s)", releases_to_fill.size()));
  std::mutex fixtures_mutex;
  parallel_for(releases_to_fill.size(), opts.jobs, [&](std::size_t i, int) {
    const Release& rel = *pins.find(releases_to_fill[i]);
    WorkerProcess& w = pool.get(release_consumer(rel));
    for (auto& spec_name : missing_by_release[rel.version]) {
      const auto t0 = Clock::now();
      const double started_before = w.start_seconds_total();
      Fixture f = generate_fixture(w, pins, rel, spec_by_name(spec_name), kFixtureTimeout);
      const double spent = std::chrono::duration<double>(Clock::now() - t0).count();
      std::lock_guard lock(fixtures_mutex);
      summary.timing.fixtures += spent - (w.start_seconds_total() - started_before);
      fixtures[{rel.version, spec_name}] = std::move(f);
    }
  });

  // Phase 2: cells, grouped by consumer so each worker is one thread's.
  std::map<std::string, std::vector<const PlannedCell*>> by_consumer;
  for (auto& cell : plan.cells) by_consumer[cell.consumer->name].push_back(&cell);
  std::vector<std::string> consumer_order;
  for (auto& c : plan.consumers)
    if (by_consumer.count(c.name)) consumer_order.push_back(c.name);

  Recorder recorder(store, run_id);
  std::mutex summary_mutex;
  std::map<CellKey, CellResult> current;

  parallel_for(consumer_order.size(), opts.jobs, [&](std::size_t ci, int) {
    const auto lane_t0 = Clock::now();
    const auto& cells = by_consumer[consumer_order[ci]];
    for (const PlannedCell* cell : cells) {
      const Fixture& fx = fixtures.at({cell->producer->version, cell->spec->name});
      const Tolerance tol = pins.tolerance_for(cell->spec->name, cell->consumer->name, cell->key.dtype);
      CellResult result;
      result.key = cell->key;
      result.tolerance_note = tol.reason;
      std::string content = fx.state == Fixture::State::Ready ? fx.content_hash : "state:" + fx.reason;
      bool run_it = false;
      if (fx.state == Fixture::State::Unsupported) {
        result.verdict = Verdict::Unsupported;
        result.error = fmt::format("producer {} cannot build {}: {}", cell->producer->version, cell->spec->name,
                                   fx.reason);
      } else if (fx.state != Fixture::State::Ready) {
        result.verdict = Verdict::Error;
        result.error = fmt::format("no fixture from {}: {}", cell->producer->version, fx.reason);
      } else if (cell->consumer->kind == "python" &&
                 fixtures.at({cell->consumer->name, cell->spec->name}).state == Fixture::State::Unsupported) {
        result.verdict = Verdict::Unsupported;
        result.error = fmt::format("consumer {} cannot build {}: {}", cell->consumer->name, cell->spec->name,
                                   fixtures.at({cell->consumer->name, cell->spec->name}).reason);
        content += "|consumer-unsupported";
      } else {
        run_it = true;
      }
      result.cache_key = cell_cache_key(cell->key, content, *cell->consumer, tol);

      auto cached = recorder.with_store([&](Store& s) { return s.find_cached(result.cache_key); });
      if (cached) {
        cached->key = cell->key;
        progress.cell(*cached, true);
        std::lock_guard lock(summary_mutex);
        ++summary.reused;
        current[cell->key] = *cached;
        continue;
      }

      if (run_it) {
        const json request = {{"op", "evaluate"}, {"spec", cell->spec->definition},
                              {"fixture_dir", fx.dir.string()}, {"checkpoint", opts.checkpoint},
                              {"tolerance", tol.to_json()}};
        WorkerProcess& w = pool.get(*cell->consumer);
        WorkerReply reply = w.request(request, opts.cell_timeout);
        // A crash, timeout or failed start is retried once on a fresh worker
        // before it counts: on a loaded machine a slow start is not a finding.
        if (!reply.ok() && reply.fault != WorkerFault::Exception) reply = w.request(request, opts.cell_timeout);
        if (reply.ok()) {
          const json t = reply.body.value("timing", json::object());
          std::lock_guard lock(summary_mutex);
          summary.timing.build_load += (t.value("build_ms", 0.0) + t.value("load_ms", 0.0)) / 1e3;
          summary.timing.forward += t.value("forward_ms", 0.0) / 1e3;
          summary.timing.compare += t.value("compare_ms", 0.0) / 1e3;
        }
        CellResult fresh = from_reply(cell->key, reply);
        // A worker fault (crash, timeout, failed start) says nothing lasting
        // about the cell: record it, but let the next sweep try again.
        const bool infrastructure_fault = !reply.ok() && reply.fault != WorkerFault::Exception;
        fresh.cache_key = infrastructure_fault ? "retry:" + result.cache_key : result.cache_key;
        fresh.tolerance_note = result.tolerance_note;
        // A verdict that differs from the cell's last recorded one is checked
        // again before it is believed; disagreement means flaky.
        auto before = recorder.with_store([&](Store& s) {
          auto h = s.history(cell->key);
          return h.empty() ? std::optional<Verdict>{} : std::optional<Verdict>{h.back().cell.verdict};
        });
        if (before && *before != fresh.verdict) {
          CellResult again = from_reply(cell->key, w.request(request, opts.cell_timeout));
          std::lock_guard lock(summary_mutex);
          ++summary.rerun;
          if (again.verdict != fresh.verdict ||
              (again.metrics && fresh.metrics && again.metrics->nmse != fresh.metrics->nmse)) {
            fresh.flaky = true;
            ++summary.flaky;
          }
        }
        result = std::move(fresh);
      }
      recorder.add(result);
      progress.cell(result, false);
      std::lock_guard lock(summary_mutex);
      ++summary.evaluated;
      current[cell->key] = result;
    }
    pool.release(consumer_order[ci]);
    std::lock_guard lock(summary_mutex);
    summary.timing.lanes += std::chrono::duration<double>(Clock::now() - lane_t0).count();
  });
  recorder.flush();
  pool.stop_all();
  store.finish_run(run_id, "complete");

  summary.workers_started = pool.starts;
  summary.worker_start_seconds = pool.start_seconds;
  summary.timing.worker_start = pool.start_seconds;
  summary.timing.database = recorder.db_seconds();
  for (auto& [key, c] : current) {
    ++summary.verdicts[verdict_name(c.verdict)];
    summary.results.push_back(c);
  }
  // Regressions: planned cells that passed as of the previous run and do not now.
  if (previous_run > 0) {
    std::map<CellKey, Verdict> before;
    for (auto& r : store.matrix_as_of(previous_run)) before[r.cell.key] = r.cell.verdict;
    for (auto& [key, c] : current) {
      auto it = before.find(key);
      if (it != before.end() && verdict_passes(it->second) && !verdict_passes(c.verdict))
        summary.regressions.push_back({key, verdict_name(it->second), verdict_name(c.verdict), c.flaky});
    }
  }
  summary.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return summary;
}

json SweepTiming::to_json() const {
  return {{"worker_start_s", worker_start}, {"fixtures_s", fixtures}, {"build_load_s", build_load},
          {"forward_s", forward},           {"compare_s", compare},   {"database_s", database},
          {"lanes_s", lanes}};
}

std::string SweepTiming::line() const {
  return fmt::format("worker start {:.1f} s, fixtures {:.1f} s, build+load {:.1f} s, forward {:.1f} s, "
                     "compare {:.1f} s, database {:.1f} s (lane-seconds; cell phase {:.1f} lane-s)",
                     worker_start, fixtures, build_load, forward, compare, database, lanes);
}

MatrixDiff diff_runs(Store& store, int64_t before_run, int64_t after_run) {
  std::map<CellKey, CellResult> before;
  for (auto& r : store.matrix_as_of(before_run)) before[r.cell.key] = r.cell;
  MatrixDiff d;
  for (auto& r : store.matrix_as_of(after_run)) {
    const CellResult& now = r.cell;
    auto it = before.find(now.key);
    const std::string was = it == before.end() ? "" : verdict_name(it->second.verdict);
    CellChange ch{now.key, was, verdict_name(now.verdict), now.flaky};
    if (now.flaky && r.run_id > before_run) d.flaky.push_back(ch);
    if (was == ch.after) continue;
    if (!was.empty() && verdict_passes(it->second.verdict) && !verdict_passes(now.verdict)) d.regressed.push_back(ch);
    else if (!was.empty() && !verdict_passes(it->second.verdict) && verdict_passes(now.verdict)) d.fixed.push_back(ch);
    else d.changed.push_back(ch);
  }
  return d;
}

}  // namespace xcompat

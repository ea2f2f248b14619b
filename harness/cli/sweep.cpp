// `xcompat sweep`: the whole matrix (or a filtered / sharded part of it)
// into the SQLite store; `xcompat merge OUT IN...`: fold shard databases.
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <iostream>

#include "harness/cli/commands.hpp"
#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/runtime.hpp"
#include "harness/sweep/sweep.hpp"
#include "reports/junit.hpp"

namespace xcompat::cli {

namespace {
constexpr int kExitRegressed = 3;  // CI: some cell passed in the previous run and does not now
constexpr int kExitNothingMeasured = 4;  // CI: every cell ERROR (or UNSUPPORTED): the run measured nothing

// Why a run measured nothing, or "": every cell is ERROR or UNSUPPORTED and
// at least one is ERROR (no worker started, a compiler missing, a full disk:
// the environment, not the releases). A green CI must not hide it.
std::string nothing_measured(const SweepSummary& s) {
  int64_t errors = 0;
  for (auto& c : s.results) {
    if (c.verdict == Verdict::Error) ++errors;
    else if (c.verdict != Verdict::Unsupported) return "";
  }
  if (errors == 0) return "";
  return fmt::format("nothing was measured: all {} cells with a result are ERROR ({} workers started)", errors,
                     s.workers_started);
}

void print_summary(const SweepSummary& s, const Plan& plan) {
  // Counts per consumer and verdict: the table a CI log shows at the end.
  std::map<std::string, std::map<std::string, int>> table;
  for (auto& c : s.results) ++table[c.key.consumer][verdict_name(c.verdict)];
  fmt::print("\n{:<12}", "consumer");
  for (auto& v : kVerdicts) fmt::print(" {:>11}", v.name);
  fmt::print("\n");
  for (auto& consumer : plan.consumers) {
    if (!table.count(consumer.name)) continue;
    fmt::print("{:<12}", consumer.name);
    for (auto& v : kVerdicts) fmt::print(" {:>11}", table[consumer.name][v.name]);
    fmt::print("\n");
  }
  fmt::print("\nrun {}: {} cells planned, {} evaluated, {} reused from cache, {} re-run, {} flaky; "
             "{} workers started ({:.1f} s starting); {:.1f} s\n",
             s.run_id, s.planned, s.evaluated, s.reused, s.rerun, s.flaky, s.workers_started,
             s.worker_start_seconds, s.seconds);
  fmt::print("time: {}\n", s.timing.line());
  for (auto& r : s.regressions)
    fmt::print("REGRESSED {} {} -> {}: {} -> {}{}\n", r.key.spec, r.key.producer, r.key.consumer, r.before_name(),
               verdict_name(r.after), r.flaky ? " [flaky]" : "");
}
}  // namespace

int sweep(const Common& c, const SweepArgs& a) {
  const Pins pins = load_pins(c.pins_path);
  Plan plan;
  plan.specs = select_specs(load_specs(c.specs_path), a.specs);
  plan.producers = select_releases(pins, a.releases);
  if (!a.consumers.empty()) {
    plan.consumers = select_consumers(pins, a.consumers);
  } else {
    // Without --consumers: the chosen releases read each other, plus
    // cpp-native, plus the checks of each producer's own model.
    for (auto& r : plan.producers) plan.consumers.push_back(release_consumer(r));
    plan.consumers.push_back(native_consumer());
    for (auto& own : own_model_consumers(pins)) plan.consumers.push_back(std::move(own));
  }
  // The torch axis: each release once per torch asked for (harness/core/runtime.hpp).
  if (!a.torches.empty()) {
    for (auto& t : a.torches)
      if (std::find(pins.torches.begin(), pins.torches.end(), t) == pins.torches.end())
        throw Error("--torch " + t + " is not one of matrix/pins.toml's torches");
    auto expand_releases = [&](const std::vector<Release>& in) {
      std::vector<Release> out;
      for (auto& t : a.torches)
        for (auto& r : in) {
          if (!parse_runtime(r.version).torch.empty()) continue;
          out.push_back(t == pins.torch ? r
                                        : Release{runtime_name(r.version, t), r.extras, r.version + " under torch " + t});
        }
      return out;
    };
    plan.producers = expand_releases(plan.producers);
    std::vector<Release> consumer_releases;
    std::vector<Consumer> others;
    for (auto& cons : plan.consumers) {
      if (cons.kind != "python") others.push_back(cons);
      else if (const Release* r = pins.find(cons.name)) consumer_releases.push_back(*r);
      else consumer_releases.push_back({cons.name, pins.extras_for(cons.name), ""});
    }
    plan.consumers.clear();
    for (auto& r : expand_releases(consumer_releases)) plan.consumers.push_back(release_consumer(r));
    plan.consumers.insert(plan.consumers.end(), others.begin(), others.end());
  }
  for (auto& c : a.checkpoints)
    if (c != "pt" && c != "safetensors") throw Error("--checkpoint is pt or safetensors, not " + c);
  plan.checkpoints = a.checkpoints;
  plan.dtypes = a.dtypes.empty() ? pins.dtypes : a.dtypes;
  for (auto& d : plan.dtypes)
    if (d != "float32" && d != "bfloat16") throw Error("--dtype is float32 or bfloat16, not " + d);
  build_plan(plan, Shard::parse(a.shard));

  fs::create_directories(fs::path(c.db_path).parent_path().empty() ? "." : fs::path(c.db_path).parent_path());
  Store store(c.db_path);
  SweepOptions opts;
  opts.jobs = a.jobs;
  opts.shard = Shard::parse(a.shard);
  opts.progress_bar = !a.no_progress && isatty(2);
  opts.quiet = c.json;
  opts.cell_timeout = std::chrono::seconds(a.cell_timeout_s);
  const json run_args = {{"releases", a.releases}, {"specs", a.specs}, {"consumers", a.consumers},
                         {"shard", a.shard},       {"jobs", a.jobs},   {"checkpoints", a.checkpoints},
                         {"dtypes", plan.dtypes},  {"torch", pins.torch},
                         {"torches", a.torches.empty() ? std::vector<std::string>{pins.torch} : a.torches}};
  SweepSummary s = run_sweep(plan, pins, store, opts, run_args);
  if (!a.junit.empty()) {
    // Against the previous run and the checked-in known breaks: JUnit fails on news only.
    JunitBaseline baseline;
    baseline.before_run = s.previous_run;
    if (s.previous_run > 0)
      for (auto& r : store.verdicts_as_of(s.previous_run)) baseline.before[r.cell.key] = r.cell.verdict;
    baseline.known = load_known_breaks(a.known_breaks.empty() ? default_known_breaks_path() : fs::path(a.known_breaks));
    baseline.today = utc_today();
    write_junit(a.junit, s.results, fmt::format("xcompat run {}", s.run_id), baseline);
  }
  if (c.json) {
    json j = {{"run", s.run_id}, {"planned", s.planned}, {"evaluated", s.evaluated}, {"reused", s.reused},
              {"rerun", s.rerun}, {"flaky", s.flaky}, {"workers_started", s.workers_started},
              {"worker_start_seconds", s.worker_start_seconds}, {"seconds", s.seconds}, {"verdicts", s.verdicts},
              {"timing", s.timing.to_json()},
              {"regressions", json::array()}, {"db", c.db_path}};
    for (auto& r : s.regressions)
      j["regressions"].push_back({{"spec", r.key.spec}, {"producer", r.key.producer}, {"consumer", r.key.consumer},
                                  {"before", r.before_name()}, {"after", verdict_name(r.after)}});
    std::cout << j.dump(2) << "\n";
  } else {
    print_summary(s, plan);
    fmt::print("matrix: {}\n", c.db_path);
  }
  if (const std::string why = nothing_measured(s); !why.empty()) {
    fmt::print(stderr, "xcompat sweep: {}\n", why);
    return kExitNothingMeasured;
  }
  return s.regressions.empty() ? 0 : kExitRegressed;
}

int merge(const std::string& out, const std::vector<std::string>& inputs) {
  Store store(out);
  for (auto& in : inputs) {
    if (!fs::exists(in)) throw Error("shard database " + in + " does not exist");
    const int64_t added = store.merge_from(in);
    fmt::print("merged {}: {} results added\n", in, added);
  }
  return 0;
}

}  // namespace xcompat::cli

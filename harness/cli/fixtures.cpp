// `xcompat fixtures [--release V]... [--spec S]... [-j N]`: every release
// builds every spec into the content-addressed cache. Cached pairs start no
// worker; a release's worker starts only if one of its pairs is missing.
#include <fmt/format.h>

#include <iostream>
#include <map>
#include <mutex>

#include "fixtures/fixture_cache.hpp"
#include "harness/cli/commands.hpp"
#include "harness/core/consumers.hpp"
#include "harness/core/hash.hpp"
#include "harness/core/parallel.hpp"

namespace xcompat::cli {

namespace {
constexpr auto kFixtureTimeout = std::chrono::seconds(120);

bool verify_files(const Fixture& f, std::string& why) {
  for (auto& [name, sha] : f.meta.at("files").items()) {
    if (sha256_file(f.dir / name) != sha.get<std::string>()) {
      why = name + " does not match its sha256 in meta.json";
      return false;
    }
  }
  return true;
}
}  // namespace

int fixtures(const Common& c, const FixturesArgs& a) {
  const Pins pins = load_pins(c.pins_path);
  const auto specs = select_specs(load_specs(c.specs_path), a.specs);
  const auto releases = select_releases(pins, a.releases);

  std::mutex out_mutex;
  json rows = json::array();
  int started = 0, failed = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double start_seconds = 0;
  parallel_for(releases.size(), a.jobs, [&](std::size_t i, int) {
    const Release& rel = releases[i];
    std::unique_ptr<WorkerProcess> worker;  // started on the first missing fixture
    for (auto& spec : specs) {
      Fixture f = lookup_fixture(pins, rel, spec);
      bool cached = f.state != Fixture::State::Missing;
      if (!cached) {
        if (!worker) worker = std::make_unique<WorkerProcess>(worker_command(release_consumer(rel)), release_consumer(rel).label());
        f = generate_fixture(*worker, pins, rel, spec, kFixtureTimeout);
      }
      std::string note;
      if (a.verify && f.state == Fixture::State::Ready && !verify_files(f, note)) f.state = Fixture::State::Failed;
      std::lock_guard lock(out_mutex);
      const char* state = f.state == Fixture::State::Ready ? "fixture"
                          : f.state == Fixture::State::Unsupported ? "UNSUPPORTED" : "FAILED";
      if (f.state == Fixture::State::Failed) ++failed;
      rows.push_back({{"release", rel.version}, {"spec", spec.name}, {"state", state}, {"cached", cached},
                      {"dir", f.dir.string()}, {"reason", note.empty() ? f.reason : note}});
      if (!c.json)
        fmt::print(stderr, "{:<24} {:<9} {}{}{}\n", spec.name, rel.version, state, cached ? " (cached)" : "",
                   f.reason.empty() && note.empty() ? "" : ": " + (note.empty() ? f.reason : note).substr(0, 200));
    }
    if (worker) {
      std::lock_guard lock(out_mutex);
      started += worker->starts();
      start_seconds += worker->start_seconds_total();
    }
  });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (c.json) {
    std::cout << json{{"fixtures", rows}, {"workers_started", started}, {"seconds", secs},
                      {"worker_start_seconds", start_seconds}}.dump(2) << "\n";
  } else {
    int ready = 0, unsupported = 0;
    for (auto& r : rows) {
      if (r["state"] == "fixture") ++ready;
      else if (r["state"] == "UNSUPPORTED") ++unsupported;
    }
    fmt::print("{} fixtures, {} unsupported, {} failed; {} workers started ({:.1f} s starting); {:.1f} s\n", ready,
               unsupported, failed, started, start_seconds, secs);
  }
  return failed ? 1 : 0;
}

}  // namespace xcompat::cli

// `xcompat fixtures [--release V]... [--spec S]... [-j N] [--verify]`: every
// release builds every spec into the content-addressed cache (the sweep's
// fixture phase, on its own). Cached pairs start no worker.
#include <fmt/format.h>

#include <deque>
#include <iostream>

#include "fixtures/fixture_phase.hpp"
#include "harness/cli/commands.hpp"

namespace xcompat::cli {

int fixtures(const Common& c, const FixturesArgs& a) {
  const Pins pins = load_pins(c.pins_path);
  const auto specs = select_specs(load_specs(c.specs_path), a.specs);
  const auto releases = select_releases(pins, a.releases);
  std::deque<Spec> variants;  // stable addresses for the needs
  for (auto& spec : specs)
    for (auto& dtype : spec.dtypes(a.dtypes.empty() ? pins.dtypes : a.dtypes)) variants.push_back(spec.variant(dtype));
  std::vector<FixtureNeed> needs;
  for (auto& rel : releases)
    for (auto& variant : variants) needs.push_back({&rel, &variant});

  json rows = json::array();
  int failed = 0;
  const auto t0 = std::chrono::steady_clock::now();
  WorkerPool pool;
  ensure_fixtures(pins, needs, pool, a.jobs, [&](const FixtureEvent& e) {
    Fixture f = e.fixture;
    std::string why = f.reason;
    if (a.verify && f.state == Fixture::State::Ready && !verify_fixture_files(f, why)) f.state = Fixture::State::Failed;
    const char* state = f.state == Fixture::State::Ready         ? "fixture"
                        : f.state == Fixture::State::Unsupported ? "UNSUPPORTED"
                        : f.state == Fixture::State::Broken      ? "BROKEN"
                                                                 : "FAILED";
    if (f.state == Fixture::State::Failed) ++failed;
    rows.push_back({{"release", e.release.version}, {"spec", e.spec.name}, {"dtype", e.spec.dtype()},
                    {"state", state}, {"cached", e.cached},
                    {"dir", f.dir.string()}, {"reason", why}});
    if (!c.json)
      fmt::print(stderr, "{:<24} {:<9} {:<8} {}{}{}\n", e.spec.name, e.release.version, e.spec.dtype(), state,
                 e.cached ? " (cached)" : "",
                 why.empty() ? "" : ": " + why.substr(0, 200));
  });
  pool.stop_all();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (c.json) {
    std::cout << json{{"fixtures", rows}, {"workers_started", pool.starts()}, {"seconds", secs},
                      {"worker_start_seconds", pool.start_seconds()}}.dump(2) << "\n";
  } else {
    int ready = 0, unsupported = 0, broken = 0;
    for (auto& r : rows) {
      if (r["state"] == "fixture") ++ready;
      else if (r["state"] == "UNSUPPORTED") ++unsupported;
      else if (r["state"] == "BROKEN") ++broken;
    }
    fmt::print("{} fixtures, {} unsupported, {} broken, {} failed; {} workers started ({:.1f} s starting); {:.1f} s\n",
               ready, unsupported, broken, failed, pool.starts(), pool.start_seconds(), secs);
  }
  return failed ? 1 : 0;
}

}  // namespace xcompat::cli

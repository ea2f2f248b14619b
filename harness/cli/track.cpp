// `xcompat track`: new x-transformers releases from the package source,
// installed as candidates and evaluated against the pins
// (harness/sweep/track.hpp).
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "harness/cli/commands.hpp"
#include "harness/core/error.hpp"
#include "harness/sweep/track.hpp"

namespace xcompat::cli {

int track(const Common& c, const TrackArgs& a) {
  if (!a.package_source.empty()) ::setenv("XCOMPAT_PACKAGE_SOURCE", a.package_source.c_str(), 1);
  const Pins pins = load_pins(c.pins_path);
  const auto catalogue = load_specs(c.specs_path);
  std::filesystem::create_directories(std::filesystem::path(c.db_path).parent_path().empty()
                                          ? "."
                                          : std::filesystem::path(c.db_path).parent_path());
  Store store(c.db_path);
  TrackRequest req;
  if (!a.since.empty()) req.since = a.since;
  req.specs = a.specs;
  req.dtypes = a.dtypes;
  req.limit = a.limit;
  req.jobs = a.jobs;
  auto log = [&](const std::string& line) {
    if (!c.json) fmt::print(stderr, "track: {}\n", line);
  };
  const TrackResult r = track_releases(pins, catalogue, store, req, log);
  const int rc = r.any_break() ? 3 : 0;
  if (c.json) {
    std::cout << r.to_json().dump(2) << "\n";
    return rc;
  }
  if (r.published_after.empty()) {
    fmt::print("no release after {} on {}: nothing to track\n", r.baseline, r.source);
    return 0;
  }
  fmt::print("{} release(s) after {} on {}; evaluated: {}\n", r.published_after.size(), r.baseline, r.source,
             r.candidates.size());
  for (auto& cand : r.candidates) {
    fmt::print("\n{}\n", cand.version);
    auto side = [](const char* title, const TrackSide& s) {
      std::map<std::string, std::vector<std::string>> by;
      for (auto& [rel, how] : s.by_release) by[how].push_back(rel);
      fmt::print("  {}:", title);
      for (auto& [how, rels] : by) {
        std::string list;
        for (auto& x : rels) list += (list.empty() ? "" : ", ") + x;
        fmt::print(" {} [{}];", how, list);
      }
      fmt::print("\n");
    };
    side("reads the checkpoints of", cand.reads);
    side("its checkpoints are read by", cand.read_by);
    if (cand.breaks.empty()) fmt::print("  breaks nothing {} handled\n", r.baseline);
    for (auto& b : cand.breaks)
      fmt::print("  BREAKS {}: {} -> {} ({} was {}): {}\n", b.now_key.str(), verdict_name(b.was), verdict_name(b.now),
                 b.was_key.str(), verdict_name(b.was), b.cause);
    fmt::print("  {}: {}\n", cand.propose ? "propose as a pin" : "not a pin", cand.reason);
    if (cand.propose) {
      std::string entry = cand.pins_entry;
      for (size_t at = 0; (at = entry.find('\n', at)) != std::string::npos && at + 1 < entry.size(); at += 5)
        entry.replace(at, 1, "\n    ");
      fmt::print("    {}", entry);
    }
  }
  if (rc == 3) fmt::print("\na new release breaks what {} handled (exit 3)\n", r.baseline);
  return rc;
}

}  // namespace xcompat::cli

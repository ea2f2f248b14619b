#pragma once
// `xcompat track`: new x-transformers releases, evaluated on their own.
//
// The releases the package source publishes after the newest pin (or after
// `since`, the pins after it then treated as unknown) are candidates: each is
// installed in a sandbox (not pinned), gets its fixtures, and is swept both
// ways: it reads every known pin's checkpoints, and every known pin and
// cpp-native read its own. The newest known pin is swept the same way (from
// the cache when the matrix has it), so that each candidate is compared with
// what that release handled: a cell the newest pin passes (directly or
// converted) and the candidate does not is a break, with its cause.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/core/pins.hpp"
#include "harness/core/spec.hpp"
#include "matrix/store.hpp"

namespace xcompat {

struct TrackRequest {
  std::optional<std::string> since;  // default: the newest pin
  std::vector<std::string> specs, dtypes;
  int limit = 0;  // the newest N candidates only (0: all)
  int jobs = 1;
};

// One direction of a candidate against the pins: each pin (or cpp-native)
// by how it does: "direct", "converted", "adapted", "fails", or "no data".
struct TrackSide {
  std::vector<std::pair<std::string, std::string>> by_release;
  nlohmann::json to_json() const;
};

struct TrackBreak {
  CellKey was_key, now_key;  // the newest pin's cell, and the candidate's counterpart
  Verdict was = Verdict::Error, now = Verdict::Error;
  std::string cause;  // the candidate cell's first error line, load report or causes
};

struct TrackCandidate {
  std::string version;
  TrackSide reads;    // the pins' checkpoints, read by the candidate
  TrackSide read_by;  // the candidate's checkpoints, read by the pins and cpp-native
  std::vector<TrackBreak> breaks;
  std::vector<std::string> differences;  // where it behaves unlike the release before it
  bool propose = false;
  std::string reason;      // why it should (or need not) be a pin
  std::string pins_entry;  // the matrix/pins.toml entry, when proposed
  nlohmann::json to_json() const;
};

struct TrackResult {
  std::string source, baseline;  // the package source, the newest known pin
  std::vector<std::string> published_after;
  std::vector<TrackCandidate> candidates;
  bool any_break() const;
  nlohmann::json to_json() const;
};

// Throws Error when the package source cannot be listed or a candidate
// cannot be installed.
TrackResult track_releases(const Pins& pins, const std::vector<Spec>& catalogue, Store& store,
                           const TrackRequest& req, const std::function<void(const std::string&)>& log);

}  // namespace xcompat
